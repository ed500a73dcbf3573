import type { Desired } from '../../pkg/reconcile/decide.js';
import { type Intake, type IntakeState, intake } from '../../pkg/reconcile/intake.js';
import { type DomainSpec, toDomainSpec } from '../../pkg/schema/domain-spec.js';

const spec = (over: Partial<DomainSpec> = {}): DomainSpec => ({
  ...toDomainSpec({
    uuid: '11111111-1111-4111-8111-111111111111',
    name: 'a',
    generation: 2,
    activate: true,
    type: 'vm',
    memoryMiB: 256,
  }),
  ...over,
});
const run = (over: Partial<DomainSpec> = {}): Desired => ({ kind: 'run', spec: spec(over) });
const halt = (over: Partial<DomainSpec> = {}): Desired => ({ kind: 'halt', spec: spec(over) });

const state = (over: Partial<IntakeState> = {}): IntakeState => ({
  acceptedGeneration: 2,
  desired: run(),
  actedRestartCounter: 0,
  actedPurgeCounter: 0,
  ...over,
});
const accept = (over: Partial<Extract<Intake, { kind: 'accept' }>> = {}): Intake => ({
  kind: 'accept',
  clearsStoppedByGuest: false,
  resetsRetry: false,
  actedRestartCounter: 0,
  actedPurgeCounter: 0,
  ...over,
});

describe('intake', () => {
  test.each<[string, Partial<IntakeState>, Desired, Intake]>([
    [
      'an older generation: stale',
      {},
      run({ generation: 1 }),
      { kind: 'stale', message: 'stale config: generation 1 is older than the accepted generation 2' },
    ],
    ['the same generation and spec: a redelivery', {}, run(), { kind: 'redelivery' }],
    [
      'the same generation, another spec: news, built differently: a fresh retry',
      {},
      run({ memoryMiB: 512 }),
      accept({ resetsRetry: true }),
    ],
    ['a newer generation of the same run: news, no start intent', {}, run({ generation: 3 }), accept()],
    [
      'the first config: a start intent, a fresh retry, its counters taken as acted on',
      { acceptedGeneration: 0, desired: null, actedRestartCounter: null, actedPurgeCounter: null },
      run({ restartCounter: 4, purgeCounter: 2 }),
      accept({ clearsStoppedByGuest: true, resetsRetry: true, actedRestartCounter: 4, actedPurgeCounter: 2 }),
    ],
    [
      'from halt to run: a start intent and a fresh retry',
      { desired: halt() },
      run({ generation: 3 }),
      accept({ clearsStoppedByGuest: true, resetsRetry: true }),
    ],
    [
      'a raised restartCounter: a start intent, the counter still to act on',
      {},
      run({ generation: 3, restartCounter: 1 }),
      accept({ clearsStoppedByGuest: true }),
    ],
    ['from run to halt: no start intent', {}, halt({ generation: 3 }), accept()],
    [
      'a run built differently (a fixed kernel, memory): a pending retry starts afresh',
      {},
      run({ generation: 3, kernel: '/persist/fixed-vmlinuz', memoryMiB: 128 }),
      accept({ resetsRetry: true }),
    ],
    [
      'a run only driven differently (paused, restartPolicy): the backoff stays',
      {},
      run({ generation: 3, paused: true, restartPolicy: 'always' }),
      accept(),
    ],
    [
      'counters remembered from the ledger stay as acted on',
      { acceptedGeneration: 0, desired: null, actedRestartCounter: 1, actedPurgeCounter: 1 },
      run({ restartCounter: 3, purgeCounter: 1 }),
      accept({ clearsStoppedByGuest: true, resetsRetry: true, actedRestartCounter: 1, actedPurgeCounter: 1 }),
    ],
    [
      'counters below the ones acted on (the uuid created anew): started over, taken as acted on (kill campaign)',
      { acceptedGeneration: 4, actedRestartCounter: 3, actedPurgeCounter: 2 },
      run({ generation: 5, restartCounter: 0, purgeCounter: 1 }),
      accept({ actedRestartCounter: 0, actedPurgeCounter: 1 }),
    ],
    ['a delete: always taken', { acceptedGeneration: 9 }, { kind: 'delete' }, accept()],
  ])('%s', (_name, over, desired, expected) => {
    expect(intake(state(over), desired)).toEqual(expected);
  });
});
