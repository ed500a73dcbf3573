/**
 * A fleet on a JetStream cluster (`npm run bench:fleet`; not part of the test command):
 *
 *   npm run bench:fleet [-- --nodes 20] [--domains-per-node 50] [--servers 3] [--scenarios all-up,kill]
 *                          [--kill-leader-of status|config] [--admin-streams] [--timeout-s 1200] [--keep]
 *
 * Each scenario starts a fresh cluster of nats-server processes (test/support/nats-cluster.ts;
 * `--servers 1`: one server, no cluster, and no kill scenario) and starts `--nodes` domainmgr
 * processes (bin/domainmgr.js as shipped, xl backend, every server's URL), each on its own
 * simulated host. The nodes make the contract's streams with one replica per server, up to 3
 * (`--nats-replicas`); with `--admin-streams` the controller makes them as an administrator and
 * the nodes only check them (`--manage-streams false`). One controller then publishes every node's
 * `--domains-per-node` configs at once (JetStream publishes, all in flight together) and reads
 * the status stream. Measured:
 *
 * - the time from the first publish until every domain's RUNNING status is stored;
 * - publish to RUNNING stored, p50 / p99 (the stream's own store time of the first RUNNING);
 * - the controller's publish rate (configs acknowledged per second);
 * - per node: its CPU (its own, and its spawned tools' apart), RSS and peak RSS, from /proc;
 * - per server: CPU, RSS and peak RSS, from /proc; and the whole machine's busy share.
 *
 * Then `--rest-s` seconds at rest (the servers' CPU: lease renewals, NodeStatus, idle consumers),
 * and what the streams and servers hold.
 *
 * Scenario `kill` does the same and SIGKILLs the server leading the status stream (or, with
 * `--kill-leader-of config`, the config stream) once half of the domains are RUNNING; it reports
 * from the kill to the next stored status of every node (every node publishing again).
 *
 * Prints the tables and writes bench/results/fleet-<time>.json (path printed).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { STREAM_KINDS } from '../pkg/bus/streams.js';
import { type StreamKind, streamName } from '../pkg/bus/subjects.js';
import { benchDomain } from './lib/domains.js';
import { FleetController, type StreamSize } from './lib/fleet-controller.js';
import { type FleetServers, startCluster, startSingleServer } from './lib/fleet-servers.js';
import { type Manager, startManager } from './lib/manager.js';
import { agentCpuMs, busyPctBetween, childrenCpuMs, load, machineCpuMs, memoryMiB } from './lib/proc.js';
import { writeResults } from './lib/results.js';
import { type BenchSimHost, freshSimHost } from './lib/sim.js';
import { median, nowMs, percentile, printTable, round, sleep } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20' },
    servers: { type: 'string', default: '3' },
    'domains-per-node': { type: 'string', default: '50' },
    scenarios: { type: 'string', default: 'all-up,kill' },
    'kill-leader-of': { type: 'string', default: 'status' },
    'timeout-s': { type: 'string', default: '1200' },
    'start-concurrency': { type: 'string', default: '4' },
    'rest-s': { type: 'string', default: '20' },
    'admin-streams': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const whole = (name: keyof typeof flags): number => {
  const n = Number(flags[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bench:fleet: --${name} takes a whole number >= 1`);
  return n;
};
const NODES = whole('nodes');
const SERVERS = whole('servers');
const PER_NODE = whole('domains-per-node');
const TOTAL = NODES * PER_NODE;
const TIMEOUT_MS = whole('timeout-s') * 1000;
const START_CONCURRENCY = whole('start-concurrency');
const REST_S = whole('rest-s');
const SCENARIOS = String(flags.scenarios).split(',');
/** The streams made by the controller as an administrator (nodes only check them), not by the nodes. */
const ADMIN_STREAMS = flags['admin-streams'] === true;
for (const s of SCENARIOS)
  if (s !== 'all-up' && s !== 'kill') throw new Error(`bench:fleet: unknown scenario ${s} (all-up, kill)`);
const KILL_LEADER_OF = String(flags['kill-leader-of']);
if (KILL_LEADER_OF !== 'status' && KILL_LEADER_OF !== 'config')
  throw new Error('bench:fleet: --kill-leader-of takes status or config');

process.env.DOMAINMGR_SIM_PERSIST_MS ??= '200';
const runTag = randomBytes(3).toString('hex');
/** Ctrl-C ends the current scenario's wait; its processes are then stopped as after a run. */
const interrupted = new AbortController();
process.on('SIGINT', () => interrupted.abort());
process.on('SIGTERM', () => interrupted.abort());
const work = mkdtempSync(join(tmpdir(), 'domainmgr-bench-fleet-'));

function note(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)} load ${load()}] ${msg}\n`);
}

/** The servers of one scenario: fresh ones, so a killed server's store does not carry over. */
async function startServers(): Promise<FleetServers> {
  // Waits (elections, a leader after the kill) get longer than a test's on a machine this loaded.
  return SERVERS === 1 ? startSingleServer() : startCluster(SERVERS, 120_000);
}

// ---------------------------------------------------------------------------------------------
// /proc meters

/**
 * One process's CPU and memory over a phase. sample() keeps the newest figures while the process
 * lives, so a process that is killed keeps what it had used until then.
 */
class ProcMeter {
  startCpuMs: number;
  startChildrenCpuMs: number;
  lastCpuMs: number;
  lastChildrenCpuMs: number;
  rssMiB = Number.NaN;
  hwmMiB = Number.NaN;

  constructor(
    readonly label: string,
    readonly pid: number,
  ) {
    this.startCpuMs = agentCpuMs(pid);
    this.startChildrenCpuMs = childrenCpuMs(pid);
    this.lastCpuMs = this.startCpuMs;
    this.lastChildrenCpuMs = this.startChildrenCpuMs;
    this.sample();
  }

  sample(): void {
    try {
      const cpu = agentCpuMs(this.pid);
      const children = childrenCpuMs(this.pid);
      const mem = memoryMiB(this.pid);
      // A process killed but not yet reaped (a zombie) has no memory lines: keep the last figures.
      if (!Number.isFinite(mem.rss)) return;
      this.lastCpuMs = cpu;
      this.lastChildrenCpuMs = children;
      this.rssMiB = mem.rss;
      this.hwmMiB = mem.hwm;
    } catch {
      // gone (killed): keep the last figures
    }
  }

  get cpuMs(): number {
    return this.lastCpuMs - this.startCpuMs;
  }

  /** Measures from now on (the CPU figures start again). */
  restart(): void {
    this.sample();
    this.startCpuMs = this.lastCpuMs;
    this.startChildrenCpuMs = this.lastChildrenCpuMs;
  }

  get childrenCpuMs(): number {
    return this.lastChildrenCpuMs - this.startChildrenCpuMs;
  }

  /** Its CPU over a phase of `phaseMs` (also as % of one core), RSS and peak RSS. */
  figures(phaseMs: number): ProcFigures {
    return {
      cpuMs: this.cpuMs,
      cpuPercentOfCore: (100 * this.cpuMs) / phaseMs,
      rssMiB: this.rssMiB,
      peakRssMiB: this.hwmMiB,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// One scenario

interface ProcFigures {
  cpuMs: number;
  cpuPercentOfCore: number;
  rssMiB: number;
  peakRssMiB: number;
}

interface NodeFigures extends ProcFigures {
  nodeId: string;
  /** The tools it spawned (the simulated host's shims), waited for. */
  childrenCpuMs: number;
  /** `xl create` calls its simulated host saw (one per domain when nothing is created twice). */
  xlCreates: number;
  running: number;
  exited: boolean;
}

interface ServerFigures extends ProcFigures {
  name: string;
  killed: boolean;
}

interface KillFigures {
  server: string;
  /** Which streams it led when it was killed. */
  led: string[];
  atS: number;
  runningAtKill: number;
  /** Kill to the first message stored after it (any node). */
  toFirstStoredMs: number | null;
  /** Kill to the first RUNNING stored after it: how long the fleet's progress stalled. */
  toFirstRunningMs: number | null;
  /** Kill to the first message stored after it, per node; max: every node publishing again. */
  perNodeToStoredMs: Record<string, number | null>;
  everyNodePublishingAgainMs: number | null;
}

interface ServerState {
  name: string;
  /** Client connections to this server. */
  connections: number;
  /** Subscriptions in its interest graph: its clients' and those routes told it of. */
  subscriptions: number;
  /** JetStream on this server: streams and consumers it holds a replica of, their messages and bytes. */
  streams: number;
  consumers: number;
  messages: number;
  bytes: number;
  /** Its CPU over the rest period after the burst, % of one core. */
  restCpuPercent: number;
}

/** The running servers' varz and jsz figures, with their CPU at rest. */
async function serverStates(servers: FleetServers, restCpuPercent: number[]): Promise<ServerState[]> {
  const out: ServerState[] = [];
  for (let i = 0; i < servers.size; i++) {
    if (servers.pid(i) === null) continue;
    const varz = (await servers.monitor(i, 'varz')) as { connections: number; subscriptions: number };
    const jsz = (await servers.monitor(i, 'jsz')) as {
      streams: number;
      consumers: number;
      messages: number;
      bytes: number;
    };
    out.push({
      name: servers.name(i),
      connections: varz.connections,
      subscriptions: varz.subscriptions,
      streams: jsz.streams,
      consumers: jsz.consumers,
      messages: jsz.messages,
      bytes: jsz.bytes,
      restCpuPercent: restCpuPercent[i] ?? Number.NaN,
    });
  }
  return out;
}

interface ScenarioResult {
  scenario: string;
  servers: number;
  replicas: number;
  nodes: number;
  domains: number;
  running: number;
  allRunningS: number | null;
  publishToRunningP50Ms: number;
  publishToRunningP99Ms: number;
  publishToRunningMaxMs: number;
  publishSeconds: number;
  publishRatePerS: number;
  /** Publishes that failed (not retried: a config not stored is never RUNNING, which shows). */
  publishErrors: number;
  publishAckP50Ms: number;
  publishAckP99Ms: number;
  phaseSeconds: number;
  nodeFigures: NodeFigures[];
  serverFigures: ServerFigures[];
  simDaemonsCpuMs: number;
  controllerCpuMs: number;
  machineBusyPercent: number;
  /** CPU time the whole machine was busy over the phase (all cores, every process, the kernel). */
  machineBusyCpuMs: number;
  kill: KillFigures | null;
  restSeconds: number;
  /** Each server's CPU at rest after the burst (killed: 0), % of a core. */
  serverRestCpuPercent: number[];
  /** How often the controller's status watch started a new consumer (after the kill). */
  watchRestarts: number;
  /** The streams at the end: messages, bytes, subjects, consumers. */
  streams: StreamSize[];
  /** What each running server holds at the end (its monitoring endpoints). */
  serverState: ServerState[];
  /** Seconds since the first publish -> domains RUNNING, every second. */
  timeline: [number, number][];
  loadStart: string;
  loadEnd: string;
}

/** Runs `fn` over items with at most `n` at a time; the results in the items' order. */
async function pool<T, R>(items: readonly T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

/** The server killed at the midpoint: its index, the streams it led, when, and how many were RUNNING. */
interface KillEvent {
  victim: number;
  led: string[];
  killMs: number;
  runningAtKill: number;
}

/** From the kill to the next message each node got stored (a domain status or its NodeStatus). */
function killFigures(
  k: KillEvent,
  t0: number,
  nodeIds: readonly string[],
  storedByNode: ReadonlyMap<string, readonly number[]>,
  runningAt: ReadonlyMap<string, number>,
  name: string,
): KillFigures {
  const runningAfter = [...runningAt.values()].filter((t) => t > k.killMs);
  const perNode: Record<string, number | null> = {};
  for (const id of nodeIds) {
    const after = (storedByNode.get(id) ?? []).filter((t) => t > k.killMs);
    perNode[id] = after.length === 0 ? null : Math.min(...after) - k.killMs;
  }
  const per = Object.values(perNode);
  const known = per.filter((d): d is number => d !== null);
  return {
    server: name,
    led: k.led,
    atS: (k.killMs - t0) / 1000,
    runningAtKill: k.runningAtKill,
    toFirstStoredMs: known.length === 0 ? null : Math.min(...known),
    toFirstRunningMs: runningAfter.length === 0 ? null : Math.min(...runningAfter) - k.killMs,
    perNodeToStoredMs: perNode,
    everyNodePublishingAgainMs: known.length < per.length ? null : Math.max(...known),
  };
}

async function runScenario(scenario: 'all-up' | 'kill'): Promise<ScenarioResult> {
  const loadStart = load();
  const servers = await startServers();
  if (scenario === 'kill' && servers.size < 2) throw new Error('the kill scenario needs a cluster');
  const replicas = Math.min(3, servers.size);
  const prefix = `fleet_${runTag}_${scenario.replace(/-/g, '_')}`;
  const nodeIds = Array.from({ length: NODES }, (_, i) => `n${String(i).padStart(2, '0')}`);
  const sims: BenchSimHost[] = [];
  const managers: Manager[] = [];
  let ctl: FleetController | null = null;
  try {
    ctl = await FleetController.connect(servers.urls, prefix);
    if (ADMIN_STREAMS) await ctl.createStreams(replicas);
    note(
      `${scenario}: ${servers.size} server(s), streams R${replicas} made by ${ADMIN_STREAMS ? 'the controller as admin' : 'the nodes'}; starting ${NODES} simulated hosts`,
    );
    for (const id of nodeIds) {
      const sim = freshSimHost(`fleet-${id}`);
      sim.simctl('ping');
      sims.push(sim);
    }
    note(`${scenario}: starting ${NODES} domainmgr, ${START_CONCURRENCY} at a time`);
    const started = await pool(nodeIds, START_CONCURRENCY, (id) => {
      const i = nodeIds.indexOf(id);
      return startManager({
        sim: sims[i] as BenchSimHost,
        prefix,
        nodeId: id,
        stateDir: join(work, scenario, id),
        natsServers: servers.urls,
        extraArgs: ADMIN_STREAMS ? ['--manage-streams', 'false'] : ['--nats-replicas', String(replicas)],
        readyTimeoutMs: 180_000,
      });
    });
    managers.push(...started);

    const domains = nodeIds.map((id, n) =>
      Array.from({ length: PER_NODE }, (_, i) => ({
        nodeId: id,
        config: benchDomain(n * PER_NODE + i, runTag),
      })),
    );
    const all = domains.flat();
    const runningAt = new Map<string, number>();
    const runningByNode = new Map<string, number>();
    /** Every stored message's time, per node, for the time from the kill to each node's next one. */
    const storedByNode = new Map<string, number[]>();
    /** Called once, when half of the domains are RUNNING (the kill scenario kills a server then). */
    let atHalf: (() => void) | null = null;
    await ctl.watch((e) => {
      const list = storedByNode.get(e.nodeId) ?? [];
      list.push(e.storedMs);
      storedByNode.set(e.nodeId, list);
      if (e.kind === 'domain' && e.state === 'RUNNING' && !runningAt.has(e.uuid)) {
        runningAt.set(e.uuid, e.storedMs);
        runningByNode.set(e.nodeId, (runningByNode.get(e.nodeId) ?? 0) + 1);
        if (runningAt.size === Math.ceil(TOTAL / 2)) atHalf?.();
      }
    });
    // Let the start (first listings, NodeStatus, leases) pass, so the phase measures the burst.
    await sleep(5000);

    const nodeMeters = managers.map((m, i) => new ProcMeter(nodeIds[i] as string, m.pid));
    const serverMeters = Array.from({ length: servers.size }, (_, i) => {
      const pid = servers.pid(i);
      if (pid === null) throw new Error(`server ${servers.name(i)} is not running`);
      return new ProcMeter(servers.name(i), pid);
    });
    // The leaders before the burst: the kill at the midpoint takes no time to look them up.
    const leaders = Object.fromEntries(
      await Promise.all(
        STREAM_KINDS.map(async (kind) => [kind, await servers.leaderOf(streamName(prefix, kind))] as const),
      ),
    ) as Record<StreamKind, number>;
    const simMeters = sims.map((s, i) => new ProcMeter(`sim ${nodeIds[i]}`, s.daemonPid() as number));
    const meters = [...nodeMeters, ...serverMeters, ...simMeters];
    const machine0 = machineCpuMs();
    const ctlCpu0 = process.cpuUsage();

    note(`${scenario}: publishing ${TOTAL} configs (${PER_NODE} to each of ${NODES} nodes) at once`);
    const t0 = nowMs();
    const sent = new Map<string, number>();
    const ackMs: number[] = [];
    const publishErrors: string[] = [];
    let lastAck = t0;
    const publishing = Promise.all(
      all.map(async ({ nodeId, config }) => {
        try {
          const r = await (ctl as FleetController).publish(nodeId, config);
          sent.set(config.uuid, r.sentMs);
          ackMs.push(r.ackedMs - r.sentMs);
          lastAck = Math.max(lastAck, r.ackedMs);
        } catch (err) {
          publishErrors.push(`${nodeId}/${config.uuid}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }),
    );

    let killed: KillEvent | null = null;
    let killing: Promise<void> | null = null;
    if (scenario === 'kill')
      atHalf = () => {
        const victim = leaders[KILL_LEADER_OF as 'status' | 'config'];
        const led = STREAM_KINDS.filter((kind) => leaders[kind] === victim);
        for (const m of meters) m.sample();
        const killMs = nowMs();
        killed = { victim, led, killMs, runningAtKill: runningAt.size };
        killing = servers.kill(victim);
        note(
          `${scenario}: ${runningAt.size} RUNNING; SIGKILLed ${servers.name(victim)} (led ${led.join(', ')})`,
        );
      };

    const timeline: [number, number][] = [];
    let lastSample = 0;
    const deadline = t0 + TIMEOUT_MS;
    while (runningAt.size < TOTAL && nowMs() < deadline && !interrupted.signal.aborted) {
      const now = nowMs();
      if (now - lastSample >= 1000) {
        lastSample = now;
        for (const m of meters) m.sample();
        timeline.push([round((now - t0) / 1000, 1), runningAt.size]);
      }
      if (managers.every((m) => m.exited())) break;
      await sleep(100);
    }
    for (const m of meters) m.sample();
    const machine1 = machineCpuMs();
    const ctlCpu = process.cpuUsage(ctlCpu0);
    const tEnd = nowMs();
    await publishing;
    await killing;
    timeline.push([round((tEnd - t0) / 1000, 1), runningAt.size]);
    const reached = runningAt.size === TOTAL;
    note(
      reached
        ? `${scenario}: ${TOTAL} RUNNING after ${round((Math.max(...runningAt.values()) - t0) / 1000, 1)} s`
        : `${scenario}: only ${runningAt.size} of ${TOTAL} RUNNING when the run ended`,
    );
    const phaseMs = tEnd - t0;
    const latencies = [...runningAt].map(([uuid, at]) => at - (sent.get(uuid) as number));

    // Assigned by atHalf, which TypeScript's narrowing does not follow.
    const k = killed as KillEvent | null;
    if (k !== null) {
      // Nodes whose domains were all RUNNING before the kill store again with their next
      // NodeStatus (every 30 s by default): wait for it, outside the measured phase.
      const publishedAgain = (): boolean =>
        nodeIds.every((id) => (storedByNode.get(id) ?? []).some((t) => t > k.killMs));
      const until = nowMs() + 120_000;
      while (!publishedAgain() && nowMs() < until && !interrupted.signal.aborted) await sleep(250);
    }
    const kill =
      k === null ? null : killFigures(k, t0, nodeIds, storedByNode, runningAt, servers.name(k.victim));
    if (publishErrors.length > 0)
      note(`${scenario}: ${publishErrors.length} publishes failed, first: ${publishErrors[0]}`);

    // The fleet at rest: what the servers spend on the nodes' lease renewals, NodeStatus and
    // idle consumers, the steady cost a larger fleet multiplies.
    const serverPhase = serverMeters.map((m) => m.figures(phaseMs));
    note(`${scenario}: ${REST_S} s at rest`);
    for (const m of serverMeters) m.restart();
    const restStart = nowMs();
    await sleep(REST_S * 1000);
    for (const m of serverMeters) m.sample();
    const restMs = nowMs() - restStart;
    const serverRestCpuPercent = serverMeters.map((m) => (100 * m.cpuMs) / restMs);

    const streams = await ctl.streamSizes();
    const serverState = await serverStates(servers, serverRestCpuPercent);
    const creates = sims.map((s) => {
      const calls = JSON.parse(s.simctl('calls')) as Record<string, number>;
      return calls['xl create'] ?? 0;
    });
    const nodeFigures: NodeFigures[] = nodeMeters.map((m, i) => ({
      nodeId: m.label,
      ...m.figures(phaseMs),
      childrenCpuMs: m.childrenCpuMs,
      xlCreates: creates[i] ?? 0,
      running: runningByNode.get(m.label) ?? 0,
      exited: (managers[i] as Manager).exited(),
    }));
    const serverFigures: ServerFigures[] = serverMeters.map((m, i) => ({
      name: m.label,
      ...(serverPhase[i] as ProcFigures),
      killed: servers.pid(i) === null,
    }));
    return {
      scenario,
      servers: servers.size,
      replicas,
      nodes: NODES,
      domains: TOTAL,
      running: runningAt.size,
      allRunningS: reached ? (Math.max(...runningAt.values()) - t0) / 1000 : null,
      publishToRunningP50Ms: percentile(latencies, 50),
      publishToRunningP99Ms: percentile(latencies, 99),
      publishToRunningMaxMs: percentile(latencies, 100),
      publishSeconds: (lastAck - t0) / 1000,
      publishRatePerS: ackMs.length / ((lastAck - t0) / 1000),
      publishErrors: publishErrors.length,
      publishAckP50Ms: percentile(ackMs, 50),
      publishAckP99Ms: percentile(ackMs, 99),
      phaseSeconds: phaseMs / 1000,
      nodeFigures,
      serverFigures,
      restSeconds: restMs / 1000,
      serverRestCpuPercent,
      simDaemonsCpuMs: simMeters.reduce((a, m) => a + m.cpuMs, 0),
      controllerCpuMs: (ctlCpu.user + ctlCpu.system) / 1000,
      machineBusyPercent: busyPctBetween(machine0, machine1),
      machineBusyCpuMs: machine1.busy - machine0.busy,
      kill,
      streams,
      serverState,
      watchRestarts: ctl.watchRestarts,
      timeline,
      loadStart,
      loadEnd: load(),
    };
  } finally {
    note(`${scenario}: stopping`);
    await Promise.all(managers.map((m) => m.stop()));
    await ctl?.close();
    for (const s of sims) s.stop();
    await servers.stop();
  }
}

// ---------------------------------------------------------------------------------------------

const f0 = (x: number | null | undefined): string =>
  x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(0);
const f1 = (x: number | null | undefined): string =>
  x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(1);

function medMax(values: number[], fmt: (x: number) => string): string {
  return `${fmt(median(values))} / ${fmt(Math.max(...values))}`;
}

/** The rest of the machine's CPU over the phase, and what of it no process measured here used. */
function cpuRows(r: ScenarioResult): string[][] {
  const nodes = r.nodeFigures.reduce((a, n) => a + n.cpuMs, 0);
  const tools = r.nodeFigures.reduce((a, n) => a + n.childrenCpuMs, 0);
  const servers = r.serverFigures.reduce((a, s) => a + s.cpuMs, 0);
  const measured = nodes + tools + servers + r.simDaemonsCpuMs + r.controllerCpuMs;
  const row = (what: string, ms: number): string[] => [
    what,
    f0(ms),
    f1((100 * ms) / (r.phaseSeconds * 1000)),
    '',
    '',
  ];
  return [
    row('controller (this process)', r.controllerCpuMs),
    row(`${NODES} domainmgr together`, nodes),
    row("their spawned tools (the simulated hosts' shims)", tools),
    row(`the whole machine busy (${cpus().length} cores)`, r.machineBusyCpuMs),
    row('  not measured here (other work on the machine, fork/exec, kernel)', r.machineBusyCpuMs - measured),
  ];
}

function printSummary(results: ScenarioResult[]): void {
  printTable(
    `Fleet: ${NODES} domainmgr (each on its own simulated host, xl), ${PER_NODE} domains each (${TOTAL}), published at once by one controller`,
    [
      'scenario',
      'servers',
      'RUNNING',
      'all RUNNING s',
      'p50 ms',
      'p99 ms',
      'publish /s',
      'node CPU % med/max',
      'node RSS MiB med/max',
      'NATS CPU % each',
      'NATS RSS MiB each',
      'machine busy %',
      'load at end',
    ],
    results.map((r) => [
      r.scenario,
      `${r.servers} (R${r.replicas})`,
      `${r.running}/${r.domains}`,
      f1(r.allRunningS),
      f0(r.publishToRunningP50Ms),
      f0(r.publishToRunningP99Ms),
      f0(r.publishRatePerS),
      medMax(
        r.nodeFigures.map((n) => n.cpuPercentOfCore),
        f1,
      ),
      medMax(
        r.nodeFigures.map((n) => n.rssMiB),
        f0,
      ),
      r.serverFigures.map((s) => `${f1(s.cpuPercentOfCore)}${s.killed ? '†' : ''}`).join(' '),
      r.serverFigures.map((s) => f0(s.killed ? s.peakRssMiB : s.rssMiB)).join(' '),
      f0(r.machineBusyPercent),
      r.loadEnd,
    ]),
  );
  console.log(
    '  CPU % is of one core over the phase (first publish to the last RUNNING); † killed at the midpoint (CPU until then, its peak RSS).',
  );
}

/** One scenario's detail: per node, per server, streams, the kill. */
function printScenario(r: ScenarioResult): void {
  printTable(
    `${r.scenario}: per node (phase ${f1(r.phaseSeconds)} s; spawned tools' CPU apart)`,
    ['node', 'CPU ms', 'CPU %', 'tools CPU ms', 'RSS MiB', 'peak RSS MiB', 'xl creates', 'RUNNING', 'exited'],
    r.nodeFigures.map((n) => [
      n.nodeId,
      f0(n.cpuMs),
      f1(n.cpuPercentOfCore),
      f0(n.childrenCpuMs),
      f0(n.rssMiB),
      f0(n.peakRssMiB),
      n.xlCreates,
      n.running,
      n.exited ? 'EXITED' : '',
    ]),
  );
  printTable(
    `${r.scenario}: servers and the rest`,
    ['process', 'CPU ms', 'CPU %', 'RSS MiB', 'peak RSS MiB'],
    [
      ...r.serverFigures.map((s) => [
        `nats-server ${s.name}${s.killed ? ' (killed)' : ''}`,
        f0(s.cpuMs),
        f1(s.cpuPercentOfCore),
        s.killed ? '-' : f0(s.rssMiB),
        f0(s.peakRssMiB),
      ]),
      [
        `${NODES} simulated hosts' daemons`,
        f0(r.simDaemonsCpuMs),
        f1((100 * r.simDaemonsCpuMs) / (r.phaseSeconds * 1000)),
        '',
        '',
      ],
      ...cpuRows(r),
    ],
  );
  console.log(
    `  publish: ${TOTAL} configs acknowledged in ${f1(r.publishSeconds)} s (${f0(r.publishRatePerS)}/s), ack p50 ${f0(r.publishAckP50Ms)} ms, p99 ${f0(r.publishAckP99Ms)} ms; publish to RUNNING max ${f0(r.publishToRunningMaxMs)} ms; load ${r.loadStart} -> ${r.loadEnd}`,
  );
  printTable(
    `${r.scenario}: streams and servers at the end`,
    [
      'stream / server',
      'messages',
      'writes',
      'bytes',
      'bytes/msg',
      'subjects',
      'consumers',
      'connections',
      'subscriptions',
      `CPU % at rest (${f0(r.restSeconds)} s)`,
    ],
    [
      ...r.streams.map((x) => [
        `${x.stream} (R${x.replicas})`,
        x.messages,
        x.writes,
        x.bytes,
        f0(x.bytes / x.messages),
        f0(x.subjects),
        x.consumers,
        '',
        '',
        '',
      ]),
      ...r.serverState.map((x) => [
        `nats-server ${x.name} (jsz)`,
        x.messages,
        '',
        x.bytes,
        '',
        '',
        x.consumers,
        x.connections,
        x.subscriptions,
        f1(x.restCpuPercent),
      ]),
    ],
  );
  if (r.kill !== null)
    console.log(
      `  kill: ${r.kill.server} (led ${r.kill.led.join(', ') || 'nothing'}) at ${f1(r.kill.atS)} s with ${r.kill.runningAtKill} RUNNING; first message stored ${f0(r.kill.toFirstStoredMs)} ms after, first RUNNING ${f0(r.kill.toFirstRunningMs)} ms after, every node storing again after ${f0(r.kill.everyNodePublishingAgainMs)} ms (a node with nothing to report stores its NodeStatus, every 30 s); the controller's status watch restarted ${r.watchRestarts} time(s)`,
    );
}

async function main(): Promise<void> {
  note(
    `work dir ${work}; ${cpus().length} cpus, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  );
  const results: ScenarioResult[] = [];
  let file = '';
  for (const s of SCENARIOS) {
    if (interrupted.signal.aborted) break;
    const r = await runScenario(s as 'all-up' | 'kill');
    results.push(r);
    printScenario(r);
    // Written after every scenario (a new file each time; the last one holds them all).
    const written = writeResults('fleet', {
      flags: { NODES, PER_NODE, SERVERS, SCENARIOS, KILL_LEADER_OF, ADMIN_STREAMS, TIMEOUT_MS },
      results,
    });
    if (file !== '') rmSync(file, { force: true });
    file = written;
  }
  printSummary(results);
  console.log(`\nwritten to ${file}`);
  if (!flags.keep) rmSync(work, { recursive: true, force: true });
}

await main();
// After a server was killed under it, a nats.js client can leave a timer behind that keeps the
// process alive once everything is closed; the run is over.
process.exit(0);
