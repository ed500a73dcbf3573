/**
 * pkg/xenstore: a client of xenstored's unix socket (no native addon, no spawned process).
 *
 *   const xs = await XenstoreClient.connect();          // XENSTORED_PATH, else the default path
 *   const domid = await xs.read('/local/domain/0/name');
 *   await xs.transaction(async (tx) => {                 // rerun on EAGAIN
 *     await Promise.all(keys.map((k) => tx.write(k, '0')));
 *   });
 *   const w = await xs.watch('@releaseDomain');          // fires once at once, then on each death
 *   for await (const ev of w) { ... }
 *   await xs.close();
 *
 * The wire format (wire.ts) is pure and also used by the simulated host's xenstored.
 */
export {
  type ConnectionState,
  DEFAULT_RECONNECT_BACKOFF,
  type RequestOptions,
  type WatchEvent,
  type WatchOptions,
  XenstoreClient,
  type XenstoreClientOptions,
  type XenstoreOps,
  XenstoreTransaction,
  XenstoreWatch,
} from './client.js';
export {
  errnoError,
  XenstoreClosedError,
  XenstoreConflictError,
  XenstoreConnectionError,
  XenstoreErrnoError,
  XenstoreError,
  XenstoreExistsError,
  XenstoreInvalidError,
  XenstoreNotFoundError,
  XenstorePermissionError,
  XenstoreProtocolError,
  XenstoreTimeoutError,
  XenstoreTransactionRetriesError,
  XenstoreUnavailableError,
} from './errors.js';
export { DEFAULT_XENSTORED_RUNDIR, xenstoredSocketPath } from './socket-path.js';
export { XENSTORE_PAYLOAD_MAX, XenstorePayloadTooLargeError, XenstoreWireError } from './wire.js';
