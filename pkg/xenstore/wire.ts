/**
 * The xenstored wire protocol (Xen's public header `io/xs_wire.h`, `docs/misc/xenstore.txt`):
 * pure encoding and decoding, no I/O. Used by the client (pkg/xenstore/client.ts) and by the
 * simulated host's daemon (sim/xenstore/xenstored.ts), so both ends speak the same bytes.
 *
 * A message both ways is a 16-byte header of four unsigned 32-bit integers in the host's byte
 * order — type, req_id (echoed in the reply), tx_id (0 outside a transaction), len — then len
 * payload bytes. Xen runs on x86 and arm64 only, both little-endian, so the header is encoded
 * little-endian.
 */

/** Message types, in the order of `enum xsd_sockmsg_type`. 20 (RESTRICT) was removed. */
export const XsType = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
} as const;

export type XsTypeName = keyof typeof XsType;

const TYPE_NAMES = new Map<number, XsTypeName>(
  Object.entries(XsType).map(([name, n]) => [n, name as XsTypeName]),
);

/** The type's name for messages and errors (`READ`, `WATCH_EVENT`), or `type <n>` when unknown. */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `type ${type}`;
}

export const HEADER_BYTES = 16;
/** The largest payload either side may send; xenstored drops a connection that sends more. */
export const XENSTORE_PAYLOAD_MAX = 4096;
/** Longest absolute path xenstored accepts (a longer one gets EINVAL). */
export const XENSTORE_ABS_PATH_MAX = 3072;

export interface Frame {
  type: number;
  reqId: number;
  txId: number;
  payload: Buffer;
}

/** A message the protocol forbids (too large, malformed): nothing was sent or the stream is unusable. */
export class XenstoreWireError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A payload above XENSTORE_PAYLOAD_MAX, refused before it reaches the socket. */
export class XenstorePayloadTooLargeError extends XenstoreWireError {
  readonly bytes: number;
  readonly op: string;
  readonly path: string | undefined;
  constructor(op: string, bytes: number, path?: string) {
    super(
      `xenstore ${op}${path === undefined ? '' : ` ${path}`}: payload of ${bytes} bytes exceeds XENSTORE_PAYLOAD_MAX (${XENSTORE_PAYLOAD_MAX}), not sent`,
    );
    this.op = op;
    this.bytes = bytes;
    this.path = path;
  }
}

function u32(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new XenstoreWireError(`${what} ${n} is not a u32`);
  return n;
}

/** Header plus payload, ready for the socket; refuses a payload above the maximum. */
export function encodeFrame(f: Frame): Buffer {
  if (f.payload.length > XENSTORE_PAYLOAD_MAX)
    throw new XenstorePayloadTooLargeError(typeName(f.type), f.payload.length);
  const out = Buffer.allocUnsafe(HEADER_BYTES + f.payload.length);
  out.writeUInt32LE(u32(f.type, 'type'), 0);
  out.writeUInt32LE(u32(f.reqId, 'req_id'), 4);
  out.writeUInt32LE(u32(f.txId, 'tx_id'), 8);
  out.writeUInt32LE(f.payload.length, 12);
  f.payload.copy(out, HEADER_BYTES);
  return out;
}

/**
 * Cuts a byte stream into frames: a socket read may end inside a header or a payload, or carry
 * several messages. A header announcing more than XENSTORE_PAYLOAD_MAX makes the stream unusable
 * (XenstoreWireError): the peer is not speaking the protocol.
 */
export class FrameDecoder {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  /** Bytes received but not yet part of a whole frame. */
  get buffered(): number {
    return this.#pendingBytes;
  }

  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
    }
    const frames: Frame[] = [];
    if (this.#pendingBytes < HEADER_BYTES) return frames;
    let buf = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending);
    let pos = 0;
    while (buf.length - pos >= HEADER_BYTES) {
      const len = buf.readUInt32LE(pos + 12);
      if (len > XENSTORE_PAYLOAD_MAX)
        throw new XenstoreWireError(`peer announced a payload of ${len} bytes (max ${XENSTORE_PAYLOAD_MAX})`);
      if (buf.length - pos < HEADER_BYTES + len) break;
      frames.push({
        type: buf.readUInt32LE(pos),
        reqId: buf.readUInt32LE(pos + 4),
        txId: buf.readUInt32LE(pos + 8),
        // A copy: the frame outlives the socket's chunk.
        payload: Buffer.from(buf.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + len)),
      });
      pos += HEADER_BYTES + len;
    }
    buf = buf.subarray(pos);
    this.#pending = buf.length > 0 ? [buf] : [];
    this.#pendingBytes = buf.length;
    return frames;
  }
}

const NUL = Buffer.from([0]);

/** NUL-terminated strings, concatenated: the payload of most requests. */
export function nulStrings(...parts: string[]): Buffer {
  for (const p of parts)
    if (p.includes('\0')) throw new XenstoreWireError('a xenstore string cannot contain NUL');
  return Buffer.from(parts.map((p) => `${p}\0`).join(''), 'utf8');
}

/** READ, DIRECTORY, RM, MKDIR, GET_PERMS request: `path\0`. */
export function pathPayload(path: string): Buffer {
  return nulStrings(path);
}

/** WRITE request: `path\0value`, the value not NUL-terminated (it may hold any bytes). */
export function writePayload(path: string, value: string | Buffer): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([nulStrings(path), v]);
}

/** WATCH / UNWATCH request and WATCH_EVENT: `path\0token\0`. */
export function watchPayload(path: string, token: string): Buffer {
  return nulStrings(path, token);
}

/** TRANSACTION_START request: one NUL. */
export const TRANSACTION_START_PAYLOAD: Buffer = NUL;

/** TRANSACTION_END request: `T\0` commits, `F\0` aborts. */
export function transactionEndPayload(commit: boolean): Buffer {
  return nulStrings(commit ? 'T' : 'F');
}

/** The `OK\0` reply of WRITE, RM, WATCH, UNWATCH, TRANSACTION_END. */
export const OK_PAYLOAD: Buffer = nulStrings('OK');

/** ERROR reply: the errno name and a NUL (`ENOENT\0`). */
export function errorPayload(errno: string): Buffer {
  return nulStrings(errno);
}

/** TRANSACTION_START reply: the id in decimal, NUL-terminated. */
export function transactionIdPayload(txId: number): Buffer {
  return nulStrings(String(u32(txId, 'tx_id')));
}

/** DIRECTORY reply: each child name NUL-terminated. */
export function directoryPayload(names: readonly string[]): Buffer {
  return nulStrings(...names);
}

/**
 * Splits a payload into its NUL-terminated strings; bytes after the last NUL (a WRITE's value)
 * come back as `rest`.
 */
export function splitNul(payload: Buffer): { strings: string[]; rest: Buffer } {
  const strings: string[] = [];
  let pos = 0;
  for (;;) {
    const end = payload.indexOf(0, pos);
    if (end < 0) break;
    strings.push(payload.toString('utf8', pos, end));
    pos = end + 1;
  }
  return { strings, rest: payload.subarray(pos) };
}

/** The first NUL-terminated string of a payload (a path, an errno name, an id); null if none. */
export function firstString(payload: Buffer): string | null {
  const end = payload.indexOf(0);
  return end < 0 ? null : payload.toString('utf8', 0, end);
}

/** A WRITE request's path and value; null when there is no NUL (malformed). */
export function parseWrite(payload: Buffer): { path: string; value: Buffer } | null {
  const end = payload.indexOf(0);
  if (end < 0) return null;
  return { path: payload.toString('utf8', 0, end), value: payload.subarray(end + 1) };
}

/** A WATCH / UNWATCH request or a WATCH_EVENT: path and token; null when malformed. */
export function parseWatch(payload: Buffer): { path: string; token: string } | null {
  const { strings } = splitNul(payload);
  if (strings.length < 2) return null;
  return { path: strings[0] as string, token: strings[1] as string };
}

/** The names of a DIRECTORY reply. */
export function parseDirectory(payload: Buffer): string[] {
  return splitNul(payload).strings;
}

/** The id of a TRANSACTION_START reply; null when it is not a decimal u32. */
export function parseTransactionId(payload: Buffer): number | null {
  const s = firstString(payload) ?? payload.toString('utf8');
  if (!/^\d{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n <= 0xffffffff ? n : null;
}

/** The errno name of an ERROR reply (without its NUL). */
export function parseError(payload: Buffer): string {
  return firstString(payload) ?? payload.toString('utf8');
}
