/**
 * The floor: the bare command sequence of a create (xl create -p, xl domid, one xenstore-write,
 * xl unpause), per domain, from a plain script with no NATS and no manager, on a fresh simulated
 * host, with the same xl.cfg files and the same concurrency as domainmgr. Measured once per way of
 * spawning: Node's child_process.spawn, execa 9 with its defaults, execa 9 with the two options the
 * issue names, and domainmgr's own ExecRunner (execa with the runner's options).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { renderXlConfig } from '../pkg/hypervisor/xl-config.js';
import { OFFLOAD_KEYS } from '../pkg/hypervisor/xl-tool.js';
import { silentLogger } from '../pkg/log/logger.js';
import { ExecRunner } from '../pkg/runner/exec-runner.js';
import { toDomainSpec } from '../pkg/schema/domain-spec.js';
import type { DomainConfig } from '../types/generated/domain-config.js';
import { machineBusyPct, machineCpuMs, mainThreadCpuMs } from './lib/proc.js';
import { freshSimHost } from './lib/sim.js';
import { SimDirectRunner } from './lib/sim-direct-runner.js';

export type SpawnMode =
  | 'child_process.spawn'
  | 'execa (defaults)'
  | 'execa (stdin ignore, reject false)'
  | 'ExecRunner';
/**
 * Not a way of spawning: each command goes to the simulated host's daemon over a socket
 * (bench/lib/sim-direct-runner.ts). Its CPU per command is what domainmgr's "no spawns" run pays
 * per command instead of a spawn, and is subtracted from that run.
 */
export const SIM_DIRECT = 'sim-direct (no spawn)';
export type FloorMode = SpawnMode | typeof SIM_DIRECT;
export const SPAWN_MODES: readonly SpawnMode[] = [
  'child_process.spawn',
  'execa (defaults)',
  'execa (stdin ignore, reject false)',
  'ExecRunner',
];
export const FLOOR_MODES: readonly FloorMode[] = [...SPAWN_MODES, SIM_DIRECT];

type Run = (file: string, args: string[]) => Promise<string>;

/** The bare way: Node's child_process.spawn, stdout collected, stderr drained. */
export const childProcessRun: Run = (file, args) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${file} ${args.join(' ')} exited ${code}`)),
    );
  });

/** Every way spawns with the inherited environment, as domainmgr's backends do. */
function runnerFor(mode: FloorMode): Run {
  switch (mode) {
    case SIM_DIRECT: {
      const runner = new SimDirectRunner(process.env.DOMAINMGR_SIM_DIR as string);
      return async (file, args) => (await runner.run([file, ...args])).stdout;
    }
    case 'child_process.spawn':
      return childProcessRun;
    case 'execa (defaults)':
      return async (file, args) => (await execa(file, args)).stdout;
    case 'execa (stdin ignore, reject false)':
      return async (file, args) => {
        const r = await execa(file, args, { stdin: 'ignore', reject: false });
        if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.exitCode}`);
        return r.stdout;
      };
    case 'ExecRunner': {
      const runner = new ExecRunner({ logger: silentLogger, defaultTimeoutMs: 30_000, killGraceMs: 2_000 });
      return async (file, args) => (await runner.run([file, ...args])).stdout;
    }
  }
}

export interface FloorResult {
  mode: FloorMode;
  domains: number;
  concurrency: number;
  wallMs: number;
  spawns: number;
  parentCpuMs: number;
  /** The main thread's share of parentCpuMs (the rest is V8's compiler and GC threads). */
  mainThreadCpuMs: number;
  cpuPerSpawnMs: number;
  /** The whole machine's busy share while it ran, % of all cpus (proc.ts machineBusyPct). */
  machineBusyPct: number;
}

/**
 * One floor measurement in a fresh process of its own (bench/floor-main.ts): `domainsFile` holds
 * the domains as JSON, `cfgDir` their cfg files (writeCfgs).
 */
export function runFloorProcess(
  mode: FloorMode,
  domainsFile: string,
  cfgDir: string,
  concurrency: number,
): Promise<FloorResult> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'floor-main.js');
  const args = [script, '--mode', mode, '--domains-file', domainsFile, '--cfg-dir', cfgDir];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args, '--concurrency', String(concurrency)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`floor (${mode}) exited with ${code}`));
      else resolve(JSON.parse(out) as FloorResult);
    });
  });
}

/** Writes the cfg files domainmgr would write for these domains; returns their paths by uuid. */
export function writeCfgs(domains: readonly DomainConfig[], dir: string): Map<string, string> {
  mkdirSync(dir, { recursive: true });
  const out = new Map<string, string>();
  for (const d of domains) {
    const path = join(dir, `${d.uuid}.cfg`);
    writeFileSync(path, renderXlConfig(toDomainSpec(d)));
    out.set(d.uuid, path);
  }
  return out;
}

export async function runFloor(
  mode: FloorMode,
  domains: readonly DomainConfig[],
  cfgs: Map<string, string>,
  concurrency: number,
): Promise<FloorResult> {
  const sim = freshSimHost('floor');
  const saved = { PATH: process.env.PATH, DOMAINMGR_SIM_DIR: process.env.DOMAINMGR_SIM_DIR };
  process.env.PATH = sim.env.PATH;
  process.env.DOMAINMGR_SIM_DIR = sim.env.DOMAINMGR_SIM_DIR;
  try {
    sim.simctl('ping');
    const run = runnerFor(mode);
    // Warm up the spawn path (and the daemon) outside the measurement.
    for (let i = 0; i < 20; i++) await run('xl', ['list']);
    let spawns = 0;
    const one = async (d: DomainConfig): Promise<void> => {
      await run('xl', ['create', '-p', cfgs.get(d.uuid) as string]);
      const domid = Number((await run('xl', ['domid', d.name])).trim());
      const args: string[] = [];
      for (let devid = 0; devid < (d.vifs?.length ?? 0); devid++) {
        for (const key of OFFLOAD_KEYS)
          args.push(`/local/domain/0/backend/vif/${domid}/${devid}/${key}`, '0');
      }
      await run('xenstore-write', args);
      await run('xl', ['unpause', d.name]);
      spawns += 4;
    };
    let next = 0;
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadCpuMs(process.pid);
    const machine0 = machineCpuMs();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < domains.length) await one(domains[next++] as DomainConfig);
      }),
    );
    const wallMs = performance.now() - t0;
    const busyPct = machineBusyPct(machine0);
    const cpu = process.cpuUsage(cpu0);
    const mainCpuMs = mainThreadCpuMs(process.pid) - main0;
    const parentCpuMs = (cpu.user + cpu.system) / 1000;
    return {
      mode,
      domains: domains.length,
      concurrency,
      wallMs,
      spawns,
      parentCpuMs,
      mainThreadCpuMs: mainCpuMs,
      cpuPerSpawnMs: parentCpuMs / spawns,
      machineBusyPct: busyPct,
    };
  } finally {
    process.env.PATH = saved.PATH;
    if (saved.DOMAINMGR_SIM_DIR === undefined) delete process.env.DOMAINMGR_SIM_DIR;
    else process.env.DOMAINMGR_SIM_DIR = saved.DOMAINMGR_SIM_DIR;
    sim.stop();
  }
}
