import { loadConfig } from '../../pkg/config/load-config.js';
import type { ChangeWatch } from '../../pkg/hypervisor/hypervisor.js';
import { HypervisorError } from '../../pkg/hypervisor/hypervisor.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { Engine } from '../../pkg/reconcile/engine.js';
import type { LedgerEntry } from '../../pkg/reconcile/ledger.js';
import { CommandFailedError } from '../../pkg/runner/errors.js';
import { FakeHypervisor } from '../support/fake-hypervisor.js';
import { ManualClock } from '../support/manual-clock.js';
import { MemoryLedger } from '../support/memory-ledger.js';
import { FixedConnection, MemoryStatusSink } from '../support/memory-ports.js';

const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';
const U3 = '33333333-3333-4333-8333-333333333333';

function vm(uuid: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    uuid,
    name: `vm-${uuid.slice(0, 4)}`,
    generation: 1,
    activate: true,
    type: 'vm',
    memoryMiB: 256,
    maxMemoryMiB: 1024,
    kernel: '/persist/vmlinuz',
    vifs: [{ bridge: 'br0' }],
    ...over,
  };
}

/** A ledger entry as a domainmgr that ran before would have left it (no running spec recorded). */
function remember(
  ledger: MemoryLedger,
  uuid: string,
  name: string,
  phase: LedgerEntry['phase'],
  restartCounter = 0,
) {
  return ledger.put({
    uuid,
    name,
    phase,
    restartCounter,
    purgeCounter: 0,
    restartCount: 0,
    runningSpec: null,
    currentMemoryMiB: null,
  });
}

type Setup = ReturnType<typeof setup>;

function setup(
  over: Record<string, unknown> = {},
  ledger = new MemoryLedger(),
  clock = new ManualClock(),
  hv?: FakeHypervisor,
) {
  const base = loadConfig([], {}).config;
  const config = {
    ...base,
    nodeId: 'node-1',
    probeIntervalMs: 5000,
    probeJitter: 0,
    shutdownGraceMs: 10_000,
    createConcurrency: 4,
    restartBackoff: { initialMs: 1000, maxMs: 8000 },
    storage: { allowedRoots: ['/persist'] },
    ...over,
  };
  const hypervisor = hv ?? new FakeHypervisor(clock);
  const sink = new MemoryStatusSink();
  const connection = new FixedConnection();
  const engine = new Engine({
    config,
    hypervisor,
    clock,
    logger: silentLogger,
    ledger,
    status: sink,
    connection,
    version: '0.0.0-test',
    random: () => 0.5,
  });
  let seq = 0;
  const send = (uuid: string, doc: Record<string, unknown> | null | string) =>
    engine.handleConfig({
      uuid,
      seq: ++seq,
      payload:
        doc === null
          ? new Uint8Array()
          : new TextEncoder().encode(typeof doc === 'string' ? doc : JSON.stringify(doc)),
    });
  return { engine, hv: hypervisor, sink, clock, ledger, connection, send, config };
}

async function started(s: Setup): Promise<Setup> {
  await s.engine.start();
  s.engine.markSynced();
  return s;
}

describe('engine: lifecycle', () => {
  test('a config goes CREATING -> BOOTING -> RUNNING, confirmed by a listing (a free create slot: no PENDING)', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(0);
    expect(s.hv.calls.filter((c) => c !== 'list' && c !== 'hostInfo' && c !== 'verify')).toEqual([
      'create vm-1111',
      'offload vm-1111',
      'unpause vm-1111',
    ]);
    await s.clock.advance(100);
    expect(s.sink.states(U1)).toEqual(['CREATING', 'BOOTING', 'RUNNING']);
    const st = s.sink.last(U1);
    expect(st).toMatchObject({
      state: 'RUNNING',
      observedGeneration: 1,
      activated: true,
      domainName: 'vm-1111',
      error: null,
    });
    expect(st?.domainId).toEqual(expect.any(Number));
    expect(st?.vifs).toHaveLength(1);
    expect(st?.bootTime).not.toBeNull();
  });

  test('no offload call when the config turns it off or has no vifs', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1, { disableVifOffload: false }));
    await s.send(U2, vm(U2, { vifs: [] }));
    await s.clock.advance(100);
    expect(s.hv.count('offload')).toBe(0);
    expect(s.sink.last(U1)?.state).toBe('RUNNING');
  });

  test('memory changes are ballooned live; beyond maxMemoryMiB they wait in pendingChanges', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    await s.send(U1, vm(U1, { generation: 2, memoryMiB: 512 }));
    await s.clock.advance(10);
    expect(s.hv.calls).toContain('mem-set vm-1111 512');
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', observedGeneration: 2, pendingChanges: [] });
    await s.send(U1, vm(U1, { generation: 3, memoryMiB: 2048, maxMemoryMiB: 4096, vcpus: 2 }));
    await s.clock.advance(10);
    expect(s.hv.count('mem-set')).toBe(1);
    // maxVcpus defaults to vcpus, so it changes with it.
    expect(s.sink.last(U1)?.pendingChanges).toEqual(['maxMemoryMiB', 'maxVcpus', 'memoryMiB', 'vcpus']);
  });

  test('activate false stops gracefully: HALTING, then HALTED once the guest left', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    await s.send(U1, vm(U1, { generation: 2, activate: false }));
    await s.clock.advance(10);
    expect(s.hv.calls).toContain('shutdown vm-1111');
    expect(s.sink.last(U1)?.state).toBe('HALTING');
    await s.clock.advance(2000);
    expect(s.sink.last(U1)).toMatchObject({ state: 'HALTED', domainId: null, activated: false });
    expect(s.hv.byUuid(U1)).toBeUndefined();
  });

  test('a guest that ignores shutdown is destroyed after the grace', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    s.hv.hang(U1);
    await s.send(U1, vm(U1, { generation: 2, activate: false }));
    await s.clock.advance(9000);
    expect(s.hv.count('destroy')).toBe(0);
    expect(s.sink.last(U1)?.state).toBe('HALTING');
    await s.clock.advance(1500);
    expect(s.hv.calls).toContain('destroy vm-1111');
    expect(s.sink.last(U1)?.state).toBe('HALTED');
  });

  test('activate true again during the grace of a guest that ignores the shutdown: the grace, then destroy and create', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    s.hv.hang(U1);
    await s.send(U1, vm(U1, { generation: 2, activate: false }));
    await s.clock.advance(3000);
    await s.send(U1, vm(U1, { generation: 3 }));
    await s.clock.advance(5000);
    expect(s.hv.count('destroy')).toBe(0);
    expect(s.sink.last(U1)?.state).toBe('HALTING');
    await s.clock.advance(2500);
    expect(s.hv.count('destroy')).toBe(1);
    expect(s.hv.count('create')).toBe(2);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', observedGeneration: 3, error: null });
  });

  test('HVM guests are shut down with the forced (ACPI) variant', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1, { virtualizationMode: 'hvm' }));
    await s.clock.advance(100);
    await s.send(U1, vm(U1, { virtualizationMode: 'hvm', generation: 2, activate: false }));
    await s.clock.advance(10);
    expect(s.hv.calls).toContain('shutdown -F vm-1111');
  });

  test('activate true again starts it again', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    await s.send(U1, vm(U1, { generation: 2, activate: false }));
    await s.clock.advance(3000);
    await s.send(U1, vm(U1, { generation: 3 }));
    await s.clock.advance(100);
    expect(s.hv.count('create')).toBe(2);
    expect(s.sink.last(U1)?.state).toBe('RUNNING');
  });

  test('bootTime belongs to the running domain: null once halted, the new boot after a start', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    const firstBoot = s.sink.last(U1)?.bootTime;
    expect(firstBoot).not.toBeNull();
    await s.send(U1, vm(U1, { generation: 2, activate: false }));
    await s.clock.advance(3000);
    expect(s.sink.last(U1)).toMatchObject({ state: 'HALTED', bootTime: null });
    await s.send(U1, vm(U1, { generation: 3 }));
    await s.clock.advance(100);
    const again = s.sink.last(U1);
    expect(again?.state).toBe('RUNNING');
    expect(Date.parse(again?.bootTime ?? '')).toBeGreaterThan(Date.parse(firstBoot ?? ''));
  });

  test('raising restartCounter stops gracefully and starts again, applying pending changes', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    await s.send(U1, vm(U1, { generation: 2, vcpus: 2 }));
    await s.clock.advance(10);
    expect(s.sink.last(U1)?.pendingChanges).toEqual(['maxVcpus', 'vcpus']);
    await s.send(U1, vm(U1, { generation: 3, vcpus: 2, restartCounter: 1 }));
    await s.clock.advance(3000);
    // The guest leaves within the grace; the (idempotent) destroy cleans up before the new create.
    expect(s.hv.calls.filter((c) => /^(shutdown|destroy|create)/.test(c))).toEqual([
      'create vm-1111',
      'shutdown vm-1111',
      'destroy vm-1111',
      'create vm-1111',
    ]);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', pendingChanges: [], observedGeneration: 3 });
  });

  test('raising purgeCounter destroys at once and creates afresh', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    await s.send(U1, vm(U1, { generation: 2, purgeCounter: 1 }));
    await s.clock.advance(100);
    expect(s.hv.calls.filter((c) => /^(shutdown|destroy|create)/.test(c))).toEqual([
      'create vm-1111',
      'destroy vm-1111',
      'create vm-1111',
    ]);
    expect(s.sink.last(U1)?.state).toBe('RUNNING');
    await s.send(U1, vm(U1, { generation: 3, purgeCounter: 1 }));
    await s.clock.advance(100);
    expect(s.hv.count('create')).toBe(2);
  });

  test('an empty payload deletes and ends with DELETED, the last status', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1, { pciDevices: [{ bdf: '0000:03:00.0' }] }));
    await s.clock.advance(100);
    await s.send(U1, null);
    await s.clock.advance(3000);
    expect(s.sink.states(U1).slice(-2)).toEqual(['DELETING', 'DELETED']);
    expect(s.hv.calls).toContain('pci-assignable-remove 0000:03:00.0');
    expect(s.engine.worker(U1)).toBeUndefined();
    expect(s.ledger.entries.has(U1)).toBe(false);
  });

  test('a delete taken in after a restart reports the generation the domain was built from, not 0 (kill campaign)', async () => {
    const first = await started(setup());
    await first.send(U1, vm(U1, { generation: 3 }));
    await first.clock.advance(100);
    expect(first.sink.last(U1)).toMatchObject({ state: 'RUNNING', observedGeneration: 3 });
    await first.engine.stop();
    // The next run: same ledger and host; the delete arrived while no domainmgr ran.
    const next = await started(setup({}, first.ledger, first.clock, first.hv));
    await next.send(U1, null);
    await next.clock.advance(3000);
    expect(next.sink.states(U1).slice(-2)).toEqual(['DELETING', 'DELETED']);
    expect(next.sink.domain.filter((d) => d.uuid === U1).map((d) => d.observedGeneration)).toEqual(
      next.sink.domain.filter((d) => d.uuid === U1).map(() => 3),
    );
  });

  test.each([
    ['a live memory change', [vm(U1), vm(U1, { generation: 4, memoryMiB: 512 })]],
    [
      'a halted domain given new memory (no action)',
      [
        vm(U1),
        vm(U1, { generation: 2, activate: false }),
        vm(U1, { generation: 4, activate: false, memoryMiB: 512 }),
      ],
    ],
    ['a restart policy change (no action)', [vm(U1), vm(U1, { generation: 4, restartPolicy: 'never' })]],
  ])('after %s, a delete taken in after a restart reports the newest generation, never an older one', async (_name, configs) => {
    const first = await started(setup());
    for (const config of configs) {
      await first.send(U1, config);
      await first.clock.advance(15_000);
    }
    expect(first.sink.last(U1)?.observedGeneration).toBe(4);
    expect(first.ledger.entries.get(U1)?.observedGeneration).toBe(4);
    await first.engine.stop();
    // The next run: the delete published while none ran is in the backlog it takes in before it
    // is synced (as the service does).
    const next = setup({}, first.ledger, first.clock, first.hv);
    await next.engine.start();
    await next.send(U1, null);
    next.engine.markSynced();
    await next.clock.advance(15_000);
    expect(next.sink.last(U1)?.state).toBe('DELETED');
    expect(new Set(next.sink.domain.filter((d) => d.uuid === U1).map((d) => d.observedGeneration))).toEqual(
      new Set([4]),
    );
  });

  test('a halt a stopped run began, then a start: the domain is built again, not left HALTED as a guest exit (kill campaign)', async () => {
    const first = await started(setup());
    await first.send(U1, vm(U1));
    await first.clock.advance(100);
    await first.send(U1, vm(U1, { generation: 2, activate: false }));
    await first.clock.advance(10);
    expect(first.sink.last(U1)?.state).toBe('HALTING');
    expect(first.ledger.entries.get(U1)?.phase).toBe('halting');
    await first.engine.stop();
    // The guest powers off while no domainmgr runs; the next run is asked to run it again.
    const next = await started(setup({}, first.ledger, first.clock, first.hv));
    await next.send(U1, vm(U1, { generation: 3 }));
    await next.clock.advance(15_000);
    expect(next.sink.last(U1)).toMatchObject({ state: 'RUNNING', observedGeneration: 3, error: null });
    expect(next.sink.states(U1)).not.toContain('HALTED');
  });

  test('paused: true keeps the domain paused; false unpauses it', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1, { paused: true }));
    await s.clock.advance(100);
    expect(s.hv.count('unpause')).toBe(0);
    expect(s.sink.last(U1)?.state).toBe('PAUSED');
    await s.send(U1, vm(U1, { generation: 2 }));
    await s.clock.advance(100);
    expect(s.sink.last(U1)?.state).toBe('RUNNING');
    await s.send(U1, vm(U1, { generation: 3, paused: true }));
    await s.clock.advance(100);
    expect(s.hv.calls).toContain('pause vm-1111');
    expect(s.sink.last(U1)?.state).toBe('PAUSED');
  });

  test('unpaused with a live memory change: the listing begun during the change is out of date, another confirms RUNNING', async () => {
    const s = await started(setup({ probeIntervalMs: 60_000 }));
    await s.send(U1, vm(U1, { paused: true }));
    await s.clock.advance(100);
    expect(s.sink.last(U1)?.state).toBe('PAUSED');
    // The memory change takes a while: the listing the unpause asked for begins and ends meanwhile.
    const setMemory = s.hv.setMemory.bind(s.hv);
    s.hv.setMemory = async (ref, mib) => {
      await s.clock.sleep(500);
      return setMemory(ref, mib);
    };
    const lists = s.hv.count('list');
    await s.send(U1, vm(U1, { generation: 2, memoryMiB: 512 }));
    await s.clock.advance(1000);
    expect(s.hv.calls).toContain('mem-set vm-1111 512');
    expect(s.hv.count('list')).toBeGreaterThanOrEqual(lists + 2);
    expect(s.sink.last(U1)?.state).toBe('RUNNING');
  });

  test('a backend that cannot pause says so and leaves the domain running', async () => {
    const s = await started(setup());
    s.hv.pauseUnsupported = true;
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    await s.send(U1, vm(U1, { generation: 2, paused: true }));
    await s.clock.advance(6000);
    expect(s.hv.count('pause ')).toBe(1);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', error: { message: 'zones cannot be paused' } });
  });
});

describe('engine: a backend that cannot pause (vmadm)', () => {
  test('created with paused: true, it is started and says it could not be paused; never HALTED', async () => {
    const s = await started(setup());
    s.hv.pauseUnsupported = true;
    await s.send(U1, vm(U1, { paused: true }));
    await s.clock.advance(12_000);
    expect(s.hv.calls.filter((c) => /^(create|unpause|pause|destroy)/.test(c))).toEqual([
      'create vm-1111',
      'unpause vm-1111',
      'pause vm-1111',
    ]);
    expect(s.sink.states(U1)).not.toContain('HALTED');
    expect(s.sink.last(U1)).toMatchObject({
      state: 'RUNNING',
      restartCount: 0,
      error: { message: 'zones cannot be paused' },
    });
    await s.send(U1, vm(U1, { generation: 2 }));
    await s.clock.advance(100);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', observedGeneration: 2, error: null });
  });
});

const HOUR = 3_600_000;

describe('engine: deadlines run on the monotonic clock (NTP steps the wall clock)', () => {
  test.each([
    ['forward', 3 * HOUR],
    ['backward', -3 * HOUR],
  ])('a wall clock stepped %s by hours during HALTING: no destroy before the grace, destroy after it', async (_way, step) => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    s.hv.hang(U1);
    await s.send(U1, vm(U1, { generation: 2, activate: false }));
    await s.clock.advance(10);
    expect(s.sink.last(U1)?.state).toBe('HALTING');
    s.clock.stepWall(step);
    // A config redelivered mid-grace makes the worker decide again at once, after the step.
    await s.send(U1, vm(U1, { generation: 3, activate: false }));
    await s.clock.advance(8000);
    expect(s.hv.count('destroy')).toBe(0);
    expect(s.sink.last(U1)?.state).toBe('HALTING');
    // The grace (10 s) ends 10 s of monotonic time after the shutdown, however the wall clock moved.
    await s.clock.advance(2500);
    expect(s.hv.calls).toContain('destroy vm-1111');
    const halted = s.sink.last(U1);
    expect(halted?.state).toBe('HALTED');
    // Statuses carry wall time: the stepped one.
    const wall = Date.parse(halted?.lastTransitionTime ?? '');
    expect(Math.abs(wall - (Date.UTC(2026, 0, 1) + step))).toBeLessThan(60_000);
  });

  test('a wall clock stepped back by hours does not delay a restart: the backoff holds in monotonic time', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    s.hv.crash(U1);
    s.engine.requestProbe(0);
    await s.clock.advance(60);
    const broken = s.sink.last(U1);
    expect(broken).toMatchObject({ state: 'BROKEN', restartCount: 1 });
    // Shown as wall time: the 1 s backoff after the error.
    expect(Date.parse(broken?.error?.retryAt ?? '') - Date.parse(broken?.error?.time ?? '')).toBe(1000);
    s.clock.stepWall(-3 * HOUR);
    await s.clock.advance(500);
    expect(s.hv.count('create')).toBe(1);
    await s.clock.advance(600);
    expect(s.hv.count('create')).toBe(2);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', restartCount: 1, error: null });
  });

  test('a wall clock stepped forward by hours does not cut a restart backoff short', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    s.hv.crash(U1);
    s.engine.requestProbe(0);
    await s.clock.advance(60);
    expect(s.sink.last(U1)?.state).toBe('BROKEN');
    s.clock.stepWall(3 * HOUR);
    // A redelivered config makes the worker decide again at once: still inside the backoff.
    await s.send(U1, vm(U1, { generation: 2 }));
    await s.clock.advance(500);
    expect(s.hv.count('create')).toBe(1);
    await s.clock.advance(600);
    expect(s.hv.count('create')).toBe(2);
  });
});

describe('engine: a change feed from the hypervisor', () => {
  test('a change reported by the feed is listed at once, long before the resync interval', async () => {
    const clock = new ManualClock();
    const hv = new WatchedHypervisor(clock);
    const s = await started(setup({ resyncIntervalMs: 60_000 }, new MemoryLedger(), clock, hv));
    await s.send(U1, vm(U1, { restartPolicy: 'never' }));
    await s.clock.advance(100);
    expect(s.sink.last(U1)?.state).toBe('RUNNING');
    await s.clock.advance(10_000);
    const lists = hv.count('list');
    s.hv.crash(U1);
    await s.clock.advance(1000);
    expect(hv.count('list')).toBe(lists);
    expect(s.sink.last(U1)?.state).toBe('RUNNING');

    hv.onChange?.();
    await s.clock.advance(100);
    expect(hv.count('list')).toBe(lists + 1);
    expect(s.sink.last(U1)).toMatchObject({ state: 'BROKEN', error: { source: 'hypervisor' } });
  });

  test('a burst of changes costs one listing; stop closes the feed', async () => {
    const clock = new ManualClock();
    const hv = new WatchedHypervisor(clock);
    const s = await started(setup({ resyncIntervalMs: 60_000 }, new MemoryLedger(), clock, hv));
    await s.clock.advance(1000);
    const lists = hv.count('list');
    for (let i = 0; i < 5; i++) hv.onChange?.();
    await s.clock.advance(100);
    expect(hv.count('list')).toBe(lists + 1);
    await s.engine.stop();
    expect(hv.closed).toBe(true);
  });

  test.each([
    { settleMs: undefined, events: 1, listedAfterMs: 0 },
    { settleMs: 0, events: 3, listedAfterMs: 0 },
    { settleMs: 20, events: 1, listedAfterMs: 20 },
    { settleMs: 20, events: 3, listedAfterMs: 20 },
  ])('a feed with settleMs $settleMs: $events events in a burst are one listing after $listedAfterMs ms', async ({
    settleMs,
    events,
    listedAfterMs,
  }) => {
    const clock = new ManualClock();
    const hv = new WatchedHypervisor(clock);
    hv.settleMs = settleMs;
    const s = await started(setup({ resyncIntervalMs: 60_000 }, undefined, clock, hv));
    // Past the start's listing and the least gap after it.
    await s.clock.advance(1_000);
    const before = hv.count('list');
    for (let i = 0; i < events; i++) hv.onChange?.();
    if (listedAfterMs > 0) {
      await s.clock.advance(listedAfterMs - 1);
      expect(hv.count('list')).toBe(before);
    }
    await s.clock.advance(listedAfterMs > 0 ? 1 : 0);
    expect(hv.count('list')).toBe(before + 1);
    // Nothing more until the resync.
    await s.clock.advance(10_000);
    expect(hv.count('list')).toBe(before + 1);
    await s.engine.stop();
  });
});

describe('engine: a change feed that names the domain (listSome)', () => {
  /** The settle time of the feed here, as lxc-monitor's. */
  const FEED_SETTLE_MS = 20;
  async function twoRunning() {
    const clock = new ManualClock();
    const hv = new WatchedHypervisor(clock);
    hv.settleMs = FEED_SETTLE_MS;
    const s = await started(setup({ resyncIntervalMs: 60_000 }, new MemoryLedger(), clock, hv));
    await s.send(U1, vm(U1, { restartPolicy: 'never' }));
    await s.send(U2, vm(U2, { restartPolicy: 'never' }));
    await s.clock.advance(100);
    expect([s.sink.last(U1)?.state, s.sink.last(U2)?.state]).toEqual(['RUNNING', 'RUNNING']);
    await s.clock.advance(10_000);
    return { s, hv };
  }

  test('a named change lists that domain alone; its crash is BROKEN quoting the hypervisor; no full listing', async () => {
    const { s, hv } = await twoRunning();
    const lists = hv.count('list');
    hv.crash(U1, 'init ended on signal 9 (LXC: Child <42> ended on signal Killed(9))');
    // U2 vanishes too, unannounced: a listing of U1 alone must not read that as U2 gone.
    hv.vanish(U2);
    hv.onChange?.(U1);
    await s.clock.advance(FEED_SETTLE_MS);
    expect(hv.calls.filter((c) => c.startsWith('some'))).toEqual([`some ${U1}`]);
    expect(hv.count('list')).toBe(lists);
    expect(s.sink.last(U1)).toMatchObject({
      state: 'BROKEN',
      error: {
        source: 'hypervisor',
        message:
          'the domain crashed: init ended on signal 9 (LXC: Child <42> ended on signal Killed(9)) (restartPolicy never)',
      },
    });
    expect(s.sink.last(U2)?.state).toBe('RUNNING');
  });

  test('named changes in a burst are one listing of those domains', async () => {
    const { s, hv } = await twoRunning();
    for (const uuid of [U2, U1, U2]) hv.onChange?.(uuid);
    await s.clock.advance(FEED_SETTLE_MS);
    expect(hv.calls.filter((c) => c.startsWith('some'))).toEqual([`some ${[U1, U2].sort().join(',')}`]);
  });

  test('a listing of some that fails is followed by a full listing', async () => {
    const { s, hv } = await twoRunning();
    const lists = hv.count('list');
    hv.crash(U1);
    hv.failNext('listSome');
    hv.onChange?.(U1);
    await s.clock.advance(1000);
    expect(hv.count('list')).toBe(lists + 1);
    expect(s.sink.last(U1)?.state).toBe('BROKEN');
  });

  test('a full listing that began before a listing of some and ends after it does not undo it', async () => {
    const { s, hv } = await twoRunning();
    // The periodic listing begins (U1 still running) and is held until released.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const list = hv.list.bind(hv);
    hv.list = async () => {
      const listing = await list();
      await held;
      return listing;
    };
    await s.clock.advance(60_000);
    hv.crash(U1);
    hv.onChange?.(U1);
    await s.clock.advance(FEED_SETTLE_MS);
    expect(s.sink.last(U1)?.state).toBe('BROKEN');
    const brokenAt = s.sink.states(U1).length;
    release();
    await s.clock.advance(100);
    expect(s.sink.last(U1)?.state).toBe('BROKEN');
    expect(s.sink.states(U1).slice(brokenAt)).not.toContain('RUNNING');
  });
});

describe('engine: restart policy', () => {
  test('a crash is detected within one probe and restarted with backoff (on-failure)', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    s.hv.crash(U1);
    await s.clock.advance(5000);
    const broken = s.sink.last(U1);
    expect(broken).toMatchObject({ state: 'BROKEN', restartCount: 1, error: { source: 'hypervisor' } });
    expect(broken?.error?.message).toContain('crashed');
    expect(broken?.error?.retryAt).toBe(
      new Date(s.clock.now() + 1000 - (s.clock.now() - Date.parse(broken?.error?.time ?? ''))).toISOString(),
    );
    expect(s.hv.calls).toContain('destroy vm-1111');
    await s.clock.advance(1100);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', restartCount: 1, error: null });
  });

  test('backoff doubles on each crash up to the cap', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      s.hv.crash(U1);
      s.engine.requestProbe(0);
      await s.clock.advance(60);
      const st = s.sink.last(U1);
      delays.push(Date.parse(st?.error?.retryAt ?? '') - Date.parse(st?.error?.time ?? ''));
      await s.clock.advance(9000);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(s.sink.last(U1)?.restartCount).toBe(5);
  });

  test('a guest poweroff stays HALTED under on-failure', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    s.hv.powerOff(U1);
    await s.clock.advance(5000);
    await s.clock.advance(20_000);
    expect(s.sink.last(U1)).toMatchObject({ state: 'HALTED', restartCount: 0, error: null });
    expect(s.hv.count('create')).toBe(1);
  });

  test('always restarts after a guest poweroff too', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1, { restartPolicy: 'always' }));
    await s.clock.advance(100);
    s.hv.powerOff(U1);
    await s.clock.advance(7000);
    expect(s.hv.count('create')).toBe(2);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', restartCount: 1 });
  });

  test('never leaves a crashed domain BROKEN and does not restart it', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1, { restartPolicy: 'never' }));
    await s.clock.advance(100);
    s.hv.crash(U1);
    await s.clock.advance(30_000);
    expect(s.hv.count('create')).toBe(1);
    expect(s.sink.last(U1)).toMatchObject({ state: 'BROKEN', restartCount: 0 });
    expect(s.sink.last(U1)?.error?.retryAt).toBeUndefined();
  });

  test('a domain that vanished is restarted under on-failure', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    s.hv.vanish(U1);
    await s.clock.advance(7000);
    expect(s.hv.count('create')).toBe(2);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', restartCount: 1 });
  });
});

describe('engine: failures', () => {
  test('a failure retrying cannot heal waits restartBackoff.maxMs, says why; a config that builds differently is tried at once', async () => {
    const s = await started(setup());
    const bridgeMissing = () =>
      new HypervisorError('create', 'xl create failed', {
        cause: new CommandFailedError('xl create -p /x.cfg exited with 3', {
          argv: ['xl', 'create', '-p', '/x.cfg'],
          exitCode: 3,
          stderr: '/etc/xen/scripts/vif-bridge online [-1] Could not find bridge device br0\n',
          durationMs: 5,
        }),
      });
    s.hv.failNext('create', bridgeMissing());
    s.hv.failNext('create', bridgeMissing());
    await s.send(U1, vm(U1));
    await s.clock.advance(10);
    const first = s.sink.last(U1);
    expect(first?.state).toBe('BROKEN');
    expect(first?.error?.message).toMatch(
      /; retrying will not heal this \(a bridge the vifs name does not exist on the host\): tried again every 8000 ms \(restartBackoff\.maxMs\)/,
    );
    // Not after initialMs (1000), the transient backoff: after maxMs (8000).
    await s.clock.advance(7900);
    expect(s.hv.count('create')).toBe(1);
    await s.clock.advance(200);
    expect(s.hv.count('create')).toBe(2);
    expect(s.sink.last(U1)?.state).toBe('BROKEN');
    // The controller fixes the bridge: tried at once, not 8 s later.
    await s.send(U1, vm(U1, { generation: 2, vifs: [{ bridge: 'br1' }] }));
    await s.clock.advance(10);
    expect(s.hv.count('create')).toBe(3);
    await s.clock.advance(100);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', error: null });
  });

  test('a failed create reports command, exit code and stderr, then retries with backoff', async () => {
    const s = await started(setup());
    const cause = new CommandFailedError('xl create -p /x.cfg exited with 3', {
      argv: ['xl', 'create', '-p', '/x.cfg'],
      exitCode: 3,
      stderr: 'libxl: error: libxl_create.c:1196:initiate_domain_create: cannot make domain: -3\n',
      durationMs: 5,
    });
    s.hv.failNext('create', new HypervisorError('create', 'xl create failed', { cause }));
    await s.send(U1, vm(U1));
    await s.clock.advance(10);
    expect(s.sink.last(U1)).toMatchObject({
      state: 'BROKEN',
      error: {
        source: 'hypervisor',
        command: 'xl create -p /x.cfg',
        exitCode: 3,
        stderr: 'libxl: error: libxl_create.c:1196:initiate_domain_create: cannot make domain: -3',
      },
    });
    await s.clock.advance(1100);
    expect(s.sink.last(U1)?.state).toBe('RUNNING');
  });

  test.each(['offload', 'unpause'])('a failure at %s destroys the half-built domain', async (step) => {
    const s = await started(setup());
    s.hv.failNext(step);
    await s.send(U1, vm(U1));
    await s.clock.advance(10);
    expect(s.hv.calls).toContain('destroy vm-1111');
    expect(s.hv.byUuid(U1)).toBeUndefined();
    expect(s.sink.last(U1)).toMatchObject({
      state: 'BROKEN',
      error: { message: `${step} failed (injected)` },
    });
    await s.clock.advance(1100);
    expect(s.sink.last(U1)?.state).toBe('RUNNING');
  });

  test('an unpause that exits 0 but did not unpause is caught by the listing and retried', async () => {
    const s = await started(setup());
    s.hv.unpauseIsNoop = true;
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    // Honest: the domain is paused, and the error says the unpause did not take.
    expect(s.sink.last(U1)).toMatchObject({
      state: 'PAUSED',
      error: { message: 'the domain is still paused after unpause' },
    });
    s.hv.unpauseIsNoop = false;
    await s.clock.advance(1100);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', error: null });
  });

  test('a pause that exits 0 but did not pause is caught by the listing and retried with backoff', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(200);
    expect(s.sink.last(U1)?.state).toBe('RUNNING');
    s.hv.pauseIsNoop = true;
    await s.send(U1, vm(U1, { generation: 2, paused: true }));
    await s.clock.advance(200);
    // Honest: running, and the error says the pause did not take and when it is tried again.
    expect(s.sink.last(U1)).toMatchObject({
      state: 'RUNNING',
      error: { message: 'the domain is still running after pause' },
    });
    const pauses = s.hv.count('pause');
    // Not a pause per listing (every 50 ms or so): the next one waits for the backoff (1 s).
    await s.clock.advance(700);
    expect(s.hv.count('pause')).toBe(pauses);
    s.hv.pauseIsNoop = false;
    await s.clock.advance(2500);
    expect(s.sink.last(U1)).toMatchObject({ state: 'PAUSED', error: null });
  });

  test('an operation that keeps failing is tried again with the backoff, not at every listing; the error says when', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(200);
    for (let i = 0; i < 3; i++) s.hv.failNext('pause');
    await s.send(U1, vm(U1, { generation: 2, paused: true }));
    await s.clock.advance(100);
    expect(s.hv.count('pause')).toBe(1);
    expect(s.sink.last(U1)).toMatchObject({
      state: 'RUNNING',
      error: { message: 'pause failed (injected)' },
    });
    expect(s.sink.last(U1)?.error?.retryAt).toBeDefined();
    // Listings every 50 ms or so meanwhile: no pause before the backoff (1 s) ends.
    await s.clock.advance(800);
    expect(s.hv.count('pause')).toBe(1);
    await s.clock.advance(300);
    expect(s.hv.count('pause')).toBe(2);
    // 2 s, then 4 s; then it takes.
    await s.clock.advance(7000);
    expect(s.hv.count('pause')).toBe(4);
    expect(s.sink.last(U1)).toMatchObject({ state: 'PAUSED', error: null });
  });

  test('not enough host memory is a clear host error, and nothing is created', async () => {
    const s = setup();
    s.hv.totalMemoryMiB = 1500;
    await started(s);
    await s.send(U1, vm(U1, { memoryMiB: 1024 }));
    await s.clock.advance(10);
    expect(s.hv.count('create')).toBe(0);
    expect(s.sink.last(U1)).toMatchObject({
      state: 'BROKEN',
      error: { source: 'host', message: 'not enough free memory on the host: 1024 MiB asked, 476 MiB free' },
    });
  });

  test('memory the host will never have: a host error that says retrying will not heal it', async () => {
    const s = setup();
    s.hv.totalMemoryMiB = 1500;
    await started(s);
    await s.send(U1, vm(U1, { memoryMiB: 2048, maxMemoryMiB: 2048 }));
    await s.clock.advance(10);
    expect(s.hv.count('create')).toBe(0);
    expect(s.sink.last(U1)?.error).toMatchObject({ source: 'host' });
    expect(s.sink.last(U1)?.error?.message).toMatch(
      /^not enough free memory on the host: 2048 MiB asked, \d+ MiB free; retrying will not heal this \(the config asks for 2048 MiB and the host has 1500 MiB in all\)/,
    );
  });

  test('memory reserved by creates in flight counts against the next create', async () => {
    const s = setup();
    s.hv.totalMemoryMiB = 1024 + 700;
    await started(s);
    let open = () => {};
    s.hv.gate = new Promise((r) => {
      open = r;
    });
    await s.send(U1, vm(U1, { memoryMiB: 400 }));
    await s.send(U2, vm(U2, { memoryMiB: 400 }));
    await s.clock.advance(10);
    open();
    await s.clock.advance(10);
    expect(s.hv.count('create')).toBe(1);
    expect(s.sink.last(U2)?.error?.source).toBe('host');
  });

  test('a PCI device held by another domain is a clear error, not a failed create', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1, { pciDevices: [{ bdf: '0000:03:00.0' }] }));
    await s.clock.advance(100);
    await s.send(U2, vm(U2, { pciDevices: [{ bdf: '0000:03:00.0' }] }));
    await s.clock.advance(10);
    expect(s.hv.count('create')).toBe(1);
    expect(s.sink.last(U2)).toMatchObject({
      state: 'BROKEN',
      error: { source: 'host', message: `PCI device 0000:03:00.0 is held by domain ${U1}` },
    });
    await s.send(U1, null);
    await s.clock.advance(5000);
    expect(s.sink.last(U2)?.state).toBe('RUNNING');
  });

  test('a name clash with a domain that is not ours fails the create and leaves that domain alone', async () => {
    const s = setup();
    s.hv.addDomain(null, 'vm-1111');
    await started(s);
    await s.send(U1, vm(U1));
    await s.clock.advance(10);
    expect(s.sink.last(U1)?.error?.message).toBe('Domain with name "vm-1111" already exists.');
    expect([...s.hv.domains.values()].map((d) => d.name)).toContain('vm-1111');
    expect(s.hv.count('destroy')).toBe(0);
  });

  test('creates run in parallel, bounded by createConcurrency', async () => {
    const s = await started(setup({ createConcurrency: 2 }));
    let open = () => {};
    s.hv.gate = new Promise((r) => {
      open = r;
    });
    for (const u of [U1, U2, U3]) await s.send(u, vm(u));
    await s.clock.advance(10);
    expect(s.hv.inFlightCreates).toBe(2);
    // The third waits for a slot, and says so: PENDING until a create ends.
    expect(s.sink.last(U3)?.state).toBe('PENDING');
    open();
    await s.clock.advance(100);
    expect(s.hv.maxInFlightCreates).toBe(2);
    for (const u of [U1, U2, U3]) expect(s.sink.last(u)?.state).toBe('RUNNING');
    expect(s.sink.states(U1)).toEqual(['CREATING', 'BOOTING', 'RUNNING']);
    expect(s.sink.states(U3)).toEqual(['PENDING', 'CREATING', 'BOOTING', 'RUNNING']);
  });
});

describe('engine: bad input', () => {
  test('an invalid config for a new domain is REJECTED with the field and reason, and never reaches the hypervisor', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1, { vifs: [{ bridge: 'br0', mac: 'zz' }] }));
    await s.clock.advance(10);
    expect(s.sink.last(U1)).toMatchObject({
      state: 'REJECTED',
      name: 'vm-1111',
      observedGeneration: 0,
      error: { source: 'config', message: 'invalid config: /vifs/0/mac must match xx:xx:xx:xx:xx:xx' },
    });
    expect(s.hv.count('create')).toBe(0);
  });

  test('an invalid config beside a valid one: the valid domain runs', async () => {
    const s = await started(setup());
    await s.send(U1, '{"uuid": ');
    await s.send(U2, vm(U2));
    await s.clock.advance(100);
    expect(s.sink.last(U1)?.state).toBe('REJECTED');
    expect(s.sink.last(U2)?.state).toBe('RUNNING');
  });

  test('a running domain keeps its last valid config when an invalid one arrives', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    await s.send(U1, vm(U1, { generation: 2, memoryMiB: 'lots' }));
    await s.clock.advance(6000);
    expect(s.sink.last(U1)).toMatchObject({
      state: 'RUNNING',
      observedGeneration: 1,
      error: { source: 'config', message: 'invalid config: /memoryMiB must be an integer' },
    });
    expect(s.hv.count('mem-set')).toBe(0);
  });

  test('a uuid that does not match the subject is rejected', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U2));
    expect(s.sink.last(U1)?.error?.message).toBe(
      `invalid config: /uuid must equal the subject's last token (${U1})`,
    );
  });

  test('a stale generation is not acted on; the status says so', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1, { generation: 5 }));
    await s.clock.advance(100);
    await s.send(U1, vm(U1, { generation: 4, activate: false }));
    await s.clock.advance(100);
    expect(s.hv.count('shutdown')).toBe(0);
    expect(s.sink.last(U1)).toMatchObject({
      state: 'RUNNING',
      observedGeneration: 5,
      error: {
        source: 'config',
        message: 'stale config: generation 4 is older than the accepted generation 5',
      },
    });
  });

  test('a config the backend cannot run is rejected before the hypervisor', async () => {
    const s = await started(setup());
    const doc = vm(U1);
    delete doc.kernel;
    await s.send(U1, doc);
    expect(s.sink.last(U1)).toMatchObject({
      state: 'REJECTED',
      error: { message: 'invalid config: /kernel is required for a pv or pvh vm on xl' },
    });
  });

  test('a subject token that is not a uuid is ignored without a crash', async () => {
    const s = await started(setup());
    await expect(s.send('not-a-uuid', vm(U1))).resolves.toBeUndefined();
    expect(s.sink.domain).toHaveLength(0);
  });
});

describe('engine: restart without harm', () => {
  test('a running desired domain is adopted, never re-created or stopped', async () => {
    const s = setup();
    const domid = s.hv.addDomain(U1, 'vm-1111', 'running');
    await s.engine.start();
    await s.send(U1, vm(U1));
    s.engine.markSynced();
    await s.clock.advance(6000);
    expect(s.hv.calls.filter((c) => !['list', 'hostInfo', 'verify'].includes(c))).toEqual([]);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', domainId: domid });
  });

  test('a domain left paused by an interrupted create is destroyed and created again', async () => {
    const ledger = new MemoryLedger();
    await remember(ledger, U1, 'vm-1111', 'creating');
    const s = setup({}, ledger);
    s.hv.addDomain(U1, 'vm-1111', 'paused');
    await s.engine.start();
    await s.send(U1, vm(U1));
    s.engine.markSynced();
    await s.clock.advance(100);
    expect(s.hv.calls.filter((c) => /^(destroy|create|unpause)/.test(c))).toEqual([
      'destroy vm-1111',
      'create vm-1111',
      'unpause vm-1111',
    ]);
    expect([...s.hv.domains.values()].filter((d) => d.uuid === U1)).toHaveLength(1);
    expect(s.sink.last(U1)?.state).toBe('RUNNING');
  });

  test('a VM left stopped by an interrupted create (vmadm lists it shutdown) is re-created, not HALTED', async () => {
    const ledger = new MemoryLedger();
    await remember(ledger, U1, 'vm-1111', 'creating');
    const s = setup({}, ledger);
    s.hv.addDomain(U1, 'vm-1111', 'shutdown');
    await s.engine.start();
    await s.send(U1, vm(U1));
    s.engine.markSynced();
    await s.clock.advance(100);
    expect(s.hv.calls.filter((c) => /^(destroy|create|unpause)/.test(c))).toEqual([
      'destroy vm-1111',
      'create vm-1111',
      'unpause vm-1111',
    ]);
    expect(s.sink.states(U1)).not.toContain('HALTED');
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', restartCount: 0, error: null });
  });

  test('a domain of an interrupted create found running is adopted, and may be paused later', async () => {
    const ledger = new MemoryLedger();
    await remember(ledger, U1, 'vm-1111', 'creating');
    const s = setup({}, ledger);
    const domid = s.hv.addDomain(U1, 'vm-1111', 'running');
    await s.engine.start();
    await s.send(U1, vm(U1));
    s.engine.markSynced();
    await s.clock.advance(100);
    // The ledger no longer says 'creating': a later restart must not take it for half-built.
    expect((await s.ledger.load()).get(U1)?.phase).toBe('created');
    await s.send(U1, vm(U1, { generation: 2, paused: true }));
    await s.clock.advance(6000);
    expect(s.hv.calls.filter((c) => /^(destroy|create)/.test(c))).toEqual([]);
    expect(s.sink.last(U1)).toMatchObject({ state: 'PAUSED', domainId: domid });
  });

  test('a second domain with our uuid (a killed create that finished late) is destroyed; ours keeps running', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    const ours = s.sink.last(U1);
    expect(ours?.state).toBe('RUNNING');
    // The late create of a killed domainmgr: the same uuid under another name (an rkt pod), paused.
    const stray = s.hv.addDomain(U1, 'late-pod', 'paused');
    await s.clock.advance(6000);
    expect(s.hv.calls.filter((c) => /^(destroy|create|unpause|shutdown)/.test(c))).toEqual([
      'create vm-1111',
      'unpause vm-1111',
      'destroy late-pod',
    ]);
    expect(s.hv.domains.has(stray)).toBe(false);
    expect([...s.hv.domains.values()].filter((d) => d.uuid === U1)).toHaveLength(1);
    expect(s.sink.last(U1)).toMatchObject({ state: 'RUNNING', domainId: ours?.domainId, error: null });
  });

  test('a paused domain whose create completed is unpaused, not re-created', async () => {
    const s = setup();
    s.hv.addDomain(U1, 'vm-1111', 'paused');
    await s.engine.start();
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    expect(s.hv.count('create')).toBe(0);
    expect(s.hv.count('unpause')).toBe(1);
  });

  test('orphans (ours, no config) follow the orphan policy: destroy', async () => {
    const ledger = new MemoryLedger();
    await remember(ledger, U1, 'old', 'created');
    const s = setup({ orphanPolicy: 'destroy' }, ledger);
    s.hv.addDomain(U1, 'old', 'running');
    s.hv.addDomain(U2, 'by-hand', 'running');
    s.hv.addDomain(null, 'no-uuid', 'running');
    await started(s);
    await s.clock.advance(3000);
    expect(s.hv.byUuid(U1)).toBeUndefined();
    expect(s.sink.last(U1)?.state).toBe('DELETED');
    expect(s.hv.byUuid(U2)).toBeDefined();
    expect([...s.hv.domains.values()].map((d) => d.name).sort()).toEqual(['Domain-0', 'by-hand', 'no-uuid']);
  });

  test('orphans are kept under orphanPolicy keep; domains not ours are never touched', async () => {
    const ledger = new MemoryLedger();
    await remember(ledger, U1, 'old', 'created');
    const s = setup({ orphanPolicy: 'keep' }, ledger);
    s.hv.addDomain(U1, 'old', 'running');
    s.hv.addDomain(U2, 'by-hand', 'crashed');
    await started(s);
    await s.clock.advance(20_000);
    expect(s.hv.calls.filter((c) => !['list', 'hostInfo', 'verify'].includes(c))).toEqual([]);
  });

  test('counters raised while domainmgr was down are acted on; the same counters are not', async () => {
    const ledger = new MemoryLedger();
    await remember(ledger, U1, 'vm-1111', 'created', 2);
    await remember(ledger, U2, 'vm-2222', 'created', 1);
    const s = setup({}, ledger);
    s.hv.addDomain(U1, 'vm-1111', 'running');
    s.hv.addDomain(U2, 'vm-2222', 'running');
    await s.engine.start();
    await s.send(U1, vm(U1, { restartCounter: 3 }));
    await s.send(U2, vm(U2, { restartCounter: 1 }));
    s.engine.markSynced();
    await s.clock.advance(3000);
    expect(s.hv.calls.filter((c) => /^(shutdown|create)/.test(c))).toEqual([
      'shutdown vm-1111',
      'create vm-1111',
    ]);
  });
});

describe('engine: node status and stop', () => {
  test('NodeStatus counts domains by state and says ready once synced and connected', async () => {
    const s = setup();
    await s.engine.start();
    expect(s.sink.node[0]).toMatchObject({
      nodeId: 'node-1',
      backend: 'xl',
      ready: false,
      verify: { ok: true },
    });
    s.engine.markSynced();
    await s.send(U1, vm(U1));
    await s.send(U2, '{}');
    await s.clock.advance(500);
    expect(s.sink.node.at(-1)).toMatchObject({
      ready: true,
      domains: { RUNNING: 1, REJECTED: 1 },
      host: { nrCpus: 8 },
    });
    s.connection.set(false);
    await s.clock.advance(500);
    expect(s.sink.node.at(-1)?.ready).toBe(false);
  });

  test('NodeStatus is also published every interval', async () => {
    const s = await started(setup({ nodeStatusIntervalMs: 30_000 }));
    const before = s.sink.node.length;
    await s.clock.advance(95_000);
    expect(s.sink.node.length - before).toBeGreaterThanOrEqual(3);
  });

  test('an idle node reads its host once per resync interval; a create makes the next NodeStatus read it', async () => {
    const s = await started(setup({ nodeStatusIntervalMs: 30_000, resyncIntervalMs: 60_000 }));
    const readsAtStart = s.hv.count('hostInfo');
    const published = s.sink.node.length;
    await s.clock.advance(125_000);
    // Four periodic NodeStatus (30, 60, 90, 120 s), two of them with a fresh reading (60, 120 s).
    expect(s.sink.node.length - published).toBeGreaterThanOrEqual(4);
    expect(s.hv.count('hostInfo') - readsAtStart).toBe(2);
    await s.send(U1, vm(U1));
    await s.clock.advance(1000);
    expect(s.hv.byUuid(U1)?.state).toBe('running');
    const readsBefore = s.hv.count('hostInfo');
    await s.clock.advance(30_000);
    expect(s.hv.count('hostInfo') - readsBefore).toBe(1);
  });

  test('one listing per probe tick, whatever the number of domains', async () => {
    const s = await started(setup({ createConcurrency: 50 }));
    for (let i = 0; i < 50; i++) {
      const u = `${i.toString(16).padStart(8, '0')}-1111-4111-8111-111111111111`;
      await s.send(u, vm(u, { name: `d${i}` }));
    }
    await s.clock.advance(1000);
    const listsBefore = s.hv.count('list');
    await s.clock.advance(50_000);
    expect(s.hv.count('list') - listsBefore).toBe(10);
  });

  test('stop leaves domains running by default and ends with ready false', async () => {
    const s = await started(setup());
    await s.send(U1, vm(U1));
    await s.clock.advance(100);
    await s.engine.stop();
    expect(s.hv.byUuid(U1)?.state).toBe('running');
    expect(s.sink.node.at(-1)?.ready).toBe(false);
    await expect(s.send(U2, vm(U2))).rejects.toThrow('engine is stopping');
  });

  test('onStop shutdown stops every domain gracefully first', async () => {
    const s = await started(setup({ onStop: 'shutdown' }));
    await s.send(U1, vm(U1));
    await s.send(U2, vm(U2));
    await s.clock.advance(100);
    const stopping = s.engine.stop();
    await s.clock.advance(3000);
    await stopping;
    expect(s.hv.byUuid(U1)).toBeUndefined();
    expect(s.hv.byUuid(U2)).toBeUndefined();
    expect(s.sink.last(U1)?.state).toBe('HALTED');
  });
});

/**
 * A FakeHypervisor with a change watch (Hypervisor.watchChanges) whose events (naming a domain or
 * not) and liveness the test drives.
 */
class WatchedHypervisor extends FakeHypervisor {
  onChange: ((uuid?: string) => void) | null = null;
  live = true;
  closed = false;
  /** The feed's ChangeWatch.settleMs (undefined: the feed leaves it out). */
  settleMs: number | undefined = undefined;
  watchChanges(onChange: (uuid?: string) => void): ChangeWatch {
    this.onChange = onChange;
    const self = this;
    return {
      close: () => {
        self.closed = true;
        self.onChange = null;
      },
      get live() {
        return self.live;
      },
      ...(self.settleMs === undefined ? {} : { settleMs: self.settleMs }),
    };
  }
}

describe('engine: the backend change watch', () => {
  test('each event is one listing; the periodic listing is resyncIntervalMs while live, probeIntervalMs when down', async () => {
    const clock = new ManualClock();
    const hv = new WatchedHypervisor(clock);
    const s = await started(setup({ resyncIntervalMs: 60_000 }, undefined, clock, hv));
    await s.clock.advance(0);
    const atStart = hv.count('list');
    // Live watch: nothing listed within probeIntervalMs.
    await s.clock.advance(30_000);
    expect(hv.count('list')).toBe(atStart);
    // An event (a domain died) from a feed with no settle time: one listing, at once.
    hv.onChange?.();
    await s.clock.advance(0);
    expect(hv.count('list')).toBe(atStart + 1);
    // Then the slow resync only.
    await s.clock.advance(59_000);
    expect(hv.count('list')).toBe(atStart + 1);
    await s.clock.advance(1_000);
    expect(hv.count('list')).toBe(atStart + 2);
    // The watch goes down (the backend says so with an event): back to probeIntervalMs.
    hv.live = false;
    hv.onChange?.();
    // Expedited listings keep the least gap (50 ms) after the previous one.
    await s.clock.advance(50);
    expect(hv.count('list')).toBe(atStart + 3);
    await s.clock.advance(5_000);
    expect(hv.count('list')).toBe(atStart + 4);
    await s.clock.advance(5_000);
    expect(hv.count('list')).toBe(atStart + 5);
    await s.engine.stop();
    expect(hv.closed).toBe(true);
  });
});
