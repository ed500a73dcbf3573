import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { TimerHandle } from '../clock.js';
import type { ObservedDomain } from '../hypervisor/hypervisor.js';
import type { Logger } from '../log/logger.js';
import {
  type ActionDeps,
  type ActionParty,
  carryOut,
  type DomainState,
  destroyStrays,
  recordEvent,
  remember,
} from './actions.js';
import { type Desired, decide } from './decide.js';
import { type DomainRecord, decisionView, generationToFile, recordFrom } from './domain-record.js';
import { type StatusError, statusErrorFrom, withTimeout } from './errors.js';
import { intake } from './intake.js';
import type { LedgerEntry } from './ledger.js';
import { changesNothing, type ObservationContext, observeListing } from './observation.js';
import { buildDomainStatus } from './status.js';

export type { DomainState } from './actions.js';

/** What every worker shares; owned by the engine. */
export interface WorkerDeps extends ActionDeps {
  nodeId: string;
  logger: Logger;
  /** Upper bound on one backend call as seen by the engine (the runner has its own per command). */
  operationTimeoutMs: number;
  publish: (status: DomainStatus) => void;
  /** The worker has published DELETED and may be dropped. */
  onForgotten: (uuid: string) => void;
  /** Called whenever the worker's state changes, for NodeStatus counts. */
  onStateChange: () => void;
  /**
   * A shared monotonic counter: a listing takes a number when it starts, a mutation when it
   * ends; a listing is news to a worker only if it started after the worker's last mutation.
   */
  tick: () => number;
  /** Told the duration and outcome of every hypervisor operation (metrics). */
  observeOperation: (operation: string, durationMs: number, ok: boolean) => void;
}

/**
 * One worker per domain (kubelet's pod worker): it alone acts on its domain, one operation at a
 * time, in order. Desired state has one pending slot: a newer config replaces an older one not
 * yet acted on. Listings feed it observations; timers (restart backoff, shutdown grace) wake it.
 * Each step takes the newest listing in (observation.ts), asks decide() for the next action and
 * has it carried out (actions.ts), until the answer is to wait. Owns its domain's DomainStatus:
 * nothing else publishes status for this uuid.
 */
export class DomainWorker {
  readonly uuid: string;
  readonly #d: WorkerDeps;
  readonly #log: Logger;

  #desired: Desired | null = null;
  /** The generation this run accepted last (0: none yet), against which intake finds stale ones. */
  #acceptedGeneration = 0;
  #name: string;
  #configError: StatusError | null = null;

  /** What the worker knows and did to its domain; actions change it (domain-record.ts). */
  readonly #r: DomainRecord;
  /** The worker's side of carrying out actions (actions.ts ActionParty). */
  readonly #party: ActionParty;
  /** When the last mutation ended (WorkerDeps.tick): a listing started before it is out of date. */
  #mutatedAt = Number.NEGATIVE_INFINITY;
  /**
   * The start (epoch) of the newest listing taken in or found to change nothing: a listing that
   * began earlier is out of date. Listings of some domains (Engine #listChanged) run beside full
   * ones, so they do not always end in the order they began.
   */
  #observedAt = Number.NEGATIVE_INFINITY;
  /** The newest listing not yet taken in (one slot: a newer listing replaces it). */
  #pendingObservation: { listed: readonly ObservedDomain[]; epoch: number } | null = null;
  /** Further domains listed with our uuid besides the one we manage: destroyed before anything else. */
  #strays: ObservedDomain[] = [];
  /** The last step decided to wait: nothing is due until something changes or a timer fires. */
  #settled = false;

  #state: DomainState = 'PENDING';
  /** Wall time, for the status. */
  #lastTransitionTime: number;
  #lastPublished = '';

  #busy = false;
  #dirty = false;
  #stopped = false;
  #idle: Promise<void> = Promise.resolve();
  #wake: TimerHandle | null = null;

  constructor(uuid: string, deps: WorkerDeps, remembered?: LedgerEntry) {
    this.uuid = uuid;
    this.#d = deps;
    this.#log = deps.logger.child({ uuid });
    this.#lastTransitionTime = deps.clock.now();
    this.#name = remembered?.name ?? '';
    this.#r = recordFrom(remembered, {
      wallNow: deps.clock.now(),
      monotonicNow: deps.clock.monotonic(),
      shutdownGraceMs: deps.shutdownGraceMs,
    });
    // A remembered grace wakes the worker when it ends, as the shutdown that began it would have.
    if (this.#r.k.haltingUntil !== null) this.#scheduleWake(this.#r.k.haltingUntil);
    this.#party = {
      uuid,
      deps,
      log: this.#log,
      record: this.#r,
      name: () => this.#name,
      state: () => this.#state,
      setState: (state) => this.#setState(state),
      publish: () => this.#publish(),
      call: (operation, fn, timeoutMs) => this.#call(operation, fn, timeoutMs),
      mutated: () => {
        this.#mutatedAt = deps.tick();
      },
      wakeAt: (at) => this.#scheduleWake(at),
      stopped: () => this.#stopped,
      forgotten: () => {
        this.#configError = null;
        this.#setState('DELETED');
        this.#publish();
        this.#stopped = true;
        deps.onForgotten(uuid);
      },
    };
  }

  get state(): DomainState {
    return this.#state;
  }

  /** The domain's name (from its config), '' before any. */
  get name(): string {
    return this.#name;
  }

  /** Whether a valid config was ever accepted. */
  get hasConfig(): boolean {
    return this.#desired !== null;
  }

  /**
   * A validated config (or a delete). Stale generations are refused with a config error, the
   * domain staying as it is. Returns false when refused.
   */
  setDesired(desired: Desired): boolean {
    if (this.#stopped) return false;
    const r = this.#r;
    const taken = intake(
      {
        acceptedGeneration: this.#acceptedGeneration,
        desired: this.#desired,
        actedRestartCounter: r.actedRestartCounter,
        actedPurgeCounter: r.actedPurgeCounter,
      },
      desired,
    );
    if (taken.kind === 'stale') {
      this.#configError = this.#configErrorOf(taken.message);
      this.#publish();
      return false;
    }
    if (taken.kind === 'redelivery') return true;
    if (desired.kind !== 'delete') {
      this.#acceptedGeneration = desired.spec.generation;
      r.observedGeneration = desired.spec.generation;
      this.#name = desired.spec.name;
    }
    if (taken.clearsStoppedByGuest) r.stoppedByGuest = false;
    r.actedRestartCounter = taken.actedRestartCounter;
    r.actedPurgeCounter = taken.actedPurgeCounter;
    if (taken.resetsRetry) {
      r.retryAt = null;
      r.k.attempt = 0;
    }
    // News from the controller is acted on at once, not after a failed operation's backoff.
    r.mutationRetryAt = null;
    this.#configError = null;
    this.#desired = desired;
    this.#kick();
    return true;
  }

  /** A config message that failed validation: the status says why; the domain keeps its last valid config. */
  reject(errors: string[], hints: { name?: string; generation?: number }): void {
    if (this.#stopped) return;
    if (this.#desired === null && hints.name !== undefined) this.#name = hints.name;
    this.#configError = this.#configErrorOf(`invalid config: ${errors.join('; ')}`);
    if (this.#desired === null) this.#setState('REJECTED');
    this.#publish();
  }

  /**
   * What a listing that started at `epoch` (see WorkerDeps.tick) saw with this domain's uuid
   * (empty: not listed). Kept in a one-listing slot and taken in by the worker between
   * operations; a listing that began before the worker's last operation finished is ignored as
   * out of date. More than one domain with the uuid: the one this worker manages is kept (by
   * name, else a running one), the others are strays, destroyed (actions.ts destroyStrays).
   */
  observe(listed: readonly ObservedDomain[], epoch: number): void {
    if (this.#stopped || epoch <= this.#observedAt) return;
    if (!this.#busy && this.#pendingObservation === null && this.#changesNothing(listed, epoch)) {
      this.#observedAt = Math.max(this.#observedAt, epoch);
      return;
    }
    if (this.#pendingObservation === null || epoch > this.#pendingObservation.epoch) {
      this.#pendingObservation = { listed, epoch };
    }
    this.#kick();
  }

  /**
   * True when taking the listing in would change nothing: it is out of date, or the worker is
   * idle (its last decision was to wait, with a timer for anything due later) and the listing,
   * read by the same observeListing() a step uses, leaves all it knows as it is. Then a step
   * would decide the same wait again, so it is skipped, and a listing of settled domains costs
   * a comparison each rather than a step and a status rebuild. Changes nothing itself.
   */
  #changesNothing(listed: readonly ObservedDomain[], epoch: number): boolean {
    if (epoch <= this.#mutatedAt) return true; // out of date: #takeObservation would ignore it
    if (!this.#settled || this.#strays.length > 0) return false;
    return changesNothing(this.#r.k, observeListing(this.#r.k, listed, this.#observationContext()));
  }

  #observationContext(): ObservationContext {
    return {
      uuid: this.uuid,
      desired: this.#desired?.kind ?? null,
      now: this.#d.clock.monotonic(),
      wallNow: this.#d.clock.now(),
      restartBackoff: this.#d.restartBackoff,
      haltRequested: this.#r.haltRequested,
      rebuildGraceMs: this.#d.hypervisor.rebuildGraceMs ?? 0,
    };
  }

  #takeObservation(): void {
    const o = this.#pendingObservation;
    this.#pendingObservation = null;
    if (o === null || o.epoch <= this.#mutatedAt || o.epoch <= this.#observedAt) return;
    this.#observedAt = o.epoch;
    const seen = observeListing(this.#r.k, o.listed, this.#observationContext());
    this.#r.k = seen.knowledge;
    this.#strays = seen.strays;
    for (const event of seen.events) recordEvent(this.#party, event, this.#desired);
  }

  /**
   * onStop "shutdown": stop the domain gracefully (destroy after the grace) without changing
   * the accepted config, which still says run and is acted on at the next start.
   */
  haltForStop(): Promise<void> {
    const d = this.#desired;
    if (d !== null && d.kind === 'run') {
      this.#desired = { kind: 'halt', spec: d.spec };
      this.#kick();
    }
    return this.#idle;
  }

  /** Resolves when the worker has nothing in flight. */
  idle(): Promise<void> {
    return this.#idle;
  }

  /** Stops acting (SIGTERM): the operation in flight finishes; nothing new starts. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#wake !== null) this.#d.clock.cancel(this.#wake);
    await this.#idle;
  }

  /** The current DomainStatus (also what was last published, but for updatedAt). */
  status(): DomainStatus {
    const desired = this.#desired;
    const r = this.#r;
    return buildDomainStatus({
      uuid: this.uuid,
      name: this.#name,
      nodeId: this.#d.nodeId,
      backend: this.#d.hypervisor.name,
      state: this.#state,
      observedGeneration: r.observedGeneration,
      actual: r.k.actual,
      ref: r.k.ref,
      vifs: r.vifs,
      runningSpec: r.runningSpec,
      desiredSpec: desired !== null && desired.kind !== 'delete' ? desired.spec : null,
      bootTime: r.k.bootTime,
      lastTransitionTime: this.#lastTransitionTime,
      updatedAt: this.#d.clock.now(),
      restartCount: r.restartCount,
      error: this.#configError ?? r.error,
    });
  }

  /** Publishes the status when anything but updatedAt changed. */
  #publish(): void {
    const s = this.status();
    const key = JSON.stringify({ ...s, updatedAt: '' });
    if (key === this.#lastPublished) return;
    this.#lastPublished = key;
    this.#d.publish(s);
  }

  #setState(state: DomainState): void {
    if (state === this.#state) return;
    this.#log.info({ from: this.#state, to: state }, 'state');
    this.#state = state;
    this.#lastTransitionTime = this.#d.clock.now();
    this.#d.onStateChange();
  }

  #configErrorOf(message: string): StatusError {
    return {
      message: message.slice(0, 8192),
      source: 'config',
      time: new Date(this.#d.clock.now()).toISOString(),
    };
  }

  #kick(): void {
    if (this.#stopped) return;
    this.#dirty = true;
    if (this.#busy) return;
    this.#busy = true;
    this.#idle = this.#run();
  }

  async #run(): Promise<void> {
    try {
      while (this.#dirty && !this.#stopped) {
        this.#dirty = false;
        await this.#step();
      }
    } catch (e) {
      // A bug, not a hypervisor failure (actions.ts turns those into the status error): never let it escape.
      this.#log.error({ err: e }, 'worker step failed');
      this.#r.error = statusErrorFrom(e, new Date(this.#d.clock.now()).toISOString());
      this.#setState('BROKEN');
    } finally {
      this.#busy = false;
      this.#publish();
    }
  }

  async #step(): Promise<void> {
    const r = this.#r;
    const interrupted = r.k.interruptedCreate;
    this.#takeObservation();
    if (interrupted && !r.k.interruptedCreate) {
      // An interrupted create found running got as far as the start: the ledger says so, or the
      // next restart would take the domain (paused by then, say) for a half-built one.
      await remember(this.#party, 'created');
    }
    if (this.#strays.length > 0) {
      const strays = this.#strays;
      this.#strays = [];
      await destroyStrays(this.#party, strays);
      this.#dirty = true;
      return;
    }
    const desired = this.#desired;
    if (desired === null) return;
    const decided = decide(decisionView(r, desired, this.#d.clock.monotonic()));
    this.#log.debug({ action: decided, actual: r.k.actual }, 'decide');
    // An action the backend cannot do (a vmadm zone cannot pause) is not tried again: the
    // worker waits, and the status says why.
    const action = r.unsupported.has(decided.type) ? ({ type: 'wait', until: null } as const) : decided;
    this.#settled = action.type === 'wait';
    // Whatever an action did, decide again afterwards: only a wait ends the loop.
    if (action.type !== 'wait') this.#dirty = true;
    await carryOut(this.#party, action, desired);
    // A config that needed no action (a halted domain's memory, its restart policy) goes on
    // file too, so that a restarted domainmgr never reports an older generation.
    const refile = action.type === 'wait' ? generationToFile(r) : null;
    if (refile !== null) await remember(this.#party, refile);
  }

  async #call<T>(
    operation: string,
    fn: () => Promise<T>,
    timeoutMs = this.#d.operationTimeoutMs,
  ): Promise<T> {
    const started = performance.now();
    let ok = false;
    try {
      const out = await withTimeout(fn(), timeoutMs, operation, (ms, f) => {
        const h = this.#d.clock.schedule(ms, f);
        return () => this.#d.clock.cancel(h);
      });
      ok = true;
      return out;
    } finally {
      this.#d.observeOperation(operation, performance.now() - started, ok);
    }
  }

  #scheduleWake(at: number): void {
    if (this.#wake !== null) this.#d.clock.cancel(this.#wake);
    this.#wake = this.#d.clock.schedule(Math.max(0, at - this.#d.clock.monotonic()), () => {
      this.#wake = null;
      this.#kick();
    });
  }
}
