import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { NodeStatus } from '../../types/generated/node-status.js';

/**
 * The reconcile engine's only view of the outside world besides the Hypervisor: where desired
 * state comes from and where status goes. pkg/bus implements both over NATS JetStream; tests
 * implement them in memory. Nothing under pkg/reconcile imports NATS.
 */

/** One config message as delivered: the subject's uuid and the raw payload (empty = delete). */
export interface ConfigDelivery {
  uuid: string;
  payload: Uint8Array;
  /** Stream sequence, for logs. */
  seq: number;
}

export interface DesiredStateSource {
  /**
   * Starts delivery: first the latest config of every domain of this node (deliver last per
   * subject), then every change, in stream order. `onMessage` resolves once the message has been
   * accepted or rejected; only then is it acknowledged, so a crash before that redelivers it.
   * Resolves once the messages present at start (the initial backlog) have all been handled.
   */
  start(onMessage: (delivery: ConfigDelivery) => Promise<void>): Promise<void>;
  /** Stops taking messages; messages being handled finish first. */
  stop(): Promise<void>;
}

export interface StatusSink {
  /**
   * Queues a domain's status for publishing; retried until stored. Per uuid only the newest
   * queued status is kept (an older one not yet stored is superseded). Never throws.
   */
  publishDomainStatus(status: DomainStatus): void;
  /** Same, for this node's NodeStatus. */
  publishNodeStatus(status: NodeStatus): void;
  /** Resolves when everything queued so far is stored, or after timeoutMs (false then). */
  flush(timeoutMs: number): Promise<boolean>;
}

/** Connection state, for NodeStatus.ready and the logs. */
export interface ConnectionState {
  readonly connected: boolean;
  /** Calls fn on every change; returns an unsubscribe function. */
  onChange(fn: (connected: boolean) => void): () => void;
}
