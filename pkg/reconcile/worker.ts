import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { CreatedDomain, DomainRef, Hypervisor, ObservedDomain } from '../hypervisor/hypervisor.js';
import { UnsupportedError } from '../hypervisor/hypervisor.js';
import type { Logger } from '../log/logger.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import { type CreateParty, createTransaction, letPublishesOut } from './create-transaction.js';
import { backoffDelay, type Desired, decide, type ExitKind, exitOutcome } from './decide.js';
import { type StatusError, statusErrorFrom, withTimeout } from './errors.js';
import type { HostResources } from './host-resources.js';
import { intake } from './intake.js';
import type { Ledger, LedgerEntry } from './ledger.js';
import { changesNothing, type Knowledge, type ObservationContext, observeListing } from './observation.js';
import type { Semaphore } from './semaphore.js';
import { buildDomainStatus, settledState } from './status.js';

export type DomainState = DomainStatus['state'];

/** What every worker shares; owned by the engine. */
export interface WorkerDeps {
  nodeId: string;
  hypervisor: Hypervisor;
  clock: Clock;
  logger: Logger;
  ledger: Ledger;
  resources: HostResources;
  createSlots: Semaphore;
  shutdownGraceMs: number;
  restartBackoff: { initialMs: number; maxMs: number };
  /** Upper bound on one backend call as seen by the engine (the runner has its own per command). */
  operationTimeoutMs: number;
  createTimeoutMs: number;
  publish: (status: DomainStatus) => void;
  /** Ask for a listing within delayMs (a create or shutdown wants confirming). */
  requestProbe: (delayMs: number) => void;
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
 * Owns its domain's DomainStatus: nothing else publishes status for this uuid.
 */
export class DomainWorker {
  readonly uuid: string;
  readonly #d: WorkerDeps;
  readonly #log: Logger;

  #desired: Desired | null = null;
  #acceptedGeneration = 0;
  #name = '';
  #configError: StatusError | null = null;

  /** What the worker knows of its domain on the hypervisor (see observation.ts). */
  #k: Knowledge = {
    actual: 'unknown',
    ref: null,
    booting: false,
    runningSince: null,
    haltingUntil: null,
    bootTime: null,
    interruptedCreate: false,
    attempt: 0,
  };
  #mutatedAt = Number.NEGATIVE_INFINITY;
  /** The newest listing not yet taken in (one slot: a newer listing replaces it). */
  #pendingObservation: { listed: readonly ObservedDomain[]; epoch: number } | null = null;
  /** Further domains listed with our uuid besides the one we manage: destroyed before anything else. */
  #strays: ObservedDomain[] = [];
  /** The last step decided to wait: nothing is due until something changes or a timer fires. */
  #settled = false;
  #vifs: CreatedDomain['vifs'] = [];
  #runningSpec: DomainSpec | null = null;
  #currentMemoryMiB: number | null = null;
  /** Operations the backend said it cannot do for this domain (UnsupportedError): not retried. */
  #unsupported = new Set<string>();

  #actedRestartCounter: number | null = null;
  #actedPurgeCounter: number | null = null;
  #stoppedByGuest = false;
  /** Monotonic time before which a failed create or a restart is not retried. */
  #retryAt: number | null = null;
  #restartCount = 0;

  #state: DomainState = 'PENDING';
  /** Wall time, for the status. */
  #lastTransitionTime: number;
  #error: StatusError | null = null;
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
    if (remembered !== undefined) {
      this.#name = remembered.name;
      this.#actedRestartCounter = remembered.restartCounter;
      this.#actedPurgeCounter = remembered.purgeCounter;
      this.#restartCount = remembered.restartCount;
      this.#runningSpec = remembered.runningSpec;
      this.#currentMemoryMiB = remembered.currentMemoryMiB;
      this.#k.interruptedCreate = remembered.phase === 'creating';
    }
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
    const taken = intake(
      {
        acceptedGeneration: this.#acceptedGeneration,
        desired: this.#desired,
        actedRestartCounter: this.#actedRestartCounter,
        actedPurgeCounter: this.#actedPurgeCounter,
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
      this.#name = desired.spec.name;
    }
    if (taken.clearsStoppedByGuest) this.#stoppedByGuest = false;
    this.#actedRestartCounter = taken.actedRestartCounter;
    this.#actedPurgeCounter = taken.actedPurgeCounter;
    if (taken.resetsRetry) {
      this.#retryAt = null;
      this.#k.attempt = 0;
    }
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
   * name, else a running one), the others are strays, destroyed (see #destroyStrays).
   */
  observe(listed: readonly ObservedDomain[], epoch: number): void {
    if (this.#stopped) return;
    if (!this.#busy && this.#pendingObservation === null && this.#changesNothing(listed, epoch)) return;
    if (this.#pendingObservation === null || epoch > this.#pendingObservation.epoch) {
      this.#pendingObservation = { listed, epoch };
    }
    this.#kick();
  }

  /**
   * True when taking the listing in would change nothing: it is out of date, or the worker is
   * idle (its last decision was to wait, with a timer for anything due later) and the listing,
   * read by the same observeListing() a step uses, leaves all it knows as it is. Then a step
   * would decide the same wait again, so it is skipped: with 1,000 settled domains a listing
   * costs one comparison per domain instead of a reconcile step and a status rebuild each.
   * Changes nothing itself.
   */
  #changesNothing(listed: readonly ObservedDomain[], epoch: number): boolean {
    if (epoch <= this.#mutatedAt) return true; // out of date: #takeObservation would ignore it
    if (!this.#settled || this.#strays.length > 0) return false;
    return changesNothing(this.#k, observeListing(this.#k, listed, this.#observationContext()));
  }

  #observationContext(): ObservationContext {
    return {
      uuid: this.uuid,
      desired: this.#desired?.kind ?? null,
      now: this.#d.clock.monotonic(),
      wallNow: this.#d.clock.now(),
      restartBackoff: this.#d.restartBackoff,
    };
  }

  #takeObservation(): void {
    const o = this.#pendingObservation;
    this.#pendingObservation = null;
    if (o === null || o.epoch <= this.#mutatedAt) return;
    const seen = observeListing(this.#k, o.listed, this.#observationContext());
    this.#k = seen.knowledge;
    this.#strays = seen.strays;
    for (const event of seen.events) {
      switch (event.type) {
        case 'vanished':
          this.#exited('vanished');
          break;
        case 'still-paused':
          this.#retryAt = event.retryAt;
          this.#error = {
            message: 'the domain is still paused after unpause',
            source: 'hypervisor',
            time: new Date(this.#d.clock.now()).toISOString(),
            retryAt: this.#wallTimeOf(event.retryAt),
          };
          this.#scheduleWake(event.retryAt);
          break;
      }
    }
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
    return buildDomainStatus({
      uuid: this.uuid,
      name: this.#name,
      nodeId: this.#d.nodeId,
      backend: this.#d.hypervisor.name,
      state: this.#state,
      observedGeneration: this.#acceptedGeneration,
      actual: this.#k.actual,
      ref: this.#k.ref,
      vifs: this.#vifs,
      runningSpec: this.#runningSpec,
      desiredSpec: desired !== null && desired.kind !== 'delete' ? desired.spec : null,
      bootTime: this.#k.bootTime,
      lastTransitionTime: this.#lastTransitionTime,
      updatedAt: this.#d.clock.now(),
      restartCount: this.#restartCount,
      error: this.#configError ?? this.#error,
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
      // A bug, not a hypervisor failure (those are handled in #step): never let it escape.
      this.#log.error({ err: e }, 'worker step failed');
      this.#error = statusErrorFrom(e, new Date(this.#d.clock.now()).toISOString());
      this.#setState('BROKEN');
    } finally {
      this.#busy = false;
      this.#publish();
    }
  }

  async #step(): Promise<void> {
    const interrupted = this.#k.interruptedCreate;
    this.#takeObservation();
    if (interrupted && !this.#k.interruptedCreate) {
      // An interrupted create found running got as far as the start: the ledger says so, or the
      // next restart would take the domain (paused by then, say) for a half-built one.
      await this.#remember('created');
    }
    if (this.#strays.length > 0) {
      await this.#destroyStrays();
      return;
    }
    const desired = this.#desired;
    if (desired === null) return;
    const now = this.#d.clock.monotonic();
    const spec = desired.kind === 'delete' ? null : desired.spec;
    const action = decide({
      now,
      desired,
      actual: this.#k.actual,
      booting: this.#k.booting,
      haltingUntil: this.#k.haltingUntil,
      interruptedCreate: this.#k.interruptedCreate,
      restartRequested:
        spec !== null &&
        this.#actedRestartCounter !== null &&
        spec.restartCounter > this.#actedRestartCounter,
      purgeRequested:
        spec !== null && this.#actedPurgeCounter !== null && spec.purgeCounter > this.#actedPurgeCounter,
      stoppedByGuest: this.#stoppedByGuest,
      retryAt: this.#retryAt,
      runningSpec: this.#runningSpec,
      currentMemoryMiB: this.#currentMemoryMiB,
    });
    this.#log.debug({ action, actual: this.#k.actual }, 'decide');
    if (this.#unsupported.has(action.type)) {
      // The backend cannot do it (a vmadm zone cannot pause): the status says so; nothing to do.
      this.#settled = true;
      this.#settle(desired, null);
      return;
    }
    this.#settled = action.type === 'wait';
    // Whatever an action did, decide again afterwards: only a wait ends the loop.
    if (action.type !== 'wait') this.#dirty = true;
    switch (action.type) {
      case 'wait':
        this.#settle(desired, action.until);
        return;
      case 'create':
        if (spec !== null) await this.#create(spec);
        return;
      case 'unpause':
        await this.#mutate('unpause', async (ref) => {
          await this.#d.hypervisor.unpause(ref);
          this.#k.booting = true;
          this.#k.actual = 'running';
          this.#setState('BOOTING');
          this.#d.requestProbe(0);
        });
        return;
      case 'pause':
        await this.#mutate('pause', async (ref) => {
          await this.#d.hypervisor.pause(ref);
          this.#k.actual = 'paused';
          this.#setState('PAUSED');
        });
        return;
      case 'set-memory':
        await this.#mutate('set-memory', async (ref) => {
          await this.#d.hypervisor.setMemory(ref, action.memoryMiB);
          this.#currentMemoryMiB = action.memoryMiB;
          await this.#remember('created');
        });
        return;
      case 'shutdown':
        await this.#mutate('shutdown', async (ref) => {
          const force = spec?.virtualizationMode === 'hvm' && spec.type === 'vm';
          this.#setState(desired.kind === 'delete' ? 'DELETING' : 'HALTING');
          await this.#d.hypervisor.shutdown(ref, { force });
          this.#k.haltingUntil = this.#d.clock.monotonic() + this.#d.shutdownGraceMs;
          this.#scheduleWake(this.#k.haltingUntil);
          // Listings confirm the guest left; ask for one soon rather than at the next period.
          this.#d.requestProbe(Math.min(1000, this.#d.shutdownGraceMs));
        });
        return;
      case 'destroy':
        await this.#destroy(action.reason, desired);
        return;
      case 'exited':
        this.#exited(action.kind);
        await this.#destroy('exited', desired);
        return;
      case 'forget':
        await this.#forget();
        return;
    }
  }

  /** Nothing to do for now: report the state the situation amounts to (status.ts settledState). */
  #settle(desired: Desired, until: number | null): void {
    if (until !== null) this.#scheduleWake(until);
    const settled = settledState({
      state: this.#state,
      desired: desired.kind,
      paused: desired.kind !== 'delete' && desired.spec.paused,
      actual: this.#k.actual,
      halting: this.#k.haltingUntil !== null,
      booting: this.#k.booting,
      stoppedByGuest: this.#stoppedByGuest,
      retrying: this.#retryAt !== null,
      pauseUnsupported: this.#unsupported.has('pause'),
    });
    this.#setState(settled.state);
    if (settled.clearRetry) this.#retryAt = null;
    if (settled.clearError) this.#error = null;
  }

  async #create(spec: DomainSpec): Promise<void> {
    if (this.#state !== 'PENDING' && this.#state !== 'BROKEN' && this.#state !== 'HALTED')
      this.#setState('PENDING');
    await createTransaction(this.#createParty(), spec);
  }

  /** The worker's side of the create transaction (create-transaction.ts). */
  #createParty(): CreateParty {
    const d = this.#d;
    return {
      uuid: this.uuid,
      hypervisor: d.hypervisor,
      resources: d.resources,
      createSlots: d.createSlots,
      createTimeoutMs: d.createTimeoutMs,
      logger: this.#log,
      call: (operation, fn, timeoutMs) => this.#call(operation, fn, timeoutMs),
      stopped: () => this.#stopped,
      wallNow: () => d.clock.now(),
      // PENDING is published only when the create must wait for a slot. With a slot free,
      // CREATING follows within microseconds, and publishing PENDING first would hold CREATING
      // back behind PENDING's ack (one publish per subject in flight).
      waiting: () => this.#publish(),
      creating: () => {
        this.#setState('CREATING');
        this.#error = null;
        this.#publish();
      },
      remember: (phase, spec) =>
        spec === undefined ? this.#remember(phase) : this.#rememberSpec(phase, spec),
      created: (created, spec) => {
        this.#k.ref = { uuid: this.uuid, domainName: created.domainName, domainId: created.domainId };
        this.#vifs = created.vifs;
        this.#runningSpec = spec;
        this.#currentMemoryMiB = null;
        this.#k.actual = 'paused';
        this.#k.interruptedCreate = false;
      },
      done: async (spec, unpaused) => {
        if (unpaused) {
          this.#k.actual = 'running';
          this.#k.booting = true;
          this.#setState('BOOTING');
        } else {
          this.#setState('PAUSED');
        }
        this.#mutatedAt = d.tick();
        this.#actedPurgeCounter = spec.purgeCounter;
        this.#actedRestartCounter = spec.restartCounter;
        this.#publish();
        await letPublishesOut();
        await this.#remember('created');
        d.requestProbe(0);
      },
      failed: async (error, left) => {
        this.#k.actual = left;
        if (left === 'absent') {
          this.#k.ref = null;
          this.#runningSpec = null;
        }
        this.#mutatedAt = d.tick();
        this.#retryAt = this.#backoffDeadline();
        this.#error = { ...error, retryAt: this.#wallTimeOf(this.#retryAt) };
        this.#k.booting = false;
        this.#setState('BROKEN');
        await this.#remember('stopped');
        this.#scheduleWake(this.#retryAt);
      },
    };
  }

  async #destroy(
    reason: 'halt' | 'restart' | 'purge' | 'interrupted' | 'exited',
    desired: Desired,
  ): Promise<void> {
    const d = this.#d;
    const ref = this.#k.ref ?? {
      uuid: this.uuid,
      domainName: this.#runningSpec?.name ?? this.#name,
      domainId: null,
    };
    const bdfs = this.#runningSpec?.pciDevices.map((p) => p.bdf) ?? [];
    if (reason === 'halt' && desired.kind === 'delete') this.#setState('DELETING');
    else if (reason === 'halt' && desired.kind === 'halt') this.#setState('HALTING');
    this.#publish();
    try {
      await this.#call('destroy', () => d.hypervisor.destroy(ref));
      if (bdfs.length > 0) await this.#call('pci-release', () => d.hypervisor.pciRelease(bdfs));
    } catch (e) {
      this.#fail(e);
      return;
    } finally {
      this.#mutatedAt = d.tick();
    }
    d.resources.releasePci(this.uuid);
    d.resources.releaseMemory(this.uuid);
    this.#k.actual = 'absent';
    this.#k.ref = null;
    this.#vifs = [];
    this.#runningSpec = null;
    this.#currentMemoryMiB = null;
    this.#k.booting = false;
    this.#k.bootTime = null;
    this.#k.runningSince = null;
    this.#k.haltingUntil = null;
    this.#k.interruptedCreate = false;
    const spec = desired.kind === 'delete' ? null : desired.spec;
    if (reason === 'restart' && spec !== null) {
      this.#actedRestartCounter = spec.restartCounter;
      this.#stoppedByGuest = false;
    }
    if (reason === 'purge' && spec !== null) {
      this.#actedPurgeCounter = spec.purgeCounter;
      this.#stoppedByGuest = false;
    }
    if (reason === 'halt' && desired.kind === 'halt') {
      this.#error = null;
      this.#setState('HALTED');
    }
    await this.#remember('stopped');
    this.#dirty = true;
  }

  /**
   * Domains with our uuid besides the one we manage: a create of a domainmgr killed mid-way that
   * finished after the restart had created the domain again (rkt: a second pod, since every
   * `rkt run` makes a new one). By the contract a uuid is one domain: the extras are destroyed.
   */
  async #destroyStrays(): Promise<void> {
    const strays = this.#strays;
    this.#strays = [];
    for (const s of strays) {
      this.#log.warn(
        {
          stray: { name: s.name, domainId: s.domainId, state: s.state },
          managed: this.#k.ref?.domainName ?? null,
        },
        'a second domain with this uuid: destroying it',
      );
      try {
        await this.#call('destroy', () =>
          this.#d.hypervisor.destroy({ uuid: this.uuid, domainName: s.name, domainId: s.domainId }),
        );
      } catch (e) {
        this.#log.error(
          { err: e instanceof Error ? e.message : String(e), stray: s.name },
          'destroying a stray failed',
        );
      }
    }
    this.#mutatedAt = this.#d.tick();
    // What we believe of our own domain is unchanged; a fresh listing confirms it.
    this.#dirty = true;
    this.#d.requestProbe(0);
  }

  /** The domain stopped without being asked: apply the restart policy (decide.ts exitOutcome). */
  #exited(kind: ExitKind): void {
    const desired = this.#desired;
    if (desired === null || desired.kind !== 'run') return;
    const time = new Date(this.#d.clock.now()).toISOString();
    const outcome = exitOutcome(kind, desired.spec.restartPolicy);
    this.#log.warn({ exit: kind, policy: desired.spec.restartPolicy }, outcome.what);
    this.#k.bootTime = null;
    if (outcome.restart) {
      this.#retryAt = this.#backoffDeadline();
      this.#restartCount++;
    } else {
      this.#stoppedByGuest = true;
      this.#retryAt = null;
    }
    this.#error =
      outcome.message === null
        ? null
        : {
            message: outcome.message,
            source: 'hypervisor',
            time,
            ...(this.#retryAt === null ? {} : { retryAt: this.#wallTimeOf(this.#retryAt) }),
          };
    this.#setState(outcome.state);
    if (this.#retryAt !== null) this.#scheduleWake(this.#retryAt);
  }

  async #forget(): Promise<void> {
    this.#d.resources.releasePci(this.uuid);
    this.#d.resources.releaseMemory(this.uuid);
    await this.#d.ledger.remove(this.uuid);
    this.#error = null;
    this.#configError = null;
    this.#setState('DELETED');
    this.#publish();
    this.#stopped = true;
    this.#d.onForgotten(this.uuid);
  }

  /** Runs a mutation on the current domain; failure becomes the status error. */
  async #mutate(operation: string, fn: (ref: DomainRef) => Promise<void>): Promise<void> {
    const ref = this.#k.ref;
    if (ref === null) {
      this.#k.actual = 'unknown';
      return;
    }
    try {
      await this.#call(operation, () => fn(ref));
      if (this.#error?.source !== 'config' && this.#error?.retryAt === undefined) this.#error = null;
    } catch (e) {
      if (e instanceof UnsupportedError) {
        this.#unsupported.add(operation);
        this.#error = {
          message: e.message,
          source: 'hypervisor',
          time: new Date(this.#d.clock.now()).toISOString(),
        };
        return;
      }
      this.#fail(e);
    } finally {
      this.#mutatedAt = this.#d.tick();
    }
  }

  /** An operation on an existing domain failed: report it; the next listing says where things stand. */
  #fail(e: unknown): void {
    this.#log.warn({ err: e instanceof Error ? e.message : String(e) }, 'operation failed');
    this.#error = statusErrorFrom(e, new Date(this.#d.clock.now()).toISOString());
    this.#k.actual = 'unknown';
    this.#d.requestProbe(0);
  }

  async #call<T>(
    operation: string,
    fn: () => Promise<T>,
    timeoutMs = this.#d.operationTimeoutMs,
  ): Promise<T> {
    const started = performance.now();
    let ok = false;
    try {
      const out = await withTimeout(fn(), timeoutMs, operation, (ms, f) => this.#timer(ms, f));
      ok = true;
      return out;
    } finally {
      this.#d.observeOperation(operation, performance.now() - started, ok);
    }
  }

  #timer(ms: number, fn: () => void): () => void {
    const h = this.#d.clock.schedule(ms, fn);
    return () => this.#d.clock.cancel(h);
  }

  #scheduleWake(at: number): void {
    if (this.#wake !== null) this.#d.clock.cancel(this.#wake);
    this.#wake = this.#d.clock.schedule(Math.max(0, at - this.#d.clock.monotonic()), () => {
      this.#wake = null;
      this.#kick();
    });
  }

  /** The monotonic time of the next retry after a failure: exponential backoff, counted here. */
  #backoffDeadline(): number {
    const { initialMs, maxMs } = this.#d.restartBackoff;
    return this.#d.clock.monotonic() + backoffDelay(this.#k.attempt++, initialMs, maxMs);
  }

  /** A monotonic deadline as the wall time it falls at now, for a status (error.retryAt). */
  #wallTimeOf(monotonicAt: number): string {
    return new Date(this.#d.clock.now() + (monotonicAt - this.#d.clock.monotonic())).toISOString();
  }

  async #rememberSpec(phase: LedgerEntry['phase'], spec: DomainSpec): Promise<void> {
    await this.#d.ledger.put({
      uuid: this.uuid,
      name: spec.name,
      phase,
      restartCounter: this.#actedRestartCounter ?? spec.restartCounter,
      purgeCounter: this.#actedPurgeCounter ?? spec.purgeCounter,
      restartCount: this.#restartCount,
      runningSpec: spec,
      currentMemoryMiB: this.#currentMemoryMiB,
    });
  }

  async #remember(phase: LedgerEntry['phase']): Promise<void> {
    await this.#d.ledger.put({
      uuid: this.uuid,
      name: this.#name,
      phase,
      restartCounter: this.#actedRestartCounter ?? 0,
      purgeCounter: this.#actedPurgeCounter ?? 0,
      restartCount: this.#restartCount,
      runningSpec: this.#runningSpec,
      currentMemoryMiB: this.#currentMemoryMiB,
    });
  }
}
