import type { ObservedDomain } from '../../pkg/hypervisor/hypervisor.js';
import {
  changesNothing,
  type Knowledge,
  type Observation,
  type ObservationContext,
  observeListing,
} from '../../pkg/reconcile/observation.js';

const UUID = '11111111-1111-4111-8111-111111111111';
const ref = { uuid: UUID, domainName: 'a', domainId: 7 };

const known = (over: Partial<Knowledge> = {}): Knowledge => ({
  actual: 'running',
  ref,
  booting: false,
  pausing: false,
  runningSince: 1_000,
  haltingUntil: null,
  bootTime: 500_000,
  interruptedCreate: false,
  attempt: 0,
  stopDetail: null,
  missingSince: null,
  ...over,
});

const context = (over: Partial<ObservationContext> = {}): ObservationContext => ({
  uuid: UUID,
  desired: 'run',
  now: 5_000,
  wallNow: 900_000,
  restartBackoff: { initialMs: 1_000, maxMs: 8_000 },
  haltRequested: false,
  rebuildGraceMs: 0,
  ...over,
});

const entry = (over: Partial<ObservedDomain> = {}): ObservedDomain => ({
  uuid: UUID,
  name: 'a',
  domainId: 7,
  state: 'running',
  memoryMiB: 256,
  ...over,
});

type Expected = { knowledge?: Partial<Knowledge>; strays?: ObservedDomain[]; events?: Observation['events'] };

const cases: [string, Partial<Knowledge>, ObservedDomain[], Partial<ObservationContext>, Expected][] = [
  ['running, listed running: nothing new', {}, [entry()], {}, {}],
  [
    'running, not listed, run desired: vanished, absent, no boot time',
    {},
    [],
    {},
    { knowledge: { actual: 'absent', ref: null, bootTime: null }, events: [{ type: 'vanished' }] },
  ],
  [
    'running, not listed, within a rebuild grace: missing, all else kept, a listing at the end of the grace',
    {},
    [],
    { rebuildGraceMs: 30_000 },
    { knowledge: { missingSince: 5_000 }, events: [{ type: 'missing', until: 35_000, first: true }] },
  ],
  [
    'still missing later within the grace: the grace runs from the first miss',
    { missingSince: 2_000 },
    [],
    { rebuildGraceMs: 30_000 },
    { knowledge: { missingSince: 2_000 }, events: [{ type: 'missing', until: 32_000, first: false }] },
  ],
  [
    'still missing when the grace is over: vanished after all',
    { missingSince: 2_000 },
    [],
    { now: 32_000, rebuildGraceMs: 30_000 },
    {
      knowledge: { actual: 'absent', ref: null, bootTime: null, missingSince: null },
      events: [{ type: 'vanished' }],
    },
  ],
  [
    'back under a new domid within the grace (a reboot): running, the new ref, no longer missing',
    { missingSince: 2_000 },
    [entry({ domainId: 9 })],
    { rebuildGraceMs: 30_000 },
    { knowledge: { actual: 'running', ref: { ...ref, domainId: 9 }, missingSince: null } },
  ],
  [
    'seen shutting down to reboot (transitional), then not listed, within the grace: missing',
    { actual: 'transitional', runningSince: null },
    [],
    { rebuildGraceMs: 30_000 },
    { knowledge: { missingSince: 5_000 }, events: [{ type: 'missing', until: 35_000, first: true }] },
  ],
  [
    'seen shutting down to reboot, not back when the grace is over: vanished',
    { actual: 'transitional', runningSince: null, missingSince: 2_000 },
    [],
    { now: 32_000, rebuildGraceMs: 30_000 },
    {
      knowledge: { actual: 'absent', ref: null, bootTime: null, missingSince: null },
      events: [{ type: 'vanished' }],
    },
  ],
  [
    'transitional, then not listed, no grace (other backends): absent, no event, as ever',
    { actual: 'transitional', runningSince: null },
    [],
    {},
    { knowledge: { actual: 'absent', ref: null, bootTime: null } },
  ],
  [
    'missing, then an operation on it failed (actual unknown): the grace goes on',
    { actual: 'unknown', missingSince: 2_000 },
    [],
    { rebuildGraceMs: 30_000 },
    { knowledge: { missingSince: 2_000 }, events: [{ type: 'missing', until: 32_000, first: false }] },
  ],
  [
    'missing, an operation failed, and the grace is over: vanished, the restart policy applies',
    { actual: 'unknown', missingSince: 2_000 },
    [],
    { now: 40_000, rebuildGraceMs: 30_000 },
    {
      knowledge: { actual: 'absent', ref: null, bootTime: null, missingSince: null },
      events: [{ type: 'vanished' }],
    },
  ],
  [
    'back paused within the grace (xl monitor still building it, "(null)" at first): nothing taken in',
    { missingSince: 2_000 },
    [entry({ name: '(null)', domainId: 9, state: 'paused' })],
    { rebuildGraceMs: 30_000 },
    { events: [{ type: 'missing', until: 32_000, first: false }] },
  ],
  [
    'back paused and the grace is over: taken in as it is (a paused domain of ours)',
    { missingSince: 2_000 },
    [entry({ domainId: 9, state: 'paused' })],
    { now: 32_000, rebuildGraceMs: 30_000 },
    {
      knowledge: { actual: 'paused', ref: { ...ref, domainId: 9 }, missingSince: null, runningSince: null },
    },
  ],
  [
    'back crashed within the grace: taken in at once (the crash is acted on)',
    { missingSince: 2_000 },
    [entry({ domainId: 9, state: 'crashed' })],
    { rebuildGraceMs: 30_000 },
    {
      knowledge: { actual: 'crashed', ref: { ...ref, domainId: 9 }, missingSince: null, runningSince: null },
    },
  ],
  [
    'listed again as it was (a listing that missed it raced the domain): only missingSince clears',
    { missingSince: 2_000 },
    [entry()],
    { rebuildGraceMs: 30_000 },
    { knowledge: { missingSince: null } },
  ],
  [
    'not listed after a halt was asked, with a grace: absent at once, no event',
    {},
    [],
    { haltRequested: true, rebuildGraceMs: 30_000 },
    { knowledge: { actual: 'absent', ref: null, bootTime: null } },
  ],
  [
    'paused, not listed, run desired: vanished',
    { actual: 'paused', runningSince: null },
    [],
    {},
    { knowledge: { actual: 'absent', ref: null, bootTime: null }, events: [{ type: 'vanished' }] },
  ],
  [
    'running, not listed, halt desired: gone as asked, no event',
    {},
    [],
    { desired: 'halt' },
    { knowledge: { actual: 'absent', ref: null, bootTime: null } },
  ],
  [
    'shutting down, not listed: the grace ends, no event',
    { haltingUntil: 20_000 },
    [],
    {},
    { knowledge: { actual: 'absent', ref: null, bootTime: null, haltingUntil: null } },
  ],
  [
    'absent, not listed: nothing new',
    { actual: 'absent', ref: null, bootTime: null, runningSince: null },
    [],
    {},
    {},
  ],
  [
    'booting, listed running: booted now (wall time), running since now (monotonic)',
    { booting: true, bootTime: null, runningSince: null },
    [entry()],
    {},
    { knowledge: { booting: false, bootTime: 900_000, runningSince: 5_000 } },
  ],
  [
    'booting, still listed paused: the unpause did not take, retry after the backoff',
    { booting: true, actual: 'running', runningSince: null, attempt: 2 },
    [entry({ state: 'paused' })],
    {},
    {
      knowledge: { booting: false, actual: 'paused', attempt: 3 },
      events: [{ type: 'still-paused', retryAt: 9_000 }],
    },
  ],
  [
    'pausing, still listed running: the pause did not take, retry after the backoff',
    { pausing: true, attempt: 1 },
    [entry()],
    {},
    {
      knowledge: { pausing: false, actual: 'running', attempt: 2 },
      events: [{ type: 'still-running', retryAt: 7_000 }],
    },
  ],
  [
    'pausing, listed paused: confirmed, no event',
    { pausing: true, attempt: 1 },
    [entry({ state: 'paused' })],
    {},
    { knowledge: { pausing: false, actual: 'paused', attempt: 1, runningSince: null } },
  ],
  [
    'running long enough (maxMs): a fresh backoff',
    { attempt: 3, runningSince: 1_000 },
    [entry()],
    { now: 9_000 },
    { knowledge: { attempt: 0 } },
  ],
  [
    'running not yet long enough: the backoff stays',
    { attempt: 3, runningSince: 1_000 },
    [entry()],
    { now: 8_999 },
    {},
  ],
  [
    'running, listed shut down: no longer running',
    {},
    [entry({ state: 'shutdown' })],
    {},
    { knowledge: { actual: 'shutdown', runningSince: null } },
  ],
  [
    'running, listed crashed with how it stopped: the words are kept for the status',
    {},
    [entry({ state: 'crashed', stopDetail: 'init ended on signal 9' })],
    {},
    { knowledge: { actual: 'crashed', runningSince: null, stopDetail: 'init ended on signal 9' } },
  ],
  [
    'crashed with words, then not listed: the words go with the domain',
    { actual: 'crashed', runningSince: null, stopDetail: 'init ended on signal 9' },
    [],
    { desired: 'halt' },
    { knowledge: { actual: 'absent', ref: null, bootTime: null, stopDetail: null } },
  ],
  [
    'an interrupted create seen running: it got as far as the start',
    { interruptedCreate: true, actual: 'unknown', ref: null, runningSince: null },
    [entry()],
    {},
    { knowledge: { interruptedCreate: false, actual: 'running', ref, runningSince: 5_000 } },
  ],
  [
    'an interrupted create seen paused: stays interrupted',
    { interruptedCreate: true, actual: 'unknown', ref: null, runningSince: null },
    [entry({ state: 'paused' })],
    {},
    { knowledge: { actual: 'paused', ref } },
  ],
  [
    'a new domid (xl reboot): the ref follows the listing',
    {},
    [entry({ domainId: 9 })],
    {},
    { knowledge: { ref: { ...ref, domainId: 9 } } },
  ],
  [
    'two with the uuid: ours (by name) kept, the other a stray',
    {},
    [entry({ name: 'pod-2', domainId: 8 }), entry()],
    {},
    { strays: [entry({ name: 'pod-2', domainId: 8 })] },
  ],
  [
    'two with the uuid, none by our name: the running one is kept',
    { ref: null, actual: 'unknown', runningSince: null },
    [entry({ name: 'b', domainId: 8, state: 'paused' }), entry({ name: 'c', domainId: 9 })],
    {},
    {
      knowledge: {
        ref: { uuid: UUID, domainName: 'c', domainId: 9 },
        actual: 'running',
        runningSince: 5_000,
      },
      strays: [entry({ name: 'b', domainId: 8, state: 'paused' })],
    },
  ],
  [
    'an extra that is dying is no stray',
    {},
    [entry(), entry({ name: 'b', domainId: 8, state: 'transitional' })],
    {},
    {},
  ],
];

describe('observeListing', () => {
  test.each(cases)('%s', (_name, before, listed, over, expected) => {
    const k = known(before);
    const o = observeListing(k, listed, context(over));
    expect(o).toEqual({
      knowledge: { ...k, ...expected.knowledge },
      strays: expected.strays ?? [],
      events: expected.events ?? [],
    });
    // Pure: the worker's knowledge is not touched.
    expect(k).toEqual(known(before));
    // changesNothing agrees with the table: nothing expected, nothing changed.
    const nothing =
      expected.knowledge === undefined && expected.strays === undefined && expected.events === undefined;
    expect(changesNothing(k, o)).toBe(nothing);
  });
});
