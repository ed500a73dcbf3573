import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import {
  directoryPayload,
  encodeFrame,
  errorPayload,
  type Frame,
  FrameDecoder,
  firstString,
  OK_PAYLOAD,
  parseWatch,
  parseWrite,
  transactionIdPayload,
  typeName,
  watchPayload,
  XENSTORE_PAYLOAD_MAX,
  XsType,
} from '../../pkg/xenstore/wire.js';
import { garbage, takeFault, vanishDomain } from '../core/faults.js';
import type { HostEvent, SimHost } from '../core/host.js';
import type { FaultAction } from '../core/state.js';
import { normalisePath, xsChildren, xsExists, xsRead, xsRemoveTree, xsWrite } from '../xen/xenstore-model.js';
import { absolute, validPath } from './xenstore.js';

/**
 * xenstored's unix socket on the simulated host (`$DOMAINMGR_SIM_DIR/xenstored/socket`), over the
 * same xenstore tree the `xenstore-*` shims and `xl` use. The wire format is pkg/xenstore/wire.ts.
 * What it does as xenstored 4.17 does: READ, WRITE (parents created), DIRECTORY, RM (a missing
 * node under an existing parent is no error), MKDIR, GET_DOMAIN_PATH, WATCH (fires once at
 * registration, after the OK), UNWATCH, transactions (isolated until commit; EAGAIN at commit
 * when a node the transaction touched, or a child of one, changed meanwhile), `@introduceDomain`
 * on create and `@releaseDomain` on every shutdown (crash, poweroff, reboot) and destruction,
 * errno names in ERROR replies, a connection dropped on a payload over 4096 bytes. Everyone is
 * dom0: no permissions, never EACCES. Other message types answer ENOSYS.
 */

const MAX_TRANSACTIONS_PER_CONNECTION = 10;
/** Changes remembered for open transactions; beyond this, they all fail with EAGAIN. */
const MAX_CHANGE_LOG = 100_000;
const LOCAL_HOME = '/local/domain/0';

class Fail extends Error {
  constructor(readonly errno: string) {
    super(errno);
  }
}

type TxOp = { kind: 'write'; path: string; value: string } | { kind: 'rm'; path: string };

interface Transaction {
  id: number;
  /** Change-log generation when it started: later changes may conflict. */
  startGen: number;
  ops: TxOp[];
  /** Nodes it read, listed or wrote: a change to one of them (or to a child) is a conflict. */
  touched: Set<string>;
  /** The change log was cut while it was open: it can only fail. */
  doomed: boolean;
}

interface Watch {
  /** As the client gave it (events on a relative watch carry relative paths). */
  given: string;
  /** Absolute (or `@...`). */
  abs: string;
  token: string;
}

interface Conn {
  socket: Socket;
  watches: Watch[];
  transactions: Map<number, Transaction>;
}

interface Change {
  gen: number;
  path: string;
  removed: boolean;
}

function under(path: string, dir: string): boolean {
  return dir === '/' ? path.startsWith('/') : path.startsWith(`${dir}/`);
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export class SimXenstored {
  readonly #host: SimHost;
  readonly #log: (line: string) => void;
  readonly #onConnections: (delta: number) => void;
  #server: Server | null = null;
  #path: string | null = null;
  readonly #conns = new Set<Conn>();
  #nextTxId = 1;
  #gen = 0;
  #changes: Change[] = [];
  readonly #unsubscribe: () => void;

  /** onConnections(+1 / -1) as clients come and go (an open connection keeps the daemon up). */
  constructor(host: SimHost, log: (line: string) => void, onConnections: (delta: number) => void) {
    this.#host = host;
    this.#log = log;
    this.#onConnections = onConnections;
    this.#unsubscribe = host.subscribe((e) => this.#onHostEvent(e));
  }

  /** Listens on path (a stale socket file there is replaced); the directory is created. */
  async listen(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true });
    rmSync(path, { force: true });
    const server = createServer((s) => this.#onConnection(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.#log(`xenstored socket: ${e.message}`));
    this.#server = server;
    this.#path = path;
  }

  /** Stops listening, drops every connection and removes the socket file. */
  close(): void {
    this.#unsubscribe();
    for (const c of this.#conns) c.socket.destroy();
    this.#server?.close();
    if (this.#path) rmSync(this.#path, { force: true });
    this.#server = null;
  }

  #onConnection(socket: Socket): void {
    const conn: Conn = { socket, watches: [], transactions: new Map() };
    this.#conns.add(conn);
    this.#onConnections(1);
    const decoder = new FrameDecoder();
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#conns.delete(conn);
      this.#onConnections(-1);
      this.#pruneChanges();
    });
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch {
        // As xenstored: a payload over the maximum ends the connection.
        socket.destroy();
        return;
      }
      for (const f of frames) this.#handle(conn, f);
    });
  }

  #send(conn: Conn, type: number, reqId: number, txId: number, payload: Buffer): void {
    if (!conn.socket.destroyed) conn.socket.write(encodeFrame({ type, reqId, txId, payload }));
  }

  #handle(conn: Conn, f: Frame, faultable = true): void {
    const host = this.#host;
    const key = `xenstored ${typeName(f.type)}`;
    if (faultable) {
      host.calls.set(key, (host.calls.get(key) ?? 0) + 1);
      host.logCommand('xenstored', [typeName(f.type), ...payloadStrings(f.payload).filter((a) => a !== '')]);
    }
    host.settle();
    const fault = faultable
      ? takeFault(host, 'xenstored', typeName(f.type), payloadStrings(f.payload))
      : null;
    if (fault !== null) {
      this.#faulted(conn, f, fault.action);
      return;
    }
    let reply: Buffer;
    let after: (() => void) | null = null;
    try {
      const tx = f.txId === 0 ? null : conn.transactions.get(f.txId);
      if (tx === undefined) throw new Fail('ENOENT');
      const r = this.#execute(conn, f, tx);
      reply = r.reply;
      after = r.after ?? null;
    } catch (e) {
      if (!(e instanceof Fail))
        this.#log(`xenstored ${typeName(f.type)} failed: ${e instanceof Error ? e.stack : String(e)}`);
      this.#send(conn, XsType.ERROR, f.reqId, f.txId, errorPayload(e instanceof Fail ? e.errno : 'EIO'));
      return;
    } finally {
      host.persistIfDirty();
    }
    // As xenstored's send_reply: a reply that does not fit (a directory of ~800 domains) is E2BIG.
    if (reply.length > XENSTORE_PAYLOAD_MAX)
      this.#send(conn, XsType.ERROR, f.reqId, f.txId, errorPayload('E2BIG'));
    else this.#send(conn, f.type, f.reqId, f.txId, reply);
    after?.();
  }

  /**
   * An injected fault on a request (`simctl fault add --tool xenstored --sub WRITE ...`): an error
   * reply (the errno given as --stderr, EIO otherwise), an OK reply that did nothing (--exit 0), a
   * reply of garbage, no reply (a hang; after MS ms the request is carried out if the connection
   * is still there), or the request carried out and then a domain gone.
   */
  #faulted(conn: Conn, f: Frame, a: FaultAction): void {
    switch (a.kind) {
      case 'fail': {
        if (a.exitCode === 0) {
          const empty = f.type === XsType.READ || f.type === XsType.DIRECTORY;
          this.#send(conn, f.type, f.reqId, f.txId, empty ? Buffer.alloc(0) : OK_PAYLOAD);
          return;
        }
        const errno = /^E[A-Z0-9]+$/.test(a.stderr.trim()) ? a.stderr.trim() : 'EIO';
        this.#send(conn, XsType.ERROR, f.reqId, f.txId, errorPayload(errno));
        return;
      }
      case 'garbage':
        this.#send(conn, f.type, f.reqId, f.txId, Buffer.from(garbage(this.#host.now()).slice(0, 200)));
        return;
      case 'hang':
        if (a.ms !== null) {
          setTimeout(() => {
            if (!conn.socket.destroyed) this.#handle(conn, f, false);
          }, a.ms);
        }
        return;
      case 'vanish':
        this.#handle(conn, f, false);
        vanishDomain(this.#host, a.domain);
        return;
    }
  }

  #execute(conn: Conn, f: Frame, tx: Transaction | null): { reply: Buffer; after?: () => void } {
    const host = this.#host;
    switch (f.type) {
      case XsType.READ: {
        const path = this.#path1(f.payload);
        tx?.touched.add(path);
        const v = tx ? txRead(host, tx, path) : liveRead(host, path);
        if (v === undefined) throw new Fail('ENOENT');
        return { reply: Buffer.from(v, 'utf8') };
      }
      case XsType.DIRECTORY: {
        const path = this.#path1(f.payload);
        tx?.touched.add(path);
        const names = tx
          ? txChildren(host, tx, path)
          : liveRead(host, path) === undefined
            ? null
            : xsChildren(host, path);
        if (names === null) throw new Fail('ENOENT');
        return { reply: directoryPayload(names) };
      }
      case XsType.WRITE:
      case XsType.MKDIR: {
        let path: string;
        let value = '';
        if (f.type === XsType.WRITE) {
          const w = parseWrite(f.payload);
          if (!w) throw new Fail('EINVAL');
          path = this.#canonical(w.path);
          value = w.value.toString('utf8');
        } else path = this.#path1(f.payload);
        if (path === '/') throw new Fail('EINVAL');
        const exists = (tx ? txRead(host, tx, path) : liveRead(host, path)) !== undefined;
        // MKDIR of an existing node changes nothing.
        if (f.type === XsType.MKDIR && exists) return { reply: OK_PAYLOAD };
        if (tx) {
          tx.touched.add(path);
          tx.ops.push({ kind: 'write', path, value });
        } else xsWrite(host, path, value);
        return { reply: OK_PAYLOAD };
      }
      case XsType.RM: {
        const path = this.#path1(f.payload);
        if (path === '/') throw new Fail('EINVAL');
        tx?.touched.add(path);
        const read = (p: string) => (tx ? txRead(host, tx, p) : liveRead(host, p));
        if (read(path) === undefined) {
          if (read(parentOf(path)) !== undefined) return { reply: OK_PAYLOAD };
          throw new Fail('ENOENT');
        }
        if (tx) tx.ops.push({ kind: 'rm', path });
        else xsRemoveTree(host, path);
        return { reply: OK_PAYLOAD };
      }
      case XsType.GET_DOMAIN_PATH: {
        const domid = firstString(f.payload);
        if (domid === null || !/^\d+$/.test(domid)) throw new Fail('EINVAL');
        return { reply: Buffer.from(`/local/domain/${domid}\0`) };
      }
      case XsType.WATCH: {
        const w = parseWatch(f.payload);
        if (!w) throw new Fail('EINVAL');
        const abs = w.path.startsWith('@') ? w.path : this.#canonical(w.path);
        if (conn.watches.some((x) => x.abs === abs && x.token === w.token)) throw new Fail('EEXIST');
        const watch: Watch = { given: w.path, abs, token: w.token };
        conn.watches.push(watch);
        // Fires once at once, after the OK: the client then looks at the current state.
        return { reply: OK_PAYLOAD, after: () => this.#fire(conn, watch, abs) };
      }
      case XsType.UNWATCH: {
        const w = parseWatch(f.payload);
        if (!w) throw new Fail('EINVAL');
        const abs = w.path.startsWith('@') ? w.path : this.#canonical(w.path);
        const i = conn.watches.findIndex((x) => x.abs === abs && x.token === w.token);
        if (i < 0) throw new Fail('ENOENT');
        conn.watches.splice(i, 1);
        return { reply: OK_PAYLOAD };
      }
      case XsType.TRANSACTION_START: {
        if (tx) throw new Fail('EBUSY');
        if (conn.transactions.size >= MAX_TRANSACTIONS_PER_CONNECTION) throw new Fail('ENOSPC');
        const id = this.#nextTxId;
        this.#nextTxId = id >= 0xfffffffe ? 1 : id + 1;
        conn.transactions.set(id, { id, startGen: this.#gen, ops: [], touched: new Set(), doomed: false });
        return { reply: transactionIdPayload(id) };
      }
      case XsType.TRANSACTION_END: {
        if (!tx) throw new Fail('ENOENT');
        const how = firstString(f.payload);
        if (how !== 'T' && how !== 'F') throw new Fail('EINVAL');
        conn.transactions.delete(tx.id);
        if (how === 'T') {
          if (this.#conflicts(tx)) {
            this.#pruneChanges();
            throw new Fail('EAGAIN');
          }
          for (const op of tx.ops) {
            if (op.kind === 'write') xsWrite(host, op.path, op.value);
            else xsRemoveTree(host, op.path);
          }
        }
        this.#pruneChanges();
        return { reply: OK_PAYLOAD };
      }
      default:
        // Permissions, introduce/release, control and partial directories are not emulated.
        throw new Fail(typeName(f.type).startsWith('type ') ? 'EINVAL' : 'ENOSYS');
    }
  }

  /** The request's one path, absolute, or EINVAL. */
  #path1(payload: Buffer): string {
    const p = firstString(payload);
    if (p === null) throw new Fail('EINVAL');
    return this.#canonical(p);
  }

  #canonical(p: string): string {
    if (!validPath(p)) throw new Fail('EINVAL');
    return normalisePath(absolute(p));
  }

  #conflicts(tx: Transaction): boolean {
    if (tx.doomed) return true;
    for (const c of this.#changes) {
      if (c.gen <= tx.startGen) continue;
      for (const t of tx.touched) {
        if (c.path === t || parentOf(c.path) === t || (c.removed && under(t, c.path))) return true;
      }
    }
    return false;
  }

  /** Forgets changes no open transaction can conflict with. */
  #pruneChanges(): void {
    let oldest = Number.POSITIVE_INFINITY;
    for (const c of this.#conns)
      for (const t of c.transactions.values()) oldest = Math.min(oldest, t.startGen);
    if (!Number.isFinite(oldest)) this.#changes = [];
    else this.#changes = this.#changes.filter((c) => c.gen > oldest);
  }

  #onHostEvent(e: HostEvent): void {
    switch (e.type) {
      case 'xenstore-change':
        this.#recordChange(e.path, e.removed !== null);
        this.#fireChange(e.path, e.removed);
        return;
      case 'xen-shutdown':
      case 'xen-death':
        this.#fireSpecial('@releaseDomain');
        return;
      case 'xen-introduce':
        this.#fireSpecial('@introduceDomain');
        return;
      default:
        return;
    }
  }

  #recordChange(path: string, removed: boolean): void {
    this.#gen++;
    let open = false;
    for (const c of this.#conns) if (c.transactions.size > 0) open = true;
    if (!open) return;
    this.#changes.push({ gen: this.#gen, path, removed });
    if (this.#changes.length > MAX_CHANGE_LOG) {
      for (const c of this.#conns) for (const t of c.transactions.values()) t.doomed = true;
      this.#changes = [];
    }
  }

  /**
   * As xenstored's fire_watches: a write or removal of `path` fires every watch at or above it
   * with `path`; a removal also fires the watches on removed nodes below it with their own path.
   */
  #fireChange(path: string, removed: string[] | null): void {
    for (const conn of this.#conns) {
      for (const w of conn.watches) {
        if (w.abs.startsWith('@')) continue;
        if (w.abs === path || under(path, w.abs)) this.#fire(conn, w, path);
        else if (removed && under(w.abs, path) && removed.some((k) => k === w.abs || under(k, w.abs)))
          this.#fire(conn, w, w.abs);
      }
    }
  }

  #fireSpecial(name: string): void {
    for (const conn of this.#conns)
      for (const w of conn.watches) if (w.abs === name) this.#fire(conn, w, name);
  }

  #fire(conn: Conn, w: Watch, path: string): void {
    // A relative watch gets paths relative to the connection's home, as xenstored sends them.
    let shown = path;
    if (w.given !== w.abs && !path.startsWith('@'))
      shown = path === LOCAL_HOME ? '' : path.slice(LOCAL_HOME.length + 1);
    this.#send(conn, XsType.WATCH_EVENT, 0, 0, watchPayload(shown, w.token));
  }
}

/** A node's value in the live tree; '' for a directory without a value; undefined when absent. */
function liveRead(host: SimHost, path: string): string | undefined {
  const v = xsRead(host, path);
  if (v !== undefined) return v;
  return xsExists(host, path) ? '' : undefined;
}

/** A node's value as the transaction sees it: the live tree with its own writes and removals on top. */
function txRead(host: SimHost, tx: Transaction, path: string): string | undefined {
  let v = liveRead(host, path);
  for (const op of tx.ops) {
    if (op.kind === 'rm') {
      if (op.path === path || under(path, op.path)) v = undefined;
    } else if (op.path === path) v = op.value;
    else if (under(op.path, path)) v = v ?? '';
  }
  return v;
}

function txChildren(host: SimHost, tx: Transaction, path: string): string[] | null {
  if (txRead(host, tx, path) === undefined) return null;
  const names = liveRead(host, path) === undefined ? [] : xsChildren(host, path);
  const prefix = path === '/' ? '/' : `${path}/`;
  for (const op of tx.ops) {
    if (op.kind === 'rm') {
      if (op.path === path || under(path, op.path)) names.length = 0;
      else if (parentOf(op.path) === path) {
        const i = names.indexOf(op.path.slice(prefix.length));
        if (i >= 0) names.splice(i, 1);
      }
    } else if (op.path.startsWith(prefix)) {
      const head = op.path.slice(prefix.length).split('/')[0];
      if (head && !names.includes(head)) names.push(head);
    }
  }
  return names;
}

/** A request's NUL-separated strings (paths, values), for a fault's --match. */
function payloadStrings(payload: Buffer): string[] {
  return payload.toString('utf8').split('\0');
}
