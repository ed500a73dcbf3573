import type { ObservedState } from '../hypervisor/hypervisor.js';
import type { DomainSpec } from '../schema/domain-spec.js';

/**
 * The reconcile decision, as a pure function: given what is desired, what the worker believes
 * the hypervisor holds and the worker's own bookkeeping, the one next action. The worker
 * (worker.ts) carries the action out and calls decide again, until the answer is `wait`.
 */

export type Desired =
  | { kind: 'run'; spec: DomainSpec }
  /** activate: false — defined but not running. */
  | { kind: 'halt'; spec: DomainSpec }
  /** The empty payload: stop, forget, end with DELETED. */
  | { kind: 'delete' };

/** What the worker believes is on the hypervisor for its uuid. */
export type Actual = ObservedState | 'absent' | 'unknown';

/** How a domain came to stop without being asked. */
export type ExitKind = 'crash' | 'poweroff' | 'vanished';

export interface View {
  now: number;
  desired: Desired;
  actual: Actual;
  /** The domain has been unpaused and no listing has confirmed it running yet. */
  booting: boolean;
  /** A graceful shutdown was asked; destroy follows at this time. */
  haltingUntil: number | null;
  /** The domain was found paused where a create of ours had been interrupted. */
  interruptedCreate: boolean;
  /** restartCounter raised above the one acted on. */
  restartRequested: boolean;
  /** purgeCounter raised above the one acted on. */
  purgeRequested: boolean;
  /** The domain stopped without being asked and the policy said not to restart it. */
  stoppedByGuest: boolean;
  /** domainmgr asked the guest to shut down (a halt or restart, possibly by a run killed since). */
  haltRequested: boolean;
  /** The last create or restart failed, or the policy restarts: not before this time. */
  retryAt: number | null;
  /** An operation on the domain failed: none is tried again before this time. */
  mutationRetryAt: number | null;
  /** The spec the running domain was created from (null when none is running). */
  runningSpec: DomainSpec | null;
  /** The memory the domain was last ballooned to, when it differs from runningSpec. */
  currentMemoryMiB: number | null;
}

export type Action =
  | { type: 'create' }
  | { type: 'unpause' }
  | { type: 'pause' }
  | { type: 'set-memory'; memoryMiB: number }
  | { type: 'shutdown' }
  /** `reason` says what follows: 'halt' ends HALTED/DELETED, the others create again. */
  | { type: 'destroy'; reason: 'halt' | 'restart' | 'purge' | 'interrupted' | 'exited' }
  /** Nothing to do until `until` (or until something changes); `state` is what to report. */
  | { type: 'wait'; until: number | null }
  /** desired delete and nothing left on the hypervisor: release and forget. */
  | { type: 'forget' }
  /** An exit to classify (crash, guest poweroff) before anything else. */
  | { type: 'exited'; kind: ExitKind };

export function decide(v: View): Action {
  const present = v.actual !== 'absent';

  if (v.actual === 'unknown' || v.actual === 'transitional') {
    // A timed-out command or a domain between states: only a fresh listing can tell.
    return { type: 'wait', until: null };
  }

  // An operation failed (its tool keeps failing, say): the next waits for the backoff.
  if (v.mutationRetryAt !== null && v.now < v.mutationRetryAt)
    return { type: 'wait', until: v.mutationRetryAt };

  if (v.desired.kind !== 'run') {
    // Gone by itself (a guest that shut down and was not preserved): destroy is idempotent and
    // releases what the domain held (PCI devices), so clean up before calling it done.
    if (!present && v.runningSpec !== null) return { type: 'destroy', reason: 'halt' };
    if (!present) return v.desired.kind === 'delete' ? { type: 'forget' } : { type: 'wait', until: null };
    if (v.actual === 'crashed' || v.actual === 'shutdown' || v.actual === 'paused' || v.purgeRequested) {
      return { type: 'destroy', reason: 'halt' };
    }
    if (v.haltingUntil === null) return { type: 'shutdown' };
    if (v.now >= v.haltingUntil) return { type: 'destroy', reason: 'halt' };
    return { type: 'wait', until: v.haltingUntil };
  }

  const spec = v.desired.spec;

  if (v.purgeRequested) return present ? { type: 'destroy', reason: 'purge' } : { type: 'create' };

  // What we built is gone (a guest that left, a vanished domain, a host that rebooted under us):
  // destroy is idempotent and cleans up what stays behind (rkt's pod, PCI assignment) first.
  // A shutdown domainmgr asked for (a halt since taken back, or one a killed run began) is not the
  // guest's own exit: the restart policy has no say, the domain is built again.
  if (!present && v.runningSpec !== null) {
    return { type: 'destroy', reason: v.restartRequested || v.haltRequested ? 'restart' : 'exited' };
  }
  if (v.haltRequested && v.actual === 'shutdown') return { type: 'destroy', reason: 'restart' };

  if (v.restartRequested && present) {
    if (v.actual === 'running' && !v.booting) {
      if (v.haltingUntil === null) return { type: 'shutdown' };
      if (v.now < v.haltingUntil) return { type: 'wait', until: v.haltingUntil };
    }
    return { type: 'destroy', reason: 'restart' };
  }

  // A graceful shutdown asked for a halt that is no longer wanted (activate false, then true
  // within the grace; or a grace remembered across a restart of domainmgr): it cannot be taken
  // back, the guest is on its way down. It gets the rest of its grace, then is destroyed and
  // created again, rather than left HALTING for good when the guest ignores the request.
  if (v.haltingUntil !== null && present) {
    return v.now < v.haltingUntil
      ? { type: 'wait', until: v.haltingUntil }
      : { type: 'destroy', reason: 'restart' };
  }

  // Our create was cut off (domainmgr killed) before the domain was started: whatever it left is
  // half-built. Paused on Xen; stopped on vmadm, where a VM created with autoboot false and not
  // started yet lists as 'shutdown' and must not be taken for a guest that powered off.
  if (v.interruptedCreate && (v.actual === 'paused' || v.actual === 'shutdown')) {
    return { type: 'destroy', reason: 'interrupted' };
  }

  switch (v.actual) {
    case 'absent':
      if (v.stoppedByGuest) return { type: 'wait', until: null };
      if (v.retryAt !== null && v.now < v.retryAt) return { type: 'wait', until: v.retryAt };
      return { type: 'create' };
    case 'crashed':
      return { type: 'exited', kind: 'crash' };
    case 'shutdown':
      return { type: 'exited', kind: 'poweroff' };
    case 'paused': {
      // xl mem-set works on a paused domain: a memory change does not wait for an unpause that
      // may never be asked for.
      if (spec.paused) {
        const memory = liveMemoryTarget(spec, v.runningSpec, v.currentMemoryMiB);
        return memory === null ? { type: 'wait', until: null } : { type: 'set-memory', memoryMiB: memory };
      }
      // An unpause that did not take (xl unpause exits 0 when it fails) is retried with backoff.
      if (v.retryAt !== null && v.now < v.retryAt) return { type: 'wait', until: v.retryAt };
      return { type: 'unpause' };
    }
    case 'running': {
      if (spec.paused) {
        // A pause that did not take (exit 0, no effect) is retried with backoff, as an unpause.
        if (v.retryAt !== null && v.now < v.retryAt) return { type: 'wait', until: v.retryAt };
        return { type: 'pause' };
      }
      const memory = liveMemoryTarget(spec, v.runningSpec, v.currentMemoryMiB);
      if (memory !== null) return { type: 'set-memory', memoryMiB: memory };
      return { type: 'wait', until: null };
    }
  }
}

/**
 * The memory to balloon a running domain to, or null when nothing is to change: memoryMiB
 * changes apply live while they stay within the maxMemoryMiB the domain was started with.
 */
export function liveMemoryTarget(
  desired: DomainSpec,
  running: DomainSpec | null,
  currentMemoryMiB: number | null,
): number | null {
  if (running === null) return null;
  const current = currentMemoryMiB ?? running.memoryMiB;
  if (desired.memoryMiB === current) return null;
  if (desired.memoryMiB > running.maxMemoryMiB) return null;
  return desired.memoryMiB;
}

/** Whether the restart policy restarts a domain that stopped this way. */
export function policyRestarts(policy: DomainSpec['restartPolicy'], exit: ExitKind): boolean {
  switch (policy) {
    case 'always':
      return true;
    case 'on-failure':
      return exit !== 'poweroff';
    case 'never':
      return false;
  }
}

/** What an exit the domain was not asked for comes to, under the restart policy. */
export interface ExitOutcome {
  /** What happened, in words (the log line). */
  what: string;
  /** Restart after the backoff (BROKEN with error.retryAt meanwhile). */
  restart: boolean;
  state: 'BROKEN' | 'HALTED';
  /** The status error's message; null for a guest poweroff that is not restarted (no error). */
  message: string | null;
}

/**
 * Pure: the state and error an exit leaves, and whether it is restarted. `detail` is how the
 * hypervisor says the domain stopped (ObservedDomain.stopDetail), quoted after what happened.
 */
export function exitOutcome(
  kind: ExitKind,
  policy: DomainSpec['restartPolicy'],
  detail: string | null = null,
): ExitOutcome {
  const happened =
    kind === 'crash'
      ? 'the domain crashed'
      : kind === 'poweroff'
        ? 'the guest powered off'
        : 'the domain disappeared';
  const what = detail === null ? happened : `${happened}: ${detail}`;
  if (policyRestarts(policy, kind))
    return { what, restart: true, state: 'BROKEN', message: `${what}; restarting (restartPolicy ${policy})` };
  if (kind === 'poweroff') return { what, restart: false, state: 'HALTED', message: null };
  return { what, restart: false, state: 'BROKEN', message: `${what} (restartPolicy ${policy})` };
}

/** Exponential backoff (pkg/backoff.ts): initial, 2x, 4x ... capped at max. attempt counts from 0. */
export { backoffDelay } from '../backoff.js';

/**
 * Config fields that change how a domain is driven, not how it is built: acted on at once, or
 * manager-side policy; never a pending change, never a reason to build the domain again.
 */
export const LIVE_FIELDS: ReadonlySet<string> = new Set([
  'generation',
  'activate',
  'paused',
  'restartCounter',
  'purgeCounter',
  'restartPolicy',
]);

/**
 * Fields of `desired` that differ from what the running domain was built from and wait for the
 * next start. memoryMiB is live within the running maxMemoryMiB, pending beyond it. Pure.
 */
export function pendingChanges(desired: DomainSpec, running: DomainSpec | null): string[] {
  // The same object: the spec a domain was built from is the accepted one (the common case).
  if (running === null || running === desired) return [];
  const out: string[] = [];
  const keys = new Set([...Object.keys(desired), ...Object.keys(running)]) as Set<keyof DomainSpec>;
  for (const k of keys) {
    if (LIVE_FIELDS.has(k)) continue;
    if (k === 'memoryMiB') {
      if (desired.memoryMiB > running.maxMemoryMiB) out.push(k);
      continue;
    }
    if (JSON.stringify(desired[k]) !== JSON.stringify(running[k])) out.push(k);
  }
  return out.sort();
}
