import type { CreatedDomain } from '../hypervisor/hypervisor.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import type { Desired, View } from './decide.js';
import type { StatusError } from './errors.js';
import type { LedgerEntry } from './ledger.js';
import type { Knowledge } from './observation.js';

/**
 * What a worker keeps of its domain besides its desired state: what listings tell (Knowledge)
 * and what the worker's own actions did. The worker owns it; the action modules (actions.ts)
 * change it in place while the worker awaits them, one action at a time. The ledger keeps the
 * part that must outlive a restart of domainmgr: recordFrom() restores it, ledgerEntry() writes it.
 */
export interface DomainRecord {
  /** What listings tell (observation.ts). */
  k: Knowledge;
  vifs: CreatedDomain['vifs'];
  /** The spec the domain on the hypervisor was built from (null: none is there). */
  runningSpec: DomainSpec | null;
  /**
   * The newest config generation accepted (0: none), restored from the ledger: what a status
   * reports, also before this run accepted a config (a delete carries no generation, so the
   * status stream does not go back from what an earlier run reported). Not a floor for intake: a
   * controller may create the uuid anew from generation 1 after a delete.
   */
  observedGeneration: number;
  /** What the ledger holds for the domain now (null: no entry): its phase and generation. */
  filed: { phase: LedgerEntry['phase']; observedGeneration: number } | null;
  /** The memory the domain was ballooned to, when it differs from runningSpec's. */
  currentMemoryMiB: number | null;
  /** The restartCounter and purgeCounter last acted on (null: no config taken in yet). */
  actedRestartCounter: number | null;
  actedPurgeCounter: number | null;
  /** Restarts made by the restart policy (the status's restartCount). */
  restartCount: number;
  /** The guest stopped and the restart policy left it stopped. */
  stoppedByGuest: boolean;
  /** domainmgr asked the guest to shut down (ledger phase 'halting'); cleared by a destroy or create. */
  haltRequested: boolean;
  /** Monotonic time before which a failed create or a restart is not retried. */
  retryAt: number | null;
  /**
   * Monotonic time before which no operation is tried again on the domain after one failed
   * (pause, memory, shutdown, destroy): a tool that keeps failing is asked again with the
   * backoff, not at every listing. Null when the last operation did not fail.
   */
  mutationRetryAt: number | null;
  /** The error of the last operation (a config error is kept apart by the worker). */
  error: StatusError | null;
  /** Operations the backend said it cannot do for this domain (UnsupportedError): not retried. */
  unsupported: Set<string>;
}

/** The clocks and the grace a restored record's shutdown grace is read against. */
export interface RestoreTime {
  wallNow: number;
  monotonicNow: number;
  shutdownGraceMs: number;
}

/**
 * The record of a domain, fresh or as the ledger remembered it. A shutdown grace that was running
 * keeps what was left of it (graceDeadline). Pure.
 */
export function recordFrom(remembered?: LedgerEntry, time?: RestoreTime): DomainRecord {
  const graceEndsAt = remembered?.shutdownGraceEndsAt;
  const observedGeneration = remembered?.observedGeneration ?? remembered?.runningSpec?.generation ?? 0;
  return {
    k: {
      actual: 'unknown',
      ref: null,
      booting: false,
      pausing: false,
      runningSince: null,
      haltingUntil:
        graceEndsAt === undefined || time === undefined
          ? null
          : graceDeadline(graceEndsAt, time.wallNow, time.monotonicNow, time.shutdownGraceMs),
      bootTime: null,
      interruptedCreate: remembered?.phase === 'creating',
      attempt: 0,
      stopDetail: null,
      missingSince: null,
    },
    vifs: [],
    runningSpec: remembered?.runningSpec ?? null,
    observedGeneration,
    filed: remembered === undefined ? null : { phase: remembered.phase, observedGeneration },
    currentMemoryMiB: remembered?.currentMemoryMiB ?? null,
    actedRestartCounter: remembered?.restartCounter ?? null,
    actedPurgeCounter: remembered?.purgeCounter ?? null,
    restartCount: remembered?.restartCount ?? 0,
    stoppedByGuest: false,
    haltRequested: remembered?.phase === 'halting',
    retryAt: null,
    mutationRetryAt: null,
    error: null,
    unsupported: new Set(),
  };
}

/**
 * The monotonic deadline of a remembered grace that ends at wall time `endsAt`: what is left of
 * it, never less than nothing (it ended while domainmgr was down: destroy now) and never more than
 * a whole grace (the wall clock was set back meanwhile). Pure.
 */
export function graceDeadline(
  endsAt: number,
  wallNow: number,
  monotonicNow: number,
  graceMs: number,
): number {
  return monotonicNow + Math.min(graceMs, Math.max(0, endsAt - wallNow));
}

/**
 * The ledger entry for a phase. `builtFrom`: the spec a create builds the domain from, which the
 * entry names as running (and whose counters stand for those not acted on yet); without it, the
 * record's running spec and the domain's `name`. `shutdownGraceEndsAt`: the wall time a running
 * shutdown grace ends (LedgerEntry). Pure.
 */
export function ledgerEntry(
  uuid: string,
  name: string,
  r: DomainRecord,
  phase: LedgerEntry['phase'],
  builtFrom?: DomainSpec,
  shutdownGraceEndsAt: number | null = null,
): LedgerEntry {
  return {
    ...(shutdownGraceEndsAt === null ? {} : { shutdownGraceEndsAt }),
    ...(r.observedGeneration > 0 ? { observedGeneration: r.observedGeneration } : {}),
    uuid,
    name: builtFrom?.name ?? name,
    // A write while a shutdown domainmgr asked for is under way (a memory change after the halt
    // was taken back, say) keeps saying so until the domain is destroyed.
    phase: phase === 'created' && r.haltRequested ? 'halting' : phase,
    restartCounter: r.actedRestartCounter ?? builtFrom?.restartCounter ?? 0,
    purgeCounter: r.actedPurgeCounter ?? builtFrom?.purgeCounter ?? 0,
    restartCount: r.restartCount,
    runningSpec: builtFrom ?? r.runningSpec,
    currentMemoryMiB: r.currentMemoryMiB,
  };
}

/**
 * What decide() is asked at monotonic `now`. A restart or purge is requested when the config's
 * counter is above the one acted on; before any counter was acted on, none is. Pure.
 */
export function decisionView(r: DomainRecord, desired: Desired, now: number): View {
  const spec = desired.kind === 'delete' ? null : desired.spec;
  return {
    now,
    desired,
    actual: r.k.actual,
    booting: r.k.booting,
    haltingUntil: r.k.haltingUntil,
    interruptedCreate: r.k.interruptedCreate,
    restartRequested:
      spec !== null && r.actedRestartCounter !== null && spec.restartCounter > r.actedRestartCounter,
    purgeRequested: spec !== null && r.actedPurgeCounter !== null && spec.purgeCounter > r.actedPurgeCounter,
    stoppedByGuest: r.stoppedByGuest,
    haltRequested: r.haltRequested,
    retryAt: r.retryAt,
    mutationRetryAt: r.mutationRetryAt,
    runningSpec: r.runningSpec,
    currentMemoryMiB: r.currentMemoryMiB,
  };
}

/**
 * The phase to write again when the ledger's entry holds an older generation than the newest
 * accepted (null: nothing to write). Pure. Not while creating: that entry names the spec being built.
 */
export function generationToFile(r: DomainRecord): LedgerEntry['phase'] | null {
  const f = r.filed;
  if (f === null || f.phase === 'creating' || f.observedGeneration >= r.observedGeneration) return null;
  return f.phase;
}
