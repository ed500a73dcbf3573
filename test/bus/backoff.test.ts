import { backoffDelay as sharedBackoffDelay } from '../../pkg/backoff.js';
import { backoffDelay } from '../../pkg/bus/backoff.js';
import { backoffDelay as decideBackoffDelay } from '../../pkg/reconcile/decide.js';

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

describe('one backoff for the bus and the reconcile engine', () => {
  test.each([
    1, 2, 3, 7, 40,
  ])('the policy form of attempt %i is the shared function at retry attempt - 1', (attempt) => {
    expect(backoffDelay(attempt, policy, () => 0.25)).toBe(
      sharedBackoffDelay(attempt - 1, policy.initialMs, policy.maxMs, policy.jitter, () => 0.25),
    );
  });

  test('the reconcile engine re-exports the shared function itself', () => {
    expect(decideBackoffDelay).toBe(sharedBackoffDelay);
  });

  test('without jitter the delay is exact, whatever the random source says', () => {
    expect(sharedBackoffDelay(2, 1000, 300_000, 0, () => 0.9)).toBe(4000);
  });
});
