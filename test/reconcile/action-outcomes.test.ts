import { HypervisorError, UnsupportedError } from '../../pkg/hypervisor/hypervisor.js';
import {
  type DestroyPlan,
  type DestroyReason,
  destroyPlan,
  destroyTarget,
  errorAfterSuccess,
  exitError,
  hypervisorError,
  knowledgeAfterDestroy,
  mutationFailure,
  type ShutdownPlan,
  shutdownPlan,
  stateBeforeCreate,
} from '../../pkg/reconcile/action-outcomes.js';
import { type Desired, exitOutcome } from '../../pkg/reconcile/decide.js';
import { OperationTimeoutError, type StatusError } from '../../pkg/reconcile/errors.js';
import type { Knowledge } from '../../pkg/reconcile/observation.js';
import { CommandFailedError, CommandTimeoutError } from '../../pkg/runner/errors.js';
import type { DomainSpec } from '../../pkg/schema/domain-spec.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import { domainSpec, START_TIME as TIME, UUID } from '../support/reconcile-fixtures.js';

const spec = (over: Partial<DomainSpec> = {}): DomainSpec =>
  domainSpec({ restartCounter: 4, purgeCounter: 2, ...over });
const run: Desired = { kind: 'run', spec: spec() };
const halt: Desired = { kind: 'halt', spec: spec() };
const del: Desired = { kind: 'delete' };

describe('mutationFailure: what a failed operation on an existing domain means', () => {
  const failed = new CommandFailedError('xl pause failed', {
    argv: ['xl', 'pause', 'a'],
    exitCode: 1,
    stderr: 'no such domain',
    durationMs: 3,
  });
  test.each<[string, unknown, ReturnType<typeof mutationFailure>]>([
    [
      'the backend cannot do it: unsupported, no command details',
      new UnsupportedError('pause', 'a vmadm zone cannot be paused'),
      {
        kind: 'unsupported',
        error: { message: 'a vmadm zone cannot be paused', source: 'hypervisor', time: TIME },
      },
    ],
    [
      'a failed command: failed, with command, exit code and stderr',
      failed,
      {
        kind: 'failed',
        error: {
          message: 'xl pause a failed (exit 1): no such domain',
          source: 'hypervisor',
          time: TIME,
          command: 'xl pause a',
          exitCode: 1,
          stderr: 'no such domain',
        },
      },
    ],
    [
      'a backend error caused by a failed command: failed, the command found through the cause',
      new HypervisorError('pause', 'pause of a failed', { cause: failed }),
      {
        kind: 'failed',
        error: {
          message: 'pause of a failed <- xl pause a failed (exit 1): no such domain',
          source: 'hypervisor',
          time: TIME,
          command: 'xl pause a',
          exitCode: 1,
          stderr: 'no such domain',
        },
      },
    ],
    [
      'a command killed at its timeout: failed, source timeout',
      new CommandTimeoutError({ argv: ['xl', 'pause', 'a'], durationMs: 9, timeoutMs: 9 }),
      {
        kind: 'failed',
        error: {
          message: 'xl pause a timed out after 9 ms',
          source: 'timeout',
          time: TIME,
          command: 'xl pause a',
          exitCode: null,
        },
      },
    ],
    [
      'the engine gave up on the operation: failed, source timeout',
      new OperationTimeoutError('pause', 50),
      {
        kind: 'failed',
        error: { message: 'pause did not finish within 50 ms', source: 'timeout', time: TIME },
      },
    ],
    [
      'something not an Error thrown: failed, its text',
      'boom',
      { kind: 'failed', error: { message: 'boom', source: 'hypervisor', time: TIME } },
    ],
  ])('%s', (_name, e, expected) => expect(mutationFailure(e, TIME)).toEqual(expected));
});

describe('errorAfterSuccess: which error an operation that succeeded leaves', () => {
  const config: StatusError = { message: 'invalid config', source: 'config', time: TIME };
  const retry: StatusError = { message: 'restarting', source: 'hypervisor', time: TIME, retryAt: TIME };
  const past: StatusError = { message: 'xl pause failed', source: 'hypervisor', time: TIME };
  const timeout: StatusError = { message: 'timed out', source: 'timeout', time: TIME };
  test.each<[string, StatusError | null, StatusError | null]>([
    ['none: none', null, null],
    ['a config error stays', config, config],
    ['the error of a retry still due stays', retry, retry],
    ['an earlier failure is over', past, null],
    ['an earlier timeout is over', timeout, null],
  ])('%s', (_name, before, after) => expect(errorAfterSuccess(before)).toBe(after));
});

describe('destroyPlan: what a destroy reports before and records after', () => {
  const none = { actedRestartCounter: null, actedPurgeCounter: null, clearsStoppedByGuest: false };
  test.each(
    (
      [
        ['halt', del, { announce: 'DELETING', halted: false, ...none }],
        ['halt', halt, { announce: 'HALTING', halted: true, ...none }],
        ['halt', run, { announce: null, halted: false, ...none }],
        [
          'restart',
          run,
          {
            announce: null,
            halted: false,
            actedRestartCounter: 4,
            actedPurgeCounter: null,
            clearsStoppedByGuest: true,
          },
        ],
        ['restart', del, { announce: null, halted: false, ...none }],
        [
          'purge',
          run,
          {
            announce: null,
            halted: false,
            actedRestartCounter: null,
            actedPurgeCounter: 2,
            clearsStoppedByGuest: true,
          },
        ],
        [
          'purge',
          halt,
          {
            announce: null,
            halted: false,
            actedRestartCounter: null,
            actedPurgeCounter: 2,
            clearsStoppedByGuest: true,
          },
        ],
        ['interrupted', run, { announce: null, halted: false, ...none }],
        ['exited', run, { announce: null, halted: false, ...none }],
      ] as [DestroyReason, Desired, DestroyPlan][]
    ).map(([reason, desired, plan]) => [reason, desired.kind, desired, plan] as const),
  )('%s, desired %s', (reason, _kind, desired, plan) => expect(destroyPlan(reason, desired)).toEqual(plan));
});

describe('destroyTarget: what to destroy and which PCI devices to release', () => {
  const listed = { uuid: UUID, domainName: 'a-listed', domainId: 7 };
  const withPci = spec({ name: 'a-built', pciDevices: [{ bdf: '0000:03:00.0' }, { bdf: '0000:04:00.0' }] });
  test.each<[string, Parameters<typeof destroyTarget>, ReturnType<typeof destroyTarget>]>([
    [
      'as last listed, devices of the spec it was built from',
      [UUID, listed, withPci, 'a'],
      {
        ref: listed,
        bdfs: ['0000:03:00.0', '0000:04:00.0'],
      },
    ],
    [
      'not listed yet: by the name it was built with',
      [UUID, null, withPci, 'a'],
      {
        ref: { uuid: UUID, domainName: 'a-built', domainId: null },
        bdfs: ['0000:03:00.0', '0000:04:00.0'],
      },
    ],
    [
      'nothing built that we know of: by the config name, no devices',
      [UUID, null, null, 'a'],
      {
        ref: { uuid: UUID, domainName: 'a', domainId: null },
        bdfs: [],
      },
    ],
  ])('%s', (_name, args, expected) => expect(destroyTarget(...args)).toEqual(expected));
});

test('knowledgeAfterDestroy: nothing there, the failure count for the backoff kept', () => {
  const k: Knowledge = {
    actual: 'running',
    ref: { uuid: UUID, domainName: 'a', domainId: 7 },
    booting: true,
    pausing: true,
    runningSince: 100,
    haltingUntil: 200,
    bootTime: 300,
    interruptedCreate: true,
    attempt: 3,
    stopDetail: 'init ended on signal 9',
    missingSince: 50,
  };
  expect(knowledgeAfterDestroy(k)).toEqual({
    actual: 'absent',
    ref: null,
    booting: false,
    pausing: false,
    runningSince: null,
    haltingUntil: null,
    bootTime: null,
    interruptedCreate: false,
    attempt: 3,
    stopDetail: null,
    missingSince: null,
  });
});

describe('shutdownPlan: how a graceful shutdown is asked', () => {
  const hvm = spec({ virtualizationMode: 'hvm' });
  test.each<[string, Desired, number, ShutdownPlan]>([
    ['halt a PV VM', halt, 30_000, { force: false, state: 'HALTING', probeInMs: 1000 }],
    [
      'halt an HVM VM: forced (maybe no PV drivers)',
      { kind: 'halt', spec: hvm },
      30_000,
      {
        force: true,
        state: 'HALTING',
        probeInMs: 1000,
      },
    ],
    [
      'an HVM container is not forced',
      { kind: 'halt', spec: spec({ virtualizationMode: 'hvm', type: 'container' }) },
      30_000,
      {
        force: false,
        state: 'HALTING',
        probeInMs: 1000,
      },
    ],
    [
      'restart (run) of an HVM VM',
      { kind: 'run', spec: hvm },
      30_000,
      { force: true, state: 'HALTING', probeInMs: 1000 },
    ],
    [
      'delete: DELETING, the config gone so not forced',
      del,
      30_000,
      { force: false, state: 'DELETING', probeInMs: 1000 },
    ],
    [
      'a grace under a second: the probe within it',
      halt,
      200,
      { force: false, state: 'HALTING', probeInMs: 200 },
    ],
  ])('%s', (_name, desired, grace, plan) => expect(shutdownPlan(desired, grace)).toEqual(plan));
});

describe('stateBeforeCreate: a retry keeps its state until CREATING', () => {
  test.each<[DomainStatus['state'], DomainStatus['state']]>([
    ['PENDING', 'PENDING'],
    ['BROKEN', 'BROKEN'],
    ['HALTED', 'HALTED'],
    ['RUNNING', 'PENDING'],
    ['PAUSED', 'PENDING'],
    ['REJECTED', 'PENDING'],
  ])('%s -> %s', (before, after) => expect(stateBeforeCreate(before)).toBe(after));
});

describe('exitError: the error an unasked exit leaves', () => {
  test.each<[string, ReturnType<typeof exitOutcome>, string | null, StatusError | null]>([
    [
      'a crash restarted: the error says when',
      exitOutcome('crash', 'always'),
      TIME,
      {
        message: 'the domain crashed; restarting (restartPolicy always)',
        source: 'hypervisor',
        time: TIME,
        retryAt: TIME,
      },
    ],
    [
      'a crash left stopped: the error, no retry',
      exitOutcome('crash', 'never'),
      null,
      {
        message: 'the domain crashed (restartPolicy never)',
        source: 'hypervisor',
        time: TIME,
      },
    ],
    ['a guest poweroff left stopped: no error', exitOutcome('poweroff', 'on-failure'), null, null],
  ])('%s', (_name, outcome, retryAt, error) => expect(exitError(outcome, TIME, retryAt)).toEqual(error));
});

test('hypervisorError: retryAt only when given', () => {
  expect(hypervisorError('m', TIME)).toEqual({ message: 'm', source: 'hypervisor', time: TIME });
  expect(hypervisorError('m', TIME, TIME)).toEqual({
    message: 'm',
    source: 'hypervisor',
    time: TIME,
    retryAt: TIME,
  });
});
