import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import type { Logger } from '../log/logger.js';
import { describeError } from './describe-error.js';
import { type StreamKind, streamName, streamSubjects } from './subjects.js';

/** A stream of the contract could not be checked or created. */
export class StreamError extends Error {
  constructor(
    message: string,
    readonly stream: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The stream does not exist and domainmgr may not create it (`nats.manageStreams: false`). */
export class StreamMissingError extends StreamError {}

/** The stream exists but is set up in a way that breaks the contract; `problems` says how. */
export class StreamIncompatibleError extends StreamError {
  constructor(
    stream: string,
    readonly problems: string[],
  ) {
    super(
      `stream ${stream} is incompatible with domainmgr: ${problems.join('; ')}. ` +
        `Fix or delete the stream (domainmgr creates it when missing unless nats.manageStreams is false).`,
      stream,
    );
  }
}

export interface EnsureStreamsOptions {
  prefix: string;
  /** Create missing streams (true), or only check that they exist (false). */
  manageStreams: boolean;
  /** num_replicas of the streams created (default 1); an existing stream may have any. */
  replicas?: number;
  logger: Logger;
}

export interface StreamNames {
  config: string;
  status: string;
  lease: string;
}

/**
 * Makes sure the streams domainmgr uses exist and keep its promises:
 *
 * - `<PREFIX>_CONFIG` captures `<prefix>.*.config.*`: desired state, the last config per domain.
 * - `<PREFIX>_STATUS` captures `<prefix>.*.status.*` and `<prefix>.*.node`: current status.
 * - `<PREFIX>_LEASE` captures `<prefix>.*.lease`: which agent acts for each node (pkg/bus/lease.ts).
 *
 * All three: limits retention, file storage, one message per subject, no age limit. A missing stream is
 * created when `manageStreams` is true (and logged), otherwise StreamMissingError. An existing
 * stream, created by us or by an operator, is checked in both modes and StreamIncompatibleError
 * lists everything about it that breaks the contract; domainmgr never changes an existing stream.
 *
 * Retention of DELETED statuses: the last status of a deleted domain stays in the status stream
 * (one small message per uuid). It is the answer to "what happened to domain X" for an operator
 * who looks later, and nothing else would tell. Neither an age limit (it would also expire the
 * status of a domain that has been RUNNING unchanged for long) nor a purge by domainmgr is used;
 * operators remove old ones with `nats stream purge <PREFIX>_STATUS --subject <subject>`.
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  options: EnsureStreamsOptions,
): Promise<StreamNames> {
  const log = options.logger.child({ component: 'bus' });
  const names: StreamNames = {
    config: streamName(options.prefix, 'config'),
    status: streamName(options.prefix, 'status'),
    lease: streamName(options.prefix, 'lease'),
  };
  for (const kind of STREAM_KINDS) {
    const wanted = contractStreamConfig(options.prefix, kind, options.replicas ?? 1);
    await ensureOne(jsm, wanted, options.manageStreams, log);
  }
  return names;
}

/** Every stream domainmgr uses, in the order they are checked (and printed by `domainctl streams`). */
export const STREAM_KINDS: readonly StreamKind[] = ['config', 'status', 'lease'];

/** The configuration of one stream of the contract, as domainmgr creates it (and `domainctl streams` prints it). */
export function contractStreamConfig(
  prefix: string,
  kind: StreamKind,
  replicas = 1,
): Partial<StreamConfig> & { name: string } {
  return {
    name: streamName(prefix, kind),
    // On a JetStream cluster: how many servers keep a copy (3 survives the loss of one server).
    num_replicas: replicas,
    subjects: streamSubjects(prefix, kind),
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    // Last value wins, like a KV bucket: the stream holds current state, not history.
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.Old,
    // Operators and tools read the current value of one subject without a consumer.
    allow_direct: true,
  };
}

async function ensureOne(
  jsm: JetStreamManager,
  wanted: Partial<StreamConfig> & { name: string },
  manage: boolean,
  log: Logger,
): Promise<void> {
  let info = await streamInfo(jsm, wanted.name);
  if (info === null) {
    if (!manage)
      throw new StreamMissingError(
        `stream ${wanted.name} does not exist and nats.manageStreams is false: create it with ` +
          `subjects ${JSON.stringify(wanted.subjects)}, file storage, limits retention and ` +
          `max messages per subject 1`,
        wanted.name,
      );
    try {
      info = await jsm.streams.add(wanted);
      log.info(
        { stream: wanted.name, subjects: wanted.subjects, replicas: wanted.num_replicas },
        'created stream',
      );
    } catch (err) {
      // Another node may have created it in between: then it is checked like any existing one.
      info = await streamInfo(jsm, wanted.name);
      if (info === null)
        throw new StreamError(`cannot create stream ${wanted.name}: ${describeError(err)}`, wanted.name, {
          cause: err,
        });
    }
  }
  const problems = streamProblems(info, wanted.subjects ?? []);
  // The lease is read by a direct get on its own subject, the only read the node role may make of it.
  if (wanted.name.endsWith('_LEASE') && info.config.allow_direct !== true)
    problems.push('allow_direct is off (the lease is read with a direct get)');
  if (problems.length > 0) throw new StreamIncompatibleError(wanted.name, problems);
  log.debug({ stream: wanted.name, messages: info.state.messages }, 'stream checked');
}

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | null> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return null;
    throw new StreamError(`cannot read stream ${name}: ${describeError(err)}`, name, { cause: err });
  }
}

/**
 * What about an existing stream breaks the contract. Extra subjects and settings that do not
 * change what is kept (replicas, placement, direct get, size limits with discard new) are
 * accepted: they are the operator's choice.
 */
function streamProblems(info: StreamInfo, requiredSubjects: string[]): string[] {
  const c = info.config;
  const problems: string[] = [];
  const have = new Set(c.subjects ?? []);
  const missing = requiredSubjects.filter((s) => !have.has(s));
  if (missing.length > 0)
    problems.push(`does not capture ${missing.join(', ')} (captures ${JSON.stringify(c.subjects ?? [])})`);
  if (c.retention !== RetentionPolicy.Limits)
    problems.push(`retention is ${c.retention}, must be limits (any other drops messages once consumed)`);
  if (c.storage !== StorageType.File)
    problems.push(`storage is ${c.storage}, must be file (state must survive a server restart)`);
  if (c.max_msgs_per_subject !== 1)
    problems.push(
      `max_msgs_per_subject is ${c.max_msgs_per_subject}, must be 1 (the last value per subject)`,
    );
  if (c.max_age > 0) problems.push(`max_age is ${c.max_age} ns, must be 0 (current state must not expire)`);
  if (c.discard === DiscardPolicy.Old && (c.max_msgs > 0 || c.max_bytes > 0))
    problems.push(
      `max_msgs ${c.max_msgs} / max_bytes ${c.max_bytes} with discard old would silently evict current state; ` +
        `use discard new or no limit`,
    );
  if (c.sealed) problems.push('is sealed (takes no new messages)');
  return problems;
}
