import { backoffDelay } from '../../pkg/bus/backoff.js';

const policy = { initialMs: 100, maxMs: 1000, jitter: 0.5 };

describe('backoffDelay', () => {
  test.each([
    [1, 100],
    [2, 200],
    [3, 400],
    [4, 800],
    [5, 1000],
    [60, 1000],
    [0, 100],
  ])('attempt %i without the random part: %i ms', (attempt, ms) => {
    expect(backoffDelay(attempt, policy, () => 0)).toBe(ms);
  });

  test('jitter shortens a delay by at most its fraction', () => {
    expect(backoffDelay(3, policy, () => 1)).toBe(200);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(300);
    expect(backoffDelay(3, { ...policy, jitter: 0 }, () => 1)).toBe(400);
  });
});
