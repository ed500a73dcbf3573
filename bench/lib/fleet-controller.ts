import {
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { contractStreamConfig, STREAM_KINDS } from '../../pkg/bus/streams.js';
import { streamName } from '../../pkg/bus/subjects.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import { nowMs, sleep } from './stats.js';

/** A status watch that got nothing for this long while the stream holds more starts a new consumer. */
const STALL_MS = 5_000;

/** One message of the status stream: a domain's status, or a node's NodeStatus. */
export type FleetStatusEvent =
  | { kind: 'domain'; nodeId: string; uuid: string; state: DomainStatus['state']; storedMs: number }
  | { kind: 'node'; nodeId: string; storedMs: number };

export interface StreamSize {
  stream: string;
  messages: number;
  /** Messages ever stored (the last sequence): with one message per subject, the writes. */
  writes: number;
  bytes: number;
  subjects: number;
  consumers: number;
  replicas: number;
}

/**
 * The fleet benchmark's controller: one connection to every server of the cluster, from which it
 * creates the streams as an administrator would, publishes the configs of every node, and reads
 * the whole status stream.
 */
export class FleetController {
  readonly prefix: string;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  #messages: ConsumerMessages | null = null;
  #closed = false;
  /** How often the status watch had to start a new consumer (its server died). */
  watchRestarts = 0;

  private constructor(nc: NatsConnection, prefix: string) {
    this.#nc = nc;
    this.#js = jetstream(nc);
    this.prefix = prefix;
  }

  static async connect(servers: readonly string[], prefix: string): Promise<FleetController> {
    // Unlimited reconnects: the kill scenario takes the server away that this client may be on.
    const nc = await connect({ servers: [...servers], maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    return new FleetController(nc, prefix);
  }

  /**
   * Creates the contract's streams (config, status, lease) with `replicas` replicas, as an
   * operator does for agents run with `--manage-streams false`.
   */
  async createStreams(replicas: number): Promise<void> {
    const jsm = await jetstreamManager(this.#nc);
    for (const kind of STREAM_KINDS)
      await jsm.streams.add({ ...contractStreamConfig(this.prefix, kind), num_replicas: replicas });
  }

  /** JetStream-publishes one config to `nodeId`; the times just before sending and at the ack. */
  async publish(nodeId: string, d: DomainConfig): Promise<{ sentMs: number; ackedMs: number }> {
    const sentMs = nowMs();
    await this.#js.publish(`${this.prefix}.${nodeId}.config.${d.uuid}`, JSON.stringify(d), {
      timeout: 60_000,
    });
    return { sentMs, ackedMs: nowMs() };
  }

  /**
   * Reads every message stored in the status stream from now on, with the time the stream stored
   * it. An ordered consumer lives on one server: when that server dies the client sees only
   * missed heartbeats (nats.js re-pulls but does not recreate it), so after two missed ones, or
   * 5 s of silence while the stream has more, the watch starts a new ordered consumer at the
   * sequence after the last message it read.
   */
  async watch(on: (e: FleetStatusEvent) => void): Promise<void> {
    const stream = streamName(this.prefix, 'status');
    const jsm = await jetstreamManager(this.#nc);
    let lastSeq = (await jsm.streams.info(stream)).state.last_seq;
    const open = async (): Promise<ConsumerMessages> => {
      const c = await this.#js.consumers.get(stream, {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: lastSeq + 1,
      });
      // Heartbeats every 2.5 s (half the pull's expiry): a dead server is noticed within 5 s.
      return c.consume({ expires: 5_000 });
    };
    let messages: ConsumerMessages | null = await open();
    void (async () => {
      while (!this.#closed) {
        if (messages === null) {
          messages = await open().catch(() => null);
          if (messages === null) {
            await sleep(500);
            continue;
          }
          this.watchRestarts++;
        }
        const current: ConsumerMessages = messages;
        this.#messages = current;
        void (async () => {
          for await (const s of current.status())
            if (s.type === 'heartbeats_missed' && s.count >= 2) current.stop();
        })();
        // Seen here: after the client's own server was killed, a consume() that got neither
        // messages nor missed-heartbeat events while the stream kept storing. Whatever the cause,
        // a consumer that has been silent for STALL_MS while the stream has more is replaced.
        let lastMessageAt = performance.now();
        const stallCheck = setInterval(() => {
          if (performance.now() - lastMessageAt < STALL_MS) return;
          lastMessageAt = performance.now();
          void jsm.streams
            .info(stream)
            .then((info) => {
              if (info.state.last_seq > lastSeq) current.stop();
            })
            .catch(() => undefined);
        }, STALL_MS / 2);
        try {
          for await (const m of current) {
            lastMessageAt = performance.now();
            lastSeq = m.seq;
            const [, nodeId = '', kind] = m.subject.split('.');
            const storedMs = Number(m.info.timestampNanos) / 1e6;
            if (kind === 'node') on({ kind: 'node', nodeId, storedMs });
            else if (kind === 'status' && m.data.length > 0) {
              const s = m.json<DomainStatus>();
              on({ kind: 'domain', nodeId, uuid: s.uuid, state: s.state, storedMs });
            }
          }
        } catch {
          // stopped with an error: open a new one
        } finally {
          clearInterval(stallCheck);
        }
        messages = null;
      }
    })();
  }

  /** What each stream of the prefix holds: messages, bytes, subjects, consumers, replicas. */
  async streamSizes(): Promise<StreamSize[]> {
    const jsm = await jetstreamManager(this.#nc);
    const out: StreamSize[] = [];
    for (const kind of STREAM_KINDS) {
      const info = await jsm.streams.info(streamName(this.prefix, kind));
      out.push({
        stream: info.config.name,
        messages: info.state.messages,
        writes: info.state.last_seq,
        bytes: info.state.bytes,
        subjects: info.state.num_subjects ?? Number.NaN,
        consumers: info.state.consumer_count,
        replicas: info.config.num_replicas,
      });
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#messages?.stop();
    await this.#nc.close();
  }
}
