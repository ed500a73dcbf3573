import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type ConnectionOptions, connect, type NatsConnection, type Status } from '@nats-io/transport-node';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import type { Logger } from '../log/logger.js';
import { redactSecrets } from '../log/redact.js';
import type { ConnectionState } from '../reconcile/ports.js';
import { authRefusal, NatsAuthRefusedError, natsAuthMethod, natsAuthOptions } from './auth.js';
import { type BackoffPolicy, backoffDelay, sleep } from './backoff.js';
import { describeError } from './describe-error.js';
import { nodeInboxPrefix } from './permissions.js';

export { NatsAuthRefusedError } from './auth.js';

/** connectBus() was aborted through its signal before a first connection was made. */
export class ConnectAbortedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface ConnectBusOptions {
  nats: DomainmgrConfig['nats'];
  nodeId: string;
  logger: Logger;
  /** Between connection attempts, the first ones and reconnects alike. */
  backoff?: BackoffPolicy;
  /** Aborts the first-connection retries (connectBus then rejects with ConnectAbortedError). */
  signal?: AbortSignal;
  /** Handshake timeout of one attempt. */
  timeoutMs?: number;
}

/**
 * One NATS connection of the service, with its JetStream contexts and its connection state.
 * `connected` follows the client's status events: false from a disconnect until the reconnect.
 */
export interface BusConnection extends ConnectionState {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  jsm(): Promise<JetStreamManager>;
  /** Drains nothing: closes at once (pending publishes are the StatusSink's to flush first). */
  close(): Promise<void>;
}

/**
 * 250 ms doubling to 10 s: quick after a blip, gentle on a server that a whole fleet is trying
 * to reach again.
 */
export const DEFAULT_CONNECT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 10_000, jitter: 0.5 };

/**
 * Connects to `nats.servers` and keeps the connection forever: when the first connection fails
 * it retries with backoff (logging each failure with its reason) until it succeeds or `signal`
 * aborts; once connected, the client reconnects on its own without a limit
 * (maxReconnectAttempts -1), with the same backoff, and every disconnect and reconnect is
 * logged. Never rejects for a connection problem; rejects with NatsAuthRefusedError when the
 * server refuses the credentials of the first connection (the same ones cannot succeed later,
 * while a refusal after that is logged and retried, since a rotated secret file may fix it).
 */
export async function connectBus(options: ConnectBusOptions): Promise<BusConnection> {
  const log = options.logger.child({ component: 'bus' });
  const policy = options.backoff ?? DEFAULT_CONNECT_BACKOFF;
  const reconnect = new ReconnectDelay(policy);
  const method = natsAuthMethod(options.nats);
  const natsOptions: ConnectionOptions = {
    ...natsAuthOptions(options.nats, {
      onFileError: (e) => log.error({ key: e.key, err: e.message }, 'cannot read a NATS secret file'),
    }),
    // Replies (JetStream API answers, pulled configs) come to this node's own inboxes, which is
    // what lets the node role subscribe to nothing else (docs/security.md).
    inboxPrefix: nodeInboxPrefix(options.nats.prefix, options.nodeId),
    // Keep reconnecting after refused credentials: a rotated secret file is read at each attempt.
    ignoreAuthErrorAbort: true,
    servers: options.nats.servers,
    name: `domainmgr-${options.nodeId}`,
    maxReconnectAttempts: -1,
    reconnectDelayHandler: () => reconnect.delay(),
    timeout: options.timeoutMs ?? 10_000,
    // Without it every request (each JetStream publish of a status) and every timer of the
    // client captures a stack in advance for an error it will rarely throw, a cost paid per
    // status. Errors keep their message and cause; we log those, never the client's stacks.
    noAsyncTraces: true,
  };
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new ConnectAbortedError('connecting to NATS was aborted');
    try {
      const nc = await connect(natsOptions);
      log.info({ server: nc.getServer(), attempt }, 'connected to NATS');
      return new Connection(nc, log, reconnect, method);
    } catch (err) {
      // Wrong credentials at start are a configuration error, not a passing network problem.
      const refusal = authRefusal(err);
      if (refusal !== null) throw new NatsAuthRefusedError(method, refusal.message, { cause: err });
      const delayMs = backoffDelay(attempt, policy);
      log.warn(
        {
          servers: options.nats.servers.map(redactSecrets),
          attempt,
          retryInMs: delayMs,
          err: describeError(err),
        },
        'cannot connect to NATS, retrying',
      );
      await sleep(delayMs, options.signal);
    }
  }
}

/**
 * The client asks for a delay before each reconnect attempt (and again while waiting); the
 * attempt count comes from its `reconnecting` events and resets on `reconnect`. The jitter is
 * drawn once per attempt so repeated questions within one wait get one answer.
 */
class ReconnectDelay {
  #attempts = 0;
  #current: number | undefined;
  constructor(private readonly policy: BackoffPolicy) {}
  attempted(): void {
    this.#attempts++;
    this.#current = undefined;
  }
  reset(): void {
    this.#attempts = 0;
    this.#current = undefined;
  }
  get attempts(): number {
    return this.#attempts;
  }
  delay(): number {
    this.#current ??= backoffDelay(Math.max(1, this.#attempts), this.policy);
    return this.#current;
  }
}

class Connection implements BusConnection {
  readonly js: JetStreamClient;
  #connected = true;
  #listeners = new Set<(connected: boolean) => void>();
  #jsm: Promise<JetStreamManager> | undefined;

  constructor(
    readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly reconnect: ReconnectDelay,
    private readonly authMethod: string,
  ) {
    this.js = jetstream(nc);
    void this.#watch();
    nc.closed().then(
      (err) => {
        if (err) log.error({ err: describeError(err) }, 'NATS connection closed by an error');
        else log.info('NATS connection closed');
        this.#set(false);
      },
      () => {},
    );
  }

  get connected(): boolean {
    return this.#connected;
  }

  onChange(fn: (connected: boolean) => void): () => void {
    this.#listeners.add(fn);
    return () => {
      this.#listeners.delete(fn);
    };
  }

  jsm(): Promise<JetStreamManager> {
    // Not cached on failure: a later call tries again.
    this.#jsm ??= jetstreamManager(this.nc).catch((err: unknown) => {
      this.#jsm = undefined;
      throw err;
    });
    return this.#jsm;
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }

  #set(connected: boolean): void {
    if (connected === this.#connected) return;
    this.#connected = connected;
    for (const fn of this.#listeners) {
      try {
        fn(connected);
      } catch (err) {
        this.log.error({ err: describeError(err) }, 'connection state listener threw');
      }
    }
  }

  async #watch(): Promise<void> {
    for await (const s of this.nc.status()) this.#onStatus(s);
  }

  #onStatus(s: Status): void {
    switch (s.type) {
      case 'disconnect':
        this.log.warn({ server: s.server }, 'disconnected from NATS');
        this.#set(false);
        break;
      case 'reconnecting':
        this.reconnect.attempted();
        this.log.debug({ attempt: this.reconnect.attempts }, 'reconnecting to NATS');
        break;
      case 'reconnect':
        this.log.info({ server: s.server, attempts: this.reconnect.attempts }, 'reconnected to NATS');
        this.reconnect.reset();
        this.#set(true);
        break;
      case 'ldm':
        this.log.warn({ server: s.server }, 'NATS server entering lame duck mode');
        break;
      case 'staleConnection':
        this.log.warn('NATS connection stale, reconnecting');
        break;
      case 'error':
        if (authRefusal(s.error) !== null)
          this.log.error(
            { auth: this.authMethod, err: s.error.message },
            'NATS refused the credentials, still trying',
          );
        else this.log.error({ err: describeError(s.error) }, 'NATS error');
        break;
      case 'slowConsumer':
        this.log.warn({ subject: s.sub.getSubject(), pending: s.pending }, 'NATS slow consumer');
        break;
      case 'close':
        this.#set(false);
        break;
      default:
        break;
    }
  }
}
