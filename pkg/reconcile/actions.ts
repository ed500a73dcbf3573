import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { Clock } from '../clock.js';
import { errorText } from '../error-text.js';
import type { DomainRef, Hypervisor, ObservedDomain } from '../hypervisor/hypervisor.js';
import type { Logger } from '../log/logger.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import {
  type DestroyReason,
  destroyPlan,
  destroyTarget,
  errorAfterSuccess,
  exitError,
  hypervisorError,
  knowledgeAfterDestroy,
  mutationFailure,
  shutdownPlan,
  stateBeforeCreate,
} from './action-outcomes.js';
import { type CreateParty, createTransaction, letPublishesOut } from './create-transaction.js';
import { type Action, backoffDelay, type Desired, type ExitKind, exitOutcome } from './decide.js';
import { type DomainRecord, ledgerEntry } from './domain-record.js';
import { statusErrorFrom } from './errors.js';
import { classifyFailure, retryPlan } from './failure-class.js';
import type { HostResources } from './host-resources.js';
import type { Ledger, LedgerEntry } from './ledger.js';
import type { ObservationEvent } from './observation.js';
import type { Semaphore } from './semaphore.js';
import { settledState } from './status.js';

/**
 * Carrying out what decide() chose: a wait (the state it amounts to), the create (through create-transaction.ts), destroy with the
 * PCI release after it, pause, unpause, set-memory, graceful shutdown and forget; the strays a
 * listing found; and what an unasked exit or a listing's event comes to. Each calls the
 * hypervisor through the worker's party and changes the worker's record (domain-record.ts) as
 * the pure functions of action-outcomes.ts say. A hypervisor failure never rejects: it becomes
 * the record's error.
 */

export type DomainState = DomainStatus['state'];

/** What every worker shares that carrying out actions needs (owned by the engine). */
export interface ActionDeps {
  hypervisor: Hypervisor;
  clock: Clock;
  ledger: Ledger;
  resources: HostResources;
  createSlots: Semaphore;
  shutdownGraceMs: number;
  restartBackoff: { initialMs: number; maxMs: number };
  createTimeoutMs: number;
  /** Ask for a listing within delayMs (a create or shutdown wants confirming). */
  requestProbe: (delayMs: number) => void;
}

/** The worker's side: its record of the domain, and what only the worker can do. */
export interface ActionParty {
  readonly uuid: string;
  readonly deps: ActionDeps;
  readonly log: Logger;
  readonly record: DomainRecord;
  /** The domain's name from its config ('' before any). */
  name(): string;
  state(): DomainState;
  setState(state: DomainState): void;
  /** Publishes the status when it changed. */
  publish(): void;
  /** Runs one backend operation, bounded (default: the operation timeout) and timed. */
  call<T>(operation: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T>;
  /** A mutation just ended: listings that started before it are out of date. */
  mutated(): void;
  /** Wakes the worker at this monotonic time. */
  wakeAt(monotonicAt: number): void;
  /** The worker was stopped (SIGTERM). */
  stopped(): boolean;
  /** The domain is gone and forgotten: the worker publishes DELETED and ends. */
  forgotten(): void;
}

/** Carries out one decided action. */
export async function carryOut(p: ActionParty, action: Action, desired: Desired): Promise<void> {
  const r = p.record;
  switch (action.type) {
    case 'wait':
      settle(p, desired, action.until);
      return;
    case 'create':
      if (desired.kind !== 'delete') await create(p, desired.spec);
      return;
    case 'unpause':
      return mutate(p, 'unpause', async (ref) => {
        await p.deps.hypervisor.unpause(ref);
        r.k.booting = true;
        r.k.actual = 'running';
        p.setState('BOOTING');
        p.deps.requestProbe(0);
      });
    case 'pause':
      return mutate(p, 'pause', async (ref) => {
        await p.deps.hypervisor.pause(ref);
        r.k.actual = 'paused';
        // Until a listing shows it paused: a pause that exited 0 and did nothing is retried.
        r.k.pausing = true;
        p.setState('PAUSED');
        p.deps.requestProbe(0);
      });
    case 'set-memory':
      return mutate(p, 'set-memory', async (ref) => {
        await p.deps.hypervisor.setMemory(ref, action.memoryMiB);
        r.currentMemoryMiB = action.memoryMiB;
        await remember(p, 'created');
      });
    case 'shutdown':
      return mutate(p, 'shutdown', async (ref) => {
        const plan = shutdownPlan(desired, p.deps.shutdownGraceMs);
        p.setState(plan.state);
        // On file before the guest is asked: a domainmgr killed from here on must not take the
        // shutdown for the guest's own.
        r.haltRequested = true;
        await remember(p, 'halting');
        await p.deps.hypervisor.shutdown(ref, { force: plan.force });
        // The grace runs from when the shutdown returned (vmadm stop waits for the VM).
        r.k.haltingUntil = p.deps.clock.monotonic() + p.deps.shutdownGraceMs;
        p.wakeAt(r.k.haltingUntil);
        p.deps.requestProbe(plan.probeInMs);
        // On file, so that a domainmgr restarted during the grace keeps what is left of it.
        await remember(p, 'created');
      });
    case 'destroy':
      return destroy(p, action.reason, desired);
    case 'exited':
      recordExit(p, action.kind, desired);
      return destroy(p, 'exited', desired);
    case 'forget':
      return forget(p);
  }
}

/** Nothing to do for now: report the state the situation amounts to (status.ts settledState). */
function settle(p: ActionParty, desired: Desired, until: number | null): void {
  const r = p.record;
  if (until !== null) p.wakeAt(until);
  const settled = settledState({
    state: p.state(),
    desired: desired.kind,
    paused: desired.kind !== 'delete' && desired.spec.paused,
    actual: r.k.actual,
    halting: r.k.haltingUntil !== null,
    booting: r.k.booting,
    stoppedByGuest: r.stoppedByGuest,
    retrying: r.retryAt !== null,
    pauseUnsupported: r.unsupported.has('pause'),
  });
  p.setState(settled.state);
  if (settled.clearRetry) r.retryAt = null;
  // The error of a failed operation stays until it is tried again.
  if (settled.clearError && r.mutationRetryAt === null) r.error = null;
  if (settled.listSoon) p.deps.requestProbe(0);
}

/**
 * Writes the record's ledger entry for the phase (see domain-record.ts ledgerEntry), with the
 * wall time a running shutdown grace ends. Only the entry before a create must be on file (the
 * create transaction refuses the create without it); any other entry that cannot be written (a
 * full or read-only state directory) is logged and the worker goes on: the ledger is then behind
 * the host until the next entry, which a restart corrects from the listing.
 */
export async function remember(
  p: ActionParty,
  phase: LedgerEntry['phase'],
  builtFrom?: DomainSpec,
): Promise<void> {
  const { clock } = p.deps;
  const halting = p.record.k.haltingUntil;
  const graceEndsAt = halting === null ? null : clock.now() + (halting - clock.monotonic());
  const entry = ledgerEntry(p.uuid, p.name(), p.record, phase, builtFrom, graceEndsAt);
  const filed = { phase: entry.phase, observedGeneration: entry.observedGeneration ?? 0 };
  try {
    await p.deps.ledger.put(entry);
    p.record.filed = filed;
  } catch (e) {
    if (phase === 'creating') throw e;
    p.log.error({ err: errorText(e), phase }, 'the ledger entry could not be written');
  }
}

/** What a listing's event comes to (observation.ts). */
export function recordEvent(p: ActionParty, event: ObservationEvent, desired: Desired | null): void {
  switch (event.type) {
    case 'vanished':
      recordExit(p, 'vanished', desired);
      return;
    case 'missing': {
      // Maybe a reboot under xl's monitor (Hypervisor.rebuildGraceMs): the domain's coming back
      // is one listing (xenstored's @introduceDomain); its not coming back, the listing at `until`.
      const graceMs = Math.max(0, event.until - p.deps.clock.monotonic());
      if (event.first)
        p.log.info(
          { graceMs },
          'domain missing from the listing; gone unless it is back within the grace (a reboot rebuilds it)',
        );
      p.deps.requestProbe(graceMs);
      return;
    }
    case 'still-paused':
    case 'still-running': {
      // An unpause or pause that exited 0 and did not take: tried again after the backoff.
      const what = event.type === 'still-paused' ? 'still paused after unpause' : 'still running after pause';
      p.record.retryAt = event.retryAt;
      p.record.error = hypervisorError(`the domain is ${what}`, wallNow(p), wallTimeOf(p, event.retryAt));
      p.wakeAt(event.retryAt);
      return;
    }
  }
}

/** The domain stopped without being asked: the restart policy applies (decide.ts exitOutcome). */
function recordExit(p: ActionParty, kind: ExitKind, desired: Desired | null): void {
  if (desired === null || desired.kind !== 'run') return;
  const r = p.record;
  const time = wallNow(p);
  const outcome = exitOutcome(kind, desired.spec.restartPolicy, r.k.stopDetail);
  p.log.warn({ exit: kind, policy: desired.spec.restartPolicy }, outcome.what);
  r.k.bootTime = null;
  if (outcome.restart) {
    r.retryAt = backoffDeadline(p);
    r.restartCount++;
  } else {
    r.stoppedByGuest = true;
    r.retryAt = null;
  }
  r.error = exitError(outcome, time, r.retryAt === null ? null : wallTimeOf(p, r.retryAt));
  p.setState(outcome.state);
  if (r.retryAt !== null) p.wakeAt(r.retryAt);
}

async function create(p: ActionParty, spec: DomainSpec): Promise<void> {
  p.setState(stateBeforeCreate(p.state()));
  await createTransaction(createParty(p), spec);
}

/** The worker's side of the create transaction (create-transaction.ts). */
function createParty(p: ActionParty): CreateParty {
  const { deps, record: r } = p;
  return {
    uuid: p.uuid,
    hypervisor: deps.hypervisor,
    resources: deps.resources,
    createSlots: deps.createSlots,
    createTimeoutMs: deps.createTimeoutMs,
    logger: p.log,
    call: (operation, fn, timeoutMs) => p.call(operation, fn, timeoutMs),
    stopped: () => p.stopped(),
    wallNow: () => deps.clock.now(),
    // PENDING is published only when the create must wait for a slot. With a slot free,
    // CREATING follows at once, and publishing PENDING first would hold CREATING back behind
    // PENDING's ack (one publish per subject in flight).
    waiting: () => p.publish(),
    creating: () => {
      p.setState('CREATING');
      r.error = null;
      p.publish();
    },
    remember: (phase, spec) => remember(p, phase, spec),
    created: (created, spec) => {
      r.k.ref = { uuid: p.uuid, domainName: created.domainName, domainId: created.domainId };
      r.vifs = created.vifs;
      r.runningSpec = spec;
      r.currentMemoryMiB = null;
      r.haltRequested = false;
      r.k.actual = 'paused';
      r.k.interruptedCreate = false;
    },
    done: async (spec, unpaused) => {
      if (unpaused) {
        r.k.actual = 'running';
        r.k.booting = true;
        p.setState('BOOTING');
      } else {
        p.setState('PAUSED');
      }
      p.mutated();
      r.actedPurgeCounter = spec.purgeCounter;
      r.actedRestartCounter = spec.restartCounter;
      p.publish();
      await letPublishesOut();
      await remember(p, 'created');
      deps.requestProbe(0);
    },
    failed: async (error, left, spec) => {
      r.k.actual = left;
      if (left === 'absent') {
        r.k.ref = null;
        r.runningSpec = null;
      }
      p.mutated();
      const failure = classifyFailure(error, {
        memoryMiB: spec.memoryMiB,
        hostTotalMemoryMiB: deps.resources.info?.totalMemoryMiB ?? null,
      });
      const retry = retryPlan(failure, r.k.attempt++, deps.restartBackoff);
      if (failure.kind === 'permanent') p.log.warn({ reason: failure.reason }, 'a create failed for good');
      r.retryAt = deps.clock.monotonic() + retry.delayMs;
      // The note is kept whole: the command's text gives way when the message would be too long.
      const message =
        retry.note === null
          ? error.message
          : `${error.message.slice(0, 8192 - retry.note.length - 2)}; ${retry.note}`;
      r.error = { ...error, message, retryAt: wallTimeOf(p, r.retryAt) };
      r.k.booting = false;
      p.setState('BROKEN');
      await remember(p, 'stopped');
      p.wakeAt(r.retryAt);
    },
  };
}

async function destroy(p: ActionParty, reason: DestroyReason, desired: Desired): Promise<void> {
  const { deps, record: r } = p;
  const target = destroyTarget(p.uuid, r.k.ref, r.runningSpec, p.name());
  const plan = destroyPlan(reason, desired);
  if (plan.announce !== null) p.setState(plan.announce);
  p.publish();
  try {
    await p.call('destroy', () => deps.hypervisor.destroy(target.ref));
    if (target.bdfs.length > 0) await p.call('pci-release', () => deps.hypervisor.pciRelease(target.bdfs));
  } catch (e) {
    fail(p, e);
    return;
  } finally {
    p.mutated();
  }
  deps.resources.releasePci(p.uuid);
  deps.resources.releaseMemory(p.uuid);
  r.mutationRetryAt = null;
  r.k = knowledgeAfterDestroy(r.k);
  r.vifs = [];
  r.runningSpec = null;
  r.currentMemoryMiB = null;
  r.haltRequested = false;
  if (plan.actedRestartCounter !== null) r.actedRestartCounter = plan.actedRestartCounter;
  if (plan.actedPurgeCounter !== null) r.actedPurgeCounter = plan.actedPurgeCounter;
  if (plan.clearsStoppedByGuest) r.stoppedByGuest = false;
  if (plan.halted) {
    r.error = null;
    p.setState('HALTED');
  }
  await remember(p, 'stopped');
}

/**
 * Domains with our uuid besides the one we manage: a create of a domainmgr killed mid-way that
 * finished after the restart had created the domain again (rkt: a second pod, since every
 * `rkt run` makes a new one). By the contract a uuid is one domain: the extras are destroyed.
 */
export async function destroyStrays(p: ActionParty, strays: readonly ObservedDomain[]): Promise<void> {
  for (const s of strays) {
    p.log.warn(
      {
        stray: { name: s.name, domainId: s.domainId, state: s.state },
        managed: p.record.k.ref?.domainName ?? null,
      },
      'a second domain with this uuid: destroying it',
    );
    try {
      await p.call('destroy', () =>
        p.deps.hypervisor.destroy({ uuid: p.uuid, domainName: s.name, domainId: s.domainId }),
      );
    } catch (e) {
      p.log.error(
        { err: e instanceof Error ? e.message : String(e), stray: s.name },
        'destroying a stray failed',
      );
    }
  }
  p.mutated();
  // What we believe of our own domain is unchanged; a fresh listing confirms it.
  p.deps.requestProbe(0);
}

async function forget(p: ActionParty): Promise<void> {
  p.deps.resources.releasePci(p.uuid);
  p.deps.resources.releaseMemory(p.uuid);
  try {
    await p.deps.ledger.remove(p.uuid);
    p.record.filed = null;
  } catch (e) {
    // The entry stays: a restart finds a stopped domain of ours with no config, and no domain.
    p.log.error({ err: errorText(e) }, 'the ledger entry could not be removed');
  }
  p.record.error = null;
  p.forgotten();
}

/** Runs a mutation on the current domain; a failure becomes the record's error. */
async function mutate(
  p: ActionParty,
  operation: string,
  fn: (ref: DomainRef) => Promise<void>,
): Promise<void> {
  const r = p.record;
  const ref = r.k.ref;
  if (ref === null) {
    r.k.actual = 'unknown';
    return;
  }
  try {
    await p.call(operation, () => fn(ref));
    r.mutationRetryAt = null;
    r.error = errorAfterSuccess(r.error);
  } catch (e) {
    const failure = mutationFailure(e, wallNow(p));
    if (failure.kind === 'unsupported') {
      r.unsupported.add(operation);
      r.error = failure.error;
      return;
    }
    fail(p, e);
  } finally {
    p.mutated();
  }
}

/** An operation on an existing domain failed: report it; the next listing says where things stand. */
function fail(p: ActionParty, e: unknown): void {
  p.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'operation failed');
  const r = p.record;
  r.mutationRetryAt = backoffDeadline(p);
  r.error = { ...statusErrorFrom(e, wallNow(p)), retryAt: wallTimeOf(p, r.mutationRetryAt) };
  r.k.actual = 'unknown';
  p.wakeAt(r.mutationRetryAt);
  p.deps.requestProbe(0);
}

/** The monotonic time of the next retry after a failure: exponential backoff, counted here. */
function backoffDeadline(p: ActionParty): number {
  const { initialMs, maxMs } = p.deps.restartBackoff;
  return p.deps.clock.monotonic() + backoffDelay(p.record.k.attempt++, initialMs, maxMs);
}

/** A monotonic deadline as the wall time it falls at now, for a status (error.retryAt). */
function wallTimeOf(p: ActionParty, monotonicAt: number): string {
  return new Date(p.deps.clock.now() + (monotonicAt - p.deps.clock.monotonic())).toISOString();
}

function wallNow(p: ActionParty): string {
  return new Date(p.deps.clock.now()).toISOString();
}
