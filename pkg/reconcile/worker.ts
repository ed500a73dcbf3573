import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { CreatedDomain, DomainRef, Hypervisor, ObservedDomain } from '../hypervisor/hypervisor.js';
import { UnsupportedError } from '../hypervisor/hypervisor.js';
import type { Logger } from '../log/logger.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import {
  type Actual,
  backoffDelay,
  type Desired,
  decide,
  type ExitKind,
  pendingChanges,
  policyRestarts,
} from './decide.js';
import { type StatusError, statusErrorFrom, withTimeout } from './errors.js';
import type { HostResources } from './host-resources.js';
import type { Ledger, LedgerEntry } from './ledger.js';
import type { Semaphore } from './semaphore.js';

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
  /** Ask for a listing soon (a create or shutdown wants confirming); `uuid` is the asking domain. */
  requestProbe: (delayMs: number, uuid: string) => void;
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

  #actual: Actual = 'unknown';
  #mutatedAt = Number.NEGATIVE_INFINITY;
  /** The newest listing not yet taken in (one slot: a newer listing replaces it). */
  #pendingObservation: { listed: readonly ObservedDomain[]; epoch: number } | null = null;
  /** Further domains listed with our uuid besides the one we manage: destroyed before anything else. */
  #strays: ObservedDomain[] = [];
  /** The last step decided to wait: nothing is due until something changes or a timer fires. */
  #settled = false;
  #ref: DomainRef | null = null;
  #vifs: CreatedDomain['vifs'] = [];
  #runningSpec: DomainSpec | null = null;
  #currentMemoryMiB: number | null = null;
  #booting = false;
  #runningSince: number | null = null;
  #haltingUntil: number | null = null;
  #interruptedCreate = false;
  /** Operations the backend said it cannot do for this domain (UnsupportedError): not retried. */
  #unsupported = new Set<string>();

  #actedRestartCounter: number | null = null;
  #actedPurgeCounter: number | null = null;
  #stoppedByGuest = false;
  #retryAt: number | null = null;
  #attempt = 0;
  #restartCount = 0;

  #state: DomainState = 'PENDING';
  #lastTransitionTime: number;
  #bootTime: number | null = null;
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
      this.#interruptedCreate = remembered.phase === 'creating';
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
    if (desired.kind !== 'delete') {
      const g = desired.spec.generation;
      if (g < this.#acceptedGeneration) {
        this.#configError = this.#configErrorOf(
          `stale config: generation ${g} is older than the accepted generation ${this.#acceptedGeneration}`,
        );
        this.#publish();
        return false;
      }
      const before = this.#desired;
      if (g === this.#acceptedGeneration && before !== null && before.kind !== 'delete') {
        // A redelivery of what we already act on: nothing new.
        if (JSON.stringify(before.spec) === JSON.stringify(desired.spec)) return true;
      }
      this.#acceptedGeneration = g;
      this.#name = desired.spec.name;
      const startIntent =
        before === null ||
        before.kind !== 'run' ||
        desired.spec.restartCounter > (this.#actedRestartCounter ?? desired.spec.restartCounter);
      if (desired.kind === 'run' && startIntent) this.#stoppedByGuest = false;
      if (this.#actedRestartCounter === null) this.#actedRestartCounter = desired.spec.restartCounter;
      if (this.#actedPurgeCounter === null) this.#actedPurgeCounter = desired.spec.purgeCounter;
      if (desired.kind === 'run' && before?.kind !== 'run') {
        this.#retryAt = null;
        this.#attempt = 0;
      }
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
   * True when taking `seen` in would change nothing: the worker is idle (its last decision was to
   * wait, with a timer for anything due later) and the listing shows exactly what it believes.
   * Then a step would decide the same wait again, so it is skipped: with 1,000 settled domains a
   * listing costs one comparison per domain instead of a reconcile step and a status rebuild each
   * (profile: a third of domainmgr's non-spawn CPU in a 1,000-domain create went there).
   */
  #changesNothing(listed: readonly ObservedDomain[], epoch: number): boolean {
    if (epoch <= this.#mutatedAt) return true; // out of date: #takeObservation would ignore it
    if (!this.#settled) return false;
    // Two domains with our uuid (a stray to destroy) always need a step.
    if (listed.length > 1 || this.#strays.length > 0) return false;
    const seen = listed[0] ?? null;
    if (this.#booting) return false;
    if (seen === null) return this.#actual === 'absent' && this.#ref === null && this.#haltingUntil === null;
    const ref = this.#ref;
    if (
      this.#actual !== seen.state ||
      ref === null ||
      ref.domainName !== seen.name ||
      ref.domainId !== seen.domainId
    )
      return false;
    if (seen.state === 'running') {
      if (this.#runningSince === null) return false;
      // As #takeObservation: a domain that ran long enough earns a fresh backoff.
      if (this.#d.clock.now() - this.#runningSince >= this.#d.restartBackoff.maxMs) this.#attempt = 0;
    } else if (this.#runningSince !== null) return false;
    return true;
  }

  #takeObservation(): void {
    const o = this.#pendingObservation;
    this.#pendingObservation = null;
    if (o === null || o.epoch <= this.#mutatedAt) return;
    const { listed } = o;
    const mine = this.#ref?.domainName;
    const seen =
      listed.find((d) => d.name === mine) ?? listed.find((d) => d.state === 'running') ?? listed[0] ?? null;
    // A domain between states (dying) is on its way out; only settled extras are strays.
    this.#strays = listed.filter((d) => d !== seen && d.state !== 'transitional');
    const before = this.#actual;
    const now = this.#d.clock.now();
    if (seen === null) {
      this.#actual = 'absent';
      if (
        (before === 'running' || before === 'paused') &&
        this.#haltingUntil === null &&
        this.#desired?.kind === 'run'
      ) {
        this.#exited('vanished');
      }
      if (this.#haltingUntil !== null) this.#haltingUntil = null;
      this.#ref = null;
      // No domain, no boot time: the next boot sets it anew.
      this.#bootTime = null;
    } else {
      if (this.#booting && seen.state === 'paused') {
        // xl unpause exits 0 even when it failed: only the listing tells. Retry with backoff.
        this.#booting = false;
        const delay = backoffDelay(
          this.#attempt++,
          this.#d.restartBackoff.initialMs,
          this.#d.restartBackoff.maxMs,
        );
        this.#retryAt = now + delay;
        this.#error = {
          message: 'the domain is still paused after unpause',
          source: 'hypervisor',
          time: new Date(now).toISOString(),
          retryAt: new Date(this.#retryAt).toISOString(),
        };
        this.#scheduleWake(this.#retryAt);
      }
      this.#actual = seen.state;
      this.#ref = { uuid: this.uuid, domainName: seen.name, domainId: seen.domainId };
      if (seen.state === 'running') {
        // Seen running: whatever create was interrupted got as far as the start, it is a domain.
        this.#interruptedCreate = false;
        if (this.#booting) {
          this.#booting = false;
          this.#bootTime ??= now;
        }
        this.#runningSince ??= now;
        // A domain that ran long enough earns a fresh backoff.
        if (now - this.#runningSince >= this.#d.restartBackoff.maxMs) this.#attempt = 0;
      } else {
        this.#runningSince = null;
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
    const now = new Date(this.#d.clock.now()).toISOString();
    const desiredSpec = this.#desired !== null && this.#desired.kind !== 'delete' ? this.#desired.spec : null;
    const error = this.#configError ?? this.#error;
    return {
      uuid: this.uuid,
      name: this.#name,
      nodeId: this.#d.nodeId,
      backend: this.#d.hypervisor.name,
      state: this.#state,
      observedGeneration: this.#acceptedGeneration,
      domainName: this.#ref?.domainName ?? null,
      domainId: this.#actual === 'absent' ? null : (this.#ref?.domainId ?? null),
      activated: this.#state === 'RUNNING' || this.#state === 'PAUSED' || this.#state === 'BOOTING',
      bootTime: this.#bootTime === null ? null : new Date(this.#bootTime).toISOString(),
      lastTransitionTime: new Date(this.#lastTransitionTime).toISOString(),
      updatedAt: now,
      restartCount: this.#restartCount,
      vifs: this.#actual === 'absent' ? [] : this.#vifs,
      pciDevices: this.#actual === 'absent' || this.#runningSpec === null ? [] : this.#runningSpec.pciDevices,
      pendingChanges:
        desiredSpec === null || this.#actual === 'absent'
          ? []
          : pendingChanges(desiredSpec, this.#runningSpec),
      error,
    };
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
    this.#takeObservation();
    if (this.#strays.length > 0) {
      await this.#destroyStrays();
      return;
    }
    const desired = this.#desired;
    if (desired === null) return;
    const now = this.#d.clock.now();
    const spec = desired.kind === 'delete' ? null : desired.spec;
    const action = decide({
      now,
      desired,
      actual: this.#actual,
      booting: this.#booting,
      haltingUntil: this.#haltingUntil,
      interruptedCreate: this.#interruptedCreate,
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
    this.#log.debug({ action, actual: this.#actual }, 'decide');
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
          this.#booting = true;
          this.#actual = 'running';
          this.#setState('BOOTING');
          this.#d.requestProbe(0, this.uuid);
        });
        return;
      case 'pause':
        await this.#mutate('pause', async (ref) => {
          await this.#d.hypervisor.pause(ref);
          this.#actual = 'paused';
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
          this.#haltingUntil = this.#d.clock.now() + this.#d.shutdownGraceMs;
          this.#scheduleWake(this.#haltingUntil);
          // Listings confirm the guest left; ask for one soon rather than at the next period.
          this.#d.requestProbe(Math.min(1000, this.#d.shutdownGraceMs), this.uuid);
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

  /** Nothing to do for now: report the state the situation amounts to. */
  #settle(desired: Desired, until: number | null): void {
    if (until !== null) this.#scheduleWake(until);
    // A graceful shutdown in progress stays HALTING (or DELETING) until the guest left or the grace ran out.
    if (desired.kind === 'delete' || this.#haltingUntil !== null) return;
    switch (this.#actual) {
      case 'absent':
        if (desired.kind === 'halt' || this.#stoppedByGuest) {
          if (this.#state !== 'BROKEN' || desired.kind === 'halt') this.#setState('HALTED');
        } else if (this.#retryAt !== null) {
          // Waiting to retry a failed create or a restart: BROKEN with error.retryAt.
          if (this.#state !== 'HALTED') this.#setState('BROKEN');
        } else {
          this.#setState('PENDING');
        }
        return;
      case 'paused':
        this.#setState('PAUSED');
        return;
      case 'running':
        this.#setState(this.#booting ? 'BOOTING' : 'RUNNING');
        if (!this.#booting) {
          // Confirmed running: past failures are over, except a pause this backend cannot do.
          this.#retryAt = null;
          if (!(this.#unsupported.has('pause') && desired.spec.paused)) this.#error = null;
        }
        return;
      default:
        return;
    }
  }

  async #create(spec: DomainSpec): Promise<void> {
    const d = this.#d;
    if (this.#state !== 'PENDING' && this.#state !== 'BROKEN' && this.#state !== 'HALTED')
      this.#setState('PENDING');
    // PENDING is published only when the create must wait for a slot. With a slot free, CREATING
    // follows within microseconds, and publishing PENDING first would hold CREATING back behind
    // PENDING's ack (one publish per subject in flight): 3-5 ms at idle, measured (npm run bench,
    // idle scenario, changeToStored by state).
    let release = d.createSlots.tryAcquire();
    if (release === null) {
      this.#publish();
      release = await d.createSlots.acquire();
    }
    let created: CreatedDomain | null = null;
    try {
      if (this.#stopped) return;
      const memory = await d.resources.reserveMemory(this.uuid, spec.memoryMiB);
      if (memory !== null) throw new HostProblem(memory);
      const conflicts = d.resources.claimPci(
        this.uuid,
        spec.pciDevices.map((p) => p.bdf),
      );
      if (conflicts.length > 0) {
        throw new HostProblem(
          conflicts.map((c) => `PCI device ${c.bdf} is held by domain ${c.holder}`).join('; '),
        );
      }
      this.#setState('CREATING');
      this.#error = null;
      this.#publish();
      await letPublishesOut();
      await this.#rememberSpec('creating', spec);
      if (spec.pciDevices.length > 0) {
        await this.#call('pci-prepare', () => d.hypervisor.pciPrepare(spec.pciDevices.map((p) => p.bdf)));
      }
      created = await this.#call('create', () => d.hypervisor.createPaused(spec), d.createTimeoutMs);
      this.#ref = { uuid: this.uuid, domainName: created.domainName, domainId: created.domainId };
      this.#vifs = created.vifs;
      this.#runningSpec = spec;
      this.#currentMemoryMiB = null;
      this.#actual = 'paused';
      this.#interruptedCreate = false;
      if (spec.disableVifOffload && spec.vifs.length > 0) {
        const c = created;
        await this.#call('disable-vif-offload', () => d.hypervisor.disableVifOffload(c));
      }
      // A backend that cannot pause left the domain stopped, not paused: a domain asked for
      // paused is started too (the pause that follows fails as unsupported and says so), never
      // left stopped, where a listing would read it as a guest that powered off.
      if (!spec.paused || !d.hypervisor.canPause) {
        const ref = this.#ref;
        await this.#call('unpause', () => d.hypervisor.unpause(ref));
        this.#actual = 'running';
        this.#booting = true;
        this.#setState('BOOTING');
      } else {
        this.#setState('PAUSED');
      }
      this.#mutatedAt = d.tick();
      d.resources.commitMemory(this.uuid);
      this.#actedPurgeCounter = spec.purgeCounter;
      this.#actedRestartCounter = spec.restartCounter;
      this.#publish();
      await letPublishesOut();
      await this.#remember('created');
      d.requestProbe(0, this.uuid);
    } catch (e) {
      d.resources.releaseMemory(this.uuid);
      await this.#failCreate(e, created, spec);
    } finally {
      release();
    }
  }

  /** A create failed: nothing half-built stays behind; retry with backoff. */
  async #failCreate(e: unknown, created: CreatedDomain | null, spec: DomainSpec): Promise<void> {
    const d = this.#d;
    const now = d.clock.now();
    const time = new Date(now).toISOString();
    this.#log.warn({ err: e instanceof Error ? e.message : String(e) }, 'create failed');
    const error: StatusError =
      e instanceof HostProblem ? { message: e.message, source: 'host', time } : statusErrorFrom(e, time);
    if (created !== null) {
      try {
        await this.#call('destroy', () => d.hypervisor.destroy(created));
        this.#actual = 'absent';
      } catch (cleanup) {
        // The half-built domain may still be there; the next listing tells, and decide() acts.
        this.#actual = 'unknown';
        this.#log.error(
          { err: cleanup instanceof Error ? cleanup.message : String(cleanup) },
          'cleanup after failed create failed',
        );
      }
    } else if (!(e instanceof HostProblem)) {
      // createPaused cleans up after itself; a timeout may leave something: let a listing tell.
      this.#actual = e instanceof Error && e.name === 'OperationTimeoutError' ? 'unknown' : 'absent';
    }
    if (this.#actual === 'absent') {
      d.resources.releasePci(this.uuid);
      this.#ref = null;
      this.#runningSpec = null;
      if (spec.pciDevices.length > 0 && !(e instanceof HostProblem)) {
        await this.#call('pci-release', () =>
          d.hypervisor.pciRelease(spec.pciDevices.map((p) => p.bdf)),
        ).catch(() => {});
      }
    }
    this.#mutatedAt = d.tick();
    const delay = backoffDelay(this.#attempt++, d.restartBackoff.initialMs, d.restartBackoff.maxMs);
    this.#retryAt = now + delay;
    error.retryAt = new Date(this.#retryAt).toISOString();
    this.#error = error;
    this.#booting = false;
    this.#setState('BROKEN');
    await this.#remember('stopped');
    this.#scheduleWake(this.#retryAt);
  }

  async #destroy(
    reason: 'halt' | 'restart' | 'purge' | 'interrupted' | 'exited',
    desired: Desired,
  ): Promise<void> {
    const d = this.#d;
    const ref = this.#ref ?? {
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
    this.#actual = 'absent';
    this.#ref = null;
    this.#vifs = [];
    this.#runningSpec = null;
    this.#currentMemoryMiB = null;
    this.#booting = false;
    this.#bootTime = null;
    this.#runningSince = null;
    this.#haltingUntil = null;
    this.#interruptedCreate = false;
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
          managed: this.#ref?.domainName ?? null,
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
    this.#d.requestProbe(0, this.uuid);
  }

  /** The domain stopped without being asked: apply the restart policy. */
  #exited(kind: ExitKind): void {
    const d = this.#d;
    const desired = this.#desired;
    if (desired === null || desired.kind !== 'run') return;
    const now = d.clock.now();
    const time = new Date(now).toISOString();
    const what =
      kind === 'crash'
        ? 'the domain crashed'
        : kind === 'poweroff'
          ? 'the guest powered off'
          : 'the domain disappeared';
    this.#log.warn({ exit: kind, policy: desired.spec.restartPolicy }, what);
    this.#bootTime = null;
    if (policyRestarts(desired.spec.restartPolicy, kind)) {
      const delay = backoffDelay(this.#attempt++, d.restartBackoff.initialMs, d.restartBackoff.maxMs);
      this.#retryAt = now + delay;
      this.#restartCount++;
      this.#error = {
        message: `${what}; restarting (restartPolicy ${desired.spec.restartPolicy})`,
        source: 'hypervisor',
        time,
        retryAt: new Date(this.#retryAt).toISOString(),
      };
      this.#setState('BROKEN');
      this.#scheduleWake(this.#retryAt);
    } else {
      this.#stoppedByGuest = true;
      this.#retryAt = null;
      if (kind === 'poweroff') {
        this.#error = null;
        this.#setState('HALTED');
      } else {
        this.#error = {
          message: `${what} (restartPolicy ${desired.spec.restartPolicy})`,
          source: 'hypervisor',
          time,
        };
        this.#setState('BROKEN');
      }
    }
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
    const ref = this.#ref;
    if (ref === null) {
      this.#actual = 'unknown';
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
    this.#actual = 'unknown';
    this.#d.requestProbe(0, this.uuid);
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
    this.#wake = this.#d.clock.schedule(Math.max(0, at - this.#d.clock.now()), () => {
      this.#wake = null;
      this.#kick();
    });
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

/**
 * Lets the statuses just published leave before synchronous work (the ledger's file write) holds
 * the thread: the NATS client writes what was published in a microtask queued at publish time,
 * which runs before this one resolves. Without it a status waited for the write (a quarter to half
 * a millisecond on the bench machine) before its first byte was sent.
 */
function letPublishesOut(): Promise<void> {
  return Promise.resolve();
}

/** A create refused before any tool ran: memory or PCI devices are not available. */
class HostProblem extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostProblem';
  }
}
