import { DeliverPolicy, type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { contractStreamConfig, STREAM_KINDS } from '../../pkg/bus/streams.js';
import { streamName } from '../../pkg/bus/subjects.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import { nowMs } from './stats.js';

/** One message of the status stream: a domain's status, or a node's NodeStatus. */
export type FleetStatusEvent =
  | { kind: 'domain'; nodeId: string; uuid: string; state: DomainStatus['state']; storedMs: number }
  | { kind: 'node'; nodeId: string; storedMs: number };

/**
 * The fleet benchmark's controller: one connection to every server of the cluster, from which it
 * creates the streams as an administrator would, publishes the configs of every node, and reads
 * the whole status stream.
 */
export class FleetController {
  readonly prefix: string;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  #stopWatch: (() => void) | null = null;

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
   * Reads every message stored in the status stream from now on (an ordered consumer, which
   * recreates itself after a server failure), with the time the stream stored it.
   */
  async watch(on: (e: FleetStatusEvent) => void): Promise<void> {
    const c = await this.#js.consumers.get(streamName(this.prefix, 'status'), {
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await c.consume();
    this.#stopWatch = () => messages.stop();
    void (async () => {
      for await (const m of messages) {
        // <prefix>.<nodeId>.status.<uuid> or <prefix>.<nodeId>.node
        const [, nodeId = '', kind] = m.subject.split('.');
        const storedMs = Number(m.info.timestampNanos) / 1e6;
        if (kind === 'node') on({ kind: 'node', nodeId, storedMs });
        else if (kind === 'status' && m.data.length > 0) {
          const s = m.json<DomainStatus>();
          on({ kind: 'domain', nodeId, uuid: s.uuid, state: s.state, storedMs });
        }
      }
    })();
  }

  async close(): Promise<void> {
    this.#stopWatch?.();
    await this.#nc.close();
  }
}
