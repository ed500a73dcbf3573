/**
 * Where domainmgr's memory goes during a burst of creates (a diagnostic, not a benchmark figure):
 * N DomainConfigs published at once, domainmgr's RSS (anon and file) sampled from /proc every
 * 50 ms until all are RUNNING and for a while after, with its CPU time. Optional node options
 * go to domainmgr (e.g. --trace-gc, whose lines land in its log file; or
 * --heapsnapshot-signal=SIGUSR2 with --snapshot-at MS to write a heap snapshot that long after
 * the publish, into the work folder).
 *
 *   npm run build:bench && node dist/bench/burst-memory.js --domains 1000 [--node-args "--trace-gc"]
 *       [--snapshot-at 3000] [--snapshot-at-end SECONDS-TO-WAIT] [--settle-s 10] [--keep]
 *
 * The work folder (domainmgr's state and log) is removed at the end unless --keep.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchBus, until } from './lib/bus.js';
import { benchDomains } from './lib/domains.js';
import { startManager } from './lib/manager.js';
import { load } from './lib/proc.js';
import { freshSimHost } from './lib/sim.js';
import { nowMs, sleep } from './lib/stats.js';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}
const DOMAINS = Number(flag('domains') ?? 1000);
const NODE_ARGS = (flag('node-args') ?? '').split(' ').filter((a) => a !== '');
const SNAPSHOT_AT = flag('snapshot-at') === undefined ? null : Number(flag('snapshot-at'));
const SETTLE_S = Number(flag('settle-s') ?? 10);

process.env.DOMAINMGR_SIM_PERSIST_MS = '200';

function procMem(pid: number): {
  rss: number;
  anon: number;
  file: number;
  hwm: number;
  cpu: number;
  minflt: number;
} {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    rss: kb('VmRSS'),
    anon: kb('RssAnon'),
    file: kb('RssFile'),
    hwm: kb('VmHWM'),
    cpu: (Number(f[11]) + Number(f[12])) * 10,
    // field 10 (minflt): minor page faults, most of them first writes to pages fork() shared
    minflt: Number(f[7]),
  };
}

const tag = randomBytes(3).toString('hex');
const work = mkdtempSync(join(tmpdir(), 'domainmgr-burst-'));
const sim = freshSimHost('burst');
const prefix = `bench_burst_${tag}`;
const bus = await BenchBus.connect(prefix, 'node1');
sim.simctl('ping');
const m = await startManager({
  sim,
  prefix,
  nodeId: 'node1',
  stateDir: join(work, 'state'),
  createConcurrency: 8,
  nodeArgs: NODE_ARGS,
});
await bus.watch();
const running = new Set<string>();
bus.onStatus((e) => {
  if (e.status.state === 'RUNNING') running.add(e.uuid);
});
await sleep(2000);
const base = procMem(m.pid);
console.log(`work ${work}; log ${m.logFile}; load ${load()}`);
console.log(
  `before: rss ${base.rss.toFixed(1)} anon ${base.anon.toFixed(1)} file ${base.file.toFixed(1)} MiB`,
);
const samples: { t: number; rss: number; anon: number; cpu: number; running: number }[] = [];
const t0 = nowMs();
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    const p = procMem(m.pid);
    samples.push({ t: nowMs() - t0, rss: p.rss, anon: p.anon, cpu: p.cpu - base.cpu, running: running.size });
    await sleep(50);
  }
})();
if (SNAPSHOT_AT !== null)
  setTimeout(() => {
    process.kill(m.pid, 'SIGUSR2');
    console.log(`heap snapshot requested at ${SNAPSHOT_AT} ms (written into domainmgr's cwd)`);
  }, SNAPSHOT_AT);
await Promise.all(benchDomains(DOMAINS, tag).map((d) => bus.publish(d)));
const published = nowMs() - t0;
await until(bus, () => running.size >= DOMAINS, 600_000, `${DOMAINS} RUNNING`);
const allRunning = nowMs() - t0;
await sleep(SETTLE_S * 1000);
if (flag('snapshot-at-end') !== undefined) {
  process.kill(m.pid, 'SIGUSR2');
  console.log('heap snapshot requested at the end (needs --heapsnapshot-signal=SIGUSR2)');
  await sleep(Number(flag('snapshot-at-end')) * 1000);
}
sampling = false;
await sampler;
const end = procMem(m.pid);
for (let i = 0; i < samples.length; i += Math.max(1, Math.floor(samples.length / 60))) {
  const s = samples[i] as (typeof samples)[number];
  console.log(
    `${(s.t / 1000).toFixed(2).padStart(6)} s  rss ${s.rss.toFixed(1).padStart(6)}  anon ${s.anon.toFixed(1).padStart(6)} MiB  cpu ${String(s.cpu).padStart(6)} ms  running ${s.running}`,
  );
}
console.log(
  `published in ${(published / 1000).toFixed(2)} s, all RUNNING at ${(allRunning / 1000).toFixed(2)} s; ` +
    `peak RSS ${end.hwm.toFixed(1)} MiB, max anon sampled ${Math.max(...samples.map((s) => s.anon)).toFixed(1)} MiB, ` +
    `RSS after ${SETTLE_S} s ${end.rss.toFixed(1)} MiB; CPU ${end.cpu - base.cpu} ms; ` +
    `minor faults ${end.minflt - base.minflt}; load ${load()}`,
);
await m.stop();
await bus.close();
sim.stop();
if (process.argv.includes('--keep')) console.log(`kept ${work}`);
else rmSync(work, { recursive: true, force: true });
