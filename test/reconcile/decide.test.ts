import {
  type Action,
  backoffDelay,
  decide,
  type ExitOutcome,
  exitOutcome,
  liveMemoryTarget,
  pendingChanges,
  policyRestarts,
  type View,
} from '../../pkg/reconcile/decide.js';
import type { DomainSpec } from '../../pkg/schema/domain-spec.js';
import { domainSpec } from '../support/reconcile-fixtures.js';

const spec = domainSpec;

const base = (over: Partial<View> = {}): View => ({
  now: 10_000,
  desired: { kind: 'run', spec: spec() },
  actual: 'absent',
  booting: false,
  haltingUntil: null,
  interruptedCreate: false,
  restartRequested: false,
  purgeRequested: false,
  stoppedByGuest: false,
  haltRequested: false,
  retryAt: null,
  mutationRetryAt: null,
  runningSpec: null,
  currentMemoryMiB: null,
  ...over,
});

const running = spec();
const cases: [string, Partial<View>, Action][] = [
  ['run, nothing there: create', {}, { type: 'create' }],
  ['run, nothing there, backoff pending: wait', { retryAt: 12_000 }, { type: 'wait', until: 12_000 }],
  ['run, nothing there, backoff over: create', { retryAt: 9_000 }, { type: 'create' }],
  [
    'run, guest stopped it, policy keeps it halted: wait',
    { stoppedByGuest: true },
    { type: 'wait', until: null },
  ],
  [
    'run, what we built is gone: clean up first',
    { runningSpec: running },
    { type: 'destroy', reason: 'exited' },
  ],
  [
    'run, gone during a requested restart: clean up as restart',
    { runningSpec: running, restartRequested: true },
    { type: 'destroy', reason: 'restart' },
  ],
  ['run, running: nothing to do', { actual: 'running', runningSpec: running }, { type: 'wait', until: null }],
  [
    'run, running, memory changed within max: balloon',
    { actual: 'running', runningSpec: running, desired: { kind: 'run', spec: spec({ memoryMiB: 512 }) } },
    { type: 'set-memory', memoryMiB: 512 },
  ],
  [
    'run, running, memory beyond max: pending, wait',
    {
      actual: 'running',
      runningSpec: running,
      desired: { kind: 'run', spec: spec({ memoryMiB: 2048, maxMemoryMiB: 4096 }) },
    },
    { type: 'wait', until: null },
  ],
  [
    'run, running, already ballooned: wait',
    {
      actual: 'running',
      runningSpec: running,
      currentMemoryMiB: 512,
      desired: { kind: 'run', spec: spec({ memoryMiB: 512 }) },
    },
    { type: 'wait', until: null },
  ],
  [
    'run paused, running: pause',
    { actual: 'running', desired: { kind: 'run', spec: spec({ paused: true }) } },
    { type: 'pause' },
  ],
  [
    'run paused, paused: wait',
    { actual: 'paused', desired: { kind: 'run', spec: spec({ paused: true }) } },
    { type: 'wait', until: null },
  ],
  [
    'run paused, memoryMiB changed within max: set memory while paused (kill campaign)',
    {
      actual: 'paused',
      desired: { kind: 'run', spec: spec({ paused: true, memoryMiB: 192 }) },
      runningSpec: spec({ paused: true }),
    },
    { type: 'set-memory', memoryMiB: 192 },
  ],
  [
    'run, shut down after a shutdown domainmgr asked for (a killed run): built again, not a guest exit (kill campaign)',
    { actual: 'shutdown', haltRequested: true, runningSpec: running },
    { type: 'destroy', reason: 'restart' },
  ],
  [
    'run, gone after a shutdown domainmgr asked for: built again, not a guest exit (kill campaign)',
    { actual: 'absent', haltRequested: true, runningSpec: running },
    { type: 'destroy', reason: 'restart' },
  ],
  ['run, paused: unpause', { actual: 'paused' }, { type: 'unpause' }],
  [
    'run, paused after an unpause that did not take: wait for backoff',
    { actual: 'paused', retryAt: 11_000 },
    { type: 'wait', until: 11_000 },
  ],
  [
    'an operation failed: nothing is tried before its backoff ends',
    { actual: 'running', mutationRetryAt: 11_000, desired: { kind: 'run', spec: spec({ paused: true }) } },
    { type: 'wait', until: 11_000 },
  ],
  [
    'an operation failed, its backoff over: tried again',
    { actual: 'running', mutationRetryAt: 9_000, desired: { kind: 'run', spec: spec({ paused: true }) } },
    { type: 'pause' },
  ],
  [
    'a shutdown failed: not asked again before its backoff ends',
    { actual: 'running', mutationRetryAt: 11_000, desired: { kind: 'halt', spec: spec() } },
    { type: 'wait', until: 11_000 },
  ],
  [
    'run again during the grace of a halt: the rest of the grace',
    { actual: 'running', haltingUntil: 15_000 },
    { type: 'wait', until: 15_000 },
  ],
  [
    'run again, the grace of a halt over and the guest still there: destroy, then create',
    { actual: 'running', haltingUntil: 9_000 },
    { type: 'destroy', reason: 'restart' },
  ],
  [
    'run asked paused, still running after a pause that did not take: wait for backoff',
    { actual: 'running', retryAt: 11_000, desired: { kind: 'run', spec: spec({ paused: true }) } },
    { type: 'wait', until: 11_000 },
  ],
  [
    'run asked paused, running, backoff over: pause again',
    { actual: 'running', retryAt: 9_000, desired: { kind: 'run', spec: spec({ paused: true }) } },
    { type: 'pause' },
  ],
  [
    'run, paused by an interrupted create: destroy',
    { actual: 'paused', interruptedCreate: true },
    { type: 'destroy', reason: 'interrupted' },
  ],
  [
    'run, stopped by an interrupted create (vmadm: created, never started): destroy, not a poweroff',
    { actual: 'shutdown', interruptedCreate: true },
    { type: 'destroy', reason: 'interrupted' },
  ],
  ['run, crashed: exited (crash)', { actual: 'crashed' }, { type: 'exited', kind: 'crash' }],
  [
    'run, shut down by the guest: exited (poweroff)',
    { actual: 'shutdown' },
    { type: 'exited', kind: 'poweroff' },
  ],
  ['run, between states: wait for a listing', { actual: 'transitional' }, { type: 'wait', until: null }],
  ['run, unknown after a timeout: wait for a listing', { actual: 'unknown' }, { type: 'wait', until: null }],
  [
    'restart asked, running: graceful shutdown',
    { actual: 'running', restartRequested: true },
    { type: 'shutdown' },
  ],
  [
    'restart asked, shutting down within grace: wait',
    { actual: 'running', restartRequested: true, haltingUntil: 15_000 },
    { type: 'wait', until: 15_000 },
  ],
  [
    'restart asked, grace over: destroy',
    { actual: 'running', restartRequested: true, haltingUntil: 9_000 },
    { type: 'destroy', reason: 'restart' },
  ],
  [
    'restart asked, booting: destroy at once',
    { actual: 'running', booting: true, restartRequested: true },
    { type: 'destroy', reason: 'restart' },
  ],
  [
    'restart asked, paused: destroy',
    { actual: 'paused', restartRequested: true },
    { type: 'destroy', reason: 'restart' },
  ],
  ['restart asked, nothing there: create', { restartRequested: true }, { type: 'create' }],
  [
    'purge asked, running: destroy',
    { actual: 'running', purgeRequested: true },
    { type: 'destroy', reason: 'purge' },
  ],
  ['purge asked, nothing there: create', { purgeRequested: true }, { type: 'create' }],
  [
    'halt, running: graceful shutdown',
    { actual: 'running', desired: { kind: 'halt', spec: spec() } },
    { type: 'shutdown' },
  ],
  [
    'halt, shutting down: wait for the grace',
    { actual: 'running', haltingUntil: 20_000, desired: { kind: 'halt', spec: spec() } },
    { type: 'wait', until: 20_000 },
  ],
  [
    'halt, grace over: destroy',
    { actual: 'running', haltingUntil: 10_000, desired: { kind: 'halt', spec: spec() } },
    { type: 'destroy', reason: 'halt' },
  ],
  [
    'halt, paused: destroy (a paused guest cannot shut down)',
    { actual: 'paused', desired: { kind: 'halt', spec: spec() } },
    { type: 'destroy', reason: 'halt' },
  ],
  [
    'halt, crashed: destroy',
    { actual: 'crashed', desired: { kind: 'halt', spec: spec() } },
    { type: 'destroy', reason: 'halt' },
  ],
  [
    'halt, gone by itself: clean up',
    { runningSpec: running, desired: { kind: 'halt', spec: spec() } },
    { type: 'destroy', reason: 'halt' },
  ],
  ['halt, nothing there: wait', { desired: { kind: 'halt', spec: spec() } }, { type: 'wait', until: null }],
  [
    'delete, running: graceful shutdown',
    { actual: 'running', desired: { kind: 'delete' } },
    { type: 'shutdown' },
  ],
  [
    'delete, shut down: destroy',
    { actual: 'shutdown', desired: { kind: 'delete' } },
    { type: 'destroy', reason: 'halt' },
  ],
  ['delete, nothing there: forget', { desired: { kind: 'delete' } }, { type: 'forget' }],
  [
    'delete, unknown: wait for a listing first',
    { actual: 'unknown', desired: { kind: 'delete' } },
    { type: 'wait', until: null },
  ],
];

describe('decide', () => {
  test.each(cases)('%s', (_name, over, action) => expect(decide(base(over))).toEqual(action));
});

describe('policyRestarts', () => {
  test.each([
    ['always', 'crash', true],
    ['always', 'poweroff', true],
    ['always', 'vanished', true],
    ['on-failure', 'crash', true],
    ['on-failure', 'vanished', true],
    ['on-failure', 'poweroff', false],
    ['never', 'crash', false],
    ['never', 'poweroff', false],
  ] as const)('%s after %s: %s', (policy, exit, yes) => expect(policyRestarts(policy, exit)).toBe(yes));
});

describe('backoffDelay', () => {
  test.each([
    [0, 1000],
    [1, 2000],
    [3, 8000],
    [9, 300_000],
    [1000, 300_000],
  ])('attempt %i waits %i ms', (attempt, ms) => expect(backoffDelay(attempt, 1000, 300_000)).toBe(ms));
});

describe('pendingChanges and live memory', () => {
  test.each([
    ['nothing running', spec({ vcpus: 4, maxVcpus: 4 }), null, []],
    [
      'live fields are not pending',
      spec({
        generation: 9,
        paused: true,
        restartCounter: 3,
        purgeCounter: 1,
        activate: false,
        restartPolicy: 'never',
      }),
      running,
      [],
    ],
    ['memory within max is live', spec({ memoryMiB: 1024 }), running, []],
    [
      'memory beyond max waits',
      spec({ memoryMiB: 2048, maxMemoryMiB: 2048 }),
      running,
      ['maxMemoryMiB', 'memoryMiB'],
    ],
    [
      'name, cmdline and disks wait',
      spec({ name: 'b', cmdline: 'quiet', disks: [{ path: '/persist/x', format: 'raw', readOnly: false }] }),
      running,
      ['cmdline', 'disks', 'name'],
    ],
    ['vifs wait', spec({ vifs: [{ bridge: 'br1', mac: '00:16:3e:00:00:09' }] }), running, ['vifs']],
  ] as [string, DomainSpec, DomainSpec | null, string[]][])('%s', (_n, desired, run, out) =>
    expect(pendingChanges(desired, run)).toEqual(out));

  test.each([
    [spec({ memoryMiB: 256 }), running, null, null],
    [spec({ memoryMiB: 512 }), running, null, 512],
    [spec({ memoryMiB: 512 }), running, 512, null],
    [spec({ memoryMiB: 256 }), running, 512, 256],
    [spec({ memoryMiB: 2048 }), running, null, null],
    [spec({ memoryMiB: 512 }), null, null, null],
  ] as [
    DomainSpec,
    DomainSpec | null,
    number | null,
    number | null,
  ][])('liveMemoryTarget %#', (d, r, cur, out) => expect(liveMemoryTarget(d, r, cur)).toBe(out));
});

describe('exitOutcome', () => {
  test.each<
    [string, Parameters<typeof exitOutcome>[0], Parameters<typeof exitOutcome>[1], Omit<ExitOutcome, 'what'>]
  >([
    [
      'crash, on-failure: restart',
      'crash',
      'on-failure',
      {
        restart: true,
        state: 'BROKEN',
        message: 'the domain crashed; restarting (restartPolicy on-failure)',
      },
    ],
    [
      'crash, always: restart',
      'crash',
      'always',
      { restart: true, state: 'BROKEN', message: 'the domain crashed; restarting (restartPolicy always)' },
    ],
    [
      'crash, never: BROKEN, says why',
      'crash',
      'never',
      { restart: false, state: 'BROKEN', message: 'the domain crashed (restartPolicy never)' },
    ],
    [
      'poweroff, on-failure: HALTED, no error',
      'poweroff',
      'on-failure',
      { restart: false, state: 'HALTED', message: null },
    ],
    [
      'poweroff, always: restart',
      'poweroff',
      'always',
      { restart: true, state: 'BROKEN', message: 'the guest powered off; restarting (restartPolicy always)' },
    ],
    [
      'poweroff, never: HALTED, no error',
      'poweroff',
      'never',
      { restart: false, state: 'HALTED', message: null },
    ],
    [
      'vanished, on-failure: restart',
      'vanished',
      'on-failure',
      {
        restart: true,
        state: 'BROKEN',
        message: 'the domain disappeared; restarting (restartPolicy on-failure)',
      },
    ],
    [
      'vanished, never: BROKEN, says why',
      'vanished',
      'never',
      { restart: false, state: 'BROKEN', message: 'the domain disappeared (restartPolicy never)' },
    ],
  ])('%s', (_name, kind, policy, expected) => {
    expect(exitOutcome(kind, policy)).toMatchObject(expected);
  });

  test.each<[Parameters<typeof exitOutcome>[0], Parameters<typeof exitOutcome>[1], string | null]>([
    [
      'crash',
      'always',
      'the domain crashed: init ended on signal 9 (LXC: x); restarting (restartPolicy always)',
    ],
    ['crash', 'never', 'the domain crashed: init ended on signal 9 (LXC: x) (restartPolicy never)'],
    ['poweroff', 'never', null],
  ])('%s, %s, with how the hypervisor says it stopped: %j', (kind, policy, message) => {
    const outcome = exitOutcome(kind, policy, 'init ended on signal 9 (LXC: x)');
    expect(outcome.message).toBe(message);
    expect(outcome.what).toMatch(/: init ended on signal 9 \(LXC: x\)$/);
  });
});
