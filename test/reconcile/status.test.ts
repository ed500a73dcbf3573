import {
  buildDomainStatus,
  type Settled,
  type SettleFacts,
  type StatusFacts,
  settledState,
} from '../../pkg/reconcile/status.js';
import { type DomainSpec, toDomainSpec } from '../../pkg/schema/domain-spec.js';
import { check, validateDomainStatusSchema } from '../../pkg/schema/validators.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';

const UUID = '11111111-1111-4111-8111-111111111111';
const spec = (over: Partial<DomainSpec> = {}): DomainSpec => ({
  ...toDomainSpec({
    uuid: UUID,
    name: 'a',
    generation: 3,
    activate: true,
    type: 'vm',
    memoryMiB: 256,
    maxMemoryMiB: 1024,
    kernel: '/persist/k',
    pciDevices: [{ bdf: '0000:03:00.0' }],
  }),
  ...over,
});
const built = spec();
const vif = { vifName: 'vif7.0', mac: '00:16:3e:00:00:01', bridge: 'br0' };
const T = Date.UTC(2026, 0, 1);

const facts = (over: Partial<StatusFacts> = {}): StatusFacts => ({
  uuid: UUID,
  name: 'a',
  nodeId: 'node-1',
  backend: 'xl',
  state: 'RUNNING',
  observedGeneration: 3,
  actual: 'running',
  ref: { uuid: UUID, domainName: 'a', domainId: 7 },
  vifs: [vif],
  runningSpec: built,
  desiredSpec: built,
  bootTime: T + 1_000,
  lastTransitionTime: T + 2_000,
  updatedAt: T + 3_000,
  restartCount: 1,
  error: null,
  ...over,
});

const running: DomainStatus = {
  uuid: UUID,
  name: 'a',
  nodeId: 'node-1',
  backend: 'xl',
  state: 'RUNNING',
  observedGeneration: 3,
  domainName: 'a',
  domainId: 7,
  activated: true,
  bootTime: '2026-01-01T00:00:01.000Z',
  lastTransitionTime: '2026-01-01T00:00:02.000Z',
  updatedAt: '2026-01-01T00:00:03.000Z',
  restartCount: 1,
  vifs: [vif],
  pciDevices: [{ bdf: '0000:03:00.0' }],
  pendingChanges: [],
  error: null,
};

const cases: [string, Partial<StatusFacts>, Partial<DomainStatus>][] = [
  ['running: everything it was built with', {}, {}],
  ['booting is activated', { state: 'BOOTING', bootTime: null }, { state: 'BOOTING', bootTime: null }],
  ['paused is activated', { state: 'PAUSED', actual: 'paused' }, { state: 'PAUSED' }],
  [
    'halting is not activated; it still has its domain',
    { state: 'HALTING' },
    { state: 'HALTING', activated: false },
  ],
  [
    'absent: no domid, vifs, PCI devices or pending changes',
    {
      state: 'BROKEN',
      actual: 'absent',
      ref: null,
      bootTime: null,
      desiredSpec: spec({ vcpus: 4 }),
    },
    {
      state: 'BROKEN',
      activated: false,
      domainName: null,
      domainId: null,
      bootTime: null,
      vifs: [],
      pciDevices: [],
    },
  ],
  [
    'unknown after a timeout: the domain it had is still shown',
    { state: 'BROKEN', actual: 'unknown' },
    { state: 'BROKEN', activated: false },
  ],
  [
    'a changed config waiting for the next start: pending changes, sorted',
    { desiredSpec: spec({ vcpus: 4, cmdline: 'x', generation: 4 }) },
    { pendingChanges: ['cmdline', 'vcpus'] },
  ],
  ['memory within the running max is live: not pending', { desiredSpec: spec({ memoryMiB: 512 }) }, {}],
  [
    'memory beyond the running max: pending',
    { desiredSpec: spec({ memoryMiB: 2048 }) },
    { pendingChanges: ['memoryMiB'] },
  ],
  [
    'a delete: nothing pending',
    { desiredSpec: null, state: 'DELETING' },
    { state: 'DELETING', activated: false },
  ],
  [
    'not running anything: no PCI devices',
    { runningSpec: null, actual: 'absent', ref: null, vifs: [], state: 'HALTED', bootTime: null },
    {
      state: 'HALTED',
      activated: false,
      domainName: null,
      domainId: null,
      vifs: [],
      pciDevices: [],
      bootTime: null,
    },
  ],
  [
    'the error is passed through',
    { error: { message: 'boom', source: 'hypervisor', time: '2026-01-01T00:00:00.000Z' } },
    { error: { message: 'boom', source: 'hypervisor', time: '2026-01-01T00:00:00.000Z' } },
  ],
];

describe('buildDomainStatus', () => {
  test.each(cases)('%s', (_name, over, expected) => {
    const status = buildDomainStatus(facts(over));
    expect(status).toEqual({ ...running, ...expected });
    expect(check(validateDomainStatusSchema, status)).toEqual({ ok: true, value: status });
  });
});

const settle = (over: Partial<SettleFacts> = {}): SettleFacts => ({
  state: 'CREATING',
  desired: 'run',
  paused: false,
  actual: 'running',
  halting: false,
  booting: false,
  stoppedByGuest: false,
  retrying: false,
  pauseUnsupported: false,
  ...over,
});
const keep = (state: Settled['state']): Settled => ({
  state,
  clearRetry: false,
  clearError: false,
  listSoon: false,
});

describe('settledState', () => {
  test.each<[string, Partial<SettleFacts>, Settled]>([
    [
      'running, confirmed: RUNNING, past failures over',
      {},
      { state: 'RUNNING', clearRetry: true, clearError: true, listSoon: false },
    ],
    [
      'running, not confirmed yet: BOOTING, and a listing is asked for',
      { booting: true },
      { ...keep('BOOTING'), listSoon: true },
    ],
    [
      'running, asked paused where the backend cannot pause: RUNNING, the error stays',
      { paused: true, pauseUnsupported: true },
      { state: 'RUNNING', clearRetry: true, clearError: false, listSoon: false },
    ],
    ['paused: PAUSED', { actual: 'paused' }, keep('PAUSED')],
    ['absent, run, nothing pending: PENDING', { actual: 'absent' }, keep('PENDING')],
    ['absent, retry due later: BROKEN', { actual: 'absent', retrying: true }, keep('BROKEN')],
    [
      'absent, retry due later, already HALTED: stays',
      { actual: 'absent', retrying: true, state: 'HALTED' },
      keep('HALTED'),
    ],
    ['absent, halt: HALTED', { actual: 'absent', desired: 'halt', state: 'BROKEN' }, keep('HALTED')],
    [
      'absent, stopped by the guest (poweroff): HALTED',
      { actual: 'absent', stoppedByGuest: true },
      keep('HALTED'),
    ],
    [
      'absent, stopped by a crash the policy keeps down: stays BROKEN',
      { actual: 'absent', stoppedByGuest: true, state: 'BROKEN' },
      keep('BROKEN'),
    ],
    ['shutting down: stays HALTING', { halting: true, state: 'HALTING', desired: 'halt' }, keep('HALTING')],
    [
      'a grace remembered across a restart (fresh worker, PENDING): HALTING',
      { halting: true, state: 'PENDING', desired: 'halt', actual: 'running' },
      keep('HALTING'),
    ],
    [
      'a grace remembered across a restart, desired delete: DELETING',
      { halting: true, state: 'PENDING', desired: 'delete', actual: 'running' },
      keep('DELETING'),
    ],
    [
      'deleting: stays as it is',
      { desired: 'delete', state: 'DELETING', actual: 'absent' },
      keep('DELETING'),
    ],
    ['unknown: stays as it is', { actual: 'unknown', state: 'BROKEN' }, keep('BROKEN')],
    ['between states: stays as it is', { actual: 'transitional', state: 'RUNNING' }, keep('RUNNING')],
  ])('%s', (_name, over, expected) => {
    expect(settledState(settle(over))).toEqual(expected);
  });
});
