/**
 * The one exponential backoff of domainmgr: restarts and retries of domains (reconcile/decide.ts),
 * and the NATS connection, config feed and status sink (bus/backoff.ts) all take their delays
 * from here. Pure.
 *
 * The delay before retry `retry` (0 for the first retry): initialMs, doubled per retry, capped at
 * maxMs. With `jitter` (0..1) it is then shortened at random by up to that fraction of itself (it
 * lies in [d * (1 - jitter), d]), so a fleet of nodes that lost the same server does not come
 * back in lock step; without, it is exact.
 */
export function backoffDelay(
  retry: number,
  initialMs: number,
  maxMs: number,
  jitter = 0,
  random: () => number = Math.random,
): number {
  const full = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, retry), 30));
  const fraction = Math.min(1, Math.max(0, jitter));
  return fraction === 0 ? full : Math.round(full * (1 - fraction * random()));
}
