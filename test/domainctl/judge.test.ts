import { goalState, judge, type Target } from '../../pkg/ctl/judge.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';

function s(over: Partial<DomainStatus>): DomainStatus {
  return {
    uuid: '11111111-2222-4333-8444-555555555555',
    name: 'web',
    nodeId: 'n1',
    backend: 'xl',
    state: 'RUNNING',
    observedGeneration: 3,
    domainName: 'web',
    domainId: 7,
    activated: true,
    bootTime: null,
    lastTransitionTime: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    restartCount: 0,
    vifs: [],
    pciDevices: [],
    pendingChanges: [],
    error: null,
    ...over,
  };
}

const err = (message: string, source: 'config' | 'hypervisor' | 'host' = 'hypervisor', retryAt?: string) => ({
  message,
  source,
  time: '2026-01-01T00:00:00Z',
  ...(retryAt === undefined ? {} : { retryAt }),
});

const RUN: Target = { kind: 'apply', generation: 3, activate: true, paused: false };
const PAUSE: Target = { kind: 'apply', generation: 3, activate: true, paused: true };
const HALT: Target = { kind: 'apply', generation: 3, activate: false, paused: false };

test.each([
  [RUN, 'RUNNING'],
  [PAUSE, 'PAUSED'],
  [HALT, 'HALTED'],
  [{ ...HALT, paused: true }, 'HALTED'],
] as const)('goal of %j is %s', (t, goal) => {
  expect(goalState(t)).toBe(goal);
});

describe('apply', () => {
  test.each<[string, Target, Partial<DomainStatus>, boolean, string]>([
    ['goal reached', RUN, {}, false, 'ok'],
    ['paused goal reached', PAUSE, { state: 'PAUSED' }, false, 'ok'],
    ['halted goal reached', HALT, { state: 'HALTED', domainId: null }, false, 'ok'],
    ['older generation running: not yet', RUN, { observedGeneration: 2 }, false, 'wait'],
    ['on the way', RUN, { state: 'CREATING' }, true, 'wait'],
    ['booting', RUN, { state: 'BOOTING' }, true, 'wait'],
    ['running while a pause is due, no error', PAUSE, {}, true, 'wait'],
    [
      'BROKEN with an error at the generation',
      RUN,
      { state: 'BROKEN', error: err('boom', 'hypervisor', 'x') },
      false,
      'fail:BROKEN: boom',
    ],
    ['BROKEN without an error yet', RUN, { state: 'BROKEN' }, false, 'wait'],
    [
      'REJECTED at the generation',
      RUN,
      { state: 'REJECTED', error: err('invalid config: /x', 'config') },
      false,
      'fail:REJECTED: invalid config: /x',
    ],
    [
      'REJECTED fresh, generation unreadable',
      RUN,
      { state: 'REJECTED', observedGeneration: 0, error: err('bad', 'config') },
      true,
      'fail:REJECTED: bad',
    ],
    [
      'REJECTED leftover of an older generation',
      RUN,
      { state: 'REJECTED', observedGeneration: 2 },
      false,
      'wait',
    ],
    [
      'fresh config error while the old generation runs',
      RUN,
      { observedGeneration: 2, error: err('invalid config: /memoryMiB', 'config') },
      true,
      'fail:config refused: invalid config: /memoryMiB',
    ],
    [
      'a config error from before the publish',
      RUN,
      { observedGeneration: 2, error: err('invalid config: old', 'config') },
      false,
      'wait',
    ],
    [
      'stale: the node is past the generation',
      RUN,
      {
        observedGeneration: 4,
        error: err('stale config: generation 3 is older than the accepted generation 4', 'config'),
      },
      true,
      'fail:refused: stale config: generation 3 is older than the accepted generation 4',
    ],
    [
      'superseded by a newer config',
      RUN,
      { observedGeneration: 4 },
      false,
      'fail:the node is at generation 4, past 3 (a newer config was applied)',
    ],
    [
      'deleted meanwhile',
      RUN,
      { state: 'DELETED' },
      false,
      'fail:DELETED (a delete was published meanwhile)',
    ],
    [
      'settled elsewhere with an error and no retry (pause unsupported)',
      PAUSE,
      { error: err('vmadm cannot pause a zone') },
      false,
      'fail:RUNNING, not PAUSED: vmadm cannot pause a zone',
    ],
    [
      'settled elsewhere with a retry planned',
      PAUSE,
      { error: err('pause failed', 'hypervisor', '2026-01-01T00:00:05Z') },
      false,
      'wait',
    ],
    ['running with an error is still the goal', RUN, { error: err('offload failed once') }, false, 'ok'],
  ])('%s', (_name, target, over, fresh, expected) => {
    const v = judge(target, s(over), fresh);
    const got = !v.done ? 'wait' : v.ok ? 'ok' : `fail:${v.reason}`;
    expect(got).toBe(expected);
  });
});

describe('delete', () => {
  test.each<[DomainStatus['state'], string]>([
    ['DELETED', 'ok'],
    ['DELETING', 'wait'],
    ['RUNNING', 'wait'],
    ['BROKEN', 'wait'],
  ])('%s -> %s', (state, expected) => {
    const v = judge(
      { kind: 'delete' },
      s({ state, error: state === 'BROKEN' ? err('destroy failed') : null }),
      true,
    );
    expect(!v.done ? 'wait' : v.ok ? 'ok' : 'fail').toBe(expected);
  });
});
