import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Logger } from '../log/logger.js';
import type { ConfigDelivery, DesiredStateSource } from '../reconcile/ports.js';
import { type BackoffPolicy, backoffDelay } from './backoff.js';
import type { BusConnection } from './connect.js';
import { describeError } from './describe-error.js';
import { JetStreamRetry } from './jetstream-retry.js';
import { nodeSubjects, parseSubject, streamName } from './subjects.js';

/** The feed could not set up its consumer. */
export class ConfigFeedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface ConfigFeedOptions {
  conn: BusConnection;
  prefix: string;
  nodeId: string;
  logger: Logger;
  /** How long the server waits for an ack before redelivering. Default 30 s. */
  ackWaitMs?: number;
  /** Messages delivered but not yet acked, at most. Default 256. */
  maxAckPending?: number;
  /** Delay of a nak'ed message's redelivery, by delivery count. Default 1 s doubling to 60 s. */
  nakBackoff?: BackoffPolicy;
  /**
   * Retries creating the consumer (at start and when it went missing) until JetStream answers,
   * and keeps why it fails for /readyz. Default: one of the feed's own, 250 ms doubling to 10 s.
   */
  retry?: JetStreamRetry;
  /**
   * Idle heartbeat of the pull: the server sends one this often while it has nothing to deliver,
   * and two missed ones make the client pull again. That is how a node notices that the server
   * leading its consumer died with its pull request (the new leader never saw it): default 5 s,
   * so a consumer failover costs about 10 s, not the client's default 30 s.
   */
  heartbeatMs?: number;
  /** The server deletes the consumer after this long without a client. Default 7 days. */
  inactiveThresholdMs?: number;
}

/**
 * Desired state for one node over JetStream: a pull consumer on the config stream filtered on
 * `<prefix>.<nodeId>.config.*`.
 *
 * The consumer is a durable named `domainmgr-<nodeId>`, deleted and created anew by every
 * start() with deliver policy last_per_subject: a durable keeps its place across a nats-server
 * restart (the server stores it with the stream) and the client's consume() resumes by itself
 * after the reconnect, while creating it afresh at each start makes every start deliver the
 * latest config of every domain, as the contract wants, whatever an earlier run acked. One node
 * is one domainmgr, so nobody else uses that name. If the consumer goes missing while running
 * (an operator deleted it, the server lost its store, or it outlived inactiveThresholdMs while
 * the node was away) it is recreated the same way: the latest config of every domain again,
 * which is always a correct starting point, so no config is lost.
 *
 * Acks: explicit, and only after onMessage resolved. A handler that throws gets a nak with a
 * growing delay (nakBackoff by delivery count); max_deliver is unlimited, because dropping a
 * desired-state message after N tries would silently lose it. ack_wait (30 s) only matters when an
 * ack is lost or the process hangs: the handler is expected to take milliseconds, and one that
 * runs long keeps its message with `working()` every ackWait/2. A crash needs no ack_wait: the
 * next start recreates the consumer and delivers the message again.
 *
 * Order: messages are handled one at a time, in delivery order, which is stream order. The stream
 * keeps one message per subject, so per subject there is only ever one candidate; redeliveries
 * (a lost ack, a nak racing a newer message) of a sequence at or below the last one handled for
 * its subject are acked without calling the handler, so a subject never goes back in time.
 *
 * Subjects whose last token is not a valid uuid are delivered as any other: the engine logs a
 * warning and publishes no status (there is no uuid to publish it under), and the message is
 * acknowledged.
 */
export class ConfigFeed implements DesiredStateSource {
  readonly consumerName: string;
  readonly stream: string;
  readonly #filter: string;
  readonly #o: Required<Omit<ConfigFeedOptions, 'conn' | 'logger' | 'retry'>> & { conn: BusConnection };
  readonly #retry: JetStreamRetry;
  readonly #log: Logger;

  #onMessage: ((d: ConfigDelivery) => Promise<void>) | undefined;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #stopping = false;
  readonly #stopSignal = new AbortController();
  #stopped: Promise<void> | undefined;
  /** A running replacement of a missing consumer; stop() waits for it. */
  #recovery: Promise<void> | undefined;
  /** Last stream sequence handled per subject, for this consumer incarnation. */
  #handled = new Map<string, number>();
  #backlog: Backlog | undefined;

  constructor(options: ConfigFeedOptions) {
    this.#o = {
      ackWaitMs: 30_000,
      maxAckPending: 256,
      nakBackoff: { initialMs: 1_000, maxMs: 60_000, jitter: 0.2 },
      heartbeatMs: 5_000,
      inactiveThresholdMs: 7 * 24 * 3600 * 1000,
      ...options,
    };
    this.#filter = nodeSubjects(options.prefix, options.nodeId).configFilter;
    this.stream = streamName(options.prefix, 'config');
    this.consumerName = `domainmgr-${options.nodeId}`;
    this.#log = options.logger.child({
      component: 'config-feed',
      stream: this.stream,
      consumer: this.consumerName,
    });
    this.#retry = options.retry ?? new JetStreamRetry({ logger: options.logger });
  }

  async start(onMessage: (delivery: ConfigDelivery) => Promise<void>): Promise<void> {
    if (this.#onMessage) throw new ConfigFeedError('config feed already started');
    this.#onMessage = onMessage;
    // Creating the consumer and its first pull are retried until JetStream answers: a stream
    // electing its leader or a server coming up is no reason for a node agent to give up.
    const { pending, backlog } = await this.#retry.run(
      'consumer',
      async () => {
        const created = await this.#createConsumer();
        const fresh = new Backlog(created);
        this.#backlog = fresh;
        await this.#consume();
        return { pending: created, backlog: fresh };
      },
      this.#stopSignal.signal,
    );
    this.#log.info({ backlog: pending, filter: this.#filter }, 'config feed started');
    await backlog.done;
    this.#log.info({ backlog: pending }, 'initial desired state handled');
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#stopSignal.abort();
    this.#stopped ??= (async () => {
      // The loop finishes the message in hand (and acks it), then sees #stopping; stopping the
      // iterator then ends the loop. Messages buffered but not handled are not acked.
      this.#messages?.stop();
      await this.#recovery;
      this.#messages?.stop();
      await this.#loop;
      this.#backlog?.abort(new ConfigFeedError('config feed stopped before the backlog was handled'));
      this.#log.info('config feed stopped');
    })();
    return this.#stopped;
  }

  /** Deletes any consumer of an earlier run, creates a fresh one; returns its pending count. */
  async #createConsumer(): Promise<number> {
    const jsm = await this.#o.conn.jsm();
    try {
      await jsm.consumers.delete(this.stream, this.consumerName);
      this.#log.debug('deleted the consumer of an earlier run');
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound))
        throw new ConfigFeedError(`cannot delete consumer ${this.consumerName}: ${describeError(err)}`, {
          cause: err,
        });
    }
    try {
      const info = await jsm.consumers.add(this.stream, {
        durable_name: this.consumerName,
        filter_subject: this.#filter,
        deliver_policy: DeliverPolicy.LastPerSubject,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(this.#o.ackWaitMs),
        max_deliver: -1,
        max_ack_pending: this.#o.maxAckPending,
        inactive_threshold: nanos(this.#o.inactiveThresholdMs),
      });
      this.#handled.clear();
      return info.num_pending;
    } catch (err) {
      throw new ConfigFeedError(
        `cannot create consumer ${this.consumerName} on stream ${this.stream}: ${describeError(err)}`,
        { cause: err },
      );
    }
  }

  async #consume(): Promise<void> {
    const consumer = await this.#o.conn.js.consumers.get(this.stream, this.consumerName);
    const messages = await consumer.consume({
      max_messages: Math.min(this.#o.maxAckPending, 128),
      idle_heartbeat: this.#o.heartbeatMs,
    });
    // stop() may have come while the consumer was being set up (during a recovery).
    if (this.#stopping) {
      messages.stop();
      return;
    }
    this.#messages = messages;
    void this.#watch(messages);
    this.#loop = (async () => {
      try {
        for await (const m of messages) {
          if (this.#stopping) break;
          await this.#handle(m);
        }
      } catch (err) {
        // The iterator only fails for a closed connection; the feed then has nothing left to do.
        this.#log.error({ err: describeError(err) }, 'config feed stopped by an error');
        this.#backlog?.abort(new ConfigFeedError('config feed failed', { cause: err }));
      }
    })();
  }

  async #watch(messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      switch (s.type) {
        case 'consumer_deleted':
        case 'consumer_not_found':
        case 'stream_not_found':
          this.#log.warn({ event: s }, 'config consumer missing, recreating it');
          this.#recovery ??= this.#recover(messages).finally(() => {
            this.#recovery = undefined;
          });
          return;
        case 'heartbeats_missed':
          this.#log.warn({ count: s.count }, 'config consumer heartbeats missed');
          break;
        case 'exceeded_limits':
          this.#log.warn({ event: s }, 'config consumer pull exceeded limits');
          break;
        default:
          break;
      }
    }
  }

  /** Replaces a consumer that went missing: stop the old iterator, create anew, consume again. */
  async #recover(old: ConsumerMessages): Promise<void> {
    old.stop();
    await this.#loop;
    try {
      const pending = await this.#retry.run(
        'consumer',
        async () => {
          const created = await this.#createConsumer();
          // A backlog still being handled now counts from the new consumer's first deliveries.
          this.#backlog?.restart(created);
          await this.#consume();
          return created;
        },
        this.#stopSignal.signal,
      );
      this.#log.info({ pending }, 'config consumer recreated');
    } catch {
      // Only a stop() ends the retries; nothing is left to recover then.
    }
  }

  async #handle(m: JsMsg): Promise<void> {
    const seq = m.info.streamSequence;
    const log = this.#log.child({ subject: m.subject, seq, deliveryCount: m.info.deliveryCount });
    const parsed = parseSubject(this.#o.prefix, m.subject);
    if (parsed === null || parsed.kind !== 'config') {
      // Cannot happen with the consumer's filter; acked so that it cannot block the feed.
      log.error('message outside the config subjects, dropped');
      m.ack();
      return;
    }
    this.#backlog?.delivered(m.subject, seq, m.info.deliveryCount);
    const last = this.#handled.get(m.subject);
    if (last !== undefined && seq <= last) {
      log.debug({ lastHandled: last }, 'redelivery of a config already handled, acked');
      m.ack();
      this.#backlog?.settled(m.subject, seq, m.info.pending);
      return;
    }
    const keepAlive = setInterval(() => m.working(), Math.max(1_000, this.#o.ackWaitMs / 2));
    try {
      log.debug({ bytes: m.data.length }, 'config delivered');
      await this.#onMessage?.({ uuid: parsed.uuid, payload: m.data, seq });
    } catch (err) {
      const delayMs = backoffDelay(m.info.deliveryCount, this.#o.nakBackoff);
      log.error(
        { err: describeError(err), retryInMs: delayMs },
        'config handler failed, message will be redelivered',
      );
      m.nak(delayMs);
      return;
    } finally {
      clearInterval(keepAlive);
    }
    this.#handled.set(m.subject, seq);
    m.ack();
    this.#backlog?.settled(m.subject, seq, m.info.pending);
  }
}

/**
 * Tracks the messages that were pending when the consumer was created, so that start() resolves
 * once each is handled. With last_per_subject those are the first `total` first deliveries
 * (stream order); one may vanish before delivery when a newer config replaces it, which is why
 * catching up (a handled message with nothing pending behind it) also ends the backlog.
 */
class Backlog {
  readonly done: Promise<void>;
  #resolve!: () => void;
  #reject!: (err: Error) => void;
  #counted = 0;
  #caughtUp = false;
  #finished = false;
  /** Backlog messages delivered and not yet handled, by subject. */
  #open = new Map<string, number>();

  #total: number;

  constructor(total: number) {
    this.#total = total;
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A stop() before the backlog is handled rejects `done`; start() has returned by then or
    // reports it, so an unobserved rejection is not an error of its own.
    this.done.catch(() => {});
    this.#check();
  }

  delivered(subject: string, seq: number, deliveryCount: number): void {
    if (this.#finished || deliveryCount !== 1 || this.#counted >= this.#total) return;
    this.#counted++;
    this.#open.set(subject, seq);
  }

  settled(subject: string, seq: number, pendingBehind: number): void {
    if (this.#finished) return;
    const open = this.#open.get(subject);
    if (open !== undefined && open <= seq) this.#open.delete(subject);
    if (pendingBehind === 0) this.#caughtUp = true;
    this.#check();
  }

  /** The consumer was recreated and delivers from the start again; open entries stay open. */
  restart(total: number): void {
    this.#total = total;
    this.#counted = 0;
    this.#caughtUp = false;
    this.#check();
  }

  abort(err: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#reject(err);
  }

  #check(): void {
    if (this.#finished || this.#open.size > 0) return;
    if (this.#counted >= this.#total || this.#caughtUp) {
      this.#finished = true;
      this.#resolve();
    }
  }
}
