/**
 * The lxc backend on this host's real LXC 5 (root), against the real nats-server:
 *
 *   npm run bench:lxc [-- --count N] [--crashes M]      (defaults 100 and 20)
 *
 * 1. floor: the same per-container sequence domainmgr runs (its folder, config from the same
 *    writer, mark, then `lxc-start -d -o start.log -l INFO`) from a bare script with Node's
 *    child_process, N containers at domainmgr's create concurrency; the clock stops when every
 *    lxc-start returned (it returns once the container is RUNNING).
 * 2. domainmgr --backend lxc as shipped (bin/domainmgr.js): N configs published at once, the
 *    clock stops at the last RUNNING status; spawns per create from its own /metrics.
 * 3. crash to status: M of those containers, one at a time, each at a random moment (0-2 s after
 *    the last), their init SIGKILLed from here; the latency is from just before the kill to the
 *    BROKEN status stored by the stream. The probe interval is 60 s, so the lxc-monitor feed is
 *    what reports them; it answers each with an `lxc-info` of the changed container. Also timed:
 *    one `lxc-ls -f` of all N (the full listing, the slow resync) and one `lxc-info` of one.
 *
 * Prints a table and writes bench/results/lxc-<time>.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { renderLxcConfig, vethNameFor } from '../pkg/hypervisor/lxc-config.js';
import { projectRoot } from '../pkg/project-files.js';
import { toDomainSpec } from '../pkg/schema/domain-spec.js';
import type { DomainConfig } from '../types/generated/domain-config.js';
import { BenchBus, until } from './lib/bus.js';
import { diffCounts, type Manager, startManager, sumCounts } from './lib/manager.js';
import { load } from './lib/proc.js';
import { nowMs, percentile, printTable, round, sleep } from './lib/stats.js';

const BRIDGE = 'dmlxcbr0';
/** domainmgr's default create concurrency, used by the floor too. */
const CONCURRENCY = 4;

const { values } = parseArgs({
  options: { count: { type: 'string', default: '100' }, crashes: { type: 'string', default: '20' } },
});
const count = Number(values.count);
const crashes = Math.min(Number(values.crashes), count);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(crashes) || crashes < 0)
  throw new Error('bench:lxc: --count and --crashes take whole numbers (count at least 1)');

function sh(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(file, args, { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${file} exited ${code}: ${err}`)),
    );
  });
}

/** Runs `work` over items with at most `n` at a time. */
async function pool<T>(items: readonly T[], n: number, work: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

function containerConfig(image: string): DomainConfig {
  const uuid = randomUUID();
  return {
    uuid,
    name: `bench-${uuid.slice(0, 8)}`,
    generation: 1,
    activate: true,
    type: 'container',
    image,
    memoryMiB: 32,
    vifs: [{ bridge: BRIDGE }],
    restartPolicy: 'never',
  };
}

/** Kills and removes every container of a container path (what LXC leaves is cleaned by the path's removal). */
async function removeAll(path: string, uuids: readonly string[]): Promise<void> {
  await pool(uuids, CONCURRENCY, async (u) => {
    spawnSync('lxc-stop', ['-P', path, '-n', u, '-k'], { stdio: 'ignore' });
  });
  rmSync(path, { recursive: true, force: true });
}

async function floor(image: string, root: string): Promise<{ ms: number; spawnsPerCreate: number }> {
  const path = join(root, 'floor-lxc');
  const cgroup = existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes') ? 'v1' : 'v2';
  const docs = Array.from({ length: count }, () => containerConfig(image));
  const t0 = nowMs();
  await pool(docs, CONCURRENCY, async (d) => {
    const spec = toDomainSpec(d);
    const dir = join(path, d.uuid);
    mkdirSync(join(dir, 'delta'), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'domainmgr-mark'), 'started\n');
    const text = renderLxcConfig({
      spec,
      rootfs: `overlay:${image}:${join(dir, 'delta')}`,
      cgroup,
      vethNames: spec.vifs.map((_, i) => vethNameFor(d.uuid, i)),
      mounts: [],
    });
    writeFileSync(join(dir, 'config'), text, { mode: 0o600 });
    await run('lxc-start', ['-P', path, '-n', d.uuid, '-d', '-o', join(dir, 'start.log'), '-l', 'INFO']);
  });
  const ms = nowMs() - t0;
  await removeAll(
    path,
    docs.map((d) => d.uuid),
  );
  return { ms, spawnsPerCreate: 1 };
}

interface DomainmgrFigures {
  createMs: number;
  spawnsPerCreate: number;
  commands: Record<string, number>;
  /** One `lxc-ls -f` of the path with every container running, from here. */
  listingMs: number;
  /** One `lxc-info -s -p` of one running container, from here: what a monitor event costs. */
  infoMs: number;
  crashToStatusMs: number[];
}

async function withDomainmgr(image: string, imagesRoot: string, root: string): Promise<DomainmgrFigures> {
  const stateDir = join(root, 'domainmgr-state');
  const tag = `b${randomUUID().slice(0, 8)}`;
  const bus = await BenchBus.connect(tag, `node-${tag}`);
  let manager: Manager | null = null;
  const docs = Array.from({ length: count }, () => containerConfig(image));
  try {
    manager = await startManager({
      prefix: tag,
      nodeId: `node-${tag}`,
      stateDir,
      backend: 'lxc',
      allowedRoots: [imagesRoot],
      probeIntervalMs: 60_000,
      createConcurrency: CONCURRENCY,
    });
    await bus.watch();
    const last = new Map<string, { state: string; storedMs: number }>();
    bus.onStatus((e) => last.set(e.uuid, { state: e.status.state, storedMs: e.storedMs }));
    const before = await manager.commandCounts();
    const t0 = nowMs();
    await Promise.all(docs.map((d) => bus.publish(d)));
    await until(
      bus,
      () => docs.every((d) => last.get(d.uuid)?.state === 'RUNNING'),
      30 * 60_000,
      `${count} containers RUNNING`,
    );
    const createMs = Math.max(...docs.map((d) => last.get(d.uuid)?.storedMs ?? 0)) - t0;
    const commands = diffCounts(before, await manager.commandCounts());

    const listStarted = nowMs();
    sh('lxc-ls', ['-P', join(stateDir, 'lxc'), '-f', '-F', 'NAME,STATE,PID']);
    const listingMs = nowMs() - listStarted;
    const infoStarted = nowMs();
    sh('lxc-info', ['-P', join(stateDir, 'lxc'), '-n', docs[0]?.uuid ?? '', '-s', '-p']);
    const infoMs = nowMs() - infoStarted;

    const crashToStatusMs: number[] = [];
    for (const d of docs.slice(0, crashes)) {
      // At a random moment, not right after the last status (and so the last listing): the
      // engine spaces full listings by four times the last one's duration (a named change
      // lists its container alone, which that gap does not hold up).
      await sleep(Math.random() * 2000);
      const pid = Number(sh('lxc-info', ['-P', join(stateDir, 'lxc'), '-n', d.uuid, '-p', '-H']).trim());
      const killedAt = nowMs();
      process.kill(pid, 'SIGKILL');
      await until(bus, () => last.get(d.uuid)?.state === 'BROKEN', 60_000, `BROKEN for ${d.uuid}`);
      crashToStatusMs.push((last.get(d.uuid)?.storedMs ?? Number.NaN) - killedAt);
    }
    return {
      createMs,
      spawnsPerCreate: sumCounts(commands) / count,
      commands,
      listingMs,
      infoMs,
      crashToStatusMs,
    };
  } finally {
    await Promise.all(docs.map((d) => bus.publishDelete(d.uuid)));
    await manager?.stop();
    await removeAll(
      join(stateDir, 'lxc'),
      docs.map((d) => d.uuid),
    );
    await bus.close();
  }
}

sh('bash', [join(projectRoot, 'scripts/lxc/setup.sh')], { ...process.env, DOMAINMGR_LXC_BRIDGES: BRIDGE });
const root = mkdtempSync(join(tmpdir(), 'domainmgr-bench-lxc-'));
try {
  const imagesRoot = join(root, 'images');
  mkdirSync(imagesRoot);
  const image = join(imagesRoot, 'busybox');
  sh('bash', [join(projectRoot, 'scripts/lxc/build-rootfs.sh'), image]);
  const loadBefore = load();
  console.log(
    `bench:lxc: ${count} containers, ${crashes} crashes, ${cpus().length} cpus, load ${loadBefore}`,
  );
  const bare = await floor(image, root);
  const dm = await withDomainmgr(image, imagesRoot, root);
  const p50 = percentile(dm.crashToStatusMs, 50);
  const p99 = percentile(dm.crashToStatusMs, 99);
  printTable(
    `lxc: ${count} containers to RUNNING (create concurrency ${CONCURRENCY})`,
    ['', 'ms', 'ms per create', 'spawns per create'],
    [
      ['floor (bare script)', round(bare.ms, 0), round(bare.ms / count, 1), bare.spawnsPerCreate],
      ['domainmgr', round(dm.createMs, 0), round(dm.createMs / count, 1), round(dm.spawnsPerCreate, 2)],
      ['domainmgr / floor', round(dm.createMs / bare.ms, 2), '', ''],
    ],
  );
  printTable(
    `lxc: crash to BROKEN status, ${crashes} crashes at random moments (probe interval 60 s)`,
    ['', 'p50 ms', 'p99 ms', 'max ms'],
    [
      [
        'SIGKILL of the init -> status stored',
        round(p50, 0),
        round(p99, 0),
        round(Math.max(...dm.crashToStatusMs), 0),
      ],
    ],
  );
  console.log(`one lxc-ls -f of ${count} running containers: ${round(dm.listingMs, 0)} ms`);
  console.log(`one lxc-info -s -p of one of them: ${round(dm.infoMs, 1)} ms`);
  const loadAfter = load();
  console.log(`load at the end: ${loadAfter}`);
  console.log('\ncommands during the creates:', dm.commands);
  const results = join(projectRoot, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  const file = join(results, `lxc-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ count, crashes, concurrency: CONCURRENCY, cpus: cpus().length, load: { before: loadBefore, after: loadAfter }, floor: bare, domainmgr: dm, crashToStatus: { p50, p99, max: Math.max(...dm.crashToStatusMs) } }, null, 2)}\n`,
  );
  console.log(`\nwrote ${file}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
