import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { BusConnection } from './connect.js';
import { describeError } from './describe-error.js';
import {
  type LeaseHolder,
  type LeaseRecord,
  type LeaseTiming,
  leaseTiming,
  mayAct,
  renewDue,
  standbyAction,
} from './lease-decision.js';
import { leaseSubject, streamName } from './subjects.js';

export interface NodeLeaseOptions {
  conn: BusConnection;
  prefix: string;
  nodeId: string;
  /** This agent: instance id, host and pid, as the lease record and NodeStatus name it. */
  self: Omit<LeaseHolder, 'ttlMs'>;
  ttlMs: number;
  clock: Clock;
  logger: Logger;
  /** Told every time the agent starts or stops acting. */
  onActingChange: (acting: boolean) => void;
}

/** Why an agent is not acting, for /readyz and the log. */
export type StandbyReason = string;

/**
 * One agent per node id: a lease record on `<prefix>.<nodeId>.lease` in the stream
 * `<PREFIX>_LEASE` (one message per subject), written only with compare-and-set on the subject's
 * last sequence (JetStream's Nats-Expected-Last-Subject-Sequence), so of two agents writing
 * after reading the same record exactly one succeeds.
 *
 * The holder renews every fifth of the lease time and acts only while its last successful
 * renewal was sent less than ttl - margin ago (monotonic clock); a standby takes over only after
 * the record stayed unchanged for the holder's lease time on its own clock, or at once when the
 * holder released it (an empty record, written on SIGTERM). The pure rules are in
 * lease-decision.ts; the argument for why two never act at once is in docs/security.md.
 *
 * `acting` is computed from the clock whenever it is read, not only when a timer fires, so a
 * late timer cannot extend the holder's time (see fencedHypervisor in pkg/service).
 */
export class NodeLease {
  readonly #o: NodeLeaseOptions;
  readonly #log: Logger;
  readonly #timing: LeaseTiming;
  readonly #stream: string;
  readonly #subject: string;
  /** Our record's sequence and when its renewal was sent, while we hold the lease. */
  #held: { seq: number; sentAt: number } | null = null;
  /** The last record read and when we first saw its sequence (standby). */
  #observed: { seq: number; at: number } | null = null;
  #holder: LeaseHolder | null = null;
  #reportedActing = false;
  #timer: TimerHandle | null = null;
  #sub: Subscription | null = null;
  #running = false;
  #busy: Promise<void> = Promise.resolve();
  #standbyReason: StandbyReason = 'standby: lease not checked yet';
  /** The holder the last `standby` line named (one line per holder, not per look). */
  #loggedHolder: string | null = null;

  constructor(o: NodeLeaseOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: 'lease' });
    this.#timing = leaseTiming(o.ttlMs);
    this.#stream = streamName(o.prefix, 'lease');
    this.#subject = leaseSubject(o.prefix, o.nodeId);
  }

  /** True while this agent holds the lease and its last renewal is recent enough to act. */
  get acting(): boolean {
    return this.#held !== null && mayAct(this.#timing, this.#held.sentAt, this.#o.clock.monotonic());
  }

  /** Why not acting (empty while acting). */
  get standbyReason(): StandbyReason {
    return this.acting ? '' : this.#standbyReason;
  }

  /** Starts watching and competing for the lease; returns at once. */
  start(): void {
    this.#running = true;
    // A release (or any write) by another agent wakes a standby at once instead of at its next look.
    this.#sub = this.#o.conn.nc.subscribe(this.#subject, {
      callback: () => {
        if (this.#held === null) this.#kick(0);
      },
    });
    this.#kick(0);
  }

  /** Stops competing; releases the lease when held (compare-and-set on our record). */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== null) this.#o.clock.cancel(this.#timer);
    this.#timer = null;
    this.#sub?.unsubscribe();
    await this.#busy;
    const held = this.#held;
    this.#held = null;
    this.#report();
    if (held === null) return;
    try {
      await this.#o.conn.js.publish(this.#subject, new Uint8Array(0), {
        expect: { lastSubjectSequence: held.seq },
        timeout: 2000,
      });
      this.#log.info('lease released');
    } catch (e) {
      this.#log.warn(
        { err: describeError(e) },
        'could not release the lease; a standby takes over after the lease time',
      );
    }
  }

  #kick(inMs: number): void {
    if (!this.#running) return;
    if (this.#timer !== null) this.#o.clock.cancel(this.#timer);
    this.#timer = this.#o.clock.schedule(Math.max(0, inMs), () => {
      this.#timer = null;
      this.#busy = this.#busy
        .then(() => this.#step())
        .catch((e: unknown) => {
          this.#log.error({ err: describeError(e) }, 'lease step failed');
          this.#kick(this.#timing.renewEveryMs);
        });
    });
  }

  async #step(): Promise<void> {
    if (!this.#running) return;
    const clock = this.#o.clock;
    let next = this.#timing.renewEveryMs;
    if (this.#held !== null) {
      const now = clock.monotonic();
      if (renewDue(this.#timing, this.#held.sentAt, now)) await this.#write(this.#held.seq, 'renew');
      if (this.#held !== null) {
        const sinceRenew = clock.monotonic() - this.#held.sentAt;
        next = Math.max(0, Math.min(this.#timing.renewEveryMs - sinceRenew, this.#stopActingIn(sinceRenew)));
        if (sinceRenew >= this.#timing.renewEveryMs) next = Math.min(next, 200);
      } else next = 0;
    } else {
      const record = await this.#read();
      if (record !== null) {
        const now = clock.monotonic();
        if (this.#observed?.seq !== record.seq) this.#observed = { seq: record.seq, at: now };
        const action = standbyAction(record, this.#o.self.instance, this.#observed.at, now);
        if (action.kind === 'acquire') {
          await this.#write(action.seq, action.reason);
          next = this.#held !== null ? this.#timing.renewEveryMs : 0;
        } else {
          this.#holder = action.holder;
          this.#standbyReason = `standby: node ${this.#o.nodeId} is held by instance ${action.holder.instance} on host ${action.holder.host} (pid ${action.holder.pid})`;
          next = Math.min(action.inMs, this.#timing.renewEveryMs);
          if (this.#loggedHolder !== action.holder.instance) {
            this.#loggedHolder = action.holder.instance;
            this.#log.info({ reason: this.#standbyReason, holder: action.holder }, 'standby');
          }
        }
      }
    }
    this.#report();
    this.#kick(next);
  }

  #stopActingIn(sinceRenew: number): number {
    const left = this.#timing.ttlMs - this.#timing.marginMs - sinceRenew;
    return left > 0 ? left : this.#timing.renewEveryMs;
  }

  /** The current record, or null when it cannot be read now (logged; the caller tries again). */
  async #read(): Promise<LeaseRecord | null> {
    try {
      const jsm = await this.#o.conn.jsm();
      const m = await jsm.direct.getMessage(this.#stream, { last_by_subj: this.#subject });
      if (m === null) return { seq: 0, holder: null };
      return { seq: m.seq, holder: m.data.length === 0 ? null : parseHolder(m.data) };
    } catch (e) {
      this.#standbyReason = `standby: cannot read the lease: ${describeError(e)}`;
      this.#log.debug({ err: describeError(e) }, 'cannot read the lease');
      return null;
    }
  }

  /** Compare-and-set write of our record on `seq`; on success we hold the lease from the send time. */
  async #write(seq: number, why: string): Promise<void> {
    const sentAt = this.#o.clock.monotonic();
    const record: LeaseHolder = { ...this.#o.self, ttlMs: this.#o.ttlMs };
    try {
      const ack = await this.#o.conn.js.publish(this.#subject, JSON.stringify(record), {
        expect: { lastSubjectSequence: seq },
        timeout: Math.max(500, this.#timing.renewEveryMs),
      });
      if (this.#held !== null) this.#log.debug({ seq: ack.seq }, 'lease renewed');
      else
        this.#log.info(
          { why, seq: ack.seq, previous: this.#holder ?? undefined, ttlMs: this.#o.ttlMs },
          'lease acquired',
        );
      this.#held = { seq: ack.seq, sentAt };
      this.#holder = null;
      this.#loggedHolder = null;
    } catch (e) {
      const lost =
        e instanceof JetStreamApiError &&
        (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === 10164);
      if (lost) await this.#conflict(why);
      else {
        this.#standbyReason = `standby: cannot write the lease: ${describeError(e)}`;
        this.#log.debug({ why, err: describeError(e) }, 'lease write failed');
      }
    }
  }

  /**
   * Our compare-and-set found a newer record than the one we wrote last. When we hold the lease
   * and the newer record is ours, it is a renewal of ours whose ack never came (a timeout, a
   * stream leader that died after storing it): the lease is still ours. We keep the send time of
   * the last renewal that was acked (older, so fencing stays on the safe side) and renew on the
   * stored sequence at the next step. Otherwise another agent wrote it: the lease is lost.
   */
  async #conflict(why: string): Promise<void> {
    const held = this.#held;
    if (held !== null) {
      const record = await this.#read();
      if (record !== null && record.holder?.instance === this.#o.self.instance) {
        this.#held = { seq: record.seq, sentAt: held.sentAt };
        this.#log.info(
          { why, seq: record.seq },
          'lease record is our own unacknowledged renewal: still held',
        );
        return;
      }
      this.#log.warn({ why }, 'lease lost: the record was written by another agent');
    }
    this.#held = null;
    this.#observed = null;
  }

  #report(): void {
    const acting = this.acting;
    if (acting === this.#reportedActing) return;
    this.#reportedActing = acting;
    if (acting) this.#log.info({ nodeId: this.#o.nodeId }, 'acting for the node');
    else if (this.#running) {
      if (this.#held !== null) {
        this.#standbyReason = `standby: lease lost (no renewal for ${this.#timing.ttlMs - this.#timing.marginMs} ms)`;
        // Expired on our clock: stop claiming it; the next read decides again.
        this.#held = null;
        this.#observed = null;
      }
      this.#log.warn({ reason: this.#standbyReason }, 'lease lost: not acting');
    }
    this.#o.onActingChange(acting);
  }
}

function parseHolder(data: Uint8Array): LeaseHolder {
  const v = JSON.parse(new TextDecoder().decode(data)) as Partial<LeaseHolder>;
  if (
    typeof v.instance !== 'string' ||
    typeof v.host !== 'string' ||
    typeof v.pid !== 'number' ||
    typeof v.ttlMs !== 'number'
  )
    throw new Error('the lease record is not a lease holder');
  return { instance: v.instance, host: v.host, pid: v.pid, ttlMs: v.ttlMs };
}
