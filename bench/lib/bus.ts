import { DeliverPolicy, type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { streamName } from '../../pkg/bus/subjects.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import { nowMs } from './stats.js';

export interface StatusEvent {
  uuid: string;
  status: DomainStatus;
  /** When the stream stored it (server clock, ms since epoch, sub-ms). */
  storedMs: number;
}

/** The controller side of the benchmark: publishes configs, reads statuses from the stream. */
export class BenchBus {
  readonly prefix: string;
  readonly nodeId: string;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  #listeners = new Set<(e: StatusEvent) => void>();
  #stopWatch: (() => void) | null = null;

  private constructor(nc: NatsConnection, prefix: string, nodeId: string) {
    this.#nc = nc;
    this.#js = jetstream(nc);
    this.prefix = prefix;
    this.nodeId = nodeId;
  }

  static async connect(prefix: string, nodeId: string, url = 'nats://127.0.0.1:4222'): Promise<BenchBus> {
    return new BenchBus(await connect({ servers: url }), prefix, nodeId);
  }

  /** Publishes one config; resolves with the time just before it was sent. */
  async publish(d: DomainConfig): Promise<number> {
    const t = nowMs();
    await this.#js.publish(`${this.prefix}.${this.nodeId}.config.${d.uuid}`, JSON.stringify(d));
    return t;
  }

  async publishDelete(uuid: string): Promise<number> {
    const t = nowMs();
    await this.#js.publish(`${this.prefix}.${this.nodeId}.config.${uuid}`, new Uint8Array(0));
    return t;
  }

  onStatus(f: (e: StatusEvent) => void): () => void {
    this.#listeners.add(f);
    return () => this.#listeners.delete(f);
  }

  /** Reads every status of the node from the status stream (an ordered consumer), from now on. */
  async watch(): Promise<void> {
    const c = await this.#js.consumers.get(streamName(this.prefix, 'status'), {
      filter_subjects: `${this.prefix}.${this.nodeId}.status.*`,
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await c.consume();
    this.#stopWatch = () => messages.stop();
    void (async () => {
      for await (const m of messages) {
        const status = m.json<DomainStatus>();
        const e = { uuid: status.uuid, status, storedMs: Number(m.info.timestampNanos) / 1e6 };
        for (const l of this.#listeners) l(e);
      }
    })();
  }

  /** Deletes both streams of the prefix (and with them the consumers). */
  async close(): Promise<void> {
    this.#stopWatch?.();
    const jsm = await jetstreamManager(this.#nc);
    for (const kind of ['config', 'status'] as const) {
      try {
        await jsm.streams.delete(streamName(this.prefix, kind));
      } catch {
        // not there
      }
    }
    await this.#nc.close();
  }
}

/** Waits until `done()` is true after a status event, or rejects after timeoutMs. */
export function until(bus: BenchBus, done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  if (done()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const off = bus.onStatus(() => {
      if (done()) {
        clearTimeout(t);
        off();
        resolve();
      }
    });
  });
}
