import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import { JetStreamRetry, JetStreamRetryAbortedError } from '../bus/jetstream-retry.js';
import { ConfigFeed, connectBus, ensureStreams, JetStreamStatusSink, NodeLease } from '../bus/mod.js';
import { type Clock, systemClock } from '../clock.js';
import { errorText } from '../error-text.js';
import type { Hypervisor } from '../hypervisor/hypervisor.js';
import { type BackendDeps, createHypervisor } from '../hypervisor/registry.js';
import { confineStorage } from '../hypervisor/storage-confinement.js';
import type { Logger } from '../log/logger.js';
import { startHttpServer } from '../observe/http-server.js';
import { Metrics } from '../observe/metrics.js';
import { Engine } from '../reconcile/engine.js';
import { FileLedger } from '../reconcile/ledger.js';
import type { CommandRunner } from '../runner/command-runner.js';
import { ExecRunner, type ExecRunnerOptions } from '../runner/exec-runner.js';
import { HelperRunner } from '../runner/helper-runner.js';
import { fencedHypervisor, fencedStatusSink } from './fencing.js';

export interface ServiceOptions {
  config: DomainmgrConfig;
  logger: Logger;
  version: string;
  /** Aborting it is SIGTERM: stop taking work, finish what is in flight, publish, return. */
  signal: AbortSignal;
  clock?: Clock;
  /**
   * Injection points for tests and benchmarks (cmd/domainmgr.ts sets neither). makeRunner builds
   * the command runner from the options the ExecRunner would get (default: the HelperRunner, or
   * the ExecRunner with `tools.spawnHelper` false);
   * wrapHypervisor gets the configured backend and what it was built from, and returns the
   * Hypervisor the engine uses (default: the backend itself).
   */
  makeRunner?: (options: ExecRunnerOptions) => CommandRunner;
  wrapHypervisor?: (backend: Hypervisor, deps: BackendDeps) => Hypervisor;
}

/**
 * The runner domainmgr starts its commands with: from the spawn helper (helper-runner.ts), or with
 * `tools.spawnHelper` false from its own process.
 */
export function productRunner(
  config: DomainmgrConfig,
  options: ExecRunnerOptions,
  clock: Clock,
  onHelperChange?: (up: boolean, exited: boolean) => void,
): CommandRunner {
  return config.tools.spawnHelper
    ? new HelperRunner({ ...options, clock, ...(onHelperChange ? { onHelperChange } : {}) })
    : new ExecRunner(options);
}

/** How long the final statuses may take to reach the stream on the way out. */
const FINAL_FLUSH_MS = 5000;

/**
 * The domainmgr service, wired: config -> (NATS feed) -> engine -> workers -> backend, and
 * statuses back through the sink. Resolves with the process exit code once stopped.
 */
export async function runService(o: ServiceOptions): Promise<number> {
  const { config, logger: log } = o;
  const clock = o.clock ?? systemClock;
  log.info(
    { nodeId: config.nodeId, backend: config.backend, nats: config.nats.servers, version: o.version },
    'starting',
  );

  await mkdir(config.stateDir, { recursive: true });
  let engine: Engine | null = null;
  /** Why this agent does not act for the node ('' while it does). */
  let standbyReason = (): string => 'starting';
  /** Why statuses are not being stored right now (null while they are). */
  let statusPublishFailure = (): string | null => null;
  const metrics = new Metrics({ version: o.version, domainCounts: () => engine?.nodeStatus().domains ?? {} });
  // Every JetStream setup call (stream check, consumer create, first pull) is retried until it
  // succeeds: a node agent outlives leader elections, servers coming up and wrong setups alike.
  const jetstreamRetry = new JetStreamRetry({
    logger: log,
    onFailure: (step, kind) => metrics.countJetStreamRetry(step, kind),
    onWaitingChange: (steps) => metrics.setJetStreamWaiting(steps),
  });
  const runnerOptions: ExecRunnerOptions = {
    logger: log.child({ component: 'runner' }),
    defaultTimeoutMs: config.timeouts.commandMs,
    killGraceMs: config.timeouts.killGraceMs,
    observer: metrics.commandObserver,
  };
  const runner: CommandRunner =
    o.makeRunner?.(runnerOptions) ??
    productRunner(config, runnerOptions, clock, (up, exited) => metrics.setSpawnHelper(up, exited));
  try {
    return await serve(runner);
  } finally {
    await runner.close?.();
  }

  async function serve(runner: CommandRunner): Promise<number> {
    const http =
      config.http.listen === ''
        ? null
        : await startHttpServer({
            listen: config.http.listen,
            metrics,
            logger: log,
            health: () => {
              const standby = standbyReason();
              const publishFailure = statusPublishFailure();
              const reasons = [
                ...jetstreamRetry.reasons,
                ...(publishFailure === null ? [] : [`nats status publish: ${publishFailure}`]),
                ...(standby !== '' ? [standby] : engine === null ? ['starting'] : engine.readiness()),
              ];
              return { live: true, ready: reasons.length === 0, reasons };
            },
          });
    if (http !== null) log.info({ address: http.address }, 'metrics and health listening');
    const backendDeps: BackendDeps = {
      runner,
      logger: log.child({ component: config.backend }),
      config,
      clock,
    };
    const backend = createHypervisor(config.backend, backendDeps);
    const hypervisor = confineStorage(
      o.wrapHypervisor?.(backend, backendDeps) ?? backend,
      config.storage.allowedRoots,
      undefined,
      () => clock.monotonic(),
    );

    let conn: Awaited<ReturnType<typeof connectBus>>;
    try {
      conn = await connectBus({ nats: config.nats, nodeId: config.nodeId, logger: log, signal: o.signal });
    } catch (e) {
      await http?.close();
      if (o.signal.aborted) return 0;
      throw e;
    }
    const unfollowConnection = metrics.followConnection(conn);
    try {
      await jetstreamRetry.run(
        'streams',
        async () =>
          ensureStreams(await conn.jsm(), {
            prefix: config.nats.prefix,
            manageStreams: config.nats.manageStreams,
            replicas: config.nats.replicas,
            logger: log,
            nodeId: config.nodeId,
            ...(config.nats.hubDomain
              ? { site: { hubDomain: config.nats.hubDomain, nodeId: config.nodeId } }
              : {}),
          }),
        o.signal,
      );
    } catch (e) {
      await conn.close();
      unfollowConnection();
      await http?.close();
      // Only SIGTERM ends the retries: a stopped agent, not a failed one.
      if (e instanceof JetStreamRetryAbortedError) return 0;
      throw e;
    }

    const instance = { id: randomUUID(), host: hostname(), pid: process.pid };
    const stopped = new Promise<void>((resolve) => {
      if (o.signal.aborted) resolve();
      else o.signal.addEventListener('abort', () => resolve(), { once: true });
    });

    /**
     * One term of acting for the node: from taking the lease to losing it (or SIGTERM). Each term
     * builds its engine, sink and feed afresh, so a term that starts after another agent acted
     * adopts what is on the host from the ledger and one listing, like a restart.
     */
    interface Term {
      engine: Engine;
      sink: JetStreamStatusSink;
      feed: ConfigFeed;
      ledger: FileLedger;
      /** Resolves when the term must end before its backlog is in (lease lost or SIGTERM). */
      ended: Promise<void>;
      end: () => void;
    }
    let term = null as Term | null;
    statusPublishFailure = () => term?.sink.failure ?? null;
    let lease = null as NodeLease | null;
    const mayAct = (): boolean => lease?.acting === true;

    const startTerm = async (): Promise<void> => {
      if (term !== null || o.signal.aborted || !mayAct()) return;
      const sink = new JetStreamStatusSink({
        conn,
        prefix: config.nats.prefix,
        nodeId: config.nodeId,
        logger: log,
        onAttempt: (kind, ok) => metrics.countStatusPublish(kind, ok),
      });
      const ledger = new FileLedger(config.stateDir, { logger: log.child({ component: 'ledger' }) });
      const running = new Engine({
        config,
        hypervisor: fencedHypervisor(hypervisor, mayAct),
        clock,
        logger: log,
        ledger,
        status: fencedStatusSink(sink, mayAct),
        connection: conn,
        version: o.version,
        instance,
        observer: {
          config: (outcome) => metrics.countConfig(outcome),
          operation: (op, ms, ok) => metrics.observeOperation(op, ms, ok),
        },
      });
      let end = () => {};
      const ended = new Promise<void>((resolve) => {
        end = resolve;
      });
      const feed = new ConfigFeed({
        conn,
        prefix: config.nats.prefix,
        nodeId: config.nodeId,
        logger: log,
        retry: jetstreamRetry,
      });
      const t: Term = { engine: running, sink, feed, ledger, ended, end };
      term = t;
      engine = running;
      await running.start();
      let taken = false;
      await Promise.race([
        feed
          .start((delivery) => running.handleConfig(delivery))
          .then(() => {
            taken = true;
          }),
        ended,
        stopped,
      ]);
      if (taken && term === t && mayAct() && !o.signal.aborted) {
        running.markSynced();
        log.info({ instance }, 'ready');
      }
    };

    /** Ends the term. `fenced`: the lease is lost, so nothing is stopped on the host and nothing unsent is sent. */
    const endTerm = async (fenced: boolean): Promise<void> => {
      const t = term;
      if (t === null) return;
      t.end();
      await t.feed.stop();
      await t.engine.stop({ leaveRunning: fenced });
      t.ledger.close();
      if (!fenced) {
        const flushed = await t.sink.flush(FINAL_FLUSH_MS);
        if (!flushed)
          log.warn({ timeoutMs: FINAL_FLUSH_MS }, 'some final statuses were not stored before exit');
      }
      t.sink.close();
      term = null;
      engine = null;
    };

    // Terms start and end one after the other, in the order the lease changed.
    let terms: Promise<void> = Promise.resolve();
    const queue = (step: () => Promise<void>): void => {
      terms = terms.then(step).catch((e: unknown) => {
        log.error({ err: errorText(e) }, 'cannot start or end acting for the node');
      });
    };
    lease = new NodeLease({
      conn,
      prefix: config.nats.prefix,
      nodeId: config.nodeId,
      self: { instance: instance.id, host: instance.host, pid: instance.pid },
      ttlMs: config.lease.ttlMs,
      clock,
      logger: log,
      onActingChange: (acting) => {
        metrics.setLeaseHeld(acting);
        if (acting) queue(startTerm);
        else {
          term?.end();
          queue(() => endTerm(true));
        }
      },
    });
    standbyReason = () => lease?.standbyReason ?? 'starting';
    lease.start();
    await stopped;

    log.info('stopping: no new work; finishing what is in flight');
    term?.end();
    await terms;
    await endTerm(!mayAct());
    await lease.stop();
    await conn.close();
    unfollowConnection();
    await http?.close();
    log.info('stopped');
    return 0;
  }
}
