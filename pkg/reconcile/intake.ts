import type { DomainSpec } from '../schema/domain-spec.js';
import { type Desired, LIVE_FIELDS } from './decide.js';

/**
 * Taking in desired state, as a pure function: whether a validated config (or a delete) is stale,
 * a redelivery of what is already acted on, or news, and for news what of the worker's
 * bookkeeping it resets.
 */

/** The worker's bookkeeping a config is judged against. */
export interface IntakeState {
  acceptedGeneration: number;
  desired: Desired | null;
  /** The counters last acted on (null before any config). */
  actedRestartCounter: number | null;
  actedPurgeCounter: number | null;
}

export type Intake =
  /** Older than the accepted generation: refused, the domain stays as it is. */
  | { kind: 'stale'; message: string }
  /** The same generation and spec as the one acted on: nothing new. */
  | { kind: 'redelivery' }
  | {
      kind: 'accept';
      /** An intent to start (a first config, from halt to run, a raised restartCounter): a guest stop no longer holds. */
      clearsStoppedByGuest: boolean;
      /**
       * From not running to run, or a run whose domain would be built differently (a fixed
       * kernel path, bridge, memory): a pending retry and its backoff start afresh, so that a
       * config fixing a failure that retrying cannot heal is tried at once, not restartBackoff.maxMs later.
       */
      resetsRetry: boolean;
      actedRestartCounter: number | null;
      actedPurgeCounter: number | null;
    };

export function intake(state: IntakeState, desired: Desired): Intake {
  if (desired.kind === 'delete') {
    return {
      kind: 'accept',
      clearsStoppedByGuest: false,
      resetsRetry: false,
      actedRestartCounter: state.actedRestartCounter,
      actedPurgeCounter: state.actedPurgeCounter,
    };
  }
  const spec = desired.spec;
  const g = spec.generation;
  if (g < state.acceptedGeneration) {
    return {
      kind: 'stale',
      message: `stale config: generation ${g} is older than the accepted generation ${state.acceptedGeneration}`,
    };
  }
  const before = state.desired;
  if (
    g === state.acceptedGeneration &&
    before !== null &&
    before.kind !== 'delete' &&
    JSON.stringify(before.spec) === JSON.stringify(spec)
  ) {
    return { kind: 'redelivery' };
  }
  const startIntent =
    before === null ||
    before.kind !== 'run' ||
    spec.restartCounter > (state.actedRestartCounter ?? spec.restartCounter);
  return {
    kind: 'accept',
    clearsStoppedByGuest: desired.kind === 'run' && startIntent,
    resetsRetry:
      desired.kind === 'run' &&
      (before === null || before.kind !== 'run' || buildsDifferently(before.spec, spec)),
    // The first config's counters are taken as acted on: raising them later is what asks.
    actedRestartCounter: actedCounter(state.actedRestartCounter, spec.restartCounter),
    actedPurgeCounter: actedCounter(state.actedPurgeCounter, spec.purgeCounter),
  };
}

/** Whether two specs would build different domains (any field but LIVE_FIELDS differs). Pure. */
export function buildsDifferently(a: DomainSpec, b: DomainSpec): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof DomainSpec>;
  for (const k of keys) {
    if (LIVE_FIELDS.has(k)) continue;
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return true;
  }
  return false;
}

/**
 * The counter to count as acted on. A config's counter below the one acted on is a count started
 * over (the uuid deleted and created anew; while domainmgr was down both reach it as one changed
 * config): taken as acted on, so that raising it from there asks again. Keeping the higher one
 * would swallow the next raises until they passed it.
 */
function actedCounter(acted: number | null, asked: number): number {
  return acted === null || asked < acted ? asked : acted;
}
