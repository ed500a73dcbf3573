import type { DomainRef, ObservedDomain } from '../hypervisor/hypervisor.js';
import { type Actual, backoffDelay, type Desired } from './decide.js';

/**
 * What a listing means for one domain, as a pure function beside decide(): from what the worker
 * knows and the entries a listing showed with the domain's uuid, what it knows afterwards, the
 * strays to destroy and the events to act on. The worker (worker.ts) applies the result; it also
 * uses it to tell whether a listing would change anything at all (see DomainWorker.observe).
 */

/** What the worker knows of its domain on the hypervisor: the part a listing can change. */
export interface Knowledge {
  actual: Actual;
  /** How the worker names the domain to the backend; null when there is none to name. */
  ref: DomainRef | null;
  /** Unpaused, not yet confirmed running by a listing. */
  booting: boolean;
  /** Paused, not yet confirmed paused by a listing. */
  pausing: boolean;
  /** Monotonic time the domain was first seen running since it last was not. */
  runningSince: number | null;
  /** Monotonic deadline of a graceful shutdown in progress (destroy follows). */
  haltingUntil: number | null;
  /** Wall time of the boot (for the status); null when not booted. */
  bootTime: number | null;
  /** A create of ours was interrupted (domainmgr killed) and not yet cleared. */
  interruptedCreate: boolean;
  /** Failures in a row, for the backoff of the next retry; a domain that ran long enough resets it. */
  attempt: number;
  /** How the domain stopped, in the hypervisor's words (ObservedDomain.stopDetail); null: not said. */
  stopDetail: string | null;
  /**
   * Monotonic time a domain that was up (or shutting down to reboot) was first missing from a
   * listing, while it may still be the toolstack rebuilding it (Hypervisor.rebuildGraceMs); null
   * when it is not missing.
   */
  missingSince: number | null;
}

export interface ObservationContext {
  uuid: string;
  /** What is desired now (null: no config yet). */
  desired: Desired['kind'] | null;
  /** Monotonic time. */
  now: number;
  /** Wall time, for the boot time. */
  wallNow: number;
  restartBackoff: { initialMs: number; maxMs: number };
  /** domainmgr asked the guest to shut down (a run killed since may have): its leaving is no surprise. */
  haltRequested: boolean;
  /** Hypervisor.rebuildGraceMs: how long a missing domain may be the toolstack rebuilding it. */
  rebuildGraceMs: number;
}

export type ObservationEvent =
  /**
   * The domain left while running or paused, unasked (or did not come back within the rebuild
   * grace): the restart policy applies.
   */
  | { type: 'vanished' }
  /**
   * Missing, unasked, but maybe being rebuilt (a reboot under xl's monitor): nothing is concluded
   * yet; a listing at `until` tells. `first`: the first listing that missed it.
   */
  | { type: 'missing'; until: number; first: boolean }
  /** Still paused after an unpause (xl unpause exits 0 even when it failed): retry at retryAt. */
  | { type: 'still-paused'; retryAt: number }
  /** Still running after a pause that exited 0: retry at retryAt. */
  | { type: 'still-running'; retryAt: number };

export interface Observation {
  knowledge: Knowledge;
  /** Further settled domains with the uuid besides the managed one: to destroy. */
  strays: ObservedDomain[];
  events: ObservationEvent[];
}

/**
 * Takes one listing in. More than one entry with the uuid: the managed one is kept (by name,
 * else a running one, else the first); the others are strays unless they are between states
 * (dying: on their way out already).
 */
export function observeListing(
  k: Knowledge,
  listed: readonly ObservedDomain[],
  c: ObservationContext,
): Observation {
  const mine = k.ref?.domainName;
  const seen =
    listed.find((d) => d.name === mine) ?? listed.find((d) => d.state === 'running') ?? listed[0] ?? null;
  const strays = listed.filter((d) => d !== seen && d.state !== 'transitional');
  const events: ObservationEvent[] = [];
  const next: Knowledge = { ...k };
  if (seen === null) {
    const up = k.actual === 'running' || k.actual === 'paused';
    const unasked = k.haltingUntil === null && !c.haltRequested && c.desired === 'run';
    // It may come back under a new domid if it was up, or shutting down to reboot (xl: reason r,
    // 'transitional'), or missing already (an operation that failed on it since left 'unknown').
    if (unasked && (up || k.actual === 'transitional' || k.missingSince !== null)) {
      const since = k.missingSince ?? c.now;
      if (c.now < since + c.rebuildGraceMs) {
        // Everything else stays as it was: the domain may be back any moment.
        next.missingSince = since;
        events.push({ type: 'missing', until: since + c.rebuildGraceMs, first: k.missingSince === null });
        return { knowledge: next, strays, events };
      }
    }
    // Gone: an exit if it was up, or if it did not come back within the grace.
    if (unasked && (up || k.missingSince !== null)) events.push({ type: 'vanished' });
    next.missingSince = null;
    next.actual = 'absent';
    next.pausing = false;
    next.haltingUntil = null;
    next.ref = null;
    next.stopDetail = null;
    // No domain, no boot time: the next boot sets it anew.
    next.bootTime = null;
    return { knowledge: next, strays, events };
  }
  if (
    k.missingSince !== null &&
    (seen.state === 'paused' || seen.state === 'transitional') &&
    c.now < k.missingSince + c.rebuildGraceMs
  ) {
    // Back, but not running yet: the toolstack is still building it (xl's monitor builds the
    // domain paused, under the name "(null)" at first, and unpauses it itself once its devices
    // are up). Nothing is concluded or done before it runs, or before the grace is over.
    events.push({ type: 'missing', until: k.missingSince + c.rebuildGraceMs, first: false });
    return { knowledge: next, strays, events };
  }
  if (k.booting && seen.state === 'paused') {
    next.booting = false;
    const delay = backoffDelay(next.attempt, c.restartBackoff.initialMs, c.restartBackoff.maxMs);
    next.attempt++;
    events.push({ type: 'still-paused', retryAt: c.now + delay });
  }
  if (k.pausing && seen.state !== 'transitional') {
    next.pausing = false;
    if (seen.state === 'running') {
      const delay = backoffDelay(next.attempt, c.restartBackoff.initialMs, c.restartBackoff.maxMs);
      next.attempt++;
      events.push({ type: 'still-running', retryAt: c.now + delay });
    }
  }
  next.actual = seen.state;
  next.missingSince = null;
  next.stopDetail = seen.stopDetail ?? null;
  next.ref =
    k.ref !== null && k.ref.domainName === seen.name && k.ref.domainId === seen.domainId
      ? k.ref
      : { uuid: c.uuid, domainName: seen.name, domainId: seen.domainId };
  if (seen.state === 'running') {
    // Seen running: whatever create was interrupted got as far as the start, it is a domain.
    next.interruptedCreate = false;
    if (next.booting) {
      next.booting = false;
      next.bootTime ??= c.wallNow;
    }
    next.runningSince ??= c.now;
    // A domain that ran long enough earns a fresh backoff.
    if (c.now - next.runningSince >= c.restartBackoff.maxMs) next.attempt = 0;
  } else {
    next.runningSince = null;
  }
  return { knowledge: next, strays, events };
}

/** Whether an observation leaves everything as it was: no strays, no events, the same knowledge. */
export function changesNothing(before: Knowledge, o: Observation): boolean {
  if (o.strays.length > 0 || o.events.length > 0) return false;
  const a = before;
  const b = o.knowledge;
  return (
    a.actual === b.actual &&
    sameRef(a.ref, b.ref) &&
    a.booting === b.booting &&
    a.pausing === b.pausing &&
    a.runningSince === b.runningSince &&
    a.haltingUntil === b.haltingUntil &&
    a.bootTime === b.bootTime &&
    a.interruptedCreate === b.interruptedCreate &&
    a.attempt === b.attempt &&
    a.stopDetail === b.stopDetail &&
    a.missingSince === b.missingSince
  );
}

function sameRef(a: DomainRef | null, b: DomainRef | null): boolean {
  if (a === null || b === null) return a === b;
  return a.uuid === b.uuid && a.domainName === b.domainName && a.domainId === b.domainId;
}
