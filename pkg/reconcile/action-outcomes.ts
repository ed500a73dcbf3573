import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { DomainRef } from '../hypervisor/hypervisor.js';
import { UnsupportedError } from '../hypervisor/hypervisor.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import type { Desired, ExitOutcome } from './decide.js';
import { type StatusError, statusErrorFrom } from './errors.js';
import type { Knowledge } from './observation.js';

/**
 * What carrying out an action comes to, as pure functions: the states an action reports, what a
 * failure means, what a destroy leaves. actions.ts calls the hypervisor and applies them.
 */

type DomainState = DomainStatus['state'];

/** A status error from the hypervisor side that is not a failed command (no command, no exit code). */
export function hypervisorError(message: string, time: string, retryAt?: string): StatusError {
  return { message, source: 'hypervisor', time, ...(retryAt === undefined ? {} : { retryAt }) };
}

/**
 * What a failed operation on an existing domain means. 'unsupported': the backend cannot do it
 * for this domain (a vmadm zone cannot pause); the domain is as it was and the operation is not
 * tried again. 'failed': anything else; where the domain stands is unknown until a listing tells.
 */
export function mutationFailure(
  e: unknown,
  time: string,
): { kind: 'unsupported' | 'failed'; error: StatusError } {
  if (e instanceof UnsupportedError) return { kind: 'unsupported', error: hypervisorError(e.message, time) };
  return { kind: 'failed', error: statusErrorFrom(e, time) };
}

/**
 * The error once an operation succeeded: a config error and the error of a retry still due
 * (error.retryAt) stay; any other is over.
 */
export function errorAfterSuccess(error: StatusError | null): StatusError | null {
  if (error === null || error.source === 'config' || error.retryAt !== undefined) return error;
  return null;
}

export type DestroyReason = 'halt' | 'restart' | 'purge' | 'interrupted' | 'exited';

export interface DestroyPlan {
  /** The state to publish before the destroy runs (null: keep the current one). */
  announce: 'DELETING' | 'HALTING' | null;
  /** The destroy ends a halt: HALTED, no error. */
  halted: boolean;
  /** The counters the destroy acts on (null: leave the acted one as it is). */
  actedRestartCounter: number | null;
  actedPurgeCounter: number | null;
  /** A restart or purge asked for by the controller overrides a guest's stop. */
  clearsStoppedByGuest: boolean;
}

/** What a destroy for `reason` reports before and records after it succeeded. */
export function destroyPlan(reason: DestroyReason, desired: Desired): DestroyPlan {
  const spec = desired.kind === 'delete' ? null : desired.spec;
  const halt = reason === 'halt';
  return {
    announce:
      halt && desired.kind === 'delete' ? 'DELETING' : halt && desired.kind === 'halt' ? 'HALTING' : null,
    halted: halt && desired.kind === 'halt',
    actedRestartCounter: reason === 'restart' && spec !== null ? spec.restartCounter : null,
    actedPurgeCounter: reason === 'purge' && spec !== null ? spec.purgeCounter : null,
    clearsStoppedByGuest: (reason === 'restart' || reason === 'purge') && spec !== null,
  };
}

/**
 * What to destroy: the domain as last listed, else as it was built (a domain never seen in a
 * listing since domainmgr started, named by the spec it was built from or the config's name);
 * and the PCI devices it was built with, to release after it.
 */
export function destroyTarget(
  uuid: string,
  ref: DomainRef | null,
  runningSpec: DomainSpec | null,
  name: string,
): { ref: DomainRef; bdfs: string[] } {
  return {
    ref: ref ?? { uuid, domainName: runningSpec?.name ?? name, domainId: null },
    bdfs: runningSpec?.pciDevices.map((p) => p.bdf) ?? [],
  };
}

/** What is known once a destroy succeeded: nothing there; the backoff's failure count stays. */
export function knowledgeAfterDestroy(k: Knowledge): Knowledge {
  return {
    ...k,
    actual: 'absent',
    ref: null,
    booting: false,
    pausing: false,
    bootTime: null,
    runningSince: null,
    haltingUntil: null,
    interruptedCreate: false,
    stopDetail: null,
    missingSince: null,
  };
}

export interface ShutdownPlan {
  /** Force the power off: an HVM VM may have no PV drivers to hear a graceful request. */
  force: boolean;
  state: 'HALTING' | 'DELETING';
  /** Ask for a listing this soon: it confirms the guest left before the next periodic one. */
  probeInMs: number;
}

/** A graceful shutdown; the domain is destroyed `graceMs` after it was asked. */
export function shutdownPlan(desired: Desired, graceMs: number): ShutdownPlan {
  const spec = desired.kind === 'delete' ? null : desired.spec;
  return {
    force: spec?.virtualizationMode === 'hvm' && spec.type === 'vm',
    state: desired.kind === 'delete' ? 'DELETING' : 'HALTING',
    probeInMs: Math.min(1000, graceMs),
  };
}

/** The state a create starts from: a retry stays BROKEN or HALTED until CREATING; else PENDING. */
export function stateBeforeCreate(state: DomainState): DomainState {
  return state === 'BROKEN' || state === 'HALTED' ? state : 'PENDING';
}

/** The status error an unasked exit leaves (exitOutcome); null when it leaves none. */
export function exitError(outcome: ExitOutcome, time: string, retryAt: string | null): StatusError | null {
  return outcome.message === null ? null : hypervisorError(outcome.message, time, retryAt ?? undefined);
}
