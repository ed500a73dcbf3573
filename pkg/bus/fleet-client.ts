import {
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type StreamInfo,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, PermissionViolationError } from '@nats-io/transport-node';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import { silentLogger } from '../log/logger.js';
import { redactSecrets } from '../log/redact.js';
import { type NatsAuthConfig, natsAuthOptions } from './auth.js';
import { describeError } from './describe-error.js';
import { ctlInboxPrefix } from './permissions.js';
import { ensureStreams, type StreamNames } from './streams.js';
import { isSubjectToken, isValidNodeId, nodeSubjects, parseSubject, streamName } from './subjects.js';

/**
 * The fleet as an operator's tool sees it (domainctl): publish a config (or the empty payload that
 * deletes), read the current status of every domain and node from the status stream, follow
 * statuses as they change. Unlike connectBus() (the service's connection, which never gives up),
 * a FleetClient connects once, fails fast with a readable reason, and bounds every call.
 */

/**
 * No connection to any of the servers could be made (refused, unknown host, no answer, auth).
 * The message and `servers` name the servers without their credentials.
 */
export class NatsUnreachableError extends Error {
  readonly servers: readonly string[];
  constructor(
    servers: readonly string[],
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    const shown = servers.map(redactSecrets);
    super(redactSecrets(`cannot reach NATS at ${shown.join(',')}: ${reason}`), options);
    this.name = new.target.name;
    this.servers = shown;
  }
}

/** Connected, but the fleet's streams are not there or refused the request. */
export class FleetError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The permissions violation in an error's cause chain, if any. */
export function permissionViolation(err: unknown): PermissionViolationError | null {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++)
    if (e instanceof PermissionViolationError) return e;
  return null;
}

/** A call did not complete within its time budget. */
export class FleetTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export interface FleetClientOptions {
  nats: NatsAuthConfig & Pick<DomainmgrConfig['nats'], 'prefix'>;
  /** Budget of the connection handshake: each server is tried once, there is no retry loop. */
  connectTimeoutMs: number;
  /** The client's name on the server. */
  name?: string;
}

/** One stored message of a stream, as read or followed. */
export interface StoredMessage {
  subject: string;
  /** What the subject says under the client's prefix; null for a subject outside the contract. */
  parsed: ReturnType<typeof parseSubject>;
  /** Stream sequence. */
  seq: number;
  /** When the stream stored it. */
  time: Date;
  data: Uint8Array;
}

export interface PublishAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** A live feed of stored messages; iterate it, stop() it. */
export interface Follow extends AsyncIterable<StoredMessage> {
  stop(): Promise<void>;
}

/** Which messages a follow starts with. */
export type FollowFrom = 'new' | 'last-per-subject';

/** Subject filters, built from the contract's names and checked. '*' for "any". */
export interface FleetFilter {
  nodeId?: string;
  uuid?: string;
}

export interface FleetClient {
  readonly prefix: string;
  /**
   * JetStream publish of a config (or of the empty payload, which deletes) on
   * `<prefix>.<nodeId>.config.<uuid>`, expected to land in the config stream; resolves with the
   * stream's ack. FleetError when the config stream does not exist.
   */
  publishConfig(nodeId: string, uuid: string, payload: Uint8Array, timeoutMs: number): Promise<PublishAck>;
  /** The stored (last) DomainStatus message of every domain matching the filter. */
  domainStatuses(filter: FleetFilter, timeoutMs: number): Promise<StoredMessage[]>;
  /** The stored (last) NodeStatus message of every node, or of one. */
  nodeStatuses(nodeId: string | undefined, timeoutMs: number): Promise<StoredMessage[]>;
  /** The stored (last) config message of every domain matching the filter (empty data: deleted). */
  configs(filter: FleetFilter, timeoutMs: number): Promise<StoredMessage[]>;
  /** The last sequence of a stream: a message stored later has a higher one. */
  streamLastSeq(kind: 'config' | 'status', timeoutMs: number): Promise<number>;
  /** DomainStatus messages matching the filter as they are stored. */
  followDomainStatuses(filter: FleetFilter, from: FollowFrom): Promise<Follow>;
  /** Creates the streams of the prefix when missing and checks them (as domainmgr does with manageStreams). */
  ensureStreams(timeoutMs: number, replicas?: number): Promise<StreamNames>;
  /** Resolves when the connection is closed for good (by close() or by losing it). */
  closed(): Promise<void>;
  close(): Promise<void>;
}

/** Connects once (every server tried once, within connectTimeoutMs); NatsUnreachableError if none answers. */
export async function openFleetClient(options: FleetClientOptions): Promise<FleetClient> {
  const { servers, prefix } = options.nats;
  streamName(prefix, 'status'); // checks the prefix before anything goes on the wire
  let nc: NatsConnection;
  try {
    nc = await withTimeout(
      connect({
        ...natsAuthOptions(options.nats),
        servers,
        name: options.name ?? 'domainctl',
        // The inboxes the controller and operator roles may subscribe to (pkg/bus/permissions.ts).
        inboxPrefix: ctlInboxPrefix(prefix),
        timeout: Math.max(1, options.connectTimeoutMs),
        // An operator's command: a few quick reconnects for a blip while watching, then give up.
        maxReconnectAttempts: 3,
        reconnectTimeWait: 500,
      }),
      options.connectTimeoutMs + 500,
      `no answer within ${formatMs(options.connectTimeoutMs)}`,
    );
  } catch (err) {
    const reason =
      err instanceof FleetTimeoutError ? err.message : connectFailureReason(err, options.connectTimeoutMs);
    throw new NatsUnreachableError(servers, reason, { cause: err });
  }
  return new Client(nc, prefix);
}

/** A connect failure as the few words an operator needs: "connection refused", "host not found (x)". */
export function connectFailureReason(err: unknown, timeoutMs: number): string {
  const chain: { name: string; message: string; code?: unknown }[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    chain.push({ name: e.name, message: e.message, code: (e as { code?: unknown }).code });
  }
  const codes = new Set(chain.map((c) => c.code));
  const text = chain.map((c) => c.message).join(' ');
  if (codes.has('ECONNREFUSED') || /connection refused/i.test(text)) return 'connection refused';
  if (codes.has('ENOTFOUND') || codes.has('EAI_AGAIN')) {
    const host = /(?:ENOTFOUND|EAI_AGAIN) (\S+)/.exec(text)?.[1];
    return `host not found${host === undefined ? '' : ` (${host})`}`;
  }
  if (codes.has('EHOSTUNREACH') || codes.has('ENETUNREACH')) return 'host unreachable';
  if (chain.some((c) => c.name === 'TimeoutError') || /timeout/i.test(text))
    return `no answer within ${formatMs(timeoutMs)}`;
  if (/authorization|authentication|permissions violation/i.test(text))
    return `authorization failed (${chain[0]?.message ?? 'refused'})`;
  const first = chain[0];
  return first === undefined ? String(err) : first.message.toLowerCase();
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FleetTimeoutError(message)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

function token(value: string | undefined, what: 'node' | 'uuid'): string {
  if (value === undefined) return '*';
  const ok = what === 'node' ? isValidNodeId(value) : isSubjectToken(value);
  if (!ok)
    throw new FleetError(`invalid ${what === 'node' ? 'node id' : 'domain uuid'} ${JSON.stringify(value)}`);
  return value;
}

class Client implements FleetClient {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  #jsm: Promise<JetStreamManager> | undefined;
  readonly #follows = new Set<Follow>();

  constructor(
    nc: NatsConnection,
    readonly prefix: string,
  ) {
    this.#nc = nc;
    this.#js = jetstream(nc);
  }

  #manager(): Promise<JetStreamManager> {
    this.#jsm ??= jetstreamManager(this.#nc).catch((err: unknown) => {
      this.#jsm = undefined;
      throw new FleetError(`JetStream is not available on this NATS: ${describeError(err)}`, { cause: err });
    });
    return this.#jsm;
  }

  async streamLastSeq(kind: 'config' | 'status', timeoutMs: number): Promise<number> {
    return (await this.#streamInfo(kind, timeoutMs)).state.last_seq;
  }

  async #requireStream(kind: 'config' | 'status', timeoutMs: number): Promise<string> {
    return (await this.#streamInfo(kind, timeoutMs)).config.name;
  }

  async #streamInfo(kind: 'config' | 'status', timeoutMs: number): Promise<StreamInfo> {
    const name = streamName(this.prefix, kind);
    const jsm = await withTimeout(this.#manager(), timeoutMs, 'JetStream did not answer in time');
    try {
      return await withTimeout(jsm.streams.info(name), timeoutMs, `stream ${name} did not answer in time`);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)
        throw new FleetError(
          `stream ${name} does not exist: no domainmgr has started with prefix ${JSON.stringify(this.prefix)} on this NATS (check --prefix)`,
          { cause: err },
        );
      if (err instanceof FleetTimeoutError) throw err;
      throw new FleetError(`cannot read stream ${name}: ${describeError(err)}`, { cause: err });
    }
  }

  async publishConfig(
    nodeId: string,
    uuid: string,
    payload: Uint8Array,
    timeoutMs: number,
  ): Promise<PublishAck> {
    const subject = nodeSubjects(this.prefix, nodeId).config(uuid);
    const stream = await this.#requireStream('config', timeoutMs);
    try {
      const ack = await withTimeout(
        this.#js.publish(subject, payload, { timeout: timeoutMs, expect: { streamName: stream } }),
        timeoutMs + 500,
        `stream ${stream} did not acknowledge the publish in time`,
      );
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      if (err instanceof FleetTimeoutError) throw err;
      if (/timeout/i.test(describeError(err)))
        throw new FleetTimeoutError(`stream ${stream} did not acknowledge the publish in time`);
      throw new FleetError(`publishing on ${subject} failed: ${describeError(err)}`, { cause: err });
    }
  }

  domainStatuses(filter: FleetFilter, timeoutMs: number): Promise<StoredMessage[]> {
    const subject = `${this.prefix}.${token(filter.nodeId, 'node')}.status.${token(filter.uuid, 'uuid')}`;
    return this.#lastPerSubject('status', subject, timeoutMs);
  }

  nodeStatuses(nodeId: string | undefined, timeoutMs: number): Promise<StoredMessage[]> {
    return this.#lastPerSubject('status', `${this.prefix}.${token(nodeId, 'node')}.node`, timeoutMs);
  }

  configs(filter: FleetFilter, timeoutMs: number): Promise<StoredMessage[]> {
    const subject = `${this.prefix}.${token(filter.nodeId, 'node')}.config.${token(filter.uuid, 'uuid')}`;
    return this.#lastPerSubject('config', subject, timeoutMs);
  }

  /**
   * The last message of every subject matching `filter`: an ordered (ephemeral) consumer with
   * deliver policy last_per_subject, read until the server says nothing is pending. Works on any
   * stream of the contract, direct get or not.
   */
  async #lastPerSubject(
    kind: 'config' | 'status',
    filter: string,
    timeoutMs: number,
  ): Promise<StoredMessage[]> {
    const stream = await this.#requireStream(kind, timeoutMs);
    const consumer = await withTimeout(
      this.#js.consumers.get(stream, {
        filter_subjects: filter,
        deliver_policy: DeliverPolicy.LastPerSubject,
      }),
      timeoutMs,
      `stream ${stream} did not answer in time`,
    );
    const info = await withTimeout(consumer.info(true), timeoutMs, `stream ${stream} did not answer in time`);
    if (info.num_pending === 0) {
      await consumer.delete().catch(() => false);
      return [];
    }
    const out: StoredMessage[] = [];
    const messages = await consumer.consume();
    const read = (async () => {
      for await (const m of messages) {
        out.push(this.#stored(m.subject, m.seq, m.time, m.data));
        if (m.info.pending === 0) break;
      }
    })();
    try {
      await withTimeout(read, timeoutMs, `reading stream ${stream} did not finish in time`);
    } finally {
      await messages.close().catch(() => undefined);
      await consumer.delete().catch(() => false);
    }
    return out;
  }

  async ensureStreams(timeoutMs: number, replicas = 1): Promise<StreamNames> {
    const jsm = await withTimeout(this.#manager(), timeoutMs, 'JetStream did not answer in time');
    try {
      return await withTimeout(
        ensureStreams(jsm, { prefix: this.prefix, manageStreams: true, replicas, logger: silentLogger }),
        timeoutMs,
        'creating the streams did not finish in time',
      );
    } catch (err) {
      if (err instanceof FleetTimeoutError) throw err;
      throw new FleetError(describeError(err), { cause: err });
    }
  }

  async followDomainStatuses(filter: FleetFilter, from: FollowFrom): Promise<Follow> {
    const subject = `${this.prefix}.${token(filter.nodeId, 'node')}.status.${token(filter.uuid, 'uuid')}`;
    const stream = await this.#requireStream('status', 10_000);
    const consumer = await this.#js.consumers.get(stream, {
      filter_subjects: subject,
      deliver_policy: from === 'new' ? DeliverPolicy.New : DeliverPolicy.LastPerSubject,
    });
    const messages: ConsumerMessages = await consumer.consume();
    const self = this;
    let stopped: Promise<void> | undefined;
    const follow: Follow = {
      async *[Symbol.asyncIterator]() {
        for await (const m of messages) yield self.#stored(m.subject, m.seq, m.time, m.data);
      },
      stop() {
        stopped ??= (async () => {
          self.#follows.delete(follow);
          await messages.close().catch(() => undefined);
          await consumer.delete().catch(() => false);
        })();
        return stopped;
      },
    };
    this.#follows.add(follow);
    return follow;
  }

  #stored(subject: string, seq: number, time: Date, data: Uint8Array): StoredMessage {
    return { subject, parsed: parseSubject(this.prefix, subject), seq, time, data };
  }

  async closed(): Promise<void> {
    await this.#nc.closed();
  }

  async close(): Promise<void> {
    for (const f of [...this.#follows]) await f.stop();
    if (!this.#nc.isClosed()) await this.#nc.close();
  }
}
