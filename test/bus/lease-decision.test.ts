import {
  type LeaseHolder,
  type LeaseRecord,
  leaseTiming,
  mayAct,
  renewDue,
  type StandbyAction,
  standbyAction,
} from '../../pkg/bus/lease-decision.js';

const timing = leaseTiming(3000);

describe('leaseTiming', () => {
  test.each([
    [3000, { ttlMs: 3000, renewEveryMs: 600, marginMs: 750 }],
    [15000, { ttlMs: 15000, renewEveryMs: 3000, marginMs: 3750 }],
    [1001, { ttlMs: 1001, renewEveryMs: 200, marginMs: 251 }],
  ])('ttl %i ms', (ttl, want) => {
    expect(leaseTiming(ttl)).toEqual(want);
  });
});

describe('mayAct: the holder acts while its last renewal was sent less than ttl - margin ago', () => {
  test.each<[string, number | null, number, boolean]>([
    ['never renewed', null, 0, false],
    ['just renewed', 1000, 1000, true],
    ['one renewal late', 1000, 1000 + 1200, true],
    ['one ms before ttl - margin', 1000, 1000 + 2249, true],
    ['at ttl - margin', 1000, 1000 + 2250, false],
    ['past the lease time', 1000, 1000 + 3000, false],
  ])('%s', (_what, sentAt, now, want) => {
    expect(mayAct(timing, sentAt, now)).toBe(want);
  });
});

describe('renewDue', () => {
  test.each<[number, number, boolean]>([
    [0, 0, false],
    [0, 599, false],
    [0, 600, true],
    [0, 2000, true],
  ])('sent at %i, now %i', (sentAt, now, want) => {
    expect(renewDue(timing, sentAt, now)).toBe(want);
  });
});

describe('standbyAction', () => {
  const other: LeaseHolder = { instance: 'b', host: 'host-b', pid: 42, ttlMs: 3000 };
  const longer: LeaseHolder = { ...other, ttlMs: 10000 };
  const mine: LeaseHolder = { instance: 'a', host: 'host-a', pid: 7, ttlMs: 3000 };
  test.each<[string, LeaseRecord, number, number, StandbyAction]>([
    ['never written', { seq: 0, holder: null }, 0, 0, { kind: 'acquire', seq: 0, reason: 'free' }],
    ['released', { seq: 9, holder: null }, 500, 500, { kind: 'acquire', seq: 9, reason: 'free' }],
    [
      'ours (an ack we never got)',
      { seq: 4, holder: mine },
      0,
      10,
      { kind: 'acquire', seq: 4, reason: 'ours' },
    ],
    ['held, just seen', { seq: 5, holder: other }, 100, 100, { kind: 'wait', inMs: 3000, holder: other }],
    [
      'held, seen 2.9 s ago',
      { seq: 5, holder: other },
      100,
      3000,
      { kind: 'wait', inMs: 100, holder: other },
    ],
    [
      'held, unchanged for its ttl',
      { seq: 5, holder: other },
      100,
      3100,
      { kind: 'acquire', seq: 5, reason: 'expired' },
    ],
    [
      "the holder's own (longer) ttl counts, not ours",
      { seq: 5, holder: longer },
      100,
      3100,
      { kind: 'wait', inMs: 7000, holder: longer },
    ],
  ])('%s', (_what, record, observedAt, now, want) => {
    expect(standbyAction(record, 'a', observedAt, now)).toEqual(want);
  });
});
