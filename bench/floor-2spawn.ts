/**
 * The 2-spawn floor of issue 19: the bare create sequence from a script, with no NATS and no
 * manager, on a fresh simulated host, once the old way and once the new way, same domains, same
 * cfg files, same concurrency:
 *
 * - 4 spawns: `xl create -p`, `xl domid`, one `xenstore-write` with every offload key, `xl unpause`;
 * - 2 spawns: `xl create -p`, then over one xenstored socket connection (pkg/xenstore) the domid
 *   by name and the offload keys of every vif in one transaction (with the guest's name read in
 *   the same transaction, so a domid that changed hands conflicts), then `xl unpause`.
 *
 *   npm run build && node dist/bench/floor-2spawn.js [--domains 200] [--vifs 2] [--concurrency 8]
 *       [--rounds 1] [--runner ExecRunner|child_process.spawn]
 *
 * Prints a table (wall time, spawns per create, xenstored requests per create, parent CPU) and
 * the 2-spawn / 4-spawn ratios, and writes the JSON to bench/results/. Not part of `npm run bench`
 * (bench/run.ts) yet: issue 19's targets compare domainmgr against this floor once the xl backend
 * uses the client.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OFFLOAD_KEYS } from '../pkg/hypervisor/xl-tool.js';
import { silentLogger } from '../pkg/log/logger.js';
import { projectRoot } from '../pkg/project-files.js';
import { ExecRunner } from '../pkg/runner/exec-runner.js';
import { XenstoreClient, type XenstoreOps } from '../pkg/xenstore/mod.js';
import type { DomainConfig } from '../types/generated/domain-config.js';
import { childProcessRun, writeCfgs } from './floor.js';
import { benchDomains } from './lib/domains.js';
import { load, machineBusyPct, machineCpuMs } from './lib/proc.js';
import { freshSimHost } from './lib/sim.js';
import { printTable, round } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    domains: { type: 'string', default: '200' },
    vifs: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '1' },
    runner: { type: 'string', default: 'ExecRunner' },
  },
});

function wholeNumber(name: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`floor-2spawn: --${name} must be a whole number >= ${min}`);
  return n;
}
const DOMAINS = wholeNumber('domains', values.domains, 1);
const VIFS = wholeNumber('vifs', values.vifs, 0);
const CONCURRENCY = wholeNumber('concurrency', values.concurrency, 1);
const ROUNDS = wholeNumber('rounds', values.rounds, 1);
const RUNNER = values.runner;
if (RUNNER !== 'ExecRunner' && RUNNER !== 'child_process.spawn')
  throw new Error('floor-2spawn: --runner is ExecRunner or child_process.spawn');

type Run = (file: string, args: string[]) => Promise<string>;

function makeRun(): Run {
  if (RUNNER === 'child_process.spawn') return childProcessRun;
  const runner = new ExecRunner({ logger: silentLogger, defaultTimeoutMs: 30_000, killGraceMs: 2_000 });
  return async (file, args) => (await runner.run([file, ...args])).stdout;
}

type Sequence = '4 spawns' | '2 spawns + xenstored socket';

interface Result {
  sequence: Sequence;
  round: number;
  domains: number;
  vifs: number;
  concurrency: number;
  wallMs: number;
  spawns: number;
  xenstoredRequests: number;
  parentCpuMs: number;
  /** The whole machine's busy share while it ran, % of all cpus. */
  machineBusyPct: number;
  load: string;
}

/**
 * Domids by name, learnt by reading `/local/domain/<id>/name` upward from the highest id seen: Xen
 * hands out domids in increasing order, so each create costs about one READ (plus the ENOENT that
 * ends a scan), where listing /local/domain would grow with the host (and is E2BIG beyond ~800
 * domains). Enough for this floor, where every create succeeds and is atomic; a backend must also
 * step over the gaps failed creates leave and creates still in progress on a real host.
 */
class DomidsByName {
  #next = 1;
  readonly #known = new Map<string, number>();
  #scan: Promise<void> | null = null;

  async find(xs: XenstoreOps, name: string): Promise<number> {
    for (let pass = 0; pass < 2; pass++) {
      const known = this.#known.get(name);
      if (known !== undefined) return known;
      this.#scan ??= this.#scanUp(xs).finally(() => {
        this.#scan = null;
      });
      await this.#scan;
    }
    const known = this.#known.get(name);
    if (known === undefined) throw new Error(`no domain named ${name} in xenstore after xl create`);
    return known;
  }

  async #scanUp(xs: XenstoreOps): Promise<void> {
    const WINDOW = 4;
    for (;;) {
      const ids = Array.from({ length: WINDOW }, (_, i) => this.#next + i);
      const names = await Promise.all(ids.map((id) => xs.tryRead(`/local/domain/${id}/name`)));
      let found = false;
      names.forEach((n, i) => {
        if (n === undefined) return;
        this.#known.set(n, ids[i] as number);
        this.#next = Math.max(this.#next, (ids[i] as number) + 1);
        found = true;
      });
      if (!found) return;
    }
  }
}

async function measure(
  sequence: Sequence,
  round: number,
  domains: DomainConfig[],
  cfgs: Map<string, string>,
): Promise<Result> {
  const sim = freshSimHost('floor2');
  const saved = { PATH: process.env.PATH, DOMAINMGR_SIM_DIR: process.env.DOMAINMGR_SIM_DIR };
  process.env.PATH = sim.env.PATH;
  process.env.DOMAINMGR_SIM_DIR = sim.env.DOMAINMGR_SIM_DIR;
  let xs: XenstoreClient | null = null;
  try {
    sim.simctl('ping');
    const run = makeRun();
    for (let i = 0; i < 20; i++) await run('xl', ['list']);
    if (sequence !== '4 spawns') {
      xs = await XenstoreClient.connect({ socketPath: join(sim.dir, 'xenstored', 'socket') });
      for (let i = 0; i < 20; i++) await xs.read('/local/domain/0/name').catch(() => undefined);
    }
    const client = xs;
    const domids = new DomidsByName();
    const offloadPaths = (domid: number): string[] =>
      Array.from({ length: VIFS }, (_, devid) =>
        OFFLOAD_KEYS.map((k) => `/local/domain/0/backend/vif/${domid}/${devid}/${k}`),
      ).flat();
    let spawns = 0;
    const one = async (d: DomainConfig): Promise<void> => {
      await run('xl', ['create', '-p', cfgs.get(d.uuid) as string]);
      if (client === null) {
        const domid = Number((await run('xl', ['domid', d.name])).trim());
        if (VIFS > 0)
          await run(
            'xenstore-write',
            offloadPaths(domid).flatMap((p) => [p, '0']),
          );
        spawns += VIFS > 0 ? 4 : 3;
      } else {
        const domid = await domids.find(client, d.name);
        await client.transaction(async (tx) => {
          const [name] = await Promise.all([
            tx.read(`/local/domain/${domid}/name`),
            ...offloadPaths(domid).map((p) => tx.write(p, '0')),
          ]);
          if (name !== d.name) throw new Error(`domid ${domid} is ${name} now, not ${d.name}`);
        });
        spawns += 2;
      }
      await run('xl', ['unpause', d.name]);
    };
    let next = 0;
    const cpu0 = process.cpuUsage();
    const machine0 = machineCpuMs();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < domains.length) await one(domains[next++] as DomainConfig);
      }),
    );
    const wallMs = performance.now() - t0;
    const busyPct = machineBusyPct(machine0);
    const cpu = process.cpuUsage(cpu0);
    const calls = JSON.parse(sim.simctl('calls')) as Record<string, number>;
    const warmup = sequence === '4 spawns' ? 0 : 20;
    const xenstoredRequests =
      Object.entries(calls)
        .filter(([k]) => k.startsWith('xenstored '))
        .reduce((a, [, n]) => a + n, 0) - warmup;
    // Every guest unpaused: no `p` in the state column of xl list (Domain-0 aside).
    const rows = (await run('xl', ['list'])).trimEnd().split('\n').slice(2);
    const running = rows.filter((r) => !r.slice(40).trim().split(/\s+/)[3]?.includes('p')).length;
    if (running !== domains.length) throw new Error(`${running} of ${domains.length} domains unpaused`);
    return {
      sequence,
      round,
      domains: domains.length,
      vifs: VIFS,
      concurrency: CONCURRENCY,
      wallMs,
      spawns,
      xenstoredRequests,
      parentCpuMs: (cpu.user + cpu.system) / 1000,
      machineBusyPct: busyPct,
      load: load(),
    };
  } finally {
    await xs?.close();
    process.env.PATH = saved.PATH;
    if (saved.DOMAINMGR_SIM_DIR === undefined) delete process.env.DOMAINMGR_SIM_DIR;
    else process.env.DOMAINMGR_SIM_DIR = saved.DOMAINMGR_SIM_DIR;
    sim.stop();
  }
}

const work = mkdtempSync(join(tmpdir(), 'domainmgr-floor2-'));
try {
  const domains = benchDomains(DOMAINS, 'f2').map((d) => ({
    ...d,
    vifs: Array.from({ length: VIFS }, (_, i) => ({ bridge: `xenbr${i}` })),
  }));
  const cfgs = writeCfgs(domains, join(work, 'cfg'));
  const results: Result[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    // Alternating order, so that neither sequence always runs on the warmer machine.
    const order: Sequence[] =
      r % 2 === 1 ? ['4 spawns', '2 spawns + xenstored socket'] : ['2 spawns + xenstored socket', '4 spawns'];
    for (const s of order) {
      console.error(
        `round ${r}/${ROUNDS}: ${s}, ${DOMAINS} domains x ${VIFS} vifs, concurrency ${CONCURRENCY}`,
      );
      results.push(await measure(s, r, domains, cfgs));
    }
  }
  printTable(
    `Create floor, ${RUNNER}, ${DOMAINS} domains x ${VIFS} vifs, concurrency ${CONCURRENCY}`,
    [
      'sequence',
      'round',
      'wall ms',
      'spawns/create',
      'xenstored req/create',
      'parent CPU ms',
      'CPU ms/create',
      'load',
    ],
    results.map((x) => [
      x.sequence,
      x.round,
      round(x.wallMs, 0),
      round(x.spawns / x.domains, 2),
      round(x.xenstoredRequests / x.domains, 2),
      round(x.parentCpuMs, 0),
      round(x.parentCpuMs / x.domains, 2),
      x.load,
    ]),
  );
  const ratios: { round: number; wall: number; cpu: number }[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const four = results.find((x) => x.round === r && x.sequence === '4 spawns') as Result;
    const two = results.find((x) => x.round === r && x.sequence !== '4 spawns') as Result;
    ratios.push({ round: r, wall: two.wallMs / four.wallMs, cpu: two.parentCpuMs / four.parentCpuMs });
  }
  printTable(
    '2-spawn / 4-spawn',
    ['round', 'wall ratio', 'parent CPU ratio'],
    ratios.map((x) => [x.round, round(x.wall, 2), round(x.cpu, 2)]),
  );
  const outDir = join(projectRoot, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `floor-2spawn-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
  };
  writeFileSync(file, `${JSON.stringify({ ...meta, runner: RUNNER, results, ratios }, null, 2)}\n`);
  console.log(`\nwritten to ${file}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
