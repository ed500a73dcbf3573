import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../pkg/clock.js';
import { PLAN_DOMID, type Plan, PlanRefusedError, planStart } from '../../pkg/ctl/plan.js';
import type { BackendName } from '../../pkg/hypervisor/hypervisor.js';
import { createHypervisor } from '../../pkg/hypervisor/registry.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { Engine } from '../../pkg/reconcile/engine.js';
import type { CommandResult, CommandRunner, RunOptions } from '../../pkg/runner/command-runner.js';
import { ExecRunner } from '../../pkg/runner/exec-runner.js';
import { decodeConfigMessage } from '../../pkg/schema/domain-config-message.js';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import { testConfig } from '../support/backend-fixtures.js';
import { MemoryLedger } from '../support/memory-ledger.js';
import { FixedConnection, MemoryStatusSink } from '../support/memory-ports.js';
import { buildImages, ensureRealLxc, type Images, lxcView, TEST_BRIDGE } from '../support/real-lxc.js';
import { type SimHostHandle, startSimHost } from '../support/sim-host.js';

/**
 * The guarantee behind `domainctl plan`: what it prints is what a node runs. The real engine
 * (worker, backend, runner) starts the domain on the simulated host, every process it spawns is
 * recorded with its environment and stdin, and the commands that change the host are compared,
 * one for one, with the plan made from the same configuration. The placeholders of the plan
 * (<domid>, <pod-uuid>) are filled in from what the host assigned.
 */

/** Commands that only read the host; the engine runs them around a create, the plan shows none. */
function readsOnly(argv: readonly string[], config: DomainmgrConfig): boolean {
  const [tool, sub] = argv;
  if (tool === config.tools.xl) return sub === 'list' || sub === 'info' || sub === 'pci-assignable-list';
  if (tool === config.tools.vmadm) return sub === 'list' || sub === 'get';
  if (tool === config.tools.rkt) return sub === 'status' || sub === 'list';
  if (tool === 'lxc-ls') return true;
  if (tool === 'lxc-start') return sub === '--version';
  return false;
}

interface Recorded {
  argv: string[];
  env?: Record<string, string>;
  input?: string;
}

class RecordingRunner implements CommandRunner {
  readonly calls: Recorded[] = [];
  constructor(private readonly inner: CommandRunner) {}
  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.calls.push({
      argv: [...argv],
      ...(options.env === undefined ? {} : { env: { ...options.env } }),
      ...(options.input === undefined ? {} : { input: options.input }),
    });
    return this.inner.run(argv, options);
  }
}

let host: SimHostHandle;
const dirs: string[] = [];

beforeAll(() => {
  host = startSimHost();
  process.env.DOMAINMGR_SIM_DIR = host.dir;
});

afterAll(async () => {
  await host.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function configFor(backend: BackendName): DomainmgrConfig {
  const stage1Dir = mkdtempSync(join(tmpdir(), 'domainctl-stage1-'));
  dirs.push(stage1Dir);
  const stage1 = join(stage1Dir, 'stage1-xen.aci');
  writeFileSync(stage1, 'the simulated rkt only needs the path\n');
  const bin = (tool: string) => join(host.binDir, tool);
  const config = testConfig({
    backend,
    nodeId: `plan-${backend}`,
    tools: { xl: bin('xl'), xenstoreWrite: bin('xenstore-write'), rkt: bin('rkt'), vmadm: bin('vmadm') },
    rkt: { stage1Path: stage1, insecureOptions: 'image' },
    storage: { allowedRoots: ['/persist'] },
    probeIntervalMs: 200,
    probeJitter: 0,
  });
  dirs.push(config.stateDir);
  return config;
}

async function engineRun(config: DomainmgrConfig, doc: Record<string, unknown>, goal: string) {
  const recorder = new RecordingRunner(
    new ExecRunner({ logger: silentLogger, defaultTimeoutMs: 20_000, killGraceMs: 500 }),
  );
  const hypervisor = createHypervisor(config.backend, {
    runner: recorder,
    logger: silentLogger,
    config,
    clock: systemClock,
  });
  const sink = new MemoryStatusSink();
  const engine = new Engine({
    config,
    hypervisor,
    clock: systemClock,
    logger: silentLogger,
    ledger: new MemoryLedger(),
    status: sink,
    connection: new FixedConnection(),
    version: '0.0.0-test',
  });
  await engine.start();
  engine.markSynced();
  const uuid = doc.uuid as string;
  await engine.handleConfig({ uuid, seq: 1, payload: new TextEncoder().encode(JSON.stringify(doc)) });
  const until = Date.now() + 20_000;
  while (sink.last(uuid)?.state !== goal) {
    if (Date.now() > until)
      throw new Error(`engine did not reach ${goal}: ${JSON.stringify(sink.last(uuid))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await engine.stop();
  const status = sink.last(uuid);
  return { calls: recorder.calls.filter((c) => !readsOnly(c.argv, config)), status };
}

async function planFor(config: DomainmgrConfig, doc: Record<string, unknown>): Promise<Plan> {
  const m = decodeConfigMessage(
    new TextEncoder().encode(JSON.stringify(doc)),
    doc.uuid as string,
    config.storage.allowedRoots,
  );
  if (m.kind !== 'config') throw new Error(`test document invalid: ${JSON.stringify(m)}`);
  return planStart(m.spec, config.backend, config);
}

/** The plan's commands with the host's domid and pod uuid put in for the placeholders. */
function filledIn(plan: Plan, domid: number | null, pod: string | null): Recorded[] {
  const fill = (s: string) =>
    s
      .split('<domid>')
      .join(String(domid))
      .split('<pod-uuid>')
      .join(pod ?? '<pod-uuid>');
  return plan.commands.map((c) => ({
    argv: c.argv.map(fill),
    ...(c.env === undefined
      ? {}
      : { env: Object.fromEntries(Object.entries(c.env).map(([k, v]) => [k, fill(v)])) }),
    ...(c.input === undefined ? {} : { input: c.input }),
  }));
}

let n = 0;
const nextUuid = () => `9a000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`;

/**
 * Every backend, with and without paused, with vifs and with PCI devices. vmadm cannot pause:
 * asked for paused, the node starts the domain (and reports the pause as unsupported), and the
 * plan says so. Each case takes its own PCI device: domains stay on the host after a case.
 */
test.each<[string, BackendName, Record<string, unknown>, string]>([
  [
    'xl: pvh vm with two vifs (offload step), unpaused',
    'xl',
    {
      type: 'vm',
      memoryMiB: 128,
      kernel: '/persist/vmlinuz',
      vifs: [{ bridge: 'xenbr0' }, { bridge: 'xenbr1', ip: '10.0.0.9' }],
    },
    'RUNNING',
  ],
  [
    'xl: paused, offload off, no unpause',
    'xl',
    {
      type: 'vm',
      memoryMiB: 64,
      kernel: '/persist/k',
      paused: true,
      disableVifOffload: false,
      vifs: [{ bridge: 'xenbr0' }],
    },
    'PAUSED',
  ],
  [
    'xl: a PCI device and a vif, paused: pci-prepare, create, offload, no unpause',
    'xl',
    {
      type: 'vm',
      memoryMiB: 64,
      kernel: '/persist/k',
      paused: true,
      vifs: [{ bridge: 'xenbr0' }],
      pciDevices: [{ bdf: '0000:03:00.0' }],
    },
    'PAUSED',
  ],
  [
    'xl: a PCI device, no vifs, unpaused',
    'xl',
    { type: 'vm', memoryMiB: 64, kernel: '/persist/k', pciDevices: [{ bdf: '0000:03:00.1' }] },
    'RUNNING',
  ],
  [
    'rkt: container with a vif',
    'rkt',
    { type: 'container', memoryMiB: 64, image: 'sha512-0123456789abcdef', vifs: [{ bridge: 'xenbr0' }] },
    'RUNNING',
  ],
  [
    'rkt: container with a vif, paused',
    'rkt',
    {
      type: 'container',
      memoryMiB: 64,
      image: 'sha512-0123456789abcdef',
      paused: true,
      vifs: [{ bridge: 'xenbr0' }],
    },
    'PAUSED',
  ],
  [
    'rkt: container with a PCI device',
    'rkt',
    {
      type: 'container',
      memoryMiB: 64,
      image: 'sha512-0123456789abcdef',
      pciDevices: [{ bdf: '0000:04:00.0' }],
    },
    'RUNNING',
  ],
  [
    'vmadm: joyent zone',
    'vmadm',
    {
      type: 'container',
      memoryMiB: 256,
      image: '1d05e788-5409-11eb-b12f-037bd7fee4ee',
      vifs: [{ bridge: 'admin', ip: '10.1.1.5' }],
    },
    'RUNNING',
  ],
  [
    'vmadm: paused, which vmadm cannot do: started all the same (vmadm start)',
    'vmadm',
    {
      type: 'container',
      memoryMiB: 256,
      image: '1d05e788-5409-11eb-b12f-037bd7fee4ee',
      paused: true,
      vifs: [{ bridge: 'admin', ip: '10.1.1.6' }],
    },
    'RUNNING',
  ],
])('%s: the engine runs exactly the plan', async (_name, backend, fields, goal) => {
  const config = configFor(backend);
  const uuid = nextUuid();
  const doc = { uuid, name: `plan${n}`, generation: 1, activate: true, ...fields };
  const plan = await planFor(config, doc);
  const { calls, status } = await engineRun(config, doc, goal);
  expect(calls.length).toBeGreaterThan(0);
  const pod = backend === 'rkt' ? (status?.domainName ?? null) : null;
  expect(filledIn(plan, status?.domainId ?? null, pod)).toEqual(calls);
  // The placeholder domid never reaches a real command, and the plan's files are the backend's.
  expect(JSON.stringify(calls)).not.toContain(String(PLAN_DOMID));
  if (backend === 'xl')
    expect(plan.files.map((f) => f.path)).toEqual([join(config.stateDir, 'xl', `${uuid}.cfg`)]);
  // A paused domain is left paused only where the backend can pause; vmadm says it could not.
  expect(plan.steps.includes('unpause')).toBe(goal === 'RUNNING');
  if (backend === 'vmadm' && fields.paused === true) expect(status?.error?.message).toMatch(/cannot pause/);
});

test('vmadm with a PCI device: the plan and the engine refuse it alike, and nothing runs', async () => {
  const config = configFor('vmadm');
  const uuid = nextUuid();
  const doc = {
    uuid,
    name: `plan${n}`,
    generation: 1,
    activate: true,
    type: 'container',
    memoryMiB: 256,
    image: '1d05e788-5409-11eb-b12f-037bd7fee4ee',
    pciDevices: [{ bdf: '0000:05:00.0' }],
  };
  const refused = await planFor(config, doc).then(
    () => null,
    (e: unknown) => e,
  );
  expect(refused).toBeInstanceOf(PlanRefusedError);
  const problems = (refused as PlanRefusedError).problems;
  expect(problems.join('; ')).toMatch(/pciDevices/);
  const { calls, status } = await engineRun(config, doc, 'REJECTED');
  expect(calls).toEqual([]);
  expect(status?.error?.message).toBe(`invalid config: ${problems.join('; ')}`);
});

/**
 * lxc on the host's real LXC 5: the plan, made on this machine (which the lxc plan reads for
 * bridges, cgroup layout and image), is what the engine runs, started and frozen alike.
 */
describe('lxc on real LXC', () => {
  let images: Images;
  beforeAll(() => {
    ensureRealLxc();
    images = buildImages();
  });
  afterAll(() => images?.remove());

  test.each([
    ['a container with a vif, unpaused', false, 'RUNNING'],
    ['a container with a vif, paused (started and frozen)', true, 'PAUSED'],
  ])('%s: the engine runs exactly the plan', async (_name, paused, goal) => {
    const config = testConfig({
      backend: 'lxc',
      nodeId: 'plan-lxc',
      storage: { allowedRoots: [images.root] },
      probeIntervalMs: 200,
      probeJitter: 0,
    });
    dirs.push(config.stateDir);
    const uuid = nextUuid();
    const doc = {
      uuid,
      name: `plan${n}`,
      generation: 1,
      activate: true,
      type: 'container',
      memoryMiB: 64,
      image: images.folder,
      paused,
      vifs: [{ bridge: TEST_BRIDGE }],
    };
    const plan = await planFor(config, doc);
    try {
      const { calls } = await engineRun(config, doc, goal);
      expect(calls.length).toBeGreaterThan(0);
      expect(filledIn(plan, null, null)).toEqual(calls);
      expect(plan.files.map((f) => f.path)).toContain(join(config.stateDir, 'lxc', uuid, 'config'));
    } finally {
      await lxcView(config.stateDir).destroy({ uuid, domainName: uuid, domainId: null });
    }
  });
});
