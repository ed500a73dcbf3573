import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { JetStreamFailureKind, JetStreamStep } from '../bus/jetstream-retry.js';
import { packageVersion, readProjectJson } from '../project-files.js';
import type { ConnectionState } from '../reconcile/ports.js';
import type { CommandObserver } from '../runner/command-runner.js';
import { commandLabels } from './command-labels.js';

export type DomainState = DomainStatus['state'];

/** What became of one config message. */
export type ConfigOutcome = 'accepted' | 'rejected' | 'deleted' | 'stale';
/** Which status message a publish carried. */
export type StatusKind = 'domain' | 'node';

export interface MetricsOptions {
  /** Reported as domainmgr_build_info{version}; default: package.json's version. */
  version?: string;
  /**
   * Called at every scrape for the number of domains per state (e.g. NodeStatus.domains). Without
   * it the gauge shows what setDomainCounts() last set.
   */
  domainCounts?: () => Partial<Record<DomainState, number>>;
  /** process_* and nodejs_* metrics of prom-client; default true. */
  defaultMetrics?: boolean;
}

/**
 * Every state of the contract, from the schema (the source of truth), so that each state has a
 * series even at 0 and a dashboard never confuses "none" with "not reported".
 */
const STATES: readonly DomainState[] = (
  readProjectJson('types/definitions.schema.json') as {
    definitions: { state: { enum: DomainState[] } };
  }
).definitions.state.enum;

const CONFIG_OUTCOMES: readonly ConfigOutcome[] = ['accepted', 'rejected', 'deleted', 'stale'];
const STATUS_KINDS: readonly StatusKind[] = ['domain', 'node'];
const JETSTREAM_STEPS: readonly JetStreamStep[] = ['streams', 'consumer'];
const JETSTREAM_FAILURE_KINDS: readonly JetStreamFailureKind[] = ['transient', 'refused'];
const OPERATION = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * Hard caps on label values seen, whatever the callers pass: past them new values are counted as
 * 'other'. The code has about 25 tool/subcommand pairs and about 10 operations.
 */
const MAX_COMMAND_PAIRS = 64;
const MAX_OPERATIONS = 32;

/** Operations: create, destroy, shutdown, unpause, set-memory... take from 10 ms to minutes. */
const OPERATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Tool calls: xl list in milliseconds, xl create -p of a large guest in tens of seconds. */
const COMMAND_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * domainmgr's Prometheus metrics, in a registry of their own (never prom-client's global one, so
 * that two instances, e.g. in tests, do not collide). The service reports events through the
 * methods below; the HTTP server serves `registry`.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #operationDuration: Histogram<'operation' | 'outcome'>;
  readonly #commandDuration: Histogram<'tool' | 'subcommand'>;
  readonly #commandFailures: Counter<'tool' | 'subcommand' | 'reason'>;
  readonly #natsConnected: Gauge;
  readonly #leaseHeld: Gauge;
  readonly #configMessages: Counter<'outcome'>;
  readonly #statusPublishes: Counter<'kind'>;
  readonly #statusPublishFailures: Counter<'kind'>;
  readonly #jetstreamRetries: Counter<'step' | 'kind'>;
  readonly #jetstreamWaiting: Gauge;
  readonly #spawnHelperUp: Gauge;
  readonly #spawnHelperExits: Counter;
  readonly #commandPairs = new Set<string>();
  readonly #operations = new Set<string>();
  #domainCounts: Partial<Record<DomainState, number>> = {};

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.#operationDuration = new Histogram({
      name: 'domainmgr_operation_duration_seconds',
      help: 'Duration of reconcile operations on the hypervisor, by operation and outcome (ok, error).',
      labelNames: ['operation', 'outcome'],
      buckets: OPERATION_BUCKETS,
      registers,
    });
    this.#commandDuration = new Histogram({
      name: 'domainmgr_command_duration_seconds',
      help: 'Duration of hypervisor tool commands (xl, xenstore-write, rkt, vmadm, lxc-*), by tool and subcommand.',
      labelNames: ['tool', 'subcommand'],
      buckets: COMMAND_BUCKETS,
      registers,
    });
    this.#commandFailures = new Counter({
      name: 'domainmgr_command_failures_total',
      help: 'Tool commands that failed, by tool, subcommand and reason (failed, timeout, not-found).',
      labelNames: ['tool', 'subcommand', 'reason'],
      registers,
    });
    const getCounts = options.domainCounts;
    const countsNow = () => (getCounts ? getCounts() : this.#domainCounts);
    new Gauge({
      name: 'domainmgr_domains',
      help: 'Domains managed by this node, by state.',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = countsNow();
        for (const state of STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    this.#natsConnected = new Gauge({
      name: 'domainmgr_nats_connected',
      help: '1 while connected to NATS, else 0.',
      registers,
    });
    this.#natsConnected.set(0);
    this.#leaseHeld = new Gauge({
      name: 'domainmgr_lease_held',
      help: "1 while this agent holds its node's lease and acts for the node, 0 while it is a standby.",
      registers,
    });
    this.#leaseHeld.set(0);
    this.#configMessages = new Counter({
      name: 'domainmgr_config_messages_total',
      help: 'Config messages handled, by outcome (accepted, rejected, deleted, stale).',
      labelNames: ['outcome'],
      registers,
    });
    this.#statusPublishes = new Counter({
      name: 'domainmgr_status_publishes_total',
      help: 'Status messages stored by JetStream, by kind (domain, node).',
      labelNames: ['kind'],
      registers,
    });
    this.#statusPublishFailures = new Counter({
      name: 'domainmgr_status_publish_failures_total',
      help: 'Status publish attempts that failed (they are retried), by kind (domain, node).',
      labelNames: ['kind'],
      registers,
    });
    this.#jetstreamRetries = new Counter({
      name: 'domainmgr_jetstream_retries_total',
      help:
        'Failed JetStream setup calls that are retried, by step (streams, consumer) and kind ' +
        '(transient: leader election, timeout; refused: the setup can never work as it is).',
      labelNames: ['step', 'kind'],
      registers,
    });
    this.#jetstreamWaiting = new Gauge({
      name: 'domainmgr_jetstream_waiting_steps',
      help: 'JetStream setup steps failing right now and being retried (0 once all succeeded).',
      registers,
    });
    this.#jetstreamWaiting.set(0);
    this.#spawnHelperUp = new Gauge({
      name: 'domainmgr_spawn_helper_up',
      help:
        '1 while commands start from the spawn helper process, 0 while they start from domainmgr ' +
        '(helper starting, restarting after it ended, or tools.spawnHelper false).',
      registers,
    });
    this.#spawnHelperUp.set(0);
    this.#spawnHelperExits = new Counter({
      name: 'domainmgr_spawn_helper_exits_total',
      help: 'Times the spawn helper ended unexpectedly (it is restarted with backoff).',
      registers,
    });
    this.#spawnHelperExits.inc(0);
    const buildInfo = new Gauge({
      name: 'domainmgr_build_info',
      help: 'Always 1; the version label tells which domainmgr runs.',
      labelNames: ['version'],
      registers,
    });
    buildInfo.set({ version: options.version ?? packageVersion }, 1);
    // Counters start at 0 per known label value, so rate() works from the first increment.
    for (const outcome of CONFIG_OUTCOMES) this.#configMessages.inc({ outcome }, 0);
    for (const step of JETSTREAM_STEPS)
      for (const kind of JETSTREAM_FAILURE_KINDS) this.#jetstreamRetries.inc({ step, kind }, 0);
    for (const kind of STATUS_KINDS) {
      this.#statusPublishes.inc({ kind }, 0);
      this.#statusPublishFailures.inc({ kind }, 0);
    }
    // prom-client samples the event loop's delay with a timer of its own (its nodejs_eventloop_lag_
    // min/max/mean/pNN; the scrape-time nodejs_eventloop_lag_seconds does not use it). Every 1 s,
    // not its default 10 ms: on a 2-core PVM machine an idle domainmgr woken 10 times a second
    // (100 ms) by it and by the health monitor (http-server.ts) spent 0.1-0.2 % of a core more than
    // with neither, and 0.02-0.05 % more with both at 1 s (docs/performance.md, fourth pass).
    if (options.defaultMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1000 });
  }

  /** Plug into the command runner (ExecRunnerOptions.observer): one call per finished command. */
  readonly commandObserver: CommandObserver = (event) => {
    const labels = this.#boundedCommandLabels(event.argv);
    this.#commandDuration.observe(labels, event.durationMs / 1000);
    if (event.outcome !== 'ok') this.#commandFailures.inc({ ...labels, reason: event.outcome });
  };

  /**
   * One finished reconcile operation. `operation` is a short lower-case word chosen by the code
   * (create, destroy, shutdown, unpause, set-memory), never a value from a config message.
   */
  observeOperation(operation: string, durationMs: number, ok: boolean): void {
    this.#operationDuration.observe(
      { operation: this.#boundedOperation(operation), outcome: ok ? 'ok' : 'error' },
      durationMs / 1000,
    );
  }

  /** Domains per state; states not named are 0. Ignored when `domainCounts` was given. */
  setDomainCounts(counts: Partial<Record<DomainState, number>>): void {
    this.#domainCounts = { ...counts };
  }

  setNatsConnected(connected: boolean): void {
    this.#natsConnected.set(connected ? 1 : 0);
  }

  /** Whether this agent acts for its node (holds the lease). */
  setLeaseHeld(held: boolean): void {
    this.#leaseHeld.set(held ? 1 : 0);
  }

  /** Follows a ConnectionState: sets the gauge now and on every change; returns the unsubscribe. */
  followConnection(connection: ConnectionState): () => void {
    this.setNatsConnected(connection.connected);
    return connection.onChange((connected) => this.setNatsConnected(connected));
  }

  countConfig(outcome: ConfigOutcome): void {
    this.#configMessages.inc({ outcome });
  }

  /** One publish attempt: ok when JetStream stored it, else a failure (the sink retries). */
  countStatusPublish(kind: StatusKind, ok: boolean): void {
    (ok ? this.#statusPublishes : this.#statusPublishFailures).inc({ kind });
  }

  /** One failed JetStream setup call, retried (pkg/bus/jetstream-retry.ts). */
  countJetStreamRetry(step: JetStreamStep, kind: JetStreamFailureKind): void {
    this.#jetstreamRetries.inc({ step, kind });
  }

  /** How many JetStream setup steps are failing right now. */
  setJetStreamWaiting(steps: number): void {
    this.#jetstreamWaiting.set(steps);
  }

  /** Whether commands start from the spawn helper now; `exited` when it ended unexpectedly. */
  setSpawnHelper(up: boolean, exited = false): void {
    this.#spawnHelperUp.set(up ? 1 : 0);
    if (exited) this.#spawnHelperExits.inc();
  }

  #boundedCommandLabels(argv: readonly string[]): { tool: string; subcommand: string } {
    const labels = commandLabels(argv);
    const key = `${labels.tool}\u0000${labels.subcommand}`;
    if (this.#commandPairs.has(key)) return labels;
    if (this.#commandPairs.size >= MAX_COMMAND_PAIRS) return { tool: 'other', subcommand: 'other' };
    this.#commandPairs.add(key);
    return labels;
  }

  #boundedOperation(operation: string): string {
    if (!OPERATION.test(operation)) return 'other';
    if (this.#operations.has(operation)) return operation;
    if (this.#operations.size >= MAX_OPERATIONS) return 'other';
    this.#operations.add(operation);
    return operation;
  }
}
