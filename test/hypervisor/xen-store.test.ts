import { allocatedAfter, lookupWindows, nextDomid } from '../../pkg/hypervisor/xen-store.js';

// Xen's domid allocator: 1 .. 0x7fef (DOMID_FIRST_RESERVED is 0x7ff0), then 1 again.
describe('domid order (pure)', () => {
  test.each([
    [0, 1],
    [1, 2],
    [0x7fee, 0x7fef],
    [0x7fef, 1],
  ])('after %i comes %i', (d, next) => {
    expect(nextDomid(d)).toBe(next);
  });

  test.each([
    [5, 4, true],
    [4, 5, false],
    [5, 5, false],
    [1, 0x7fef, true], // wrapped
    [0x7fef, 1, false],
    [3, 0, true],
    [20000, 1, false], // more than half the ring ahead: older, not newer
  ])('%i allocated after %i: %s', (b, a, after) => {
    expect(allocatedAfter(b, a)).toBe(after);
  });

  test('the lookup reads the 256 domids after the floor, 16 per round trip, wrapping', () => {
    const w = lookupWindows(0x7fdf);
    expect(w).toHaveLength(16);
    expect(w.every((x) => x.length === 16)).toBe(true);
    expect(w[0]?.slice(0, 3)).toEqual([0x7fe0, 0x7fe1, 0x7fe2]);
    expect(w[0]?.at(-1)).toBe(0x7fef);
    expect(w[1]?.[0]).toBe(1);
    expect(new Set(w.flat()).size).toBe(256);
    expect(lookupWindows(0)[0]?.[0]).toBe(1);
  });
});
