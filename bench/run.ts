/**
 * domainmgr's benchmarks (`npm run bench`; not part of the test command). Every figure printed is
 * measured in this run; nothing is assumed. Needs a nats-server with JetStream on 127.0.0.1:4222
 * and the build (npm run bench builds first). Prints tables and writes the JSON to bench/results/.
 *
 *   npm run bench                                  # everything, full size (about 30 minutes)
 *   npm run bench -- --domains 100 --steady-s 10 --iterations 50 --crashes 5 --memory 0,100,500
 *   npm run bench -- --only create,steady          # some scenarios: create steady vifs idle crash memory
 *   npm run bench -- --cpu-prof                    # also profile domainmgr (node --cpu-prof)
 *   npm run bench -- --node-args "--max-semi-space-size=4"   # node options for domainmgr
 *
 * Scenarios:
 *   create  N DomainConfigs (2 vifs, 1 disk) published at once; domainmgr (a child process) on a
 *           fresh simulated host, beside the floor (the bare command sequence from a script in a
 *           fresh process, four ways of spawning) and the EVE-style strategy (EVE's domainmgr's:
 *           lib/eve-style-hypervisor.ts injected into the same service, one create at a time); then the no-spawns pair (--skip-no-spawn leaves it out): domainmgr whose runner sends each
 *           command to the simulated host over a socket, and a floor of such calls, whose difference
 *           is what everything but spawning costs per domain.
 *   steady  the N running domains for S seconds, twice (just after the burst, then steady): each
 *           time spawns (0 but the 60 s resync while xenstored's watch is up), CPU % of a core,
 *           RSS (both strategies).
 *   vifs    spawns per xl create by vif count (0, 1, 2, 4, 8): 2 whatever the count, since the
 *           domid and every vif's offload keys go over xenstored's socket (one transaction).
 *   idle    one domain at a time: publish -> first command, state change -> status stored.
 *   crash   `simctl crash`: crash -> BROKEN status, crash -> RUNNING again (restartPolicy always),
 *           p50 / p99: reported by xenstored's @releaseDomain watch, not the periodic listing.
 *   memory  domainmgr's RSS at 0, 100, 1,000 and 5,000 domains.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../pkg/project-files.js';
import type { DomainConfig } from '../types/generated/domain-config.js';
import { type FloorResult, runFloorProcess, SIM_DIRECT, SPAWN_MODES, writeCfgs } from './floor.js';
import { BenchBus, until } from './lib/bus.js';
import { benchDomain, benchDomains } from './lib/domains.js';
import { diffCounts, type Manager, startManager, sumCounts } from './lib/manager.js';
import { load, machineBusyPct, machineCpuMs } from './lib/proc.js';
import { writeResults } from './lib/results.js';
import { freshSimHost } from './lib/sim.js';
import { median, nowMs, percentile, printTable, round, sleep } from './lib/stats.js';
import { summarise } from './profile-summary.js';

// ---------------------------------------------------------------------------------------------
// Flags

/**
 * The value after `--name`; '' when the flag has none (the next word is another flag). A flag whose
 * value itself starts with dashes (`--node-args "--trace-gc"`) passes `dashedValue`.
 */
function flag(name: string, dashedValue = false): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  return v === undefined || (!dashedValue && v.startsWith('--')) ? '' : v;
}
const num = (name: string, dflt: number): number => {
  const v = flag(name);
  return v === undefined || v === '' ? dflt : Number(v);
};
const DOMAINS = num('domains', 1000);
const STEADY_S = num('steady-s', 60);
const ITERATIONS = num('iterations', 200);
const CRASHES = num('crashes', 20);
/**
 * Rounds of the pair that the ratios compare (the ExecRunner floor, then domainmgr, back to back);
 * the ratios are the medians of the rounds' own ratios. On these 2-core machines one round's
 * ratio varies by +-20% (the floor's CPU per spawn alone from 1.7 to 2.5 ms), so one round
 * proves little. The other floor modes and the EVE-style strategy run in the first round only.
 */
const REPEAT = num('repeat', 3);
const PROBE_MS = num('probe-interval-ms', 5000);
const CONCURRENCY = num('concurrency', 8);
const MEMORY_POINTS = (flag('memory') ?? '0,100,1000,5000').split(',').map(Number);
const ONLY = new Set((flag('only') ?? 'create,steady,vifs,idle,crash,memory').split(','));
/** Domains created per vif count in the vifs scenario. */
const VIF_DOMAINS = num('vif-domains', 10);
const VIF_COUNTS = [0, 1, 2, 4, 8];
const CPU_PROF = flag('cpu-prof') !== undefined;
const MEMORY_SETTLE_S = num('memory-settle-s', 30);
/** How long one memory point may take to reach all RUNNING before it is reported as not reached. */
const MEMORY_TIMEOUT_S = num('memory-timeout-s', 900);
const SKIP_EVE = flag('skip-eve') !== undefined;
const SKIP_FLOOR_MODES = flag('floor-runner-only') !== undefined;
/** Skip the "no spawns" pair (domainmgr and a floor whose commands go to the simulator over a socket). */
const SKIP_NO_SPAWN = flag('skip-no-spawn') !== undefined;
/** Node options for domainmgr's process (e.g. "--max-semi-space-size=4"), to measure their effect. */
const DM_NODE_ARGS = (flag('node-args', true) ?? '').split(' ').filter((a) => a !== '');

/**
 * The simulator persists at most every 200 ms (see sim/README.md): it measures domainmgr, not
 * itself. Overridable: with thousands of domains each save of state.json blocks the simulator for
 * long enough to throttle every command (the memory scenario's larger points use a longer delay).
 */
process.env.DOMAINMGR_SIM_PERSIST_MS ??= '200';

const runTag = randomBytes(3).toString('hex');
const work = mkdtempSync(join(tmpdir(), 'domainmgr-bench-'));
const profDir = join(work, 'profiles');
const results: Record<string, unknown> = {};
const loads: Record<string, string> = {};

function note(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)} load ${load()}] ${msg}\n`);
}

/** A fresh simulated host, NATS prefix and manager; `fn` gets them; everything is cleaned up. */
async function withManager<T>(
  label: string,
  opts: { eveStyle?: boolean; spawnLog?: boolean; prof?: boolean; noSpawn?: boolean },
  fn: (
    m: Manager,
    bus: BenchBus,
    ctx: { spawnLog: string | null; sim: ReturnType<typeof freshSimHost> },
  ) => Promise<T>,
): Promise<T> {
  const sim = freshSimHost(label);
  const id = `${label}-${runTag}-${randomBytes(2).toString('hex')}`;
  const prefix = `bench_${id.replace(/-/g, '_')}`;
  const bus = await BenchBus.connect(prefix, 'node1');
  const stateDir = join(work, id);
  const spawnLog = opts.spawnLog ? join(stateDir, 'spawns.log') : null;
  sim.simctl('ping');
  const inject = {
    ...(opts.eveStyle ? { eveStyle: true } : {}),
    ...(opts.noSpawn ? { noSpawn: true } : {}),
    ...(spawnLog ? { spawnLog } : {}),
  };
  const m = await startManager({
    sim,
    prefix,
    nodeId: 'node1',
    stateDir,
    probeIntervalMs: PROBE_MS,
    // EVE's domainmgr created one domain at a time.
    createConcurrency: opts.eveStyle ? 1 : CONCURRENCY,
    ...(Object.keys(inject).length > 0 ? { inject } : {}),
    ...(opts.prof && CPU_PROF ? { cpuProfDir: join(profDir, label) } : {}),
    ...(DM_NODE_ARGS.length > 0 ? { nodeArgs: DM_NODE_ARGS } : {}),
  });
  try {
    await bus.watch();
    return await fn(m, bus, { spawnLog, sim });
  } finally {
    await m.stop();
    await bus.close();
    sim.stop();
    if (opts.prof && CPU_PROF) {
      for (const f of readdirSync(join(profDir, label))) {
        const summary = summarise(join(profDir, label, f), 30);
        console.log(`\n--- cpu profile of domainmgr (${label}): ${join(profDir, label, f)}\n${summary}`);
      }
    }
  }
}

/** The manager's CPU rate at rest (ms of CPU per ms), over `ms`: all threads, and the main one. */
async function idleRate(m: Manager, ms: number): Promise<{ all: number; main: number }> {
  const c0 = m.cpuMs();
  const main0 = m.mainThreadCpuMs();
  const t0 = performance.now();
  await sleep(ms);
  const t = performance.now() - t0;
  return { all: (m.cpuMs() - c0) / t, main: (m.mainThreadCpuMs() - main0) / t };
}

// ---------------------------------------------------------------------------------------------
// 1 + 2: create at scale, then steady state, for one strategy

interface CreateRun {
  strategy: string;
  domains: number;
  wallMs: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  cpuMs: number;
  idleRateMsPerS: number;
  cpuPerDomainMs: number;
  /**
   * cpuPerDomainMs split by thread: the main thread (JS, the event loop, the syscalls it makes,
   * fork included) and the others (V8's optimizing compiler and GC helpers, libuv's pool).
   */
  mainThreadCpuPerDomainMs: number;
  otherThreadsCpuPerDomainMs: number;
  /** The spawn helper's part of cpuPerDomainMs (it starts domainmgr's commands; 0 without it). */
  helperCpuPerDomainMs: number;
  commands: Record<string, number>;
  simCalls: Record<string, number>;
  createSpawnsPerDomain: number;
  listingsDuringCreate: number;
  allSpawnsPerDomain: number;
  peakRssMiB: number;
  /** The whole machine's busy share from the first publish to the last RUNNING, % of all cpus. */
  machineBusyPct: number;
  load: string;
  steady?: SteadyRun;
}

interface SteadyRun {
  seconds: number;
  ticks: number;
  spawns: Record<string, number>;
  spawnsPerTick: number;
  cpuPercent: number;
  /** cpuPercent split: domainmgr's main thread, its other threads, and its spawn helper. */
  mainThreadCpuPercent: number;
  otherThreadsCpuPercent: number;
  helperCpuPercent: number;
  rssMiB: number;
  cpuMsPerSecond: number[];
  load: string;
  /** The same figures for the window just before this one, right after the create burst. */
  afterBurst?: SteadyWindow;
}

/** One window of the steady state. */
type SteadyWindow = Omit<SteadyRun, 'afterBurst'>;

const CREATE_KEYS = ['xl create', 'xl domid', 'xenstore-write write', 'xl unpause'];

function simCalls(sim: ReturnType<typeof freshSimHost>): Record<string, number> {
  return JSON.parse(sim.simctl('calls')) as Record<string, number>;
}

const NO_SPAWN = 'domainmgr, no spawns';

async function createAndSteady(
  strategy: 'domainmgr' | 'EVE-style' | typeof NO_SPAWN,
  steady: boolean,
): Promise<CreateRun> {
  const eve = strategy === 'EVE-style';
  const noSpawn = strategy === NO_SPAWN;
  const label = eve ? 'eve' : noSpawn ? 'nospawn' : 'create';
  return withManager(label, { eveStyle: eve, prof: true, noSpawn }, async (m, bus, { sim }) => {
    const domains = benchDomains(DOMAINS, runTag);
    const rate = await idleRate(m, 3000);
    const running = new Map<string, number>();
    const published = new Map<string, number>();
    bus.onStatus((e) => {
      if (e.status.state === 'RUNNING' && !running.has(e.uuid)) running.set(e.uuid, e.storedMs);
    });
    const counts0 = await m.commandCounts();
    const sim0 = simCalls(sim);
    const cpu0 = m.cpuMs();
    const main0 = m.mainThreadCpuMs();
    const helper0 = m.helperCpuMs();
    const machine0 = machineCpuMs();
    const t0 = nowMs();
    note(`${strategy}: publishing ${DOMAINS} configs`);
    await Promise.all(
      domains.map(async (d) => {
        published.set(d.uuid, await bus.publish(d));
      }),
    );
    let cpu1 = 0;
    let main1 = 0;
    let helper1 = 0;
    let t1 = 0;
    let busyPct = 0;
    await until(
      bus,
      () => {
        if (running.size < DOMAINS) return false;
        cpu1 = m.cpuMs();
        main1 = m.mainThreadCpuMs();
        helper1 = m.helperCpuMs();
        busyPct = machineBusyPct(machine0);
        t1 = nowMs();
        return true;
      },
      (eve ? 600 : 300) * 1000 * Math.max(1, DOMAINS / 1000),
      `${DOMAINS} RUNNING`,
    );
    const counts = diffCounts(counts0, await m.commandCounts());
    const simDiff = diffCounts(sim0, simCalls(sim));
    const last = Math.max(...running.values());
    const latencies = domains.map((d) => (running.get(d.uuid) as number) - (published.get(d.uuid) as number));
    const cpu = cpu1 - cpu0 - rate.all * (t1 - t0);
    const mainCpu = main1 - main0 - rate.main * (t1 - t0);
    const createSpawns = CREATE_KEYS.reduce((a, k) => a + (counts[k] ?? 0), 0);
    const run: CreateRun = {
      strategy,
      domains: DOMAINS,
      wallMs: last - t0,
      latencyP50Ms: percentile(latencies, 50),
      latencyP99Ms: percentile(latencies, 99),
      cpuMs: cpu,
      idleRateMsPerS: rate.all * 1000,
      cpuPerDomainMs: cpu / DOMAINS,
      mainThreadCpuPerDomainMs: mainCpu / DOMAINS,
      otherThreadsCpuPerDomainMs: (cpu - mainCpu - (helper1 - helper0)) / DOMAINS,
      helperCpuPerDomainMs: (helper1 - helper0) / DOMAINS,
      commands: counts,
      simCalls: simDiff,
      createSpawnsPerDomain: createSpawns / DOMAINS,
      listingsDuringCreate: counts['xl list'] ?? 0,
      allSpawnsPerDomain: sumCounts(counts) / DOMAINS,
      peakRssMiB: m.memory().hwm,
      machineBusyPct: busyPct,
      load: load(),
    };
    note(`${strategy}: ${DOMAINS} RUNNING after ${round(run.wallMs / 1000, 1)} s`);
    if (steady) run.steady = await steadyState(m, eve);
    return run;
  });
}

/**
 * Two windows of STEADY_S each, back to back: the first after the burst, and the steady state
 * after it. The first still holds the burst's after-effects (V8's memory-reducing collections in
 * domainmgr and in its helper, which ran 1,000s of spawns); the second is what the idle domains
 * cost. Both are printed.
 */
async function steadyState(m: Manager, eve: boolean): Promise<SteadyRun> {
  // Let the tail of the create phase (expedited listings, status publishes) pass first.
  await sleep(PROBE_MS + 1000);
  const who = eve ? 'EVE-style' : 'domainmgr';
  note(`steady (${who}): ${STEADY_S} s with ${DOMAINS} running domains, just after the burst`);
  const afterBurst = await steadyWindow(m, eve);
  note(`steady (${who}): ${STEADY_S} s more`);
  return { ...(await steadyWindow(m, eve)), afterBurst };
}

async function steadyWindow(m: Manager, eve: boolean): Promise<SteadyWindow> {
  const c0 = await m.commandCounts();
  const cpu0 = m.cpuMs();
  const main0 = m.mainThreadCpuMs();
  const helper0 = m.helperCpuMs();
  const t0 = performance.now();
  // CPU per second too: shows whether it goes to the ticks or is spread out.
  const perSecond: number[] = [];
  let last = cpu0;
  for (let i = 0; i < STEADY_S; i++) {
    await sleep(Math.max(0, t0 + (i + 1) * 1000 - performance.now()));
    const c = m.cpuMs();
    perSecond.push(c - last);
    last = c;
  }
  const cpu1 = m.cpuMs();
  const main = m.mainThreadCpuMs() - main0;
  const helper = m.helperCpuMs() - helper0;
  const seconds = (performance.now() - t0) / 1000;
  const percent = (ms: number) => (ms / (seconds * 1000)) * 100;
  const spawns = diffCounts(c0, await m.commandCounts());
  // A tick of domainmgr is one `xl list -v`; a tick of EVE-style is one `xl domid` per domain.
  const ticks = eve ? (spawns['xl domid'] ?? 0) / DOMAINS : (spawns['xl list'] ?? 0);
  return {
    seconds,
    ticks,
    spawns,
    // Probe spawns only: `xl info` is NodeStatus's host refresh (every 30 s), not a probe.
    spawnsPerTick: ticks === 0 ? Number.NaN : (sumCounts(spawns) - (spawns['xl info'] ?? 0)) / ticks,
    cpuPercent: percent(cpu1 - cpu0),
    mainThreadCpuPercent: percent(main),
    otherThreadsCpuPercent: percent(cpu1 - cpu0 - main - helper),
    helperCpuPercent: percent(helper),
    rssMiB: m.memory().rss,
    cpuMsPerSecond: perSecond,
    load: load(),
  };
}

// ---------------------------------------------------------------------------------------------
// 2b: spawns per create by vif count

interface VifRun {
  vifs: number;
  domains: number;
  /** xl create, xl domid, xenstore-write, xl unpause per create: the create's own processes. */
  createSpawnsPerDomain: number;
  commands: Record<string, number>;
  /** What xenstored saw from domainmgr for these creates (the simulated host's call counts). */
  xenstored: Record<string, number>;
  load: string;
}

async function spawnsByVifCount(): Promise<VifRun[]> {
  return withManager('vifs', {}, async (m, bus, { sim }) => {
    const running = new Set<string>();
    bus.onStatus((e) => {
      if (e.status.state === 'RUNNING') running.add(e.uuid);
    });
    const out: VifRun[] = [];
    for (const vifs of VIF_COUNTS) {
      const domains = Array.from({ length: VIF_DOMAINS }, (_, i) => {
        const d = benchDomain(i, `${runTag}v${vifs}`);
        return { ...d, vifs: Array.from({ length: vifs }, (_, j) => ({ bridge: `xenbr${j % 2}` })) };
      });
      const c0 = await m.commandCounts();
      const s0 = simCalls(sim);
      await Promise.all(domains.map((d) => bus.publish(d)));
      await until(
        bus,
        () => domains.every((d) => running.has(d.uuid)),
        120_000,
        `${vifs}-vif domains RUNNING`,
      );
      const commands = diffCounts(c0, await m.commandCounts());
      const calls = diffCounts(s0, simCalls(sim));
      out.push({
        vifs,
        domains: VIF_DOMAINS,
        createSpawnsPerDomain: CREATE_KEYS.reduce((a, k) => a + (commands[k] ?? 0), 0) / VIF_DOMAINS,
        commands,
        xenstored: Object.fromEntries(Object.entries(calls).filter(([k]) => k.startsWith('xenstored'))),
        load: load(),
      });
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// 3: latency at idle

async function idleLatency(): Promise<Record<string, unknown>> {
  return withManager('idle', { spawnLog: true }, async (m, bus, { spawnLog }) => {
    await idleRate(m, 1000);
    const toCommand: number[] = [];
    const toStored: number[] = [];
    const toStoredByState = new Map<string, number[]>();
    const lastTransition = new Map<string, string>();
    const states = new Map<string, string>();
    bus.onStatus((e) => {
      const s = e.status;
      states.set(e.uuid, s.state);
      if (lastTransition.get(e.uuid) !== s.lastTransitionTime) {
        lastTransition.set(e.uuid, s.lastTransitionTime);
        const d = e.storedMs - Date.parse(s.lastTransitionTime);
        toStored.push(d);
        const list = toStoredByState.get(s.state) ?? [];
        list.push(d);
        toStoredByState.set(s.state, list);
      }
    });
    const publishedAt = new Map<string, number>();
    for (let i = 0; i < ITERATIONS; i++) {
      const d = benchDomain(i, `${runTag}i`);
      publishedAt.set(d.uuid, await bus.publish(d));
      await until(bus, () => states.get(d.uuid) === 'RUNNING', 30_000, `${d.name} RUNNING`);
      await sleep(20 + Math.random() * 30);
    }
    await sleep(200);
    // The first command of each domain: its `xl create -p <stateDir>/xl/<uuid>.cfg`.
    const firstCommand = new Map<string, number>();
    for (const line of readFileSync(spawnLog as string, 'utf8').split('\n')) {
      const m2 = /^(\d+\.\d+) \S+ create -p \S+\/([0-9a-f-]{36})\.cfg$/.exec(line);
      if (m2 && !firstCommand.has(m2[2] as string)) firstCommand.set(m2[2] as string, Number(m2[1]));
    }
    for (const [uuid, t] of publishedAt) {
      const c = firstCommand.get(uuid);
      if (c !== undefined) toCommand.push(c - t);
    }
    return {
      iterations: ITERATIONS,
      publishToFirstCommand: {
        n: toCommand.length,
        p50: percentile(toCommand, 50),
        p99: percentile(toCommand, 99),
        max: Math.max(...toCommand),
      },
      changeToStored: {
        n: toStored.length,
        p50: percentile(toStored, 50),
        p99: percentile(toStored, 99),
        max: Math.max(...toStored),
      },
      changeToStoredByState: Object.fromEntries(
        [...toStoredByState].map(([state, ds]) => [
          state,
          { n: ds.length, p50: percentile(ds, 50), p99: percentile(ds, 99), max: Math.max(...ds) },
        ]),
      ),
      rssMiB: m.memory().rss,
      load: load(),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// 4: crash detection

async function crashDetection(): Promise<Record<string, unknown>> {
  return withManager('crash', {}, async (_m, bus, { sim }) => {
    const n = Math.max(CRASHES, 1);
    const domains = benchDomains(n, `${runTag}c`);
    const states = new Map<string, { state: string; at: number }[]>();
    bus.onStatus((e) => {
      const l = states.get(e.uuid) ?? [];
      l.push({ state: e.status.state, at: e.storedMs });
      states.set(e.uuid, l);
    });
    await Promise.all(domains.map((d) => bus.publish(d)));
    const isRunning = (u: string): boolean => states.get(u)?.at(-1)?.state === 'RUNNING';
    await until(bus, () => domains.every((d) => isRunning(d.uuid)), 60_000, 'crash domains RUNNING');
    await sleep(PROBE_MS);
    const toBroken: number[] = [];
    const toRunning: number[] = [];
    for (const d of domains) {
      // A random point in the probe cycle.
      await sleep(Math.random() * PROBE_MS);
      const before = states.get(d.uuid)?.length ?? 0;
      const t = nowMs();
      sim.simctl('crash', d.name);
      await until(
        bus,
        () => (states.get(d.uuid) ?? []).slice(before).some((s) => s.state === 'RUNNING'),
        3 * PROBE_MS + 10_000,
        `${d.name} RUNNING again`,
      );
      const after = (states.get(d.uuid) ?? []).slice(before);
      const broken = after.find((s) => s.state === 'BROKEN');
      const again = after.find((s) => s.state === 'RUNNING');
      if (broken) toBroken.push(broken.at - t);
      if (again) toRunning.push(again.at - t);
    }
    return {
      crashes: n,
      probeIntervalMs: PROBE_MS,
      crashToBroken: {
        n: toBroken.length,
        p50: median(toBroken),
        p99: percentile(toBroken, 99),
        max: Math.max(...toBroken),
      },
      crashToRunning: {
        n: toRunning.length,
        p50: median(toRunning),
        p99: percentile(toRunning, 99),
        max: Math.max(...toRunning),
      },
      load: load(),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// 5: memory growth

interface MemoryPoint {
  domains: number;
  /** RUNNING domains when measured: less than `domains` when the point timed out. */
  running: number;
  /** Seconds from publishing this point's new configs to all of them RUNNING (or the timeout). */
  toRunningS: number;
  /** RSS right after the last domain is RUNNING, and after MEMORY_SETTLE_S of rest. */
  rssAtRunningMiB: number;
  rssMiB: number;
  hwmMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
}

async function memoryGrowth(): Promise<MemoryPoint[]> {
  return withManager('memory', {}, async (m, bus) => {
    const out: MemoryPoint[] = [];
    const running = new Set<string>();
    bus.onStatus((e) => {
      if (e.status.state === 'RUNNING') running.add(e.uuid);
    });
    let made = 0;
    for (const target of [...MEMORY_POINTS].sort((a, b) => a - b)) {
      const batch: DomainConfig[] = [];
      for (; made < target; made++) batch.push(benchDomain(made, `${runTag}m`));
      note(`memory: ${target} domains`);
      const t0 = performance.now();
      await Promise.all(batch.map((d) => bus.publish(d)));
      // A point that does not get there in time is still measured and reported as such (with
      // how many were RUNNING), and the larger points are skipped: the other scenarios' figures
      // must not be lost to one slow point.
      const reached = await until(
        bus,
        () => running.size >= target,
        MEMORY_TIMEOUT_S * 1000,
        `${target} RUNNING`,
      )
        .then(() => true)
        .catch((e: unknown) => {
          note(`memory: ${e instanceof Error ? e.message : e}; ${running.size} RUNNING, measuring as is`);
          return false;
        });
      const toRunningS = (performance.now() - t0) / 1000;
      const atRunning = m.memory().rss;
      await sleep(MEMORY_SETTLE_S * 1000);
      const mem = m.memory();
      const heap = await m.heap();
      out.push({
        domains: target,
        running: running.size,
        toRunningS,
        rssAtRunningMiB: atRunning,
        rssMiB: mem.rss,
        hwmMiB: mem.hwm,
        heapUsedMiB: heap.usedMiB,
        heapTotalMiB: heap.totalMiB,
      });
      if (!reached) break;
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------

const f3 = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(3));
const f2 = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(2));
const f1 = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(1));
const f0 = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(0));

/** One run of bench/floor-2spawn.ts (its own process): the 2-spawn sequence's result. */
interface Floor2Result {
  sequence: string;
  wallMs: number;
  spawns: number;
  xenstoredRequests: number;
  parentCpuMs: number;
  domains: number;
  machineBusyPct: number;
  load: string;
}

async function runFloor2Spawn(): Promise<Floor2Result> {
  const script = join(projectRoot, 'dist', 'bench', 'floor-2spawn.js');
  const args = [script, '--domains', String(DOMAINS), '--vifs', '2', '--concurrency', String(CONCURRENCY)];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 16 * 2 ** 20 });
  const file = /written to (\S+)/.exec(stdout)?.[1];
  if (file === undefined) throw new Error(`floor-2spawn printed no result file:\n${stdout}`);
  const json = JSON.parse(readFileSync(file, 'utf8')) as { results: Floor2Result[] };
  const two = json.results.find((r) => r.sequence !== '4 spawns');
  if (two === undefined) throw new Error(`floor-2spawn: no 2-spawn result in ${file}`);
  return two;
}

async function main(): Promise<void> {
  note(
    `work dir ${work}; ${cpus().length} cpus, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  );
  loads.start = load();
  const creates: CreateRun[] = [];
  const floors: FloorResult[] = [];
  const floors2: Floor2Result[] = [];
  const eves: CreateRun[] = [];
  let simDirect: FloorResult | null = null;
  let noSpawnRun: CreateRun | null = null;

  if (ONLY.has('create')) {
    const domains = benchDomains(DOMAINS, runTag);
    const cfgDir = join(work, 'floor-cfg');
    writeCfgs(domains, cfgDir);
    const domainsFile = join(work, 'floor-domains.json');
    writeFileSync(domainsFile, JSON.stringify(domains));
    for (let r = 0; r < REPEAT; r++) {
      for (const mode of SKIP_FLOOR_MODES || r > 0 ? (['ExecRunner'] as const) : SPAWN_MODES) {
        note(`round ${r + 1}/${REPEAT}: floor (${mode}): ${DOMAINS} domains, concurrency ${CONCURRENCY}`);
        const f = await runFloorProcess(mode, domainsFile, cfgDir, CONCURRENCY);
        floors.push({ ...f, load: load() } as FloorResult & { load: string });
      }
      note(`round ${r + 1}/${REPEAT}: 2-spawn floor (xl create -p, xenstored socket, xl unpause)`);
      floors2.push(await runFloor2Spawn());
      creates.push(await createAndSteady('domainmgr', ONLY.has('steady') && r === 0));
      if (!SKIP_EVE && r === 0) eves.push(await createAndSteady('EVE-style', ONLY.has('steady')));
    }
    if (!SKIP_NO_SPAWN) {
      note(`no spawns: floor (${SIM_DIRECT}), then domainmgr with the same runner`);
      simDirect = await runFloorProcess(SIM_DIRECT, domainsFile, cfgDir, CONCURRENCY);
      noSpawnRun = await createAndSteady(NO_SPAWN, false);
      results.noSpawn = { floor: simDirect, domainmgr: noSpawnRun };
    }
    results.floor = floors;
    results.floor2spawn = floors2;
    results.create = creates;
    results.eveStyle = eves;
  }
  const vifRuns = ONLY.has('vifs') ? await spawnsByVifCount() : null;
  if (vifRuns) results.vifs = vifRuns;
  const idle = ONLY.has('idle') ? await idleLatency() : null;
  if (idle) results.idle = idle;
  const crash = ONLY.has('crash') ? await crashDetection() : null;
  if (crash) results.crash = crash;
  const memory = ONLY.has('memory') ? await memoryGrowth() : null;
  if (memory) results.memory = memory;
  loads.end = load();

  // --- tables ---
  const header = `domainmgr benchmarks: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}; load avg (1/5/15 min) at start ${loads.start}, at end ${loads.end}${DM_NODE_ARGS.length > 0 ? `; domainmgr's node options: ${DM_NODE_ARGS.join(' ')}` : ''}`;
  console.log(`\n${header}`);
  if (floors.length > 0) {
    printTable(
      `Floors: ${DOMAINS} x (xl create -p, xl domid, xenstore-write, xl unpause) from a bare script (a fresh process per row), and the 2-spawn floor (xl create -p, domid and offload over one xenstored socket, xl unpause), concurrency ${CONCURRENCY}, fresh simulated host`,
      ['spawn with', 'wall s', 'spawns', 'parent CPU ms', 'CPU ms/spawn', 'load'],
      [
        ...floors.map((f) => [
          `4-spawn, ${f.mode}`,
          f1(f.wallMs / 1000),
          f.spawns,
          f0(f.parentCpuMs),
          f2(f.cpuPerSpawnMs),
          (f as unknown as { load: string }).load,
        ]),
        ...floors2.map((f) => [
          '2-spawn, ExecRunner',
          f1(f.wallMs / 1000),
          f.spawns,
          f0(f.parentCpuMs),
          f2(f.parentCpuMs / f.spawns),
          f.load,
        ]),
      ],
    );
  }
  const runnerFloors = floors.filter((f) => f.mode === 'ExecRunner');
  const runnerCpuPerSpawn = median(runnerFloors.map((f) => f.cpuPerSpawnMs));
  if (creates.length > 0) {
    const rows = [...creates, ...eves, ...(noSpawnRun ? [noSpawnRun] : [])];
    printTable(
      `Create at scale: ${DOMAINS} DomainConfigs (2 vifs, 1 disk) published at once; xl backend, simulated host, no added latency`,
      [
        'strategy',
        'all RUNNING s',
        'p50 ms',
        'p99 ms',
        'CPU ms/domain',
        'spawns/create',
        'listings',
        'spawns/domain',
        'peak RSS MiB',
        'load',
      ],
      rows.map((r) => [
        r.strategy,
        f2(r.wallMs / 1000),
        f0(r.latencyP50Ms),
        f0(r.latencyP99Ms),
        f2(r.cpuPerDomainMs),
        f2(r.createSpawnsPerDomain),
        r.listingsDuringCreate,
        f2(r.allSpawnsPerDomain),
        f0(r.peakRssMiB),
        r.load,
      ]),
    );
    // The threads that are not the main one do V8's optimizing compiles and the GC's helper work:
    // in a burst from a fresh process that is mostly compiling the hot path (perf, 2026-11-21).
    const floorRows = [...floors, ...(simDirect ? [simDirect] : [])];
    printTable(
      "CPU by thread, ms per domain: the main thread, the others (V8 compiler and GC helpers, libuv pool), and the spawn helper process that starts domainmgr's commands",
      ['process', 'all', 'main thread', 'other threads', 'other share', 'spawn helper'],
      [
        ...floorRows.map((f) => [
          `floor (${f.mode})`,
          f2(f.parentCpuMs / f.domains),
          f2(f.mainThreadCpuMs / f.domains),
          f2((f.parentCpuMs - f.mainThreadCpuMs) / f.domains),
          `${f0((100 * (f.parentCpuMs - f.mainThreadCpuMs)) / f.parentCpuMs)}%`,
          '-',
        ]),
        ...rows.map((r) => [
          r.strategy,
          f2(r.cpuPerDomainMs),
          f2(r.mainThreadCpuPerDomainMs),
          f2(r.otherThreadsCpuPerDomainMs),
          `${f0((100 * r.otherThreadsCpuPerDomainMs) / r.cpuPerDomainMs)}%`,
          f2(r.helperCpuPerDomainMs),
        ]),
      ],
    );
    for (const r of rows) {
      console.log(`  ${r.strategy} commands (runner observer): ${JSON.stringify(r.commands)}`);
      console.log(`  ${r.strategy} calls seen by the simulated host:  ${JSON.stringify(r.simCalls)}`);
    }
    const dm = median(creates.map((r) => r.wallMs));
    const dmCpu = median(creates.map((r) => r.cpuPerDomainMs));
    const dmSpawns = median(creates.map((r) => r.allSpawnsPerDomain));
    // Each round's domainmgr against the floors run just before it (same machine state).
    const rounds = creates.map((c, i) => {
      const f = runnerFloors[i] as FloorResult;
      const f2s = floors2[i] as Floor2Result;
      return {
        wall4: c.wallMs / f.wallMs,
        wall2: c.wallMs / f2s.wallMs,
        cpu4: c.cpuPerDomainMs / (f.parentCpuMs / f.domains),
        cpu2: c.cpuPerDomainMs / (f2s.parentCpuMs / f2s.domains),
        busy4: f.machineBusyPct,
        busy2: f2s.machineBusyPct,
        busyDm: c.machineBusyPct,
      };
    });
    printTable(
      'Rounds: domainmgr against the floors run just before it (targets: wall <= 0.6 x the 4-spawn floor, <= 1.15 x the 2-spawn floor)',
      [
        'round',
        'wall / 4-spawn',
        'wall / 2-spawn',
        'CPU / 4-spawn',
        'CPU / 2-spawn',
        'machine busy %: 4-spawn, 2-spawn, domainmgr',
      ],
      rounds.map((q, i) => [
        i + 1,
        f2(q.wall4),
        f2(q.wall2),
        f2(q.cpu4),
        f2(q.cpu2),
        [q.busy4, q.busy2, q.busyDm].map(f0).join(', '),
      ]),
    );
    results.rounds = rounds;
    const ratios: Record<string, number> = {
      'spawns per xl create (target 2)': median(creates.map((c) => c.createSpawnsPerDomain)),
      'domainmgr / 4-spawn floor, wall time (target <= 0.6)': median(rounds.map((q) => q.wall4)),
      'domainmgr / 2-spawn floor, wall time (target <= 1.15)': median(rounds.map((q) => q.wall2)),
      'domainmgr / 4-spawn floor, CPU per domain': median(rounds.map((q) => q.cpu4)),
      'domainmgr / 2-spawn floor, CPU per domain': median(rounds.map((q) => q.cpu2)),
    };
    if (eves.length > 0) {
      ratios['EVE-style / domainmgr, wall time'] = median(eves.map((r) => r.wallMs)) / dm;
      ratios['EVE-style / domainmgr, CPU per domain'] = median(eves.map((r) => r.cpuPerDomainMs)) / dmCpu;
      ratios['EVE-style / domainmgr, spawns per domain'] =
        median(eves.map((r) => r.allSpawnsPerDomain)) / dmSpawns;
    }
    results.ratios = ratios;
    printTable(
      `Ratios (domainmgr vs floors: medians of the ${REPEAT} rounds' ratios; runner CPU per spawn ${f2(runnerCpuPerSpawn)} ms)`,
      ['ratio', 'value'],
      Object.entries(ratios).map(([k, v]) => [k, f2(v)]),
    );
    if (simDirect !== null && noSpawnRun !== null) {
      // What domainmgr spends on everything but spawning: its run with the socket runner, less what
      // the socket calls themselves cost (the sim-direct floor, per command). The rest of its CPU in
      // the real runs is what its spawns cost it, in its own process.
      const socketMs = noSpawnRun.allSpawnsPerDomain * simDirect.cpuPerSpawnMs;
      const nonSpawn = noSpawnRun.cpuPerDomainMs - socketMs;
      const perSpawnInDomainmgr = (dmCpu - nonSpawn) / dmSpawns;
      const split: Record<string, string> = {
        'domainmgr with no spawns (socket runner), CPU ms per domain': f2(noSpawnRun.cpuPerDomainMs),
        [`  less its ${f2(noSpawnRun.allSpawnsPerDomain)} socket calls per domain at ${f3(simDirect.cpuPerSpawnMs)} ms (sim-direct floor)`]:
          f2(socketMs),
        'everything but spawning, CPU ms per domain (target <= 1 ms)': f2(nonSpawn),
        'domainmgr CPU per domain, real runs (median)': f2(dmCpu),
        "what a spawn costs domainmgr's process, ms ((real - everything but spawning) / spawns)":
          f2(perSpawnInDomainmgr),
        'what a spawn costs the floor process, ms (ExecRunner, median)': f2(runnerCpuPerSpawn),
      };
      results.split = { socketMs, nonSpawnMs: nonSpawn, perSpawnInDomainmgrMs: perSpawnInDomainmgr };
      printTable(
        'Everything but spawning: domainmgr with a runner that sends each command to the simulated host over a socket instead of spawning',
        ['figure', 'value'],
        Object.entries(split),
      );
    }
    const steadies = rows.filter((r) => r.steady !== undefined);
    if (steadies.length > 0) {
      printTable(
        `Steady state: ${DOMAINS} running domains, probe interval ${PROBE_MS} ms`,
        [
          'strategy',
          'seconds',
          'ticks',
          'spawns/tick',
          'CPU % of a core',
          'main / other threads / helper',
          'RSS MiB',
          'spawns',
          'load',
        ],
        steadies.flatMap((r) => {
          const steady = r.steady as SteadyRun;
          const windows: [string, SteadyWindow][] = [[`${r.strategy}, steady (the window after)`, steady]];
          if (steady.afterBurst)
            windows.unshift([`${r.strategy}, first window after the burst`, steady.afterBurst]);
          return windows.map(([label, s]) => [
            label,
            f0(s.seconds),
            f1(s.ticks),
            f1(s.spawnsPerTick),
            f2(s.cpuPercent),
            `${f2(s.mainThreadCpuPercent)} / ${f2(s.otherThreadsCpuPercent)} / ${f2(s.helperCpuPercent)}`,
            f0(s.rssMiB),
            JSON.stringify(s.spawns),
            s.load,
          ]);
        }),
      );
    }
  }
  if (vifRuns) {
    printTable(
      `Spawns per xl create by vif count: ${VIF_DOMAINS} domains per count, one domainmgr (target: 2 whatever the count)`,
      ['vifs', 'domains', 'spawns/create', 'commands', "xenstored's requests", 'load'],
      vifRuns.map((v) => [
        v.vifs,
        v.domains,
        f2(v.createSpawnsPerDomain),
        JSON.stringify(v.commands),
        JSON.stringify(v.xenstored),
        v.load,
      ]),
    );
  }
  if (idle) {
    type Stats = { n: number; p50: number; p99: number; max?: number };
    const p = idle as Record<string, Stats> & { changeToStoredByState: Record<string, Stats> };
    printTable(
      `Latency at idle: one domain at a time, ${ITERATIONS} iterations (status times: transition time has 1 ms resolution)`,
      ['measure', 'n', 'p50 ms', 'p99 ms', 'max ms'],
      [
        ...(['publishToFirstCommand', 'changeToStored'] as const).map((k) => [
          k,
          p[k]?.n ?? 0,
          f2(p[k]?.p50),
          f2(p[k]?.p99),
          f2(p[k]?.max),
        ]),
        ...Object.entries(p.changeToStoredByState).map(([state, q]) => [
          `  changeToStored, ${state}`,
          q.n,
          f2(q.p50),
          f2(q.p99),
          f2(q.max),
        ]),
      ],
    );
  }
  if (crash) {
    const c = crash as Record<string, { n: number; p50: number; p99: number; max: number }>;
    printTable(
      `Crash detection: ${CRASHES} crashes (simctl crash) at random points of the probe cycle; reported through xenstored's @releaseDomain watch (probe interval ${PROBE_MS} ms is only the fallback), restart backoff 100 ms; target crash -> BROKEN stored p99 <= 100 ms`,
      ['measure', 'n', 'p50 ms', 'p99 ms', 'max ms'],
      (['crashToBroken', 'crashToRunning'] as const).map((k) => [
        k,
        c[k]?.n ?? 0,
        f0(c[k]?.p50),
        f0(c[k]?.p99),
        f0(c[k]?.max),
      ]),
    );
  }
  if (memory) {
    printTable(
      `Memory growth: domainmgr with N running domains (RSS when the last is RUNNING, and after ${MEMORY_SETTLE_S} s at rest)`,
      [
        'domains',
        'RUNNING',
        'to RUNNING s',
        'RSS at RUNNING MiB',
        'RSS at rest MiB',
        'peak RSS MiB',
        'V8 heap used MiB',
        'V8 heap total MiB',
      ],
      memory.map((x) => [
        x.domains,
        x.running,
        f1(x.toRunningS),
        f1(x.rssAtRunningMiB),
        f1(x.rssMiB),
        f1(x.hwmMiB),
        f1(x.heapUsedMiB),
        f1(x.heapTotalMiB),
      ]),
    );
  }

  const file = writeResults('bench', {
    loadavg: loads,
    flags: {
      DOMAINS,
      STEADY_S,
      ITERATIONS,
      CRASHES,
      REPEAT,
      PROBE_MS,
      CONCURRENCY,
      MEMORY_POINTS,
      MEMORY_SETTLE_S,
    },
    results,
  });
  console.log(`\nwritten to ${file}`);
  if (!CPU_PROF) rmSync(work, { recursive: true, force: true });
}

await main();
