import { describe, expect, test } from '@jest/globals';
import type { Listing, ObservedDomain, PartialListing } from '../../pkg/hypervisor/hypervisor.js';
import { changeListing, observationsFor, withPartial } from '../../pkg/reconcile/partial-listing.js';

const A = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const B = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const C = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';

const d = (
  uuid: string | null,
  state: ObservedDomain['state'] = 'running',
  name = uuid ?? 'x',
): ObservedDomain => ({
  uuid,
  name,
  domainId: null,
  state,
  memoryMiB: null,
});
const full = (...domains: ObservedDomain[]): Listing => ({ domains, takenAt: 1 });
const some = (covers: string[], ...domains: ObservedDomain[]): PartialListing => ({
  domains,
  covers,
  takenAt: 2,
});

describe('changeListing: what the named changes call for', () => {
  test.each<[string, string[], number, ReturnType<typeof changeListing>]>([
    ['nothing named: no listing', [], 32, { kind: 'none' }],
    ['one named: that one', [A], 32, { kind: 'some', uuids: [A] }],
    ['several: all of them, in order', [C, A], 32, { kind: 'some', uuids: [A, C] }],
    ['more than the bound: a full listing', [A, B, C], 2, { kind: 'full' }],
    ['exactly the bound: still some', [A, B], 2, { kind: 'some', uuids: [A, B] }],
  ])('%s', (_name, named, max, expected) => {
    expect(changeListing(new Set(named), max)).toEqual(expected);
  });
});

describe('observationsFor: which workers a listing speaks to', () => {
  test.each<[string, Listing | PartialListing, string[], Record<string, ObservedDomain[]>]>([
    [
      'a full listing speaks to every worker: unlisted is absent',
      full(d(A)),
      [A, B],
      { [A]: [d(A)], [B]: [] },
    ],
    [
      'a partial listing speaks only to what it covers: B is not vanished',
      some([A], d(A, 'crashed')),
      [A, B],
      { [A]: [d(A, 'crashed')] },
    ],
    ['a covered uuid without a domain is absent', some([A]), [A, B], { [A]: [] }],
    [
      'an entry of a uuid it does not cover is not passed on',
      some([A], d(A), d(B, 'crashed')),
      [A, B],
      { [A]: [d(A)] },
    ],
    ['domains without uuid and without worker are left out', full(d(null), d(C), d(A)), [A], { [A]: [d(A)] }],
    [
      'two with a uuid both go to its worker',
      full(d(A), d(A, 'paused', 'a2')),
      [A],
      { [A]: [d(A), d(A, 'paused', 'a2')] },
    ],
    ['a covered uuid with no worker: nothing', some([C], d(C)), [A], {}],
  ])('%s', (_name, listing, workers, expected) => {
    expect(Object.fromEntries(observationsFor(listing, workers))).toEqual(expected);
  });
});

describe('withPartial: the last full listing updated by a partial one', () => {
  test.each<[string, Listing, PartialListing, Listing]>([
    [
      'a covered uuid takes the new view',
      full(d(A), d(B)),
      some([A], d(A, 'crashed')),
      full(d(B), d(A, 'crashed')),
    ],
    ['a covered uuid gone is removed', full(d(A), d(B)), some([A]), full(d(B))],
    ['a covered uuid new to the full listing is added', full(d(B)), some([A], d(A)), full(d(B), d(A))],
    [
      'uncovered entries and ones without uuid stay',
      full(d(null), d(C)),
      some([A], d(C, 'crashed')),
      full(d(null), d(C)),
    ],
  ])('%s', (_name, before, partial, expected) => {
    expect(withPartial(before, partial)).toEqual(expected);
  });
});
