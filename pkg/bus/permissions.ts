import { isValidNodeId, nodeSubjects, SubjectError, streamName } from './subjects.js';

/**
 * The least NATS permissions of each role of the contract (v1.1 "Roles"), as one pure function of
 * the prefix, the role and its nodes. docs/security.md explains each entry; `domainctl
 * permissions` prints them; test/security proves them on a real nats-server.
 *
 * - node: consumes its own node's configs through its own durable consumer, publishes its own
 *   statuses and NodeStatus, reads and writes its own lease record, reads the stream infos; needs `nats.manageStreams: false` (an
 *   administrator creates the streams).
 * - controller: publishes configs (of every node, or of the nodes given), reads the configs it may
 *   publish and every status.
 * - operator: reads every config and status; publishes nothing of the contract.
 */

export type Role = 'node' | 'controller' | 'operator';

export const ROLES: readonly Role[] = ['node', 'controller', 'operator'];

export interface SubjectRules {
  allow: string[];
  deny: string[];
}

/** The shape of a nats-server `permissions` block and of `domainctl permissions -o json`. */
export interface PermissionSet {
  publish: SubjectRules;
  subscribe: SubjectRules;
}

/** The durable consumer a node's config feed uses (pkg/bus/config-feed.ts). */
export function nodeConsumerName(nodeId: string): string {
  return `domainmgr-${nodeId}`;
}

/**
 * Where domainmgr's replies arrive (JetStream API answers, pulled configs, publish acks):
 * `_INBOX.<prefix>.node.<nodeId>.<random>`. A node may subscribe to its own inboxes only, so it
 * cannot read the configs pulled by another node (which travel to that node's inbox).
 */
export function nodeInboxPrefix(prefix: string, nodeId: string): string {
  return `_INBOX.${prefix}.node.${nodeId}`;
}

/** Where domainctl's replies arrive: `_INBOX.<prefix>.ctl.<random>` (controllers and operators). */
export function ctlInboxPrefix(prefix: string): string {
  return `_INBOX.${prefix}.ctl`;
}

const API = '$JS.API';

/**
 * The JetStream API subjects that read one stream's messages through consumers of one's own.
 * `whole`: the filters cover the whole stream, so reads that name no subject (a message by
 * sequence) are allowed too.
 */
function readStream(
  stream: string,
  filters: readonly string[],
  deleteConsumers: boolean,
  whole: boolean,
): string[] {
  return [
    `${API}.STREAM.INFO.${stream}`,
    // 2.9+ create form: the filter is part of the subject (the server checks it against the
    // request), so the filter a reader may use is enforced here. The forms without the filter
    // token (CONSUMER.CREATE.<stream>, CONSUMER.DURABLE.CREATE) are never allowed.
    ...filters.map((f) => `${API}.CONSUMER.CREATE.${stream}.*.${f}`),
    `${API}.CONSUMER.INFO.${stream}.*`,
    `${API}.CONSUMER.MSG.NEXT.${stream}.*`,
    ...(deleteConsumers ? [`${API}.CONSUMER.DELETE.${stream}.*`] : []),
    ...(whole ? [`${API}.STREAM.MSG.GET.${stream}`, `${API}.DIRECT.GET.${stream}`] : []),
    ...filters.map((f) => `${API}.DIRECT.GET.${stream}.${f}`),
  ];
}

/**
 * The permission set of `role` under `prefix`. `nodes`: for `node` exactly one node id; for
 * `controller` the nodes it may publish configs to (empty: every node); `operator` takes none.
 * Throws SubjectError for an invalid prefix or node id, or nodes that do not fit the role.
 */
export function rolePermissions(prefix: string, role: Role, nodes: readonly string[] = []): PermissionSet {
  const config = streamName(prefix, 'config');
  const status = streamName(prefix, 'status');
  const lease = streamName(prefix, 'lease');
  for (const n of nodes)
    if (!isValidNodeId(n))
      throw new SubjectError(`invalid node id ${JSON.stringify(n)}: must match [A-Za-z0-9_-]{1,64}`);
  const unique = [...new Set(nodes)];
  const everyStatus = [`${prefix}.*.status.*`, `${prefix}.*.node`];
  switch (role) {
    case 'node': {
      if (unique.length !== 1) throw new SubjectError('the node role needs exactly one node id (--node ID)');
      const s = nodeSubjects(prefix, unique[0] as string);
      const consumer = nodeConsumerName(s.nodeId);
      return {
        publish: {
          allow: [
            `${prefix}.${s.nodeId}.status.*`,
            s.node,
            `${API}.INFO`,
            `${API}.STREAM.INFO.${config}`,
            `${API}.STREAM.INFO.${status}`,
            // The lease (pkg/bus/lease.ts): its own record only, written with compare-and-set and
            // read with a direct get that names its subject.
            s.lease,
            `${API}.STREAM.INFO.${lease}`,
            `${API}.DIRECT.GET.${lease}.${s.lease}`,
            `${API}.CONSUMER.CREATE.${config}.${consumer}.${s.configFilter}`,
            `${API}.CONSUMER.INFO.${config}.${consumer}`,
            `${API}.CONSUMER.DELETE.${config}.${consumer}`,
            `${API}.CONSUMER.MSG.NEXT.${config}.${consumer}`,
            `$JS.ACK.${config}.${consumer}.>`,
          ],
          deny: [`${prefix}.*.config.*`],
        },
        // The lease subject too: a standby hears a release at once.
        subscribe: { allow: [`${nodeInboxPrefix(prefix, s.nodeId)}.>`, s.lease], deny: [] },
      };
    }
    case 'controller': {
      const configs =
        unique.length === 0
          ? [`${prefix}.*.config.*`]
          : unique.map((n) => nodeSubjects(prefix, n).configFilter);
      return {
        publish: {
          allow: [
            ...configs,
            `${API}.INFO`,
            ...readStream(config, configs, false, unique.length === 0),
            ...readStream(status, everyStatus, true, true),
          ],
          deny: [...everyStatus, `${API}.CONSUMER.DELETE.${config}.*`],
        },
        subscribe: { allow: [`${ctlInboxPrefix(prefix)}.>`, ...everyStatus, ...configs], deny: [] },
      };
    }
    case 'operator': {
      if (unique.length > 0)
        throw new SubjectError('the operator role reads the whole fleet: it takes no --node');
      const configs = [`${prefix}.*.config.*`];
      return {
        publish: {
          allow: [
            `${API}.INFO`,
            ...readStream(config, configs, false, true),
            ...readStream(status, everyStatus, true, true),
          ],
          deny: [`${prefix}.>`, `${API}.CONSUMER.DELETE.${config}.*`],
        },
        subscribe: { allow: [`${ctlInboxPrefix(prefix)}.>`, ...everyStatus, ...configs], deny: [] },
      };
    }
  }
}

/** A nats-server `permissions { ... }` block (static users in a server configuration). */
export function serverPermissionsBlock(p: PermissionSet, indent = ''): string {
  const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;
  const rules = (name: string, r: SubjectRules) => [
    `${indent}  ${name} {`,
    `${indent}    allow: ${list(r.allow)}`,
    ...(r.deny.length > 0 ? [`${indent}    deny: ${list(r.deny)}`] : []),
    `${indent}  }`,
  ];
  return [
    `${indent}permissions {`,
    ...rules('publish', p.publish),
    ...rules('subscribe', p.subscribe),
    `${indent}}`,
  ].join('\n');
}
