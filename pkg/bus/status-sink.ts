import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { NodeStatus } from '../../types/generated/node-status.js';
import type { Logger } from '../log/logger.js';
import type { StatusKind } from '../observe/metrics.js';
import type { StatusSink } from '../reconcile/ports.js';
import { check, validateDomainStatusSchema, validateNodeStatusSchema } from '../schema/validators.js';
import { type BackoffPolicy, backoffDelay } from './backoff.js';
import type { BusConnection } from './connect.js';
import { describeError } from './describe-error.js';
import { isSubjectToken, type NodeSubjects, nodeSubjects } from './subjects.js';

export interface StatusSinkOptions {
  conn: BusConnection;
  prefix: string;
  nodeId: string;
  logger: Logger;
  /** Publishes awaiting their ack at once, at most. Default 8. */
  concurrency?: number;
  /** How long one publish waits for its ack before it counts as failed. Default 5 s. */
  publishTimeoutMs?: number;
  /** Between attempts for one subject. Default 200 ms doubling to 5 s. */
  retryBackoff?: BackoffPolicy;
  /**
   * Check every outgoing status against its JSON schema and log an invalid one as an error
   * (it is still published: a status that breaks the schema is a bug to fix, but withholding it
   * would leave operators looking at an older state). Default true: a compiled schema check
   * costs microseconds against a publish's round trip.
   */
  validate?: boolean;
  /**
   * Told of every publish attempt as it ends: ok when the stream stored it, else a failure that
   * will be retried (the service counts both in its metrics).
   */
  onAttempt?: (kind: StatusKind, ok: boolean) => void;
}

interface Slot {
  payload: Uint8Array;
  /** Global, increasing: tells a newer value from the one a publish carried. */
  version: number;
  /** Failed attempts for this subject since it was last stored. */
  failures: number;
  retryTimer: NodeJS.Timeout | undefined;
}

interface FlushWaiter {
  /** Subject -> the version that must be stored. */
  waiting: Map<string, number>;
  resolve: (ok: boolean) => void;
}

/**
 * StatusSink over JetStream: each status is published to its subject
 * (`<prefix>.<nodeId>.status.<uuid>`, `<prefix>.<nodeId>.node`) and retried until the stream
 * acknowledges it.
 *
 * Newest wins: there is one pending slot per subject, not a queue, so a status that arrives while
 * an older one of the same subject waits or is in flight replaces it, and at most one publish per
 * subject is in flight (they cannot overtake each other). Publishes across subjects run
 * concurrently up to `concurrency`. A failed publish is retried with backoff; while the
 * connection is down nothing is sent, and everything waiting goes out as soon as it is back.
 */
export class JetStreamStatusSink implements StatusSink {
  readonly #o: Required<Omit<StatusSinkOptions, 'conn' | 'logger' | 'onAttempt'>> & {
    conn: BusConnection;
    onAttempt?: StatusSinkOptions['onAttempt'];
  };
  readonly #subjects: NodeSubjects;
  readonly #log: Logger;
  readonly #slots = new Map<string, Slot>();
  readonly #inFlight = new Set<string>();
  /** Subjects ready to be published, in the order they became ready. */
  readonly #ready = new Set<string>();
  readonly #waiters = new Set<FlushWaiter>();
  readonly #unsubscribe: () => void;
  #version = 0;
  #closed = false;
  /** Failures since the last stored publish, to log an outage once rather than per attempt. */
  #failing = 0;
  /** Why the last attempt failed, while no publish has been stored since. */
  #failure: string | null = null;

  constructor(options: StatusSinkOptions) {
    this.#o = {
      concurrency: 8,
      publishTimeoutMs: 5_000,
      retryBackoff: { initialMs: 200, maxMs: 5_000, jitter: 0.5 },
      validate: true,
      ...options,
    };
    this.#subjects = nodeSubjects(options.prefix, options.nodeId);
    this.#log = options.logger.child({ component: 'status-sink' });
    this.#unsubscribe = options.conn.onChange((connected) => {
      if (connected) this.#retryAllNow();
    });
  }

  /**
   * Why statuses are not being stored (the last failed attempt's error), or null once a publish
   * was stored after it: a reason for /readyz.
   */
  get failure(): string | null {
    return this.#failure;
  }

  publishDomainStatus(status: DomainStatus): void {
    if (!isSubjectToken(status.uuid)) {
      this.#log.error(
        { uuid: status.uuid },
        'domain status with a uuid that is no subject token, not published',
      );
      return;
    }
    if (this.#o.validate) this.#check(validateDomainStatusSchema, status, status.uuid);
    this.#enqueue(this.#subjects.status(status.uuid), status);
  }

  publishNodeStatus(status: NodeStatus): void {
    if (this.#o.validate) this.#check(validateNodeStatusSchema, status, 'node');
    if (status.nodeId !== this.#subjects.nodeId)
      this.#log.error({ statusNodeId: status.nodeId }, 'node status names another node id');
    this.#enqueue(this.#subjects.node, status);
  }

  flush(timeoutMs: number): Promise<boolean> {
    if (this.#slots.size === 0) return Promise.resolve(true);
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiting = new Map<string, number>();
      for (const [subject, slot] of this.#slots) waiting.set(subject, slot.version);
      const timer = setTimeout(() => settle(false), timeoutMs);
      const waiter: FlushWaiter = { waiting, resolve: (ok) => settle(ok) };
      const settle = (ok: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve(ok);
      };
      this.#waiters.add(waiter);
    });
  }

  /** Statuses not stored yet (one per subject at most). */
  get pending(): number {
    return this.#slots.size;
  }

  /**
   * Stops publishing: pending retries are cancelled and what is not stored yet is dropped (and
   * logged). Call flush() first for a graceful stop.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    for (const slot of this.#slots.values()) clearTimeout(slot.retryTimer);
    if (this.#slots.size > 0)
      this.#log.warn({ dropped: [...this.#slots.keys()] }, 'status sink closed with statuses unsent');
    this.#slots.clear();
    this.#ready.clear();
    for (const w of this.#waiters) w.resolve(false);
  }

  #check(validate: Parameters<typeof check>[0], status: unknown, what: string): void {
    const result = check(validate, status);
    if (!result.ok)
      this.#log.error({ status: what, errors: result.errors }, 'outgoing status violates its schema');
  }

  #enqueue(subject: string, status: DomainStatus | NodeStatus): void {
    if (this.#closed) {
      this.#log.warn({ subject }, 'status after close, dropped');
      return;
    }
    const payload = new TextEncoder().encode(JSON.stringify(status));
    const version = ++this.#version;
    const slot = this.#slots.get(subject);
    if (slot) {
      // Replace the value; a slot in flight or waiting for its retry keeps its place in line.
      slot.payload = payload;
      slot.version = version;
      return;
    }
    this.#slots.set(subject, { payload, version, failures: 0, retryTimer: undefined });
    this.#ready.add(subject);
    this.#pump();
  }

  #kind(subject: string): StatusKind {
    return subject === this.#subjects.node ? 'node' : 'domain';
  }

  #pump(): void {
    if (!this.#o.conn.connected) return;
    for (const subject of this.#ready) {
      if (this.#inFlight.size >= this.#o.concurrency) return;
      if (this.#inFlight.has(subject)) continue;
      this.#ready.delete(subject);
      void this.#send(subject);
    }
  }

  async #send(subject: string): Promise<void> {
    const slot = this.#slots.get(subject);
    if (!slot) return;
    const version = slot.version;
    this.#inFlight.add(subject);
    try {
      await this.#o.conn.js.publish(subject, slot.payload, { timeout: this.#o.publishTimeoutMs });
    } catch (err) {
      this.#inFlight.delete(subject);
      this.#o.onAttempt?.(this.#kind(subject), false);
      this.#failed(subject, err);
      return;
    }
    this.#inFlight.delete(subject);
    this.#o.onAttempt?.(this.#kind(subject), true);
    if (this.#failing > 0) {
      this.#log.info({ failures: this.#failing }, 'status publishing recovered');
      this.#failing = 0;
      this.#failure = null;
    }
    this.#stored(subject, version);
    const current = this.#slots.get(subject);
    if (current && current === slot) {
      if (current.version === version) this.#slots.delete(subject);
      else {
        // A newer status came while this one was in flight: it goes next.
        current.failures = 0;
        this.#ready.add(subject);
      }
    }
    this.#pump();
  }

  #failed(subject: string, err: unknown): void {
    const slot = this.#slots.get(subject);
    if (!slot || this.#closed) return;
    slot.failures++;
    this.#failing++;
    this.#failure = describeError(err);
    const delayMs = backoffDelay(slot.failures, this.#o.retryBackoff);
    const fields = { subject, attempt: slot.failures, retryInMs: delayMs, err: this.#failure };
    if (this.#failing === 1) this.#log.warn(fields, 'cannot publish status, retrying');
    else this.#log.debug(fields, 'cannot publish status, retrying');
    slot.retryTimer = setTimeout(() => {
      slot.retryTimer = undefined;
      this.#ready.add(subject);
      this.#pump();
    }, delayMs);
    this.#pump();
  }

  /** After a reconnect: no reason to wait out the backoff of what failed during the outage. */
  #retryAllNow(): void {
    for (const [subject, slot] of this.#slots) {
      if (slot.retryTimer === undefined) continue;
      clearTimeout(slot.retryTimer);
      slot.retryTimer = undefined;
      this.#ready.add(subject);
    }
    this.#pump();
  }

  #stored(subject: string, version: number): void {
    for (const w of this.#waiters) {
      const need = w.waiting.get(subject);
      if (need !== undefined && need <= version) w.waiting.delete(subject);
      if (w.waiting.size === 0) w.resolve(true);
    }
  }
}
