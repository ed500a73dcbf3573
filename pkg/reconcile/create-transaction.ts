import { errorText } from '../error-text.js';
import type { CreatedDomain, Hypervisor } from '../hypervisor/hypervisor.js';
import type { Logger } from '../log/logger.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import { type StatusError, statusErrorFrom } from './errors.js';
import type { HostResources } from './host-resources.js';
import type { LedgerEntry } from './ledger.js';
import type { Semaphore } from './semaphore.js';
import { runStartSteps, startSteps } from './start-sequence.js';

/**
 * The create transaction of one domain: a create slot, the host's memory and PCI devices, the
 * ledger entry 'creating' made durable before any tool runs, the start sequence
 * (start-sequence.ts), and on success the entry 'created'. On failure nothing half-built stays:
 * the domain create made is destroyed, what was reserved is released, and the worker is told
 * whether the hypervisor is known to hold nothing ('absent') or only a listing can tell
 * ('unknown').
 */

/** The worker's side of a create: what the transaction reads and the worker state it changes. */
export interface CreateParty {
  readonly uuid: string;
  readonly hypervisor: Hypervisor;
  readonly resources: HostResources;
  readonly createSlots: Semaphore;
  readonly createTimeoutMs: number;
  readonly logger: Logger;
  /** Runs one backend operation, bounded (default: the operation timeout) and timed. */
  call<T>(operation: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T>;
  /** The worker was stopped (SIGTERM) while the create waited for a slot. */
  stopped(): boolean;
  /** No slot is free: the create waits (the worker publishes PENDING). */
  waiting(): void;
  /** Resources are held; the tools are about to run (CREATING is published). */
  creating(): void;
  /** Writes the ledger entry for the phase; `spec` is what the domain is built from. */
  remember(phase: LedgerEntry['phase'], spec?: DomainSpec): Promise<void>;
  /** The domain exists, paused. */
  created(created: CreatedDomain, spec: DomainSpec): void;
  /** It was unpaused (true) or left paused as asked (false); the create is done. */
  done(spec: DomainSpec, unpaused: boolean): Promise<void>;
  /**
   * It failed; `left` is what the hypervisor holds for the uuid now, as far as is known. `spec`
   * is what the create was building (the retry rule reads its memory: failure-class.ts).
   */
  failed(error: StatusError, left: 'absent' | 'unknown', spec: DomainSpec): Promise<void>;
  /** Wall time, for the error's timestamp. */
  wallNow(): number;
}

/** Creates and starts `spec` (see the module comment). Never rejects: a failure goes to `failed`. */
export async function createTransaction(p: CreateParty, spec: DomainSpec): Promise<void> {
  let release = p.createSlots.tryAcquire();
  if (release === null) {
    p.waiting();
    release = await p.createSlots.acquire();
  }
  let created: CreatedDomain | null = null;
  try {
    if (p.stopped()) return;
    const memory = await p.resources.reserveMemory(p.uuid, spec.memoryMiB);
    if (memory !== null) throw new HostProblem(memory);
    const conflicts = p.resources.claimPci(
      p.uuid,
      spec.pciDevices.map((d) => d.bdf),
    );
    if (conflicts.length > 0) {
      throw new HostProblem(
        conflicts.map((c) => `PCI device ${c.bdf} is held by domain ${c.holder}`).join('; '),
      );
    }
    p.creating();
    await letPublishesOut();
    try {
      await p.remember('creating', spec);
    } catch (e) {
      // Nothing is built that the ledger does not know of: a full or read-only state directory
      // refuses the create before any tool runs, and the retry finds the disk healed or not.
      throw new HostProblem(
        `the state directory cannot record the create, so it is not started: ${errorText(e)}`,
      );
    }
    const steps = startSteps(spec, p.hypervisor);
    await runStartSteps(
      p.hypervisor,
      spec,
      steps,
      (step, fn) => p.call(step, fn, step === 'create' ? p.createTimeoutMs : undefined),
      (made) => {
        created = made;
        p.created(made, spec);
      },
    );
    p.resources.commitMemory(p.uuid);
    await p.done(spec, steps.includes('unpause'));
  } catch (e) {
    p.resources.releaseMemory(p.uuid);
    await failed(p, e, created, spec);
  } finally {
    release();
  }
}

/** A create failed: nothing half-built stays behind. */
async function failed(
  p: CreateParty,
  e: unknown,
  created: CreatedDomain | null,
  spec: DomainSpec,
): Promise<void> {
  const time = new Date(p.wallNow()).toISOString();
  p.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'create failed');
  const error: StatusError =
    e instanceof HostProblem ? { message: e.message, source: 'host', time } : statusErrorFrom(e, time);
  let left: 'absent' | 'unknown' = 'absent';
  if (created !== null) {
    const made: CreatedDomain = created;
    try {
      await p.call('destroy', () => p.hypervisor.destroy(made));
    } catch (cleanup) {
      // The half-built domain may still be there; the next listing tells, and decide() acts.
      left = 'unknown';
      p.logger.error(
        { err: cleanup instanceof Error ? cleanup.message : String(cleanup) },
        'cleanup after failed create failed',
      );
    }
  } else if (e instanceof Error && e.name === 'OperationTimeoutError') {
    // createPaused cleans up after itself; a create cut off by our timeout may leave something.
    left = 'unknown';
  }
  if (left === 'absent') {
    p.resources.releasePci(p.uuid);
    if (spec.pciDevices.length > 0 && !(e instanceof HostProblem)) {
      await p
        .call('pci-release', () => p.hypervisor.pciRelease(spec.pciDevices.map((d) => d.bdf)))
        .catch(() => {});
    }
  }
  await p.failed(error, left, spec);
}

/**
 * Lets the statuses just published leave before synchronous work (the ledger's file write) holds
 * the thread: the NATS client writes what was published in a microtask queued at publish time,
 * which runs before this one resolves. Without it a status waited for the write before its first
 * byte was sent.
 */
export function letPublishesOut(): Promise<void> {
  return Promise.resolve();
}

/** A create refused before any tool ran: memory or PCI devices are not available. */
class HostProblem extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostProblem';
  }
}
