/**
 * The subject and stream names of the wire contract (docs/contract.md says where it is kept), as
 * pure functions:
 *
 *   <prefix>.<nodeId>.config.<uuid>   controller -> node, DomainConfig (empty payload = delete)
 *   <prefix>.<nodeId>.status.<uuid>   node -> everyone, DomainStatus
 *   <prefix>.<nodeId>.node            node -> everyone, NodeStatus
 *   <prefix>.<nodeId>.lease           node -> node, which agent acts for the node (pkg/bus/lease.ts)
 *
 * The prefix may span several tokens (`acme.edge`), so that fleets can share an account; the
 * node id and the uuid are one token each.
 */

import { isDomainUuid } from '../schema/uuid.js';

/** A prefix, node id or uuid that cannot be used in a subject. */
export class SubjectError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The contract's node id syntax: one subject token, no dots. */
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * What NATS accepts as a literal subject token: not empty, no wildcard, no separator, no
 * whitespace or control character.
 */
const TOKEN = /^[^\s.*>\p{Cc}]+$/u;

export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID.test(nodeId);
}

/** A lower-case RFC 4122 uuid: the contract's domain uuid (the schema's definition). */
export const isValidUuid: (uuid: string) => boolean = isDomainUuid;

/** True when `token` can stand as one literal token of a subject. */
export function isSubjectToken(token: string): boolean {
  return TOKEN.test(token);
}

function checkPrefix(prefix: string): void {
  if (!prefix.split('.').every(isSubjectToken))
    throw new SubjectError(
      `invalid subject prefix ${JSON.stringify(prefix)}: tokens must be non-empty, without wildcards or whitespace`,
    );
}

/**
 * A stream name derived from the prefix: upper-cased, every character other than A-Z and 0-9
 * replaced by `_`. Different prefixes can map to one name (`a.b` and `a_b`); the stream check
 * then fails on the subjects, so such a clash is caught at start rather than silently shared.
 */
export type StreamKind = 'config' | 'status' | 'lease';

export function streamName(prefix: string, kind: StreamKind): string {
  checkPrefix(prefix);
  return `${prefix.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${kind.toUpperCase()}`;
}

/** The subjects one stream must capture, by the contract. */
export function streamSubjects(prefix: string, kind: StreamKind): string[] {
  checkPrefix(prefix);
  switch (kind) {
    case 'config':
      return [`${prefix}.*.config.*`];
    case 'status':
      return [`${prefix}.*.status.*`, `${prefix}.*.node`];
    case 'lease':
      return [`${prefix}.*.lease`];
  }
}

/** `<prefix>.<nodeId>.lease`: the node's lease record (pkg/bus/lease.ts). */
export function leaseSubject(prefix: string, nodeId: string): string {
  return nodeSubjects(prefix, nodeId).lease;
}

/** Every subject one node uses, built once and checked once. */
export interface NodeSubjects {
  readonly prefix: string;
  readonly nodeId: string;
  /** `<prefix>.<nodeId>.config.*`: the feed's consumer filter. */
  readonly configFilter: string;
  /** `<prefix>.<nodeId>.node`. */
  readonly node: string;
  /** `<prefix>.<nodeId>.lease`: the node's lease record. */
  readonly lease: string;
  /** `<prefix>.<nodeId>.config.<uuid>`; throws SubjectError when uuid is not one literal token. */
  config(uuid: string): string;
  /** `<prefix>.<nodeId>.status.<uuid>`; throws SubjectError when uuid is not one literal token. */
  status(uuid: string): string;
}

/** Throws SubjectError when the prefix or the node id cannot be used. */
export function nodeSubjects(prefix: string, nodeId: string): NodeSubjects {
  checkPrefix(prefix);
  if (!isValidNodeId(nodeId))
    throw new SubjectError(`invalid node id ${JSON.stringify(nodeId)}: must match ${NODE_ID.source}`);
  const base = `${prefix}.${nodeId}`;
  const leaf = (kind: string, uuid: string): string => {
    // Any single token is accepted, not only a valid uuid: which uuids get a status is the
    // engine's decision (it ignores a config whose subject does not end in a uuid).
    if (!isSubjectToken(uuid))
      throw new SubjectError(`invalid domain uuid ${JSON.stringify(uuid)}: not a single subject token`);
    return `${base}.${kind}.${uuid}`;
  };
  return {
    prefix,
    nodeId,
    configFilter: `${base}.config.*`,
    node: `${base}.node`,
    lease: `${base}.lease`,
    config: (uuid) => leaf('config', uuid),
    status: (uuid) => leaf('status', uuid),
  };
}

export type ParsedSubject =
  | { kind: 'config' | 'status'; nodeId: string; uuid: string; validUuid: boolean }
  | { kind: 'node'; nodeId: string };

/**
 * Reads a subject of the contract under `prefix`; null for any other subject. The uuid token is
 * returned as it is, with `validUuid` telling whether it is a lower-case RFC 4122 uuid: deciding
 * what to do with a bad one is the engine's business (it logs it and publishes no status).
 */
export function parseSubject(prefix: string, subject: string): ParsedSubject | null {
  if (!subject.startsWith(`${prefix}.`)) return null;
  const rest = subject.slice(prefix.length + 1).split('.');
  const [nodeId, kind, uuid] = rest;
  if (nodeId === undefined || !isValidNodeId(nodeId)) return null;
  if (rest.length === 2 && kind === 'node') return { kind: 'node', nodeId };
  if (rest.length === 3 && (kind === 'config' || kind === 'status') && uuid !== undefined && uuid !== '')
    return { kind, nodeId, uuid, validUuid: isValidUuid(uuid) };
  return null;
}
