import { createConnection, type Socket } from 'node:net';
import { type BackoffPolicy, backoffDelay } from '../bus/backoff.js';
import {
  errnoError,
  XenstoreClosedError,
  XenstoreConflictError,
  XenstoreConnectionError,
  XenstoreError,
  XenstoreProtocolError,
  XenstoreTimeoutError,
  XenstoreTransactionRetriesError,
  XenstoreUnavailableError,
} from './errors.js';
import { xenstoredSocketPath } from './socket-path.js';
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  parseDirectory,
  parseError,
  parseTransactionId,
  parseWatch,
  pathPayload,
  TRANSACTION_START_PAYLOAD,
  transactionEndPayload,
  typeName,
  watchPayload,
  writePayload,
  XenstorePayloadTooLargeError,
  XsType,
} from './wire.js';

export interface XenstoreClientOptions {
  /** The daemon's socket; else XENSTORED_PATH, else ${XENSTORED_RUNDIR:-/var/run/xenstored}/socket. */
  socketPath?: string;
  /** Where XENSTORED_PATH / XENSTORED_RUNDIR are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Timeout of a request that names none (default 5000 ms). */
  requestTimeoutMs?: number;
  /** Timeout of each connection attempt (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Delays between reconnection attempts after the connection is lost (default 50 ms .. 5 s). */
  reconnectBackoff?: BackoffPolicy;
  /** Attempts of transaction(fn) before it gives up on EAGAIN (default 10). */
  transactionAttempts?: number;
  /**
   * When true, the connection (and the reconnection timer) does not keep the process alive: for
   * a long-lived client of a service whose other handles decide when it ends.
   */
  unref?: boolean;
}

export const DEFAULT_RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 50, maxMs: 5000, jitter: 0.2 };

export type ConnectionState = 'connected' | 'disconnected' | 'closed';

export interface RequestOptions {
  /** This request's timeout instead of the client's. */
  timeoutMs?: number;
}

/** The node operations, on the live store (the client) or inside a transaction. */
export interface XenstoreOps {
  /** The node's value (utf8). ENOENT -> XenstoreNotFoundError. */
  read(path: string, options?: RequestOptions): Promise<string>;
  /** The node's value, or undefined when the node does not exist. */
  tryRead(path: string, options?: RequestOptions): Promise<string | undefined>;
  /** Writes the value; missing parents are created (by xenstored). */
  write(path: string, value: string | Buffer, options?: RequestOptions): Promise<void>;
  /** The names of the node's children. */
  directory(path: string, options?: RequestOptions): Promise<string[]>;
  /** Removes the node and everything below it; a missing node whose parent exists is no error. */
  rm(path: string, options?: RequestOptions): Promise<void>;
}

export interface WatchEvent {
  /** The path that changed (for `@releaseDomain` / `@introduceDomain`: that name). */
  path: string;
  token: string;
}

export interface WatchOptions extends RequestOptions {
  /** The token xenstored echoes in events; unique per client. Default: one made up by the client. */
  token?: string;
  /** Called for each event; without it, read the events by iterating the watch. */
  onEvent?: (event: WatchEvent) => void;
  /** Called when the watch could not be registered again after a reconnect (it is then closed). */
  onError?: (error: Error) => void;
}

interface Pending {
  op: string;
  path: string | undefined;
  expect: number;
  /** undefined only for a request made with missingOk, whose node was not there (ENOENT). */
  resolve: (payload: Buffer | undefined) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  missingOk: boolean;
}

/**
 * A client of xenstored over its unix socket: one connection, many requests in flight matched
 * by req_id, watch events routed by token. Connect with `XenstoreClient.connect()`; once
 * connected, a lost connection is re-established with backoff and every watch registered again
 * (xenstored then fires each once, as on any registration, so consumers rescan). While the
 * connection is down, requests fail at once with XenstoreConnectionError (`sent` false) rather
 * than wait: a caller can fall back to another way.
 */
export class XenstoreClient implements XenstoreOps {
  readonly socketPath: string;
  readonly #requestTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #backoff: BackoffPolicy;
  readonly #transactionAttempts: number;
  readonly #unref: boolean;
  #socket: Socket | null = null;
  #state: ConnectionState = 'disconnected';
  #pending = new Map<number, Pending>();
  #nextReqId = 1;
  #watches = new Map<string, XenstoreWatch>();
  #nextToken = 1;
  #reconnectAttempt = 0;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #listeners = new Set<(state: ConnectionState, error?: Error) => void>();
  #corked = false;

  private constructor(options: XenstoreClientOptions) {
    this.socketPath = xenstoredSocketPath(options.socketPath, options.env);
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.#backoff = options.reconnectBackoff ?? DEFAULT_RECONNECT_BACKOFF;
    this.#transactionAttempts = Math.max(1, options.transactionAttempts ?? 10);
    this.#unref = options.unref ?? false;
  }

  /** Connects; rejects with XenstoreUnavailableError when the socket cannot be reached. */
  static async connect(options: XenstoreClientOptions = {}): Promise<XenstoreClient> {
    const client = new XenstoreClient(options);
    await client.#open();
    return client;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Calls listener on every change of the connection state; returns the unsubscribe function. */
  onStateChange(listener: (state: ConnectionState, error?: Error) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves once connected (at once if connected); rejects after timeoutMs or when closed. */
  whenConnected(timeoutMs: number): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve();
    if (this.#state === 'closed') return Promise.reject(new XenstoreClosedError('connect', undefined));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new XenstoreTimeoutError('connect', this.socketPath, timeoutMs));
      }, timeoutMs);
      const off = this.onStateChange((s) => {
        if (s === 'disconnected') return;
        clearTimeout(timer);
        off();
        if (s === 'connected') resolve();
        else reject(new XenstoreClosedError('connect', undefined));
      });
    });
  }

  read(path: string, options?: RequestOptions): Promise<string> {
    return readIn(this, 0, path, options);
  }
  tryRead(path: string, options?: RequestOptions): Promise<string | undefined> {
    return tryReadIn(this, 0, path, options);
  }
  write(path: string, value: string | Buffer, options?: RequestOptions): Promise<void> {
    return writeIn(this, 0, path, value, options);
  }
  directory(path: string, options?: RequestOptions): Promise<string[]> {
    return directoryIn(this, 0, path, options);
  }
  rm(path: string, options?: RequestOptions): Promise<void> {
    return rmIn(this, 0, path, options);
  }

  /** Starts a transaction; its operations see its own writes, and commit() may fail with EAGAIN. */
  async startTransaction(options?: RequestOptions): Promise<XenstoreTransaction> {
    const reply = await this.request(
      XsType.TRANSACTION_START,
      0,
      TRANSACTION_START_PAYLOAD,
      undefined,
      options,
    );
    const id = parseTransactionId(reply);
    if (id === null || id === 0)
      throw new XenstoreProtocolError(
        `xenstore TRANSACTION_START: bad transaction id ${JSON.stringify(reply.toString('utf8'))}`,
        'TRANSACTION_START',
        undefined,
      );
    return new XenstoreTransaction(this, id);
  }

  /**
   * Runs fn in a transaction and commits it; when xenstored answers EAGAIN (another writer
   * changed what the transaction touched), runs fn again in a new transaction, up to the
   * client's transactionAttempts. Any other error aborts the transaction and is thrown. fn must
   * therefore be safe to run more than once and do nothing outside the transaction it is given.
   */
  async transaction<T>(fn: (tx: XenstoreTransaction) => Promise<T>, options?: RequestOptions): Promise<T> {
    let conflict: XenstoreConflictError | undefined;
    for (let attempt = 1; attempt <= this.#transactionAttempts; attempt++) {
      const tx = await this.startTransaction(options);
      let result: T;
      try {
        result = await fn(tx);
      } catch (e) {
        await tx.abort(options).catch(() => undefined);
        if (e instanceof XenstoreConflictError) {
          conflict = e;
          continue;
        }
        throw e;
      }
      try {
        await tx.commit(options);
        return result;
      } catch (e) {
        if (!(e instanceof XenstoreConflictError)) throw e;
        conflict = e;
      }
    }
    throw new XenstoreTransactionRetriesError(
      this.#transactionAttempts,
      conflict ?? errnoError('EAGAIN', 'TRANSACTION_END', undefined),
    );
  }

  /**
   * Watches path (or `@releaseDomain`, `@introduceDomain`): xenstored fires once at once, then on
   * every change at or below path, possibly spuriously. Read the events by iterating the
   * returned watch, or pass onEvent.
   */
  async watch(path: string, options: WatchOptions = {}): Promise<XenstoreWatch> {
    const token = options.token ?? `domainmgr-${this.#nextToken++}`;
    if (this.#watches.has(token))
      throw new XenstoreError(`xenstore WATCH ${path}: token ${token} is already in use`, 'WATCH', path);
    const w = new XenstoreWatch(this, path, token, options);
    // Registered before the request: the first event can arrive right behind the reply.
    this.#watches.set(token, w);
    try {
      await this.request(XsType.WATCH, 0, watchPayload(path, token), path, options);
    } catch (e) {
      this.#watches.delete(token);
      throw e;
    }
    return w;
  }

  /** Ends the connection and every watch; outstanding requests fail with XenstoreClosedError. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    const socket = this.#socket;
    this.#socket = null;
    this.#setState('closed');
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new XenstoreClosedError(p.op, p.path));
    }
    for (const w of [...this.#watches.values()]) w.end();
    this.#watches.clear();
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.destroy();
      });
    }
  }

  /** @internal Drops a watch from the routing table (XenstoreWatch.close). */
  forget(token: string): void {
    this.#watches.delete(token);
  }

  /**
   * @internal Sends one request and resolves with the reply's payload; an ERROR reply rejects
   * with the named errno error, no reply within the timeout with XenstoreTimeoutError.
   */
  request(
    type: number,
    txId: number,
    payload: Buffer,
    path: string | undefined,
    options?: RequestOptions,
  ): Promise<Buffer> {
    return this.#send(type, txId, payload, path, options, false) as Promise<Buffer>;
  }

  /**
   * @internal As request(), but an ENOENT reply resolves with undefined. No error object is built
   * for a node that is not there: that is the usual answer of a lookup (a domid window of
   * tryRead, most of them absent), and an Error's stack capture cost more than the request.
   */
  requestOrMissing(
    type: number,
    txId: number,
    payload: Buffer,
    path: string | undefined,
    options?: RequestOptions,
  ): Promise<Buffer | undefined> {
    return this.#send(type, txId, payload, path, options, true);
  }

  #send(
    type: number,
    txId: number,
    payload: Buffer,
    path: string | undefined,
    options: RequestOptions | undefined,
    missingOk: boolean,
  ): Promise<Buffer | undefined> {
    const op = typeName(type);
    if (this.#state === 'closed') return Promise.reject(new XenstoreClosedError(op, path));
    const socket = this.#socket;
    if (this.#state !== 'connected' || socket === null)
      return Promise.reject(new XenstoreConnectionError(op, path, false, 'not connected to xenstored'));
    const reqId = this.#allocReqId();
    let frame: Buffer;
    try {
      frame = encodeFrame({ type, reqId, txId, payload });
    } catch (e) {
      // The same refusal, naming the path too.
      if (e instanceof XenstorePayloadTooLargeError)
        return Promise.reject(new XenstorePayloadTooLargeError(op, e.bytes, path));
      return Promise.reject(e);
    }
    const timeoutMs = options?.timeoutMs ?? this.#requestTimeoutMs;
    return new Promise<Buffer | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The id stays unusable until the connection resets: a late reply is dropped.
        const p = this.#pending.get(reqId);
        if (p) p.resolve = p.reject = () => undefined;
        reject(new XenstoreTimeoutError(op, path, timeoutMs));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(reqId, { op, path, expect: type, resolve, reject, timer, missingOk });
      // Requests made in the same tick leave in one write.
      if (!this.#corked) {
        this.#corked = true;
        socket.cork();
        process.nextTick(() => {
          this.#corked = false;
          socket.uncork();
        });
      }
      socket.write(frame);
    });
  }

  #allocReqId(): number {
    for (;;) {
      const id = this.#nextReqId;
      this.#nextReqId = id >= 0xffffffff ? 1 : id + 1;
      if (!this.#pending.has(id)) return id;
    }
  }

  #setState(state: ConnectionState, error?: Error): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const l of [...this.#listeners]) l(state, error);
  }

  /** One connection attempt; on success the socket is live and watches are registered again. */
  async #open(): Promise<void> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection({ path: this.socketPath });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new XenstoreUnavailableError(this.socketPath, 'ETIMEDOUT'));
      }, this.#connectTimeoutMs);
      timer.unref();
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new XenstoreUnavailableError(this.socketPath, e.code, { cause: e }));
      });
    });
    if (this.#state === 'closed') {
      socket.destroy();
      throw new XenstoreClosedError('connect', undefined);
    }
    this.#socket = socket;
    if (this.#unref) socket.unref();
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        socket.destroy(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      for (const f of frames) this.#onFrame(f, socket);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.#onClose(socket));
    this.#setState('connected');
    this.#reconnectAttempt = 0;
    // Watches first registered on an earlier connection (none on the first one).
    for (const w of [...this.#watches.values()]) {
      this.request(XsType.WATCH, 0, watchPayload(w.path, w.token), w.path).catch((e: unknown) => {
        if (this.#watches.get(w.token) !== w || this.#socket !== socket) return;
        this.#watches.delete(w.token);
        w.fail(e instanceof Error ? e : new Error(String(e)));
      });
    }
  }

  #onFrame(f: Frame, socket: Socket): void {
    if (f.type === XsType.WATCH_EVENT) {
      const ev = parseWatch(f.payload);
      if (ev) this.#watches.get(ev.token)?.deliver(ev);
      return;
    }
    const p = this.#pending.get(f.reqId);
    if (!p) return;
    this.#pending.delete(f.reqId);
    clearTimeout(p.timer);
    if (f.type === XsType.ERROR) {
      const errno = parseError(f.payload);
      if (errno === 'ENOENT' && p.missingOk) p.resolve(undefined);
      else p.reject(errnoError(errno, p.op, p.path));
    } else if (f.type !== p.expect) {
      const e = new XenstoreProtocolError(
        `xenstore ${p.op}: reply of type ${typeName(f.type)} to request ${f.reqId}`,
        p.op,
        p.path,
      );
      p.reject(e);
      socket.destroy(e);
    } else p.resolve(f.payload);
  }

  #onClose(socket: Socket): void {
    if (this.#socket !== socket) return;
    this.#socket = null;
    const lost = new Map(this.#pending);
    this.#pending.clear();
    for (const p of lost.values()) {
      clearTimeout(p.timer);
      p.reject(new XenstoreConnectionError(p.op, p.path, true, 'the connection to xenstored was lost'));
    }
    if (this.#state === 'closed') return;
    this.#setState('disconnected');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    this.#reconnectAttempt++;
    const delay = backoffDelay(this.#reconnectAttempt, this.#backoff);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      // A failed attempt leaves the state as it is (disconnected) and tries again later.
      this.#open().catch(() => {
        if (this.#state !== 'closed') this.#scheduleReconnect();
      });
    }, delay);
    if (this.#unref) this.#reconnectTimer.unref();
  }
}

/** A transaction started by XenstoreClient.startTransaction(): its operations carry its tx_id. */
export class XenstoreTransaction implements XenstoreOps {
  readonly #client: XenstoreClient;
  readonly id: number;

  constructor(client: XenstoreClient, id: number) {
    this.#client = client;
    this.id = id;
  }

  read(path: string, options?: RequestOptions): Promise<string> {
    return readIn(this.#client, this.id, path, options);
  }
  tryRead(path: string, options?: RequestOptions): Promise<string | undefined> {
    return tryReadIn(this.#client, this.id, path, options);
  }
  write(path: string, value: string | Buffer, options?: RequestOptions): Promise<void> {
    return writeIn(this.#client, this.id, path, value, options);
  }
  directory(path: string, options?: RequestOptions): Promise<string[]> {
    return directoryIn(this.#client, this.id, path, options);
  }
  rm(path: string, options?: RequestOptions): Promise<void> {
    return rmIn(this.#client, this.id, path, options);
  }
  /** Commits; XenstoreConflictError (EAGAIN) means nothing was applied and the whole work must be redone. */
  async commit(options?: RequestOptions): Promise<void> {
    await this.#client.request(
      XsType.TRANSACTION_END,
      this.id,
      transactionEndPayload(true),
      undefined,
      options,
    );
  }
  /** Discards the transaction's changes. */
  async abort(options?: RequestOptions): Promise<void> {
    await this.#client.request(
      XsType.TRANSACTION_END,
      this.id,
      transactionEndPayload(false),
      undefined,
      options,
    );
  }
}

function readIn(c: XenstoreClient, tx: number, path: string, o?: RequestOptions): Promise<string> {
  return c.request(XsType.READ, tx, pathPayload(path), path, o).then((b) => b.toString('utf8'));
}

function tryReadIn(
  c: XenstoreClient,
  tx: number,
  path: string,
  o?: RequestOptions,
): Promise<string | undefined> {
  return c
    .requestOrMissing(XsType.READ, tx, pathPayload(path), path, o)
    .then((b) => (b === undefined ? undefined : b.toString('utf8')));
}

async function writeIn(
  c: XenstoreClient,
  tx: number,
  path: string,
  value: string | Buffer,
  o?: RequestOptions,
): Promise<void> {
  await c.request(XsType.WRITE, tx, writePayload(path, value), path, o);
}

function directoryIn(c: XenstoreClient, tx: number, path: string, o?: RequestOptions): Promise<string[]> {
  return c.request(XsType.DIRECTORY, tx, pathPayload(path), path, o).then(parseDirectory);
}

async function rmIn(c: XenstoreClient, tx: number, path: string, o?: RequestOptions): Promise<void> {
  await c.request(XsType.RM, tx, pathPayload(path), path, o);
}

/**
 * One registered watch. Iterate it (`for await (const ev of watch)`) or pass onEvent; the
 * iteration ends when the watch or the client is closed, and throws if the watch could not be
 * registered again after a reconnect. Events waiting to be read are coalesced: an event equal to
 * one already queued is dropped (a watch says "look again", not how often).
 */
export class XenstoreWatch implements AsyncIterable<WatchEvent> {
  readonly path: string;
  readonly token: string;
  readonly #client: XenstoreClient;
  readonly #onEvent: ((e: WatchEvent) => void) | undefined;
  readonly #onError: ((e: Error) => void) | undefined;
  #queue: WatchEvent[] = [];
  #waiters: { resolve: (r: IteratorResult<WatchEvent>) => void; reject: (e: Error) => void }[] = [];
  #ended = false;
  #error: Error | null = null;

  constructor(client: XenstoreClient, path: string, token: string, options: WatchOptions) {
    this.#client = client;
    this.path = path;
    this.token = token;
    this.#onEvent = options.onEvent;
    this.#onError = options.onError;
  }

  /** @internal */
  deliver(ev: WatchEvent): void {
    if (this.#ended) return;
    if (this.#onEvent) {
      this.#onEvent(ev);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve({ value: ev, done: false });
    else if (!this.#queue.some((q) => q.path === ev.path)) this.#queue.push(ev);
  }

  /** @internal The watch is over (closed, or the client closed). */
  end(): void {
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  /** @internal Re-registration failed: the watch is over with this error. */
  fail(error: Error): void {
    this.#error = error;
    this.#onError?.(error);
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w.reject(error);
  }

  /** The next event; rejects with XenstoreTimeoutError if none comes within timeoutMs. */
  next(timeoutMs: number): Promise<WatchEvent> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.reject(new XenstoreClosedError('WATCH_EVENT', this.path));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (r: IteratorResult<WatchEvent>): void => {
          clearTimeout(timer);
          if (r.done) reject(new XenstoreClosedError('WATCH_EVENT', this.path));
          else resolve(r.value);
        },
        reject: (e: Error): void => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new XenstoreTimeoutError('WATCH_EVENT', this.path, timeoutMs));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Unregisters the watch (UNWATCH) and ends its iteration. */
  async close(options?: RequestOptions): Promise<void> {
    if (this.#ended) return;
    this.end();
    this.#client.forget(this.token);
    if (this.#client.state !== 'connected') return;
    await this.#client.request(XsType.UNWATCH, 0, watchPayload(this.path, this.token), this.path, options);
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    return {
      next: (): Promise<IteratorResult<WatchEvent>> => {
        const queued = this.#queue.shift();
        if (queued) return Promise.resolve({ value: queued, done: false });
        if (this.#error) return Promise.reject(this.#error);
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
      },
      return: async (): Promise<IteratorResult<WatchEvent>> => {
        await this.close().catch(() => undefined);
        return { value: undefined, done: true };
      },
    };
  }
}
