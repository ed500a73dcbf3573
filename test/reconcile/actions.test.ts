import { HypervisorError } from '../../pkg/hypervisor/hypervisor.js';
import { silentLogger } from '../../pkg/log/logger.js';
import {
  type ActionParty,
  carryOut,
  type DomainState,
  destroyStrays,
  recordEvent,
} from '../../pkg/reconcile/actions.js';
import type { Action, Desired } from '../../pkg/reconcile/decide.js';
import { type DomainRecord, recordFrom } from '../../pkg/reconcile/domain-record.js';
import { HostResources } from '../../pkg/reconcile/host-resources.js';
import { Semaphore } from '../../pkg/reconcile/semaphore.js';
import type { DomainSpec } from '../../pkg/schema/domain-spec.js';
import { FakeHypervisor } from '../support/fake-hypervisor.js';
import { ManualClock } from '../support/manual-clock.js';
import { MemoryLedger } from '../support/memory-ledger.js';
import { domainSpec, START_TIME, UUID } from '../support/reconcile-fixtures.js';

/**
 * Carrying out each action against a recording party: which hypervisor calls it makes, the
 * states it reports, what it leaves in the record and the ledger, and what it asks of the worker.
 */

const GRACE = 10_000;
const spec = (over: Partial<DomainSpec> = {}): DomainSpec =>
  domainSpec({ restartCounter: 1, purgeCounter: 1, ...over });
const built = spec({ pciDevices: [{ bdf: '0000:03:00.0' }] });
const run: Desired = { kind: 'run', spec: spec() };
const halt: Desired = { kind: 'halt', spec: spec() };
const del: Desired = { kind: 'delete' };

function harness(state: DomainState) {
  const clock = new ManualClock();
  const hv = new FakeHypervisor(clock);
  const ledger = new MemoryLedger();
  const resources = new HostResources(() => hv.hostInfo());
  const record: DomainRecord = recordFrom();
  const seen = {
    states: [] as DomainState[],
    probes: [] as number[],
    wakes: [] as number[],
    mutated: 0,
    forgotten: 0,
  };
  let current = state;
  const party: ActionParty = {
    uuid: UUID,
    deps: {
      hypervisor: hv,
      clock,
      ledger,
      resources,
      createSlots: new Semaphore(1),
      shutdownGraceMs: GRACE,
      restartBackoff: { initialMs: 1000, maxMs: 8000 },
      createTimeoutMs: 60_000,
      requestProbe: (ms) => seen.probes.push(ms),
    },
    log: silentLogger,
    record,
    name: () => 'a',
    state: () => current,
    setState: (s) => {
      if (s === current) return;
      current = s;
      seen.states.push(s);
    },
    publish: () => {},
    call: (_operation, fn) => fn(),
    mutated: () => {
      seen.mutated++;
    },
    wakeAt: (at) => seen.wakes.push(at),
    stopped: () => false,
    forgotten: () => {
      seen.forgotten++;
    },
  };
  /** A running domain built from `from`, as the worker knows it after a create and a listing. */
  const running = (from: DomainSpec) => {
    const domid = hv.addDomain(UUID, from.name, 'running', from.memoryMiB);
    record.k.actual = 'running';
    record.k.ref = { uuid: UUID, domainName: from.name, domainId: domid };
    record.runningSpec = from;
    record.actedRestartCounter = 1;
    record.actedPurgeCounter = 1;
  };
  return { clock, hv, ledger, record, seen, party, running };
}

interface Case {
  name: string;
  state?: DomainState;
  action: Action;
  desired: Desired;
  /** The domain is running, built from this spec (else nothing is there). */
  from?: DomainSpec;
  fail?: [string, Error];
  /** The backend cannot pause (vmadm). */
  cannotPause?: boolean;
  /** Record fields as they are before the action. */
  seed?: Partial<Omit<DomainRecord, 'k'>>;
  /** What the worker believes is there, when no domain is (default: unknown, as at start). */
  actual?: DomainRecord['k']['actual'];
  calls: string[];
  states: DomainState[];
  record?: Partial<Omit<DomainRecord, 'k'>>;
  knowledge?: Partial<DomainRecord['k']>;
  probes?: number[];
  wakes?: number[];
  mutated?: number;
  /** The ledger's phase afterwards (undefined: nothing written). */
  phase?: string;
  unsupported?: string[];
}

const cases: Case[] = [
  {
    name: 'unpause: BOOTING, a listing asked at once',
    state: 'PAUSED',
    action: { type: 'unpause' },
    desired: run,
    from: spec(),
    calls: ['unpause a'],
    states: ['BOOTING'],
    knowledge: { actual: 'running', booting: true },
    probes: [0],
    mutated: 1,
  },
  {
    name: 'unpause fails: the error, actual unknown until a listing tells',
    state: 'PAUSED',
    action: { type: 'unpause' },
    desired: run,
    from: spec(),
    fail: ['unpause', new HypervisorError('unpause', 'unpause failed')],
    calls: ['unpause a'],
    states: [],
    record: { error: { message: 'unpause failed', source: 'hypervisor', time: START_TIME } },
    knowledge: { actual: 'unknown' },
    probes: [0],
    mutated: 1,
  },
  {
    name: 'pause: PAUSED, an earlier failure is over',
    action: { type: 'pause' },
    desired: { kind: 'run', spec: spec({ paused: true }) },
    from: spec(),
    seed: { error: { message: 'pause failed', source: 'hypervisor', time: START_TIME } },
    calls: ['pause a'],
    states: ['PAUSED'],
    record: { error: null },
    knowledge: { actual: 'paused' },
    mutated: 1,
  },
  {
    name: 'pause unsupported: recorded as such, the domain as it was, no listing asked',
    action: { type: 'pause' },
    desired: { kind: 'run', spec: spec({ paused: true }) },
    from: spec(),
    cannotPause: true,
    calls: ['pause a'],
    states: [],
    record: {
      error: { message: 'zones cannot be paused', source: 'hypervisor', time: START_TIME },
    },
    knowledge: { actual: 'running' },
    unsupported: ['pause'],
    probes: [],
    mutated: 1,
  },
  {
    name: 'set-memory: ballooned, the ledger says so',
    action: { type: 'set-memory', memoryMiB: 512 },
    desired: { kind: 'run', spec: spec({ memoryMiB: 512 }) },
    from: spec(),
    calls: ['mem-set a 512'],
    states: [],
    record: { currentMemoryMiB: 512 },
    phase: 'created',
    mutated: 1,
  },
  {
    name: 'set-memory with nothing to name: actual unknown, nothing called',
    action: { type: 'set-memory', memoryMiB: 512 },
    desired: run,
    calls: [],
    states: [],
    knowledge: { actual: 'unknown' },
    mutated: 0,
  },
  {
    name: 'shutdown to halt: HALTING, destroy due after the grace, a listing within a second',
    action: { type: 'shutdown' },
    desired: halt,
    from: spec(),
    calls: ['shutdown a'],
    states: ['HALTING'],
    // The grace's end is on file too: a restarted domainmgr keeps what is left of it.
    phase: 'halting',
    knowledge: { haltingUntil: GRACE },
    wakes: [GRACE],
    probes: [1000],
    mutated: 1,
  },
  {
    name: 'shutdown to delete: DELETING',
    action: { type: 'shutdown' },
    desired: del,
    from: spec(),
    calls: ['shutdown a'],
    states: ['DELETING'],
    phase: 'halting',
    knowledge: { haltingUntil: GRACE },
    wakes: [GRACE],
    probes: [1000],
  },
  {
    name: 'shutdown of an HVM VM: forced',
    action: { type: 'shutdown' },
    desired: { kind: 'halt', spec: spec({ virtualizationMode: 'hvm' }) },
    from: spec({ virtualizationMode: 'hvm' }),
    calls: ['shutdown -F a'],
    states: ['HALTING'],
    phase: 'halting',
  },
  {
    name: 'destroy to halt: HALTING, then HALTED; PCI devices released; the ledger says stopped',
    action: { type: 'destroy', reason: 'halt' },
    desired: halt,
    from: built,
    calls: ['destroy a', 'pci-assignable-remove 0000:03:00.0'],
    states: ['HALTING', 'HALTED'],
    record: { runningSpec: null, vifs: [], currentMemoryMiB: null, error: null },
    knowledge: { actual: 'absent', ref: null },
    phase: 'stopped',
    mutated: 1,
  },
  {
    name: 'destroy to delete: DELETING, no HALTED',
    action: { type: 'destroy', reason: 'halt' },
    desired: del,
    from: spec(),
    calls: ['destroy a'],
    states: ['DELETING'],
    knowledge: { actual: 'absent' },
    phase: 'stopped',
  },
  {
    name: 'destroy for a restart: the restart counter acted on, a guest stop overridden, no state of its own',
    action: { type: 'destroy', reason: 'restart' },
    desired: { kind: 'run', spec: spec({ restartCounter: 2 }) },
    from: spec(),
    seed: { stoppedByGuest: true },
    calls: ['destroy a'],
    states: [],
    record: { actedRestartCounter: 2, actedPurgeCounter: 1, stoppedByGuest: false },
    phase: 'stopped',
  },
  {
    name: 'destroy for a purge: the purge counter acted on, a guest stop overridden',
    action: { type: 'destroy', reason: 'purge' },
    desired: { kind: 'run', spec: spec({ purgeCounter: 3 }) },
    from: spec(),
    seed: { stoppedByGuest: true },
    calls: ['destroy a'],
    states: [],
    record: { actedRestartCounter: 1, actedPurgeCounter: 3, stoppedByGuest: false },
    phase: 'stopped',
  },
  {
    name: 'destroy fails: the error, actual unknown, nothing released, nothing written',
    action: { type: 'destroy', reason: 'halt' },
    desired: halt,
    from: built,
    fail: ['destroy', new HypervisorError('destroy', 'destroy failed')],
    calls: ['destroy a'],
    states: ['HALTING'],
    record: { runningSpec: built },
    knowledge: { actual: 'unknown' },
    probes: [0],
    mutated: 1,
  },
  {
    name: 'exited (crash, policy on-failure): BROKEN, a restart due after the backoff',
    action: { type: 'exited', kind: 'crash' },
    desired: run,
    from: spec(),
    calls: ['destroy a'],
    states: ['BROKEN'],
    record: {
      restartCount: 1,
      retryAt: 1000,
      stoppedByGuest: false,
      error: {
        message: 'the domain crashed; restarting (restartPolicy on-failure)',
        source: 'hypervisor',
        time: START_TIME,
        retryAt: '2026-01-01T00:00:01.000Z',
      },
    },
    knowledge: { actual: 'absent', attempt: 1 },
    wakes: [1000],
    phase: 'stopped',
  },
  {
    name: 'exited (guest poweroff, policy on-failure): HALTED, stopped by the guest, no error',
    action: { type: 'exited', kind: 'poweroff' },
    desired: run,
    from: spec(),
    calls: ['destroy a'],
    states: ['HALTED'],
    record: { restartCount: 0, retryAt: null, stoppedByGuest: true, error: null },
    wakes: [],
    phase: 'stopped',
  },
  {
    name: 'forget: the ledger entry removed, the worker told',
    state: 'DELETING',
    action: { type: 'forget' },
    desired: del,
    calls: [],
    states: [],
    record: { error: null },
  },
  {
    name: 'create: CREATING, then BOOTING; the counters acted on; the ledger says created',
    state: 'PENDING',
    action: { type: 'create' },
    desired: { kind: 'run', spec: spec({ restartCounter: 4, purgeCounter: 2 }) },
    actual: 'absent',
    calls: ['create a', 'unpause a'],
    states: ['CREATING', 'BOOTING'],
    record: { actedRestartCounter: 4, actedPurgeCounter: 2, error: null },
    knowledge: { actual: 'running', booting: true, ref: { uuid: UUID, domainName: 'a', domainId: 1 } },
    probes: [0],
    phase: 'created',
    mutated: 1,
  },
  {
    name: 'create fails: BROKEN, a retry due after the backoff, the ledger says stopped',
    state: 'PENDING',
    action: { type: 'create' },
    desired: run,
    actual: 'absent',
    fail: ['create', new HypervisorError('create', 'create failed')],
    calls: ['create a'],
    states: ['CREATING', 'BROKEN'],
    record: {
      runningSpec: null,
      retryAt: 1000,
      error: {
        message: 'create failed',
        source: 'hypervisor',
        time: START_TIME,
        retryAt: '2026-01-01T00:00:01.000Z',
      },
    },
    knowledge: { actual: 'absent', attempt: 1 },
    wakes: [1000],
    phase: 'stopped',
    mutated: 1,
  },
  {
    name: 'create retried from BROKEN: no PENDING in between',
    state: 'BROKEN',
    action: { type: 'create' },
    desired: run,
    actual: 'absent',
    calls: ['create a', 'unpause a'],
    states: ['CREATING', 'BOOTING'],
    phase: 'created',
  },
  {
    name: 'wait, confirmed running: RUNNING, the retry and its error are over',
    state: 'BOOTING',
    action: { type: 'wait', until: null },
    desired: run,
    from: spec(),
    seed: {
      retryAt: 0,
      error: { message: 'unpause failed', source: 'hypervisor', time: START_TIME },
    },
    calls: [],
    states: ['RUNNING'],
    record: { retryAt: null, error: null },
    wakes: [],
  },
  {
    name: 'wait with nothing there to run: PENDING, a wake at the deadline',
    state: 'BROKEN',
    action: { type: 'wait', until: 5000 },
    desired: run,
    actual: 'absent',
    calls: [],
    states: ['PENDING'],
    wakes: [5000],
  },
];

describe('carryOut', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const h = harness(c.state ?? 'RUNNING');
    if (c.from !== undefined) h.running(c.from);
    if (c.desired.kind === 'delete' || c.action.type === 'forget')
      await h.ledger.put({
        uuid: UUID,
        name: 'a',
        phase: 'stopped',
        restartCounter: 0,
        purgeCounter: 0,
        restartCount: 0,
        runningSpec: null,
        currentMemoryMiB: null,
      });
    if (c.action.type === 'exited' && c.from === undefined) throw new Error('an exit needs a domain');
    if (c.action.type === 'exited') h.record.k.actual = c.action.kind === 'crash' ? 'crashed' : 'shutdown';
    if (c.fail !== undefined) h.hv.failNext(...c.fail);
    if (c.cannotPause === true) h.hv.pauseUnsupported = true;
    if (c.actual !== undefined) h.record.k.actual = c.actual;
    Object.assign(h.record, c.seed);
    const before = h.ledger.entries.get(UUID)?.phase;
    await carryOut(h.party, c.action, c.desired);
    expect(h.hv.calls.filter((call) => call !== 'hostInfo')).toEqual(c.calls);
    expect(h.seen.states).toEqual(c.states);
    if (c.record !== undefined) expect(h.record).toMatchObject(c.record);
    if (c.knowledge !== undefined) expect(h.record.k).toMatchObject(c.knowledge);
    if (c.probes !== undefined) expect(h.seen.probes).toEqual(c.probes);
    if (c.wakes !== undefined) expect(h.seen.wakes).toEqual(c.wakes);
    if (c.mutated !== undefined) expect(h.seen.mutated).toBe(c.mutated);
    expect([...h.record.unsupported]).toEqual(c.unsupported ?? []);
    if (c.action.type === 'forget') {
      expect(h.ledger.entries.has(UUID)).toBe(false);
      expect(h.seen.forgotten).toBe(1);
    } else {
      expect(h.ledger.entries.get(UUID)?.phase).toBe(c.phase ?? before);
      expect(h.seen.forgotten).toBe(0);
    }
  });
});

describe('destroyStrays', () => {
  test('every stray is destroyed by name and id, a failure does not stop the others, a listing follows', async () => {
    const h = harness('RUNNING');
    h.running(spec());
    h.hv.failNext('destroy', new HypervisorError('destroy', 'destroy failed'));
    const strays = [
      { uuid: UUID, name: 'a-old', domainId: 41, state: 'running' as const, memoryMiB: 256 },
      { uuid: UUID, name: 'a-older', domainId: 42, state: 'paused' as const, memoryMiB: 256 },
    ];
    await destroyStrays(h.party, strays);
    expect(h.hv.calls).toEqual(['destroy a-old', 'destroy a-older']);
    expect(h.seen.probes).toEqual([0]);
    expect(h.seen.mutated).toBe(1);
    // What the worker believes of its own domain is unchanged.
    expect(h.record.k.actual).toBe('running');
    expect(h.record.error).toBeNull();
  });
});

describe('recordEvent', () => {
  test.each<[string, Desired | null, DomainState[], Partial<DomainRecord>]>([
    [
      'vanished while desired running: the restart policy applies',
      run,
      ['BROKEN'],
      { restartCount: 1, retryAt: 1000 },
    ],
    ['vanished while halting: nothing to record', halt, [], { restartCount: 0, retryAt: null }],
    ['vanished before any config: nothing to record', null, [], { restartCount: 0, retryAt: null }],
  ])('%s', (_name, desired, states, record) => {
    const h = harness('RUNNING');
    recordEvent(h.party, { type: 'vanished' }, desired);
    expect(h.seen.states).toEqual(states);
    expect(h.record).toMatchObject(record);
  });

  test('still paused after unpause: the error says when it is retried, a wake then', () => {
    const h = harness('BOOTING');
    recordEvent(h.party, { type: 'still-paused', retryAt: 2000 }, run);
    expect(h.record.retryAt).toBe(2000);
    expect(h.record.error).toEqual({
      message: 'the domain is still paused after unpause',
      source: 'hypervisor',
      time: START_TIME,
      retryAt: '2026-01-01T00:00:02.000Z',
    });
    expect(h.seen.wakes).toEqual([2000]);
    expect(h.seen.states).toEqual([]);
  });
});
