/** Exponential backoff with jitter, shared by the connection, the feed and the status sink. */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  /**
   * Fraction of each delay that is random (0..1): the delay lies in [d * (1 - jitter), d]. A
   * fleet of nodes that lost the same server then does not come back in lock step.
   */
  jitter: number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): initialMs doubled per attempt,
 * capped at maxMs, then shortened at random by up to `jitter` of itself.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exp = Math.min(Math.max(0, attempt - 1), 30);
  const full = Math.min(policy.maxMs, policy.initialMs * 2 ** exp);
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return Math.round(full * (1 - jitter * random()));
}

/**
 * Resolves after ms, or at once when `signal` aborts. The timer is referenced on purpose: a
 * domainmgr waiting to retry NATS stays up rather than exiting with nothing left to do.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
