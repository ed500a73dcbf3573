/**
 * pkg/bus: domainmgr's only contact with NATS. Everything else sees the ports of
 * pkg/reconcile/ports.ts (DesiredStateSource, StatusSink, ConnectionState), which these implement.
 *
 * Start-up order: connectBus() -> ensureStreams(await conn.jsm(), ...) -> new ConfigFeed(...)
 * and new JetStreamStatusSink(...). Shut-down: feed.stop(), sink.flush(ms), sink.close(),
 * conn.close().
 */
export type { BackoffPolicy } from './backoff.js';
export { ConfigFeed, ConfigFeedError, type ConfigFeedOptions } from './config-feed.js';
export {
  type BusConnection,
  ConnectAbortedError,
  type ConnectBusOptions,
  connectBus,
  DEFAULT_CONNECT_BACKOFF,
} from './connect.js';
export {
  type FleetClient,
  type FleetClientOptions,
  FleetError,
  type FleetFilter,
  FleetTimeoutError,
  type Follow,
  type FollowFrom,
  NatsUnreachableError,
  openFleetClient,
  type PublishAck,
  type StoredMessage,
} from './fleet-client.js';
export { NodeLease, type NodeLeaseOptions } from './lease.js';
export type { LeaseHolder } from './lease-decision.js';
export { JetStreamStatusSink, type StatusSinkOptions } from './status-sink.js';
export {
  type EnsureStreamsOptions,
  ensureStreams,
  StreamError,
  StreamIncompatibleError,
  StreamMissingError,
  type StreamNames,
} from './streams.js';
export {
  isValidNodeId,
  isValidUuid,
  type NodeSubjects,
  nodeSubjects,
  type ParsedSubject,
  parseSubject,
  SubjectError,
  streamName,
  streamSubjects,
} from './subjects.js';
