import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { CreatedDomain, DomainRef } from '../hypervisor/hypervisor.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import { type Actual, type Desired, pendingChanges } from './decide.js';
import type { StatusError } from './errors.js';

/** Everything a DomainStatus is made of, as the worker holds it. */
export interface StatusFacts {
  uuid: string;
  name: string;
  nodeId: string;
  backend: DomainStatus['backend'];
  state: DomainStatus['state'];
  observedGeneration: number;
  actual: Actual;
  ref: DomainRef | null;
  vifs: CreatedDomain['vifs'];
  /** The spec the domain was created from (null when none is). */
  runningSpec: DomainSpec | null;
  /** The accepted spec (null: no config, or a delete). */
  desiredSpec: DomainSpec | null;
  /** Wall times, ms since the epoch. */
  bootTime: number | null;
  lastTransitionTime: number;
  updatedAt: number;
  restartCount: number;
  error: StatusError | null;
}

/**
 * The DomainStatus the facts amount to. Pure. A domain known to be absent has no domid, vifs,
 * PCI devices or pending changes; the name it had stays until a new one is known.
 */
export function buildDomainStatus(f: StatusFacts): DomainStatus {
  const absent = f.actual === 'absent';
  return {
    uuid: f.uuid,
    name: f.name,
    nodeId: f.nodeId,
    backend: f.backend,
    state: f.state,
    observedGeneration: f.observedGeneration,
    domainName: f.ref?.domainName ?? null,
    domainId: absent ? null : (f.ref?.domainId ?? null),
    activated: f.state === 'RUNNING' || f.state === 'PAUSED' || f.state === 'BOOTING',
    bootTime: f.bootTime === null ? null : new Date(f.bootTime).toISOString(),
    lastTransitionTime: new Date(f.lastTransitionTime).toISOString(),
    updatedAt: new Date(f.updatedAt).toISOString(),
    restartCount: f.restartCount,
    vifs: absent ? [] : f.vifs,
    pciDevices: absent || f.runningSpec === null ? [] : f.runningSpec.pciDevices,
    pendingChanges: f.desiredSpec === null || absent ? [] : pendingChanges(f.desiredSpec, f.runningSpec),
    error: f.error,
  };
}

/** What the worker knows when its decision is to wait. */
export interface SettleFacts {
  state: DomainStatus['state'];
  desired: Desired['kind'];
  /** The accepted spec asks for paused. */
  paused: boolean;
  actual: Actual;
  /** A graceful shutdown is in progress. */
  halting: boolean;
  booting: boolean;
  /** The guest stopped and the restart policy left it stopped. */
  stoppedByGuest: boolean;
  /** A retry (failed create, restart) is due later. */
  retrying: boolean;
  /** The backend said it cannot pause this domain. */
  pauseUnsupported: boolean;
}

export interface Settled {
  /** The state to report (possibly the current one). */
  state: DomainStatus['state'];
  /** Confirmed running: a pending retry is over. */
  clearRetry: boolean;
  /** Confirmed running: the error of past failures is over. */
  clearError: boolean;
  /**
   * Running, not confirmed yet: ask for a listing. The one the unpause asked for may have begun
   * before a later operation (a live memory change) ended, and is then ignored as out of date; a
   * listing that begins once the worker waits is in date. (The change feed's look at the domain
   * alone, lxc, may come too early for the same reason.)
   */
  listSoon: boolean;
}

/** Pure: the state a situation with nothing to do amounts to. */
export function settledState(f: SettleFacts): Settled {
  const keep = { state: f.state, clearRetry: false, clearError: false, listSoon: false };
  // A graceful shutdown in progress stays HALTING (or DELETING) until the guest left or the grace
  // ran out; a grace remembered across a restart of domainmgr is reported so from the start.
  if (f.halting && f.state !== 'HALTING' && f.state !== 'DELETING') {
    return { ...keep, state: f.desired === 'delete' ? 'DELETING' : 'HALTING' };
  }
  if (f.desired === 'delete' || f.halting) return keep;
  switch (f.actual) {
    case 'absent':
      if (f.desired === 'halt' || f.stoppedByGuest) {
        // A guest stopped by a crash the policy does not restart stays BROKEN (with its error).
        return { ...keep, state: f.state !== 'BROKEN' || f.desired === 'halt' ? 'HALTED' : f.state };
      }
      // Waiting to retry a failed create or a restart: BROKEN with error.retryAt.
      if (f.retrying) return { ...keep, state: f.state !== 'HALTED' ? 'BROKEN' : f.state };
      return { ...keep, state: 'PENDING' };
    case 'paused':
      // Paused as asked: a pause that had not taken is over.
      return { state: 'PAUSED', clearRetry: f.paused, clearError: f.paused, listSoon: false };
    case 'running':
      if (f.booting) return { ...keep, state: 'BOOTING', listSoon: true };
      // Running although asked paused: waiting to retry a pause (or the backend cannot pause).
      if (f.paused && !f.pauseUnsupported) return { ...keep, state: 'RUNNING' };
      // Confirmed running: past failures are over, except a pause this backend cannot do.
      return {
        state: 'RUNNING',
        clearRetry: true,
        clearError: !(f.pauseUnsupported && f.paused),
        listSoon: false,
      };
    default:
      return keep;
  }
}
