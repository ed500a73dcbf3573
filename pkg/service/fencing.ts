import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { NodeStatus } from '../../types/generated/node-status.js';
import { type Hypervisor, HypervisorError } from '../hypervisor/hypervisor.js';
import type { StatusSink } from '../reconcile/ports.js';

/**
 * Fencing at the point of action: while `mayAct()` is false (this agent does not hold the node's
 * lease, or its last renewal is too old), no backend operation that changes the host starts and
 * no status leaves. `mayAct` is read from the clock at each call, so a lease timer that fires late
 * (a blocked event loop) cannot stretch the time this agent acts. Reads (verify, host info,
 * listing) pass: they change nothing. The service stops the engine soon after the lease is lost;
 * this guard covers the moments in between.
 */

/** A change refused because this agent may not act for the node. */
export class FencedError extends HypervisorError {
  constructor(operation: string) {
    super(operation, `${operation} refused: this agent does not hold the node's lease`);
    this.name = 'FencedError';
  }
}

export function fencedHypervisor(inner: Hypervisor, mayAct: () => boolean): Hypervisor {
  const gate =
    <A extends unknown[], R>(op: string, fn: (...a: A) => Promise<R>) =>
    (...a: A): Promise<R> =>
      mayAct() ? fn(...a) : Promise.reject(new FencedError(op));
  // Hearing of changes changes nothing on the host: the feed passes whether or not we may act.
  const watchChanges = inner.watchChanges?.bind(inner);
  const listSome = inner.listSome?.bind(inner);
  return {
    name: inner.name,
    canPause: inner.canPause,
    ...(inner.rebuildGraceMs === undefined ? {} : { rebuildGraceMs: inner.rebuildGraceMs }),
    verify: () => inner.verify(),
    hostInfo: () => inner.hostInfo(),
    list: () => inner.list(),
    checkSpec: (spec) => inner.checkSpec(spec),
    consoleCommand: (ref) => inner.consoleCommand(ref),
    createPaused: gate('create', (spec) => inner.createPaused(spec)),
    disableVifOffload: gate('disableVifOffload', (c) => inner.disableVifOffload(c)),
    unpause: gate('unpause', (ref) => inner.unpause(ref)),
    pause: gate('pause', (ref) => inner.pause(ref)),
    shutdown: gate('shutdown', (ref, o) => inner.shutdown(ref, o)),
    destroy: gate('destroy', (ref) => inner.destroy(ref)),
    reboot: gate('reboot', (ref) => inner.reboot(ref)),
    setMemory: gate('setMemory', (ref, m) => inner.setMemory(ref, m)),
    pciPrepare: gate('pciPrepare', (b) => inner.pciPrepare(b)),
    pciRelease: gate('pciRelease', (b) => inner.pciRelease(b)),
    ...(watchChanges === undefined ? {} : { watchChanges }),
    ...(listSome === undefined ? {} : { listSome }),
  };
}

/** Statuses pass only while this agent may act; others are dropped (the acting agent publishes). */
export function fencedStatusSink(inner: StatusSink, mayAct: () => boolean): StatusSink {
  return {
    publishDomainStatus: (s: DomainStatus) => {
      if (mayAct()) inner.publishDomainStatus(s);
    },
    publishNodeStatus: (s: NodeStatus) => {
      if (mayAct()) inner.publishNodeStatus(s);
    },
    flush: (ms) => inner.flush(ms),
  };
}
