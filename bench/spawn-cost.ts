/**
 * Parent CPU per spawn, by way of spawning (a diagnostic behind the runner's options, not a
 * benchmark figure): N calls of one command at concurrency C from this process, with
 * process.cpuUsage() around them, each way in turn, R rounds interleaved so that load changes on
 * a shared machine hit every way alike. --ballast-mib M first allocates and touches M MiB of
 * JavaScript heap, to show how the parent's size changes the cost of fork().
 *
 *   npm run build:bench && node dist/bench/spawn-cost.js [--n 400] [--concurrency 8] [--rounds 3]
 *       [--ballast-mib 0] [--only 'ExecRunner,child_process.spawn'] [--cmd xl-list|true]
 */
import { execa, type Options } from 'execa';
import { silentLogger } from '../pkg/log/logger.js';
import { ExecRunner } from '../pkg/runner/exec-runner.js';
import { childProcessRun } from './floor.js';
import { load } from './lib/proc.js';
import { freshSimHost } from './lib/sim.js';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}
const N = Number(flag('n') ?? 400);
const CONCURRENCY = Number(flag('concurrency') ?? 8);
const ROUNDS = Number(flag('rounds') ?? 3);
const BALLAST_MIB = Number(flag('ballast-mib') ?? 0);
const ONLY = flag('only')?.split(',');
const CMD = flag('cmd') ?? 'xl-list';

type Run = (file: string, args: string[]) => Promise<unknown>;

const execaWith =
  (options: Options): Run =>
  async (file, args) => {
    const r = await execa(file, args, options);
    if (r.exitCode !== 0) throw new Error(`${file} exited ${r.exitCode}`);
  };

const base: Options = {
  reject: false,
  stdin: 'ignore',
  env: process.env,
  extendEnv: false,
  stripFinalNewline: false,
  encoding: 'utf8',
  maxBuffer: 32 * 1024 * 1024,
};

function lean(cleanup: boolean): Run {
  return async (file, args) => {
    const sub = execa(file, args, {
      ...base,
      cleanup,
      buffer: false,
      killSignal: 'SIGTERM',
      forceKillAfterDelay: 2_000,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    sub.stdout?.on('data', (d: Buffer) => out.push(d));
    sub.stderr?.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => sub.kill(), 30_000);
    const r = await sub;
    clearTimeout(timer);
    if (r.exitCode !== 0) throw new Error(`${file} exited ${r.exitCode}`);
    return Buffer.concat(out).toString('utf8');
  };
}

const WAYS: Record<string, Run> = {
  'child_process.spawn': childProcessRun,
  'execa defaults': async (file, args) => (await execa(file, args)).stdout,
  'execa base (no timeout)': execaWith(base),
  'execa base + timeout + forceKill': execaWith({
    ...base,
    timeout: 30_000,
    killSignal: 'SIGTERM',
    forceKillAfterDelay: 2_000,
  }),
  'execa base + cleanup false': execaWith({ ...base, cleanup: false }),
  'execa base + cleanup false + forceKill': execaWith({
    ...base,
    cleanup: false,
    killSignal: 'SIGTERM',
    forceKillAfterDelay: 2_000,
  }),
  'execa base + cleanup false + buffer stderr only': execaWith({
    ...base,
    cleanup: false,
    killSignal: 'SIGTERM',
    forceKillAfterDelay: 2_000,
    encoding: 'buffer',
  }),
  'execa lean: buffer false + cleanup false + own reads': lean(false),
  'execa lean: buffer false + own reads': lean(true),
  ExecRunner: (() => {
    const runner = new ExecRunner({ logger: silentLogger, defaultTimeoutMs: 30_000, killGraceMs: 2_000 });
    return (file: string, args: string[]) => runner.run([file, ...args]);
  })(),
};

const ballast: number[][] = [];
for (let i = 0; i < BALLAST_MIB * 16; i++) ballast.push(Array.from({ length: 8192 }, (_, j) => j + i));

const sim = freshSimHost('spawn-cost');
process.env.PATH = sim.env.PATH;
process.env.DOMAINMGR_SIM_DIR = sim.env.DOMAINMGR_SIM_DIR;
sim.simctl('ping');
const [file, args] = CMD === 'true' ? ['true', []] : ['xl', ['list']];

async function measure(run: Run): Promise<{ cpuMs: number; sysMs: number; wallMs: number; faults: number }> {
  for (let i = 0; i < 10; i++) await run(file, args);
  let left = N;
  const faults0 = process.resourceUsage().minorPageFault;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) await run(file, args);
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return {
    cpuMs: (cpu.user + cpu.system) / 1000 / N,
    sysMs: cpu.system / 1000 / N,
    wallMs: (performance.now() - t0) / N,
    faults: (process.resourceUsage().minorPageFault - faults0) / N,
  };
}

const names = Object.keys(WAYS).filter((k) => ONLY === undefined || ONLY.includes(k));
const results = new Map<string, number[]>(names.map((n) => [n, []]));
const faults = new Map<string, number[]>(names.map((n) => [n, []]));
const sys = new Map<string, number[]>(names.map((n) => [n, []]));
const rss = (): string => (process.memoryUsage().rss / 2 ** 20).toFixed(0);
console.log(
  `${N} x ${file} ${args.join(' ')} at concurrency ${CONCURRENCY}, ${ROUNDS} rounds; ballast ${BALLAST_MIB} MiB, RSS ${rss()} MiB; load ${load()}`,
);
for (let r = 0; r < ROUNDS; r++) {
  for (const name of names) {
    const m = await measure(WAYS[name] as Run);
    results.get(name)?.push(m.cpuMs);
    faults.get(name)?.push(m.faults);
    sys.get(name)?.push(m.sysMs);
  }
}
for (const [name, v] of results) {
  const sorted = [...v].sort((a, b) => a - b);
  console.log(
    `${name.padEnd(50)} CPU ms/spawn median ${(sorted[Math.floor(sorted.length / 2)] as number).toFixed(3)}  all ${v.map((x) => x.toFixed(3)).join(' ')}; of it system ${(sys.get(name) ?? []).map((x) => x.toFixed(3)).join(' ')}; minor faults/spawn ${(faults.get(name) ?? []).map((x) => x.toFixed(0)).join(' ')}`,
  );
}
console.log(`RSS ${rss()} MiB; load ${load()}; ballast length ${ballast.length}`);
sim.stop();
