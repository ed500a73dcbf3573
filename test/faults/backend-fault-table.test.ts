/**
 * Every command the xl backend runs, failing every way the simulator can make it fail (issue 20
 * item 2). The real engine (pkg/reconcile) drives the real xl backend, which spawns the simulated
 * tools (sim/bin) through the real ExecRunner; statuses go to memory. For each (command, fault):
 * the domain ends in a defined state with an error naming the command, nothing half-built stays
 * on the host while it fails, and once the fault is gone the next attempt converges.
 *
 * Faults are aimed at one case's domain (`simctl fault add --match NAME`), so the cases run side
 * by side; the commands that name no domain (xl list, xl info, and xl domid / xenstore-write,
 * which only the engine without xenstored's socket runs) run one at a time after them.
 *
 * Needs `npm run build` (the simulator daemon runs from dist/).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../pkg/clock.js';
import { createHypervisor } from '../../pkg/hypervisor/registry.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { Engine } from '../../pkg/reconcile/engine.js';
import { FileLedger } from '../../pkg/reconcile/ledger.js';
import { ExecRunner } from '../../pkg/runner/exec-runner.js';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import { testConfig } from '../support/backend-fixtures.js';
import { FixedConnection, MemoryStatusSink } from '../support/memory-ports.js';
import { type SimHostHandle, startSimHost } from '../support/sim-host.js';

const PCI = Array.from({ length: 12 }, (_, i) => `0000:1${i.toString(16)}:00.0`);
const DEADLINE_MS = 60_000;

type FaultKind = 'exit' | 'hang' | 'garbage' | 'after-n' | 'no-effect' | 'vanish';
const FAULTS: readonly FaultKind[] = ['exit', 'hang', 'garbage', 'after-n', 'no-effect', 'vanish'];

/** One engine (with or without xenstored's socket) on the shared simulated host. */
interface Node {
  engine: Engine;
  sink: MemoryStatusSink;
  stateDir: string;
  seq: number;
}

let host: SimHostHandle;
let images: string;
const saved = { PATH: process.env.PATH, DOMAINMGR_SIM_DIR: process.env.DOMAINMGR_SIM_DIR };
let native: Node;
let fallback: Node;
let serial = 0;

function engineConfig(stateDir: string, xenstored: boolean): DomainmgrConfig {
  const bin = (tool: string) => join(host.binDir, tool);
  return testConfig({
    nodeId: 'fault-table',
    stateDir,
    storage: { allowedRoots: [images] },
    tools: {
      xl: bin('xl'),
      xenstoreWrite: bin('xenstore-write'),
      rkt: bin('rkt'),
      vmadm: bin('vmadm'),
      lxcDir: '',
      xenstoredSocket: xenstored ? join(host.dir, 'xenstored', 'socket') : join(host.dir, 'no-xenstored'),
    },
    probeIntervalMs: 250,
    // A vanished domain is gone after half a second, not the 30 s a reboot under xl's monitor may take.
    rebuildGraceMs: 500,
    probeJitter: 0,
    nodeStatusIntervalMs: 60_000,
    // A hang is cut off after 2 s (a loaded machine's good calls finish well within it); a
    // failed create is retried after 0.2, 0.4, 0.8, 1 s.
    timeouts: { commandMs: 2000, createMs: 3000, killGraceMs: 200 },
    shutdownGraceMs: 1500,
    createConcurrency: 16,
    restartBackoff: { initialMs: 200, maxMs: 1000 },
    // Both engines see the other's domains: neither may take them for orphans to destroy.
    orphanPolicy: 'keep',
  });
}

async function startNode(xenstored: boolean): Promise<Node> {
  const stateDir = mkdtempSync(join(tmpdir(), 'domainmgr-fault-table-'));
  const config = engineConfig(stateDir, xenstored);
  const runner = new ExecRunner({ logger: silentLogger, defaultTimeoutMs: 2000, killGraceMs: 200 });
  const hypervisor = createHypervisor('xl', { runner, logger: silentLogger, config, clock: systemClock });
  const sink = new MemoryStatusSink();
  const engine = new Engine({
    config,
    hypervisor,
    clock: systemClock,
    logger: silentLogger,
    ledger: new FileLedger(stateDir),
    status: sink,
    connection: new FixedConnection(),
    version: '0.0.0-test',
  });
  await engine.start();
  engine.markSynced();
  return { engine, sink, stateDir, seq: 0 };
}

function send(node: Node, doc: DomainConfig): Promise<void> {
  return node.engine.handleConfig({
    uuid: doc.uuid,
    seq: ++node.seq,
    payload: new TextEncoder().encode(JSON.stringify(doc)),
  });
}

/** A pvh vm with one vif (offload keys written) on the dummy kernel; `name` is unique per case. */
function vmDoc(name: string, over: Partial<DomainConfig> = {}): DomainConfig {
  serial++;
  return {
    uuid: `fa017000-0000-4000-8000-${serial.toString(16).padStart(12, '0')}`,
    name,
    generation: 1,
    activate: true,
    type: 'vm',
    virtualizationMode: 'pvh',
    kernel: join(images, 'vmlinuz'),
    memoryMiB: 128,
    maxMemoryMiB: 256,
    vcpus: 1,
    vifs: [{ bridge: 'xenbr0' }],
    ...over,
  } as DomainConfig;
}

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const end = Date.now() + DEADLINE_MS;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface SimState {
  xen: {
    domains: { name: string; uuid: string; paused: boolean; targetMemKiB: number; shutdown: unknown }[];
    pci: { bdf: string; assignable: boolean; assignedTo: number | null }[];
  };
}

/** The host as the simulator holds it (read without xl, which faults may be aimed at). */
async function simState(): Promise<SimState> {
  return JSON.parse(await host.simctl(['state'])) as SimState;
}

async function hostDomains(): Promise<SimState['xen']['domains']> {
  return (await simState()).xen.domains;
}

async function assignable(): Promise<string[]> {
  return (await simState()).xen.pci.filter((d) => d.assignable).map((d) => d.bdf);
}

/** `simctl fault add` for one case; returns the fault id. */
async function addFault(
  tool: string,
  sub: string,
  kind: FaultKind,
  match: string | null,
  vanish: string,
): Promise<string> {
  const args = ['fault', 'add', '--tool', tool, '--sub', sub];
  if (match !== null) args.push('--match', match);
  switch (kind) {
    case 'exit':
      args.push('--exit', '1', '--stderr', `libxl: error: injected failure of ${sub}`);
      break;
    case 'after-n':
      args.push('--exit', '1', '--stderr', `libxl: error: injected failure of ${sub}`, '--times', '3');
      break;
    case 'hang':
      args.push('--hang', 'forever');
      break;
    case 'garbage':
      args.push('--garbage', '--times', '1');
      break;
    case 'no-effect':
      args.push('--exit', '0', '--times', '1');
      break;
    case 'vanish':
      args.push('--vanish', vanish, '--times', '1');
      break;
  }
  return (await host.simctl(args)).trim();
}

/** What a case does to its domain to make the backend run the command under test. */
interface Drive {
  /** The config the case starts from (converged before the fault is armed, unless `armFirst`). */
  start: (name: string) => DomainConfig;
  /** The change that runs the command (null: the start itself runs it). */
  change: ((doc: DomainConfig) => DomainConfig) | null;
  /** What the converged domain is on the host: a state flag ('p', r/b) or absent. */
  converged: 'running' | 'paused' | 'absent';
  convergedState: DomainStatus['state'];
}

const run = (name: string) => vmDoc(name);
const bump = (doc: DomainConfig, over: Partial<DomainConfig>) =>
  ({ ...doc, generation: doc.generation + 1, ...over }) as DomainConfig;

interface Command {
  /** The fault's --tool and --sub. */
  tool: string;
  sub: string;
  /** The text a status error names the command by. */
  names: RegExp;
  drive: Drive;
  /**
   * Run one case at a time, since the fault cannot name the case's domain: by the engine without
   * xenstored's socket (xl domid, xenstore-write), or by the one with it (socket requests).
   */
  serial?: 'fallback' | 'native';
  /** The fault's --match (default: the case's domain name, cfg path or PCI device). */
  match?: string;
  /** Aimed at the case's PCI device rather than its name. */
  byPci?: boolean;
}

let pciNext = 0;

/** The start sequence runs the command: the domain is created and started. */
const STARTS: Drive = { start: run, change: null, converged: 'running', convergedState: 'RUNNING' };
/** A running domain is asked to halt: shutdown, destroy after the grace, PCI devices given back. */
const HALTS: Drive = {
  start: run,
  change: (d) => bump(d, { activate: false }),
  converged: 'absent',
  convergedState: 'HALTED',
};

const xlCommand = (sub: string, drive: Drive, extra: Partial<Command> = {}): Command => ({
  tool: 'xl',
  sub,
  names: new RegExp(`xl ${sub}`),
  drive,
  ...extra,
});

const COMMANDS: readonly Command[] = [
  xlCommand('create', STARTS),
  // xl unpause exits 0 when libxl fails: the listing that still shows it paused says so.
  xlCommand('unpause', STARTS, { names: /xl unpause|still paused/ }),
  xlCommand('pause', {
    ...STARTS,
    change: (d) => bump(d, { paused: true }),
    converged: 'paused',
    convergedState: 'PAUSED',
  }),
  xlCommand('mem-set', { ...STARTS, change: (d) => bump(d, { memoryMiB: 192 }) }),
  xlCommand('shutdown', HALTS),
  xlCommand('destroy', HALTS),
  xlCommand('pci-assignable-add', STARTS, { byPci: true }),
  xlCommand('pci-assignable-remove', HALTS, { byPci: true }),
  xlCommand('domid', STARTS, { serial: 'fallback' }),
  { tool: 'xenstore-write', sub: 'write', names: /xenstore-write/, drive: STARTS, serial: 'fallback' },
  // The offload keys written over xenstored's socket (pkg/xenstore), the request that writes one.
  {
    tool: 'xenstored',
    sub: 'WRITE',
    names: /xenstore|vif-offload|disableVifOffload/,
    drive: STARTS,
    serial: 'native',
    match: 'feature-sg',
  },
];

beforeAll(async () => {
  host = startSimHost();
  images = mkdtempSync(join(tmpdir(), 'domainmgr-fault-images-'));
  writeFileSync(join(images, 'vmlinuz'), 'not really a kernel\n');
  process.env.DOMAINMGR_SIM_DIR = host.dir;
  process.env.PATH = host.env.PATH;
  await host.simctl(['config', `pciDevices=${PCI.join(',')}`]);
  native = await startNode(true);
  fallback = await startNode(false);
});

afterAll(async () => {
  await native?.engine.stop();
  await fallback?.engine.stop();
  await host?.stop();
  process.env.PATH = saved.PATH;
  if (saved.DOMAINMGR_SIM_DIR === undefined) delete process.env.DOMAINMGR_SIM_DIR;
  else process.env.DOMAINMGR_SIM_DIR = saved.DOMAINMGR_SIM_DIR;
  for (const n of [native, fallback])
    if (n !== undefined) rmSync(n.stateDir, { recursive: true, force: true });
  rmSync(images, { recursive: true, force: true });
});

/** What a case saw: the errors published while the fault held, and the end. */
interface Outcome {
  errors: NonNullable<DomainStatus['error']>[];
  states: string[];
  final: DomainStatus;
}

/**
 * One (command, fault) case: converge the start, arm the fault, make the change, wait until the
 * fault has been met (an error naming the command, or for the faults that heal by themselves
 * convergence), check nothing half-built meanwhile, remove the fault, wait for convergence.
 */
async function runCase(node: Node, c: Command, kind: FaultKind): Promise<Outcome> {
  const name = `ft-${c.sub.replace(/[^a-z]/g, '')}-${kind}-${serial + 1}`.slice(0, 60);
  const bdf = c.byPci === true ? PCI[pciNext++ % PCI.length] : undefined;
  let doc = c.drive.start(name);
  if (bdf !== undefined) doc = { ...doc, pciDevices: [{ bdf }] } as DomainConfig;
  const uuid = doc.uuid;
  const match = c.serial === 'fallback' ? null : (c.match ?? bdf ?? (c.sub === 'create' ? uuid : name));
  let faultId: string;
  let from: number;
  if (c.drive.change === null) {
    faultId = await addFault(c.tool, c.sub, kind, match, name);
    from = node.sink.domain.length;
    await send(node, doc);
  } else {
    await send(node, doc);
    await until(`${name} RUNNING before the fault`, () =>
      node.sink.last(uuid)?.state === 'RUNNING' ? true : undefined,
    );
    faultId = await addFault(c.tool, c.sub, kind, match, name);
    doc = c.drive.change(doc);
    from = node.sink.domain.length;
    await send(node, doc);
  }
  try {
    return await meetAndConverge(node, c, uuid, name, doc, faultId, bdf, from);
  } finally {
    await host.simctl(['fault', 'rm', faultId]).catch(() => undefined);
  }
}

async function meetAndConverge(
  node: Node,
  c: Command,
  uuid: string,
  name: string,
  doc: DomainConfig,
  faultId: string,
  bdf: string | undefined,
  from: number,
): Promise<Outcome> {
  const errors = (): NonNullable<DomainStatus['error']>[] =>
    node.sink.domain
      .slice(from)
      .filter((s) => s.uuid === uuid && s.error !== null && s.error !== undefined)
      .map((s) => s.error as NonNullable<DomainStatus['error']>);
  // The fault is met: its error, or (no effect, vanish: nothing fails as such) the fault used up.
  await until(`${name}: the fault met`, async () => {
    if (errors().some((e) => c.names.test(`${e.command ?? ''} ${e.message}`))) return true;
    const left = JSON.parse(await host.simctl(['fault', 'list'])) as { id: number }[];
    return left.some((f) => String(f.id) === faultId) ? undefined : true;
  });
  // Nothing half-built: while the latest status is BROKEN (a create failed and is not being
  // retried yet), no domain of this uuid is on the host.
  const statusesBefore = node.sink.domain.length;
  const lastBefore = node.sink.last(uuid);
  const listed = (await hostDomains()).filter((d) => d.uuid === uuid);
  if (
    c.drive.change === null &&
    lastBefore?.state === 'BROKEN' &&
    node.sink.last(uuid) === lastBefore &&
    node.sink.domain.length >= statusesBefore
  ) {
    expect(listed).toEqual([]);
  }
  await host.simctl(['fault', 'rm', faultId]).catch(() => undefined);
  const final = await until(`${name} converged to ${c.drive.convergedState}`, () => {
    const s = node.sink.last(uuid);
    return s?.state === c.drive.convergedState && s.observedGeneration === doc.generation && s.error === null
      ? s
      : undefined;
  });
  // The host agrees: one domain of the uuid (none when halted), in the state asked.
  const mine = await until(`${name} on the host as converged`, async () => {
    const ds = (await hostDomains()).filter((d) => d.uuid === uuid);
    if (c.drive.converged === 'absent') return ds.length === 0 ? ds : undefined;
    if (ds.length !== 1) return undefined;
    return ds[0]?.paused === (c.drive.converged === 'paused') ? ds : undefined;
  });
  expect(mine.length).toBe(c.drive.converged === 'absent' ? 0 : 1);
  if (bdf !== undefined && c.drive.converged === 'absent') {
    // Given back: not left assignable and unused.
    expect(await assignable()).not.toContain(bdf);
  }
  if (c.sub === 'mem-set') {
    // The change took effect on the host (a mem-set that exited 0 and did nothing is retried).
    expect(mine[0]?.targetMemKiB).toBe(192 * 1024);
  }
  return { errors: errors(), states: node.sink.states(uuid), final };
}

const DEFINED_STATES = new Set([
  'PENDING',
  'CREATING',
  'BOOTING',
  'RUNNING',
  'PAUSED',
  'HALTING',
  'HALTED',
  'BROKEN',
  'DELETING',
]);

/** Faults after which some error must name the command (the others may heal unseen). */
const MUST_NAME: ReadonlySet<FaultKind> = new Set(['exit', 'hang', 'after-n']);

async function listCalls(): Promise<number> {
  const calls = JSON.parse(await host.simctl(['calls'])) as Record<string, number>;
  return calls['xl list'] ?? 0;
}

/**
 * `xl list` failing under a running domain: the listing tells nothing, so nothing changes (no
 * domain taken for gone, none created twice, no error on the domain); the next good listing goes
 * on. `vanish`: the listing runs and the domain then disappears behind the engine's back: the
 * restart policy (on-failure) brings it back. Afterwards a memory change converges.
 */
async function runListCase(kind: FaultKind): Promise<Outcome> {
  let doc = vmDoc(`ft-list-${kind}-${serial + 1}`);
  const uuid = doc.uuid;
  await send(native, doc);
  await until(`${doc.name} RUNNING`, () => (native.sink.last(uuid)?.state === 'RUNNING' ? true : undefined));
  const from = native.sink.domain.length;
  const before = await listCalls();
  const faultId = await addFault('xl', 'list', kind === 'exit' ? 'after-n' : kind, '-v', doc.name);
  try {
    await until(`${doc.name}: listings met the fault`, async () => {
      const left = JSON.parse(await host.simctl(['fault', 'list'])) as { id: number }[];
      // A hang has no count: it holds every listing until removed.
      const used = kind === 'hang' || !left.some((f) => String(f.id) === faultId);
      return used && (await listCalls()) >= before + 2 ? true : undefined;
    });
  } finally {
    await host.simctl(['fault', 'rm', faultId]).catch(() => undefined);
  }
  const during = native.sink.domain.slice(from).filter((s) => s.uuid === uuid);
  if (kind !== 'vanish') {
    // Nothing was concluded from a listing that failed.
    for (const s of during) expect(s).toMatchObject({ state: 'RUNNING', error: null, restartCount: 0 });
  }
  doc = bump(doc, { memoryMiB: 160 });
  await send(native, doc);
  const final = await until(`${doc.name} converged`, () => {
    const s = native.sink.last(uuid);
    return s?.state === 'RUNNING' && s.observedGeneration === doc.generation && s.error === null
      ? s
      : undefined;
  });
  const mine = (await hostDomains()).filter((d) => d.uuid === uuid);
  expect(mine).toHaveLength(1);
  expect(final.restartCount).toBe(kind === 'vanish' ? 1 : 0);
  return { errors: [], states: native.sink.states(uuid), final };
}

/**
 * `xl info` failing while an engine starts: it starts anyway (the host reading is retried), and a
 * create, which needs the host's free memory, fails naming `xl info` until the fault is gone.
 */
async function runInfoCase(kind: FaultKind): Promise<Outcome> {
  const faultId = await addFault('xl', 'info', kind, null, 'Domain-0');
  let node: Node | null = null;
  try {
    node = await startNode(true);
    const doc = vmDoc(`ft-info-${kind}-${serial + 1}`);
    await send(node, doc);
    return await meetAndConverge(node, INFO, doc.uuid, doc.name, doc, faultId, undefined, 0);
  } finally {
    await host.simctl(['fault', 'rm', faultId]).catch(() => undefined);
    if (node !== null) {
      await node.engine.stop();
      rmSync(node.stateDir, { recursive: true, force: true });
    }
  }
}

const INFO: Command = xlCommand('info', STARTS);

const concurrent = COMMANDS.filter((c) => c.serial === undefined);
const serialOnes = COMMANDS.filter((c) => c.serial !== undefined);

describe('every backend command failing every way (engine + xl backend + simulated host)', () => {
  const outcomes = new Map<string, Promise<Outcome>>();

  beforeAll(() => {
    // Side by side: each case's fault names only its own domain.
    for (const c of concurrent) {
      for (const kind of FAULTS) {
        const p = runCase(native, c, kind);
        p.catch(() => undefined);
        outcomes.set(`${c.sub}/${kind}`, p);
      }
    }
  });

  test.each(concurrent.flatMap((c) => FAULTS.map((k) => [c.sub, k, c] as const)))(
    'xl %s, %s: a defined state, an error naming it, nothing half-built, then converged',
    async (sub, kind, c) => {
      const o = await (outcomes.get(`${sub}/${kind}`) as Promise<Outcome>);
      for (const s of o.states) expect(DEFINED_STATES.has(s)).toBe(true);
      if (MUST_NAME.has(kind)) {
        expect(o.errors.some((e) => c.names.test(`${e.command ?? ''} ${e.message}`))).toBe(true);
      }
      expect(o.final.error).toBeNull();
    },
    DEADLINE_MS * 2,
  );

  test(
    'a failure retrying cannot heal (a missing bridge): retried no faster than restartBackoff.maxMs, and the status says why',
    async () => {
      const doc = vmDoc(`ft-permanent-${serial + 1}`);
      const faultId = (
        await host.simctl([
          'fault',
          'add',
          '--tool',
          'xl',
          '--sub',
          'create',
          '--match',
          doc.uuid,
          '--exit',
          '3',
          '--stderr',
          'libxl: error: libxl_exec.c:117: /etc/xen/scripts/vif-bridge online [-1] Could not find bridge device xenbr9',
        ])
      ).trim();
      try {
        await send(native, doc);
        const broken = await until('the permanent failure reported', () => {
          const s = native.sink.last(doc.uuid);
          return s?.state === 'BROKEN' && s.error?.retryAt !== undefined ? s : undefined;
        });
        const error = broken.error as NonNullable<DomainStatus['error']>;
        expect(error.command).toMatch(/xl create/);
        expect(error.message).toMatch(
          /retrying will not heal this \(a bridge the vifs name does not exist on the host\): tried again every 1000 ms \(restartBackoff\.maxMs\)/,
        );
        // The first retry is set at maxMs (1000), not at initialMs (200).
        expect(Date.parse(error.retryAt as string) - Date.parse(error.time)).toBeGreaterThanOrEqual(990);
      } finally {
        await host.simctl(['fault', 'rm', faultId]).catch(() => undefined);
      }
      await until('converged once the bridge is there', () =>
        native.sink.last(doc.uuid)?.state === 'RUNNING' ? true : undefined,
      );
    },
    DEADLINE_MS * 2,
  );

  test.each(FAULTS)(
    'xl list, %s: nothing concluded from a failed listing, then converged',
    async (kind) => {
      await Promise.allSettled(outcomes.values());
      const o = await runListCase(kind);
      expect(o.final.error).toBeNull();
    },
    DEADLINE_MS * 2,
  );

  test.each(FAULTS.filter((k) => k !== 'vanish'))(
    'xl info, %s: the engine starts; creates fail naming it, then converge',
    async (kind) => {
      await Promise.allSettled(outcomes.values());
      const o = await runInfoCase(kind);
      for (const s of o.states) expect(DEFINED_STATES.has(s)).toBe(true);
      if (MUST_NAME.has(kind))
        expect(o.errors.some((e) => /xl info/.test(`${e.command ?? ''} ${e.message}`))).toBe(true);
      expect(o.final.error).toBeNull();
    },
    DEADLINE_MS * 2,
  );

  test.each(serialOnes.flatMap((c) => FAULTS.map((k) => [c.tool, c.sub, k, c] as const)))(
    '%s %s, %s (one at a time: the fault names no domain)',
    async (_tool, _sub, kind, c) => {
      await Promise.allSettled(outcomes.values());
      const o = await runCase(c.serial === 'native' ? native : fallback, c, kind);
      for (const s of o.states) expect(DEFINED_STATES.has(s)).toBe(true);
      if (MUST_NAME.has(kind)) {
        expect(o.errors.some((e) => c.names.test(`${e.command ?? ''} ${e.message}`))).toBe(true);
      }
      expect(o.final.error).toBeNull();
    },
    DEADLINE_MS * 2,
  );
});
