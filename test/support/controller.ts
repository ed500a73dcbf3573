import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { validateDomainStatusSchema, validateNodeStatusSchema } from '../../pkg/schema/validators.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { NodeStatus } from '../../types/generated/node-status.js';

/**
 * A controller and operator of one node, written against the wire contract with the NATS client
 * directly (not through pkg/bus): it publishes DomainConfigs with JetStream publishes, tails the
 * node's status subjects from before the node starts (so it sees the sequence of statuses), and
 * reads the status stream's last stored message per subject (so a status stored before it
 * looked is not missed). Every status it receives is checked against the JSON schema; a
 * violation is recorded in `violations` and fails every later wait.
 */

export type StatusPredicate = (s: DomainStatus) => boolean;

/** Upper-cased, every non-alphanumeric as `_` (the wire contract, "Subjects and streams"). */
export function contractStreamName(prefix: string, kind: 'config' | 'status' | 'lease'): string {
  return `${prefix.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${kind.toUpperCase()}`;
}

export class Controller {
  readonly prefix: string;
  readonly nodeId: string;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Schema violations of received statuses: subject and the validator's errors. */
  readonly violations: string[] = [];
  readonly #history = new Map<string, DomainStatus[]>();
  readonly #nodeHistory: NodeStatus[] = [];
  readonly #subs: Subscription[] = [];
  readonly #waiters = new Set<() => void>();
  #closed = false;

  private constructor(prefix: string, nodeId: string, nc: NatsConnection, jsm: JetStreamManager) {
    this.prefix = prefix;
    this.nodeId = nodeId;
    this.nc = nc;
    this.js = jetstream(nc);
    this.jsm = jsm;
  }

  /**
   * Connects (retrying forever, as a controller riding out a server restart would) and starts
   * tailing `<prefix>.<nodeId>.status.*` and `<prefix>.<nodeId>.node`.
   */
  static async connect(url: string | readonly string[], prefix: string, nodeId: string): Promise<Controller> {
    const nc = await connect({
      servers: typeof url === 'string' ? [url] : [...url],
      name: `test-controller-${nodeId}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    // No API check: a test may start its controller before JetStream is there.
    const c = new Controller(prefix, nodeId, nc, await jetstreamManager(nc, { checkAPI: false }));
    c.#tail(`${prefix}.${nodeId}.status.*`, (subject, data) => c.#takeStatus(subject, data));
    c.#tail(`${prefix}.${nodeId}.node`, (subject, data) => c.#takeNode(subject, data));
    await nc.flush();
    return c;
  }

  get configStream(): string {
    return contractStreamName(this.prefix, 'config');
  }

  get statusStream(): string {
    return contractStreamName(this.prefix, 'status');
  }

  configSubject(uuid: string): string {
    return `${this.prefix}.${this.nodeId}.config.${uuid}`;
  }

  statusSubject(uuid: string): string {
    return `${this.prefix}.${this.nodeId}.status.${uuid}`;
  }

  /**
   * Publishes a DomainConfig (an object, or raw bytes/text for malformed messages), or the empty
   * payload (null: delete), with a JetStream publish. Resolves with the stored sequence; retries
   * a failed publish for up to retryForMs.
   */
  async apply(
    uuid: string,
    doc: DomainConfig | Record<string, unknown> | string | null,
    retryForMs = 0,
  ): Promise<number> {
    const payload =
      doc === null
        ? new Uint8Array(0)
        : new TextEncoder().encode(typeof doc === 'string' ? doc : JSON.stringify(doc));
    const until = Date.now() + retryForMs;
    let ack: Awaited<ReturnType<JetStreamClient['publish']>>;
    for (;;) {
      try {
        ack = await this.js.publish(this.configSubject(uuid), payload, { timeout: 5_000 });
        break;
      } catch (e) {
        // A controller retries until the config is stored (across a server restart, say).
        if (Date.now() >= until) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    if (ack.stream !== this.configStream) {
      throw new Error(`config stored in stream ${ack.stream}, expected ${this.configStream}`);
    }
    return ack.seq;
  }

  /** Every status of `uuid` received on the subject, in order. */
  statuses(uuid: string): DomainStatus[] {
    return [...(this.#history.get(uuid) ?? [])];
  }

  /** The states of `uuid` received, consecutive repeats collapsed. */
  states(uuid: string): string[] {
    const out: string[] = [];
    for (const s of this.statuses(uuid)) if (out[out.length - 1] !== s.state) out.push(s.state);
    return out;
  }

  /** Every NodeStatus received on the subject, in order. */
  nodeStatuses(): NodeStatus[] {
    return [...this.#nodeHistory];
  }

  /** The last stored status of `uuid` in the status stream (null when none is stored). */
  async storedStatus(uuid: string): Promise<DomainStatus | null> {
    return this.#stored(this.statusSubject(uuid), validateDomainStatusSchema) as Promise<DomainStatus | null>;
  }

  /** The last stored NodeStatus (null when none is stored). */
  async nodeStatus(): Promise<NodeStatus | null> {
    return this.#stored(
      `${this.prefix}.${this.nodeId}.node`,
      validateNodeStatusSchema,
    ) as Promise<NodeStatus | null>;
  }

  /**
   * Resolves with the first status of `uuid` matching `predicate`: the newest received on the
   * subject, or the last stored in the stream (read at the start and again every second), so a
   * status published before the wait began is found too. Rejects on timeout with what was seen.
   */
  async waitForStatus(uuid: string, predicate: StatusPredicate, timeoutMs = 15_000): Promise<DomainStatus> {
    const until = Date.now() + timeoutMs;
    let nextStoredCheck = 0;
    for (;;) {
      this.#assertValid();
      const latest = this.#history.get(uuid)?.at(-1);
      if (latest !== undefined && predicate(latest)) return latest;
      if (Date.now() >= nextStoredCheck) {
        nextStoredCheck = Date.now() + 1000;
        const stored = await this.storedStatus(uuid).catch(() => null);
        if (stored !== null && predicate(stored)) return stored;
      }
      const left = until - Date.now();
      if (left <= 0) {
        const stored = await this.storedStatus(uuid).catch((e: unknown) => `unreadable: ${String(e)}`);
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for a status of ${uuid}; states seen: ${this.states(uuid).join(' > ')}; ` +
            `last received: ${JSON.stringify(latest)}; last stored: ${JSON.stringify(stored)}`,
        );
      }
      await this.#changeOr(Math.min(left, 250));
    }
  }

  /** Like waitForStatus, for the NodeStatus. */
  async waitForNodeStatus(predicate: (n: NodeStatus) => boolean, timeoutMs = 15_000): Promise<NodeStatus> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      this.#assertValid();
      const latest = this.#nodeHistory.at(-1);
      if (latest !== undefined && predicate(latest)) return latest;
      const stored = await this.nodeStatus().catch(() => null);
      if (stored !== null && predicate(stored)) return stored;
      const left = until - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for a node status; last: ${JSON.stringify(latest ?? stored)}`,
        );
      }
      await this.#changeOr(Math.min(left, 250));
    }
  }

  /** Deletes the streams of the prefix (absent ones are fine). */
  async deleteStreams(): Promise<void> {
    for (const s of [this.configStream, this.statusStream, contractStreamName(this.prefix, 'lease')])
      await this.jsm.streams.delete(s).catch(() => false);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#subs) s.unsubscribe();
    await this.nc.close();
  }

  #tail(subject: string, take: (subject: string, data: Uint8Array) => void): void {
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err === null) take(msg.subject, msg.data);
      },
    });
    this.#subs.push(sub);
  }

  #takeStatus(subject: string, data: Uint8Array): void {
    const uuid = subject.slice(subject.lastIndexOf('.') + 1);
    const s = this.#decode(subject, data, validateDomainStatusSchema) as DomainStatus | null;
    if (s === null) return;
    if (s.uuid !== uuid) this.violations.push(`${subject}: status names uuid ${s.uuid}`);
    if (s.nodeId !== this.nodeId) this.violations.push(`${subject}: status names node ${s.nodeId}`);
    let h = this.#history.get(uuid);
    if (h === undefined) {
      h = [];
      this.#history.set(uuid, h);
    }
    h.push(s);
    this.#notify();
  }

  #takeNode(subject: string, data: Uint8Array): void {
    const n = this.#decode(subject, data, validateNodeStatusSchema) as NodeStatus | null;
    if (n === null) return;
    if (n.nodeId !== this.nodeId) this.violations.push(`${subject}: node status names node ${n.nodeId}`);
    this.#nodeHistory.push(n);
    this.#notify();
  }

  #decode(
    subject: string,
    data: Uint8Array,
    validate: typeof validateDomainStatusSchema | typeof validateNodeStatusSchema,
  ): unknown {
    let doc: unknown;
    try {
      doc = JSON.parse(new TextDecoder().decode(data));
    } catch (e) {
      this.violations.push(`${subject}: not JSON: ${String(e)}`);
      return null;
    }
    if (!validate(doc)) {
      this.violations.push(`${subject}: ${JSON.stringify(validate.errors)} in ${JSON.stringify(doc)}`);
      return null;
    }
    return doc;
  }

  async #stored(
    subject: string,
    validate: typeof validateDomainStatusSchema | typeof validateNodeStatusSchema,
  ): Promise<unknown> {
    let m: Awaited<ReturnType<JetStreamManager['streams']['getMessage']>>;
    try {
      m = await this.jsm.streams.getMessage(this.statusStream, { last_by_subj: subject });
    } catch (e) {
      // No stream yet (domainmgr creates it at start): nothing stored.
      if (/stream not found/i.test(String(e))) return null;
      throw e;
    }
    if (m === null) return null;
    if (m.data.length === 0) return null;
    return this.#decode(subject, m.data, validate);
  }

  #assertValid(): void {
    if (this.violations.length > 0) {
      throw new Error(`statuses violating the contract:\n${this.violations.join('\n')}`);
    }
  }

  #changeOr(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}
