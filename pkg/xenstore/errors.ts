/**
 * What can go wrong talking to xenstored. Every error names the operation (`READ`, `WRITE`,
 * `TRANSACTION_END`, ...) and, where there is one, the path.
 */

export class XenstoreError extends Error {
  /** The request type's name (READ, WRITE, ...), or `connect`. */
  readonly op: string;
  /** The path the request was about, when it had one. */
  readonly path: string | undefined;
  constructor(message: string, op: string, path: string | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.op = op;
    this.path = path;
  }
}

function about(op: string, path: string | undefined): string {
  return path === undefined ? `xenstore ${op}` : `xenstore ${op} ${path}`;
}

/** xenstored answered with an ERROR reply; `errno` is the name it sent (ENOENT, EACCES, ...). */
export class XenstoreErrnoError extends XenstoreError {
  readonly errno: string;
  constructor(errno: string, op: string, path: string | undefined) {
    super(`${about(op, path)}: ${errno}`, op, path);
    this.errno = errno;
  }
}

/** ENOENT: no such node (or, for TRANSACTION_END and requests in a transaction, no such transaction). */
export class XenstoreNotFoundError extends XenstoreErrnoError {}
/** EACCES: the connection may not read or write that node (not dom0, or the node's permissions). */
export class XenstorePermissionError extends XenstoreErrnoError {}
/** EAGAIN: a transaction conflicted with another writer and must be redone from the start. */
export class XenstoreConflictError extends XenstoreErrnoError {}
/** EINVAL: a malformed path or request. */
export class XenstoreInvalidError extends XenstoreErrnoError {}
/** EEXIST: for a WATCH, the same path and token are already watched on this connection. */
export class XenstoreExistsError extends XenstoreErrnoError {}

const BY_ERRNO: Record<
  string,
  new (
    errno: string,
    op: string,
    path: string | undefined,
  ) => XenstoreErrnoError
> = {
  ENOENT: XenstoreNotFoundError,
  EACCES: XenstorePermissionError,
  EAGAIN: XenstoreConflictError,
  EINVAL: XenstoreInvalidError,
  EEXIST: XenstoreExistsError,
};

/** The named error for an ERROR reply; errno names without a class of their own get the base class. */
export function errnoError(errno: string, op: string, path: string | undefined): XenstoreErrnoError {
  const Cls = BY_ERRNO[errno] ?? XenstoreErrnoError;
  return new Cls(errno, op, path);
}

/** No reply within the request's timeout. The request may still take effect. */
export class XenstoreTimeoutError extends XenstoreError {
  readonly timeoutMs: number;
  constructor(op: string, path: string | undefined, timeoutMs: number) {
    super(`${about(op, path)}: no reply within ${timeoutMs} ms`, op, path);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The daemon's socket cannot be reached: `code` is the system's reason (ENOENT: no socket there,
 * not a dom0 or xenstored not running; EACCES: not root; ECONNREFUSED: nobody listens).
 */
export class XenstoreUnavailableError extends XenstoreError {
  readonly socketPath: string;
  readonly code: string | undefined;
  constructor(socketPath: string, code: string | undefined, options?: { cause?: unknown }) {
    super(
      `cannot connect to xenstored at ${socketPath}: ${code ?? 'unknown error'}`,
      'connect',
      undefined,
      options,
    );
    this.socketPath = socketPath;
    this.code = code;
  }
}

/**
 * The request did not get a reply because the connection is down: it was lost while the request
 * was outstanding (the request may have taken effect), or the client was not connected when it
 * was made (it was never sent: `sent` false).
 */
export class XenstoreConnectionError extends XenstoreError {
  readonly sent: boolean;
  constructor(
    op: string,
    path: string | undefined,
    sent: boolean,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${about(op, path)}: ${reason}`, op, path, options);
    this.sent = sent;
  }
}

/** The client was closed: no request is sent any more. */
export class XenstoreClosedError extends XenstoreError {
  constructor(op: string, path: string | undefined) {
    super(`${about(op, path)}: the xenstore client is closed`, op, path);
  }
}

/** The daemon sent something that is not the protocol (a reply of the wrong type, a bad transaction id). */
export class XenstoreProtocolError extends XenstoreError {}

/** transaction(fn) met EAGAIN on every attempt; `cause` is the last conflict. */
export class XenstoreTransactionRetriesError extends XenstoreError {
  readonly attempts: number;
  constructor(attempts: number, cause: XenstoreConflictError) {
    super(
      `xenstore transaction conflicted ${attempts} times in a row (EAGAIN), giving up`,
      'TRANSACTION_END',
      cause.path,
      {
        cause,
      },
    );
    this.attempts = attempts;
  }
}
