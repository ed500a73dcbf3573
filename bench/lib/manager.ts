import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../../pkg/project-files.js';
import { BENCH_IMAGES } from './domains.js';
import { agentCpuMs, helperCpuMs, mainThreadCpuMs, memoryMiB } from './proc.js';
import type { BenchSimHost } from './sim.js';
import { sleep } from './stats.js';

export interface ManagerOptions {
  /** The simulated host (xl, its tools first on PATH); absent: the host's real tools. */
  sim?: BenchSimHost;
  /** Default xl. */
  backend?: 'xl' | 'lxc';
  /** Default the bench's image folder. */
  allowedRoots?: readonly string[];
  prefix: string;
  nodeId: string;
  stateDir: string;
  /** NATS server URLs; default the machine's server, nats://127.0.0.1:4222. */
  natsServers?: readonly string[];
  /** More domainmgr flags, appended last (they win). */
  extraArgs?: readonly string[];
  /** How long it may take to answer /readyz 200; default 30 s. */
  readyTimeoutMs?: number;
  /**
   * What bench/domainmgr-main.ts injects into the service (see there). Without it, domainmgr runs
   * as shipped: bin/domainmgr.js.
   */
  inject?: { eveStyle?: boolean; noSpawn?: boolean; spawnLog?: string };
  logLevel?: string;
  probeIntervalMs?: number;
  restartBackoffInitialMs?: number;
  createConcurrency?: number;
  /** Run node with --cpu-prof, profiles into this folder (written when the manager exits). */
  cpuProfDir?: string;
  /** More node options (e.g. --heapsnapshot-signal=SIGUSR2, --trace-gc) for bench/burst-memory.ts. */
  nodeArgs?: readonly string[];
}

/**
 * domainmgr as a real child process: `node bin/domainmgr.js ...` (or bench/domainmgr-main.js with
 * what the scenario injects) with sim/bin first on PATH.
 */
export interface Manager {
  pid: number;
  port: number;
  logFile: string;
  /** Its CPU time: its own and its spawn helper's (proc.ts agentCpuMs). */
  cpuMs(): number;
  /** The spawn helper's share of cpuMs(). */
  helperCpuMs(): number;
  /** The main thread's share of cpuMs() (the rest is V8's and libuv's threads, and the helper). */
  mainThreadCpuMs(): number;
  memory(): { rss: number; hwm: number };
  /** True once the process has exited. */
  exited(): boolean;
  /** Commands run, by "tool subcommand", from its own /metrics (the runner's observer). */
  commandCounts(): Promise<Record<string, number>>;
  /** V8 heap in use and total, MiB, from its own /metrics (prom-client's nodejs_heap_size_*). */
  heap(): Promise<{ usedMiB: number; totalMiB: number }>;
  stop(): Promise<void>;
}

/** dist/bench, where this module's compiled self lives in dist/bench/lib. */
const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function startManager(o: ManagerOptions): Promise<Manager> {
  mkdirSync(o.stateDir, { recursive: true });
  const port = await freePort();
  const logFile = join(o.stateDir, 'domainmgr.log');
  const out = openSync(logFile, 'a');
  const nodeArgs = [
    ...(o.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`]),
    ...(o.nodeArgs ?? []),
  ];
  const inject = o.inject ?? {};
  const entry =
    o.inject === undefined
      ? [join(projectRoot, 'bin', 'domainmgr.js')]
      : [
          join(benchDir, 'domainmgr-main.js'),
          ...(inject.eveStyle ? ['--eve-style'] : []),
          ...(inject.noSpawn ? ['--no-spawn'] : []),
          ...(inject.spawnLog === undefined ? [] : ['--spawn-log', inject.spawnLog]),
          '--',
        ];
  const args = [
    ...nodeArgs,
    ...entry,
    '--backend',
    o.backend ?? 'xl',
    '--node-id',
    o.nodeId,
    '--prefix',
    o.prefix,
    '--nats',
    (o.natsServers ?? ['nats://127.0.0.1:4222']).join(','),
    '--state-dir',
    o.stateDir,
    '--allowed-roots',
    (o.allowedRoots ?? [BENCH_IMAGES]).join(','),
    '--log-level',
    o.logLevel ?? 'warn',
    '--http-listen',
    `127.0.0.1:${port}`,
    '--probe-interval-ms',
    String(o.probeIntervalMs ?? 5000),
    '--restart-backoff-initial-ms',
    String(o.restartBackoffInitialMs ?? 100),
    ...(o.createConcurrency === undefined ? [] : ['--create-concurrency', String(o.createConcurrency)]),
    ...(o.extraArgs ?? []),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    env: o.sim?.env ?? process.env,
    stdio: ['ignore', out, out],
  });
  const pid = child.pid as number;
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const base = `http://127.0.0.1:${port}`;
  const readyTimeoutMs = o.readyTimeoutMs ?? 30_000;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited) throw new Error(`domainmgr exited at start; see ${logFile}`);
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`domainmgr not ready after ${readyTimeoutMs / 1000} s; see ${logFile}`);
    }
    await sleep(50);
  }
  return {
    pid,
    port,
    logFile,
    cpuMs: () => agentCpuMs(pid),
    helperCpuMs: () => helperCpuMs(pid),
    mainThreadCpuMs: () => mainThreadCpuMs(pid),
    memory: () => memoryMiB(pid),
    exited: () => exited,
    async commandCounts() {
      const text = await (await fetch(`${base}/metrics`)).text();
      const counts: Record<string, number> = {};
      const re = /^domainmgr_command_duration_seconds_count\{([^}]*)\} (\d+)/gm;
      for (const m of text.matchAll(re)) {
        const labels = Object.fromEntries(
          [...(m[1] as string).matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
        );
        counts[`${labels.tool} ${labels.subcommand}`] = Number(m[2]);
      }
      return counts;
    },
    async heap() {
      const text = await (await fetch(`${base}/metrics`)).text();
      const get = (name: string): number =>
        Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
      return { usedMiB: get('nodejs_heap_size_used_bytes'), totalMiB: get('nodejs_heap_size_total_bytes') };
    },
    async stop() {
      if (exited) return;
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await done;
      clearTimeout(t);
    },
  };
}

/** b - a per key (keys of b). */
export function diffCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

export function sumCounts(c: Record<string, number>): number {
  return Object.values(c).reduce((a, b) => a + b, 0);
}
