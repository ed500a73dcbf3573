/**
 * The pure decisions of the node lease (pkg/bus/lease.ts; docs/security.md "One agent per node"),
 * on monotonic milliseconds. No I/O here: the lease component feeds these with what it read from
 * the lease stream and what its own clock says.
 */

/** Who holds a node's lease, as the lease record says. */
export interface LeaseHolder {
  /** Random per process: tells two agents on one host (or a restarted agent) apart. */
  instance: string;
  host: string;
  pid: number;
  /** The holder's lease time: it stops acting before this much has passed since a renewal. */
  ttlMs: number;
}

/** The lease record as last read: its stream sequence and holder (null: free, never held or released). */
export interface LeaseRecord {
  seq: number;
  holder: LeaseHolder | null;
}

/** The timing derived from the lease time. */
export interface LeaseTiming {
  ttlMs: number;
  /** How often the holder renews. */
  renewEveryMs: number;
  /** The holder stops acting this long before the lease time has passed since its last renewal. */
  marginMs: number;
}

/**
 * Renew every fifth of the lease time; stop acting a quarter of the lease time early. So a holder
 * survives two or three lost renewals before it stops, and stops a quarter of the lease time
 * before any standby may start (the margin also covers clock-rate differences and timer lag).
 */
export function leaseTiming(ttlMs: number): LeaseTiming {
  return { ttlMs, renewEveryMs: Math.max(1, Math.floor(ttlMs / 5)), marginMs: Math.ceil(ttlMs / 4) };
}

/**
 * Whether the holder may act at `now`: its last successful renewal (the monotonic time the
 * renewal was *sent*, not when its ack came) is younger than the lease time less the margin.
 */
export function mayAct(timing: LeaseTiming, lastRenewSentAt: number | null, now: number): boolean {
  return lastRenewSentAt !== null && now - lastRenewSentAt < timing.ttlMs - timing.marginMs;
}

/** When a holder's renewal is due. */
export function renewDue(timing: LeaseTiming, lastRenewSentAt: number, now: number): boolean {
  return now - lastRenewSentAt >= timing.renewEveryMs;
}

export type StandbyAction =
  /** Write the lease with compare-and-set on `seq` (free, ours, or expired). */
  | { kind: 'acquire'; seq: number; reason: 'free' | 'ours' | 'expired' }
  /** Another instance holds it: look again at the latest after `inMs`. */
  | { kind: 'wait'; inMs: number; holder: LeaseHolder };

/**
 * What an agent that does not hold the lease does with the record it read. `observedAt`: the
 * monotonic time this agent first read the record's current sequence. A record held by another
 * instance counts as expired once it has stayed unchanged for the holder's lease time on this
 * agent's clock: the holder sent that renewal before it was stored, which is before this agent
 * read it, so the holder stopped acting at least the margin before.
 */
export function standbyAction(
  record: LeaseRecord,
  self: string,
  observedAt: number,
  now: number,
): StandbyAction {
  const h = record.holder;
  if (h === null) return { kind: 'acquire', seq: record.seq, reason: 'free' };
  if (h.instance === self) return { kind: 'acquire', seq: record.seq, reason: 'ours' };
  const left = observedAt + h.ttlMs - now;
  if (left <= 0) return { kind: 'acquire', seq: record.seq, reason: 'expired' };
  return { kind: 'wait', inMs: left, holder: h };
}
