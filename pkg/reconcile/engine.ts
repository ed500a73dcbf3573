import type { DomainmgrConfig } from '../../types/generated/config.js';
import type { NodeStatus } from '../../types/generated/node-status.js';
import type { Clock, TimerHandle } from '../clock.js';
import { errorText } from '../error-text.js';
import type { ChangeWatch, Hypervisor, Listing, VerifyResult } from '../hypervisor/hypervisor.js';
import type { Logger } from '../log/logger.js';
import { decodeConfigMessage } from '../schema/domain-config-message.js';
import { isDomainUuid } from '../schema/uuid.js';
import { HostResources } from './host-resources.js';
import type { Ledger, LedgerEntry } from './ledger.js';
import { changeListing, observationsFor, withPartial } from './partial-listing.js';
import type { ConfigDelivery, ConnectionState, StatusSink } from './ports.js';
import { Semaphore } from './semaphore.js';
import { type DomainState, DomainWorker, type WorkerDeps } from './worker.js';

/** Expedited listings (to confirm a boot or a shutdown) are at least this far apart. */
const MIN_PROBE_GAP_MS = 50;
/**
 * ... and at least this many times as long as the last listing took, so that expedited listings
 * take at most a fifth of the time however many domains there are. A listing costs O(domains) (a
 * process, then a parse and a comparison per worker, all garbage afterwards); with a fixed 50 ms
 * gap a burst of N creates runs O(N) listings, O(N^2) work in all (907 listings for 2,700 creates
 * in a 3,000-domain burst).
 */
const PROBE_GAP_PER_LISTING = 4;
/** Node status changes are coalesced for this long before publishing. */
const NODE_STATUS_DEBOUNCE_MS = 250;

export interface EngineDeps {
  config: DomainmgrConfig;
  hypervisor: Hypervisor;
  clock: Clock;
  logger: Logger;
  ledger: Ledger;
  status: StatusSink;
  connection: ConnectionState;
  version: string;
  /** Random numbers in [0, 1) for probe jitter; injected so tests are deterministic. */
  random?: () => number;
  /** Told about every config message and hypervisor operation (metrics); optional. */
  observer?: EngineObserver;
  /** The agent instance acting for the node, named in the NodeStatus. */
  instance?: NonNullable<NodeStatus['instance']>;
}

export interface EngineObserver {
  config(outcome: 'accepted' | 'rejected' | 'deleted' | 'stale'): void;
  operation(operation: string, durationMs: number, ok: boolean): void;
}

/**
 * The reconcile engine: routes each config message to its domain's worker, runs the one
 * periodic listing that feeds every worker, applies the orphan policy, and publishes NodeStatus.
 * It knows the hypervisor only through the Hypervisor interface and NATS only through the ports.
 */
export class Engine {
  readonly #d: EngineDeps;
  readonly #log: Logger;
  readonly #workers = new Map<string, DomainWorker>();
  readonly #resources: HostResources;
  readonly #workerDeps: WorkerDeps;
  readonly #startedAt: number;
  #remembered = new Map<string, LedgerEntry>();
  #verify: VerifyResult = { ok: false, problems: ['not verified yet'] };
  #lastListing: Listing | null = null;
  #synced = false;
  #stopping = false;
  #probing = false;
  #probeAgain = false;
  #lastProbeEnd = Number.NEGATIVE_INFINITY;
  /** How long the last listing took, from its start to every worker told. */
  #lastProbeMs = 0;
  #probeTimer: { handle: TimerHandle; at: number } | null = null;
  #nodeTimer: TimerHandle | null = null;
  #nodeDebounce: TimerHandle | null = null;
  #unsubscribe: () => void = () => {};
  #changeWatch: ChangeWatch | null = null;
  /** Domains the change feed named since the last listing of some (see #listChanged). */
  readonly #named = new Set<string>();
  #namedTimer: TimerHandle | null = null;
  #listingSome = false;
  #epoch = 0;
  #lastListingEpoch = 0;
  readonly #orphansReported = new Set<string>();

  constructor(deps: EngineDeps) {
    this.#d = deps;
    this.#log = deps.logger.child({ component: 'engine' });
    this.#startedAt = deps.clock.now();
    this.#resources = new HostResources(
      () => deps.hypervisor.hostInfo(),
      () => deps.clock.monotonic(),
    );
    const c = deps.config;
    this.#workerDeps = {
      nodeId: c.nodeId,
      hypervisor: deps.hypervisor,
      clock: deps.clock,
      logger: deps.logger.child({ component: 'worker' }),
      ledger: deps.ledger,
      resources: this.#resources,
      createSlots: new Semaphore(c.createConcurrency),
      shutdownGraceMs: c.shutdownGraceMs,
      restartBackoff: c.restartBackoff,
      operationTimeoutMs: c.timeouts.commandMs * 3 + c.timeouts.killGraceMs,
      createTimeoutMs: c.timeouts.createMs * 2 + c.timeouts.commandMs + c.timeouts.killGraceMs,
      publish: (s) => deps.status.publishDomainStatus(s),
      // Every listing is of all domains: which domain asks does not matter.
      requestProbe: (ms) => this.requestProbe(ms),
      onForgotten: (uuid) => {
        this.#workers.delete(uuid);
        this.#remembered.delete(uuid);
        this.#nodeStatusChanged();
      },
      onStateChange: () => this.#nodeStatusChanged(),
      tick: () => ++this.#epoch,
      observeOperation: (op, ms, ok) => deps.observer?.operation(op, ms, ok),
    };
  }

  /**
   * Before any config is taken in: verify the host, read it, load what we remember, and list
   * the domains once, so that every worker starts from what is really there (adopting running
   * domains instead of re-creating them).
   */
  async start(): Promise<void> {
    const log = this.#log;
    this.#verify = await this.#d.hypervisor.verify();
    if (!this.#verify.ok) log.warn({ problems: this.#verify.problems }, 'host verification found problems');
    this.#remembered = await this.#d.ledger.load();
    try {
      await this.#resources.refresh();
      await this.#probe();
    } catch (e) {
      log.error({ err: errorText(e) }, 'cannot read the hypervisor at start; will retry on every probe');
    }
    this.#unsubscribe = this.#d.connection.onChange((up) => {
      log.info({ connected: up }, up ? 'NATS connected' : 'NATS disconnected');
      this.#nodeStatusChanged();
    });
    // Each change the backend hears of (xl: a domain died or appeared) is one expedited listing,
    // classified as any listing, once the feed's burst has settled (ChangeWatch.settleMs; xl: at
    // once, it is what a crash waits for before its status); the periodic one is then only a slow
    // resync. A change that names its domain, on a backend with listSome, is listed alone
    // (partial-listing.ts), without waiting for the gap full listings keep between them.
    this.#changeWatch = this.#d.hypervisor.watchChanges?.((uuid) => this.#changed(uuid)) ?? null;
    this.#publishNodeStatus();
    this.#scheduleNodeStatus();
    this.#scheduleProbe(this.#interval());
  }

  /**
   * One config message: validated, then handed to its domain's worker. Resolves once the
   * message is accepted or rejected (the worker acts on it in its own time), which is when the
   * feed may acknowledge it. Never throws for bad input.
   */
  async handleConfig(delivery: ConfigDelivery): Promise<void> {
    if (this.#stopping) throw new Error('engine is stopping');
    const { uuid } = delivery;
    if (!isDomainUuid(uuid)) {
      // No status subject can be derived from a token that is not a uuid: say so in the log.
      this.#log.warn(
        { uuid, seq: delivery.seq },
        'config subject does not end in a lower-case uuid; ignored',
      );
      return;
    }
    const message = decodeConfigMessage(delivery.payload, uuid, this.#d.config.storage.allowedRoots);
    const worker = this.#workerFor(uuid);
    switch (message.kind) {
      case 'invalid':
        this.#log.warn({ uuid, seq: delivery.seq, errors: message.errors }, 'config rejected');
        this.#d.observer?.config('rejected');
        worker.reject(message.errors, message);
        return;
      case 'delete':
        this.#d.observer?.config('deleted');
        worker.setDesired({ kind: 'delete' });
        return;
      case 'config': {
        const problems = this.#d.hypervisor.checkSpec(message.spec);
        if (problems.length > 0) {
          this.#log.warn({ uuid, seq: delivery.seq, errors: problems }, 'config rejected by the backend');
          this.#d.observer?.config('rejected');
          worker.reject(problems, { name: message.spec.name, generation: message.spec.generation });
          return;
        }
        const accepted = worker.setDesired({
          kind: message.spec.activate ? 'run' : 'halt',
          spec: message.spec,
        });
        this.#d.observer?.config(accepted ? 'accepted' : 'stale');
      }
    }
  }

  /**
   * The initial backlog of desired state has been taken in: now the domains of ours that have
   * no config at all are orphans, handled by the orphan policy.
   */
  markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    this.#log.info({ domains: this.#workers.size }, 'desired state taken in');
    this.#handleOrphans();
    this.#nodeStatusChanged();
  }

  /** Asks for a listing within delayMs (coalesced with any listing already due sooner). */
  requestProbe(delayMs: number): void {
    if (this.#stopping) return;
    const now = this.#d.clock.monotonic();
    const at = Math.max(now + delayMs, this.#lastProbeEnd + this.#probeGap());
    if (this.#probing) {
      this.#probeAgain = true;
      return;
    }
    if (this.#probeTimer !== null && this.#probeTimer.at <= at) return;
    this.#scheduleProbe(at - now);
  }

  /**
   * SIGTERM: stop taking work, let every in-flight operation finish, and (onStop "shutdown")
   * stop the domains gracefully first. Domains are otherwise left running, like xend's
   * on_xend_stop = ignore. Ends by publishing the final statuses.
   *
   * `leaveRunning`: the agent no longer may act for the node (it lost its lease): no domain is
   * stopped whatever onStop says; another agent takes them over.
   */
  async stop(options: { leaveRunning?: boolean } = {}): Promise<void> {
    const log = this.#log;
    if (this.#d.config.onStop === 'shutdown' && options.leaveRunning !== true) await this.#haltAll();
    this.#stopping = true;
    this.#changeWatch?.close();
    if (this.#probeTimer !== null) this.#d.clock.cancel(this.#probeTimer.handle);
    if (this.#namedTimer !== null) this.#d.clock.cancel(this.#namedTimer);
    if (this.#nodeTimer !== null) this.#d.clock.cancel(this.#nodeTimer);
    if (this.#nodeDebounce !== null) this.#d.clock.cancel(this.#nodeDebounce);
    this.#unsubscribe();
    await Promise.all([...this.#workers.values()].map((w) => w.stop()));
    this.#publishNodeStatus(false);
    log.info('stopped');
  }

  /** The current NodeStatus. */
  nodeStatus(ready = this.ready): NodeStatus {
    const counts: Partial<Record<DomainState, number>> = {};
    for (const w of this.#workers.values()) counts[w.state] = (counts[w.state] ?? 0) + 1;
    const host = this.#resources.info;
    const now = new Date(this.#d.clock.now()).toISOString();
    return {
      nodeId: this.#d.config.nodeId,
      backend: this.#d.hypervisor.name,
      version: this.#d.version,
      startedAt: new Date(this.#startedAt).toISOString(),
      updatedAt: now,
      ...(this.#d.instance === undefined ? {} : { instance: this.#d.instance }),
      ready,
      verify: this.#verify,
      host: {
        totalMemoryMiB: host?.totalMemoryMiB ?? 0,
        freeMemoryMiB: host?.freeMemoryMiB ?? 0,
        nrCpus: host?.nrCpus ?? 0,
        hypervisorVersion: host?.hypervisorVersion ?? '',
      },
      domains: counts,
    };
  }

  /** Connected to NATS, desired state taken in, and the host verified. */
  get ready(): boolean {
    return this.readiness().length === 0;
  }

  /** Why the node is not ready; empty when it is. */
  readiness(): string[] {
    const reasons: string[] = [];
    if (!this.#d.connection.connected) reasons.push('not connected to NATS');
    if (!this.#synced) reasons.push('desired state not taken in yet');
    if (!this.#verify.ok) reasons.push(...this.#verify.problems.map((p) => `host: ${p}`));
    if (this.#stopping) reasons.push('stopping');
    return reasons;
  }

  /** The worker of a uuid, for tests and the operators' tools. */
  worker(uuid: string): DomainWorker | undefined {
    return this.#workers.get(uuid);
  }

  get domainCount(): number {
    return this.#workers.size;
  }

  #workerFor(uuid: string): DomainWorker {
    let w = this.#workers.get(uuid);
    if (w === undefined) {
      w = new DomainWorker(uuid, this.#workerDeps, this.#remembered.get(uuid));
      this.#workers.set(uuid, w);
      const listing = this.#lastListing;
      if (listing !== null) {
        w.observe(
          listing.domains.filter((d) => d.uuid === uuid),
          this.#lastListingEpoch,
        );
      }
      this.#nodeStatusChanged();
    }
    return w;
  }

  /**
   * The next probe period: resyncIntervalMs while the backend's change watch is live, else
   * probeIntervalMs; shortened at random by up to probeJitter, never lengthened, so that without
   * a watch probeIntervalMs bounds how long a crash goes unnoticed.
   */
  #interval(): number {
    const c = this.#d.config;
    const r = (this.#d.random ?? Math.random)();
    const watched = this.#changeWatch !== null && this.#changeWatch.live !== false;
    const base = watched ? c.resyncIntervalMs : c.probeIntervalMs;
    return Math.max(1, Math.round(base * (1 - c.probeJitter * r)));
  }

  /** The least time between the end of a listing and an expedited one. */
  #probeGap(): number {
    return Math.max(MIN_PROBE_GAP_MS, PROBE_GAP_PER_LISTING * this.#lastProbeMs);
  }

  #scheduleProbe(delayMs: number): void {
    if (this.#stopping) return;
    if (this.#probeTimer !== null) this.#d.clock.cancel(this.#probeTimer.handle);
    const at = this.#d.clock.monotonic() + delayMs;
    this.#probeTimer = {
      at,
      handle: this.#d.clock.schedule(delayMs, () => {
        this.#probeTimer = null;
        void this.#probeLoop();
      }),
    };
  }

  async #probeLoop(): Promise<void> {
    try {
      await this.#probe();
    } catch (e) {
      this.#log.warn({ err: errorText(e) }, 'listing the domains failed');
    }
    if (this.#probeAgain) {
      this.#probeAgain = false;
      this.#scheduleProbe(this.#probeGap());
    } else if (this.#probeTimer === null) {
      this.#scheduleProbe(this.#interval());
    }
  }

  /** One listing (one process spawn) fed to every worker. */
  async #probe(): Promise<void> {
    if (this.#probing) {
      this.#probeAgain = true;
      return;
    }
    this.#probing = true;
    const started = this.#d.clock.monotonic();
    try {
      const epoch = ++this.#epoch;
      const listing = await this.#d.hypervisor.list();
      this.#lastListing = listing;
      this.#lastListingEpoch = epoch;
      for (const [uuid, listed] of observationsFor(listing, this.#workers.keys()))
        this.#workers.get(uuid)?.observe(listed, epoch);
      if (this.#synced) this.#handleOrphans();
    } finally {
      this.#probing = false;
      this.#lastProbeEnd = this.#d.clock.monotonic();
      this.#lastProbeMs = this.#lastProbeEnd - started;
    }
  }

  /**
   * The change feed heard of a change: of the domain `uuid`, or of anything (no uuid). A named
   * change is listed alone when the backend can (#listChanged); anything else is a full listing.
   */
  #changed(uuid: string | undefined): void {
    if (this.#stopping) return;
    if (uuid === undefined || this.#d.hypervisor.listSome === undefined) {
      this.requestProbe(this.#changeSettleMs());
      return;
    }
    this.#named.add(uuid);
    if (this.#namedTimer === null && !this.#listingSome) this.#scheduleListChanged();
  }

  /** How long the change feed's burst takes to settle (ChangeWatch.settleMs; none if unsaid). */
  #changeSettleMs(): number {
    return this.#changeWatch?.settleMs ?? 0;
  }

  #scheduleListChanged(): void {
    this.#namedTimer = this.#d.clock.schedule(this.#changeSettleMs(), () => {
      this.#namedTimer = null;
      void this.#listChanged();
    });
  }

  /**
   * Lists the domains the feed named (Hypervisor.listSome; a full listing instead when they are
   * many, see changeListing) and tells their workers only: a partial listing speaks of nothing
   * else. It may run beside a full listing; a worker takes in only a listing that began after the
   * last it took (DomainWorker.observe), so whichever ends last does not undo a newer view.
   */
  async #listChanged(): Promise<void> {
    const plan = changeListing(this.#named);
    this.#named.clear();
    if (plan.kind === 'full') this.requestProbe(0);
    if (plan.kind !== 'some' || this.#d.hypervisor.listSome === undefined) return;
    this.#listingSome = true;
    try {
      const epoch = ++this.#epoch;
      const partial = await this.#d.hypervisor.listSome(plan.uuids);
      if (this.#lastListing !== null) this.#lastListing = withPartial(this.#lastListing, partial);
      for (const [uuid, listed] of observationsFor(partial, this.#workers.keys()))
        this.#workers.get(uuid)?.observe(listed, epoch);
    } catch (e) {
      this.#log.warn(
        { err: errorText(e), uuids: plan.uuids },
        'listing the changed domains failed; listing all',
      );
      this.requestProbe(0);
    } finally {
      this.#listingSome = false;
      if (this.#named.size > 0 && this.#namedTimer === null && !this.#stopping) this.#scheduleListChanged();
    }
  }

  /**
   * Domains of ours (remembered in the state directory) that no config names. Anything else on
   * the hypervisor (Domain-0, domains made by hand) is never touched.
   */
  #handleOrphans(): void {
    const listing = this.#lastListing;
    if (listing === null) return;
    const listed = new Set(listing.domains.map((d) => d.uuid));
    for (const [uuid, entry] of this.#remembered) {
      if (this.#workers.has(uuid)) continue;
      if (!listed.has(uuid)) {
        // Ours, gone, and no longer desired: nothing left to manage.
        this.#remembered.delete(uuid);
        void this.#d.ledger.remove(uuid);
        continue;
      }
      if (this.#d.config.orphanPolicy === 'destroy') {
        this.#log.warn({ uuid, name: entry.name }, 'orphan domain (ours, no config): destroying');
        this.#workerFor(uuid).setDesired({ kind: 'delete' });
      } else if (!this.#orphansReported.has(uuid)) {
        this.#orphansReported.add(uuid);
        this.#log.warn(
          { uuid, name: entry.name },
          'orphan domain (ours, no config): kept (orphanPolicy keep)',
        );
      }
    }
  }

  async #haltAll(): Promise<void> {
    const grace = this.#d.config.shutdownGraceMs;
    this.#log.info({ domains: this.#workers.size, graceMs: grace }, 'onStop shutdown: stopping every domain');
    const halting: Promise<void>[] = [];
    for (const w of this.#workers.values()) {
      const s = w.status();
      if (s.state === 'HALTED' || s.state === 'DELETED' || s.state === 'REJECTED') continue;
      halting.push(w.haltForStop());
    }
    const deadline = this.#d.clock.monotonic() + grace + this.#d.config.timeouts.commandMs * 2;
    while (this.#d.clock.monotonic() < deadline) {
      const busy = [...this.#workers.values()].some(
        (w) => !['HALTED', 'DELETED', 'REJECTED', 'BROKEN'].includes(w.state),
      );
      if (!busy) break;
      this.requestProbe(0);
      await this.#d.clock.sleep(Math.min(500, grace));
    }
    await Promise.all(halting);
  }

  #scheduleNodeStatus(): void {
    this.#nodeTimer = this.#d.clock.schedule(this.#d.config.nodeStatusIntervalMs, () => {
      void this.#periodicNodeStatus();
    });
  }

  async #periodicNodeStatus(): Promise<void> {
    if (this.#stopping) return;
    try {
      // The host reading (one process) at most one resync old unless domains changed: an idle
      // node's NodeStatus repeats it between.
      if (this.#resources.readingDue(this.#d.config.resyncIntervalMs)) await this.#resources.refresh();
      if (!this.#verify.ok) this.#verify = await this.#d.hypervisor.verify();
    } catch (e) {
      this.#log.warn({ err: errorText(e) }, 'reading host information failed');
    }
    this.#publishNodeStatus();
    this.#scheduleNodeStatus();
  }

  #nodeStatusChanged(): void {
    if (this.#stopping || this.#nodeDebounce !== null) return;
    this.#nodeDebounce = this.#d.clock.schedule(NODE_STATUS_DEBOUNCE_MS, () => {
      this.#nodeDebounce = null;
      this.#publishNodeStatus();
    });
  }

  #publishNodeStatus(ready?: boolean): void {
    this.#d.status.publishNodeStatus(this.nodeStatus(ready));
  }
}
