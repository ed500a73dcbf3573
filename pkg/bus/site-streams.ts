import type { StreamConfig, StreamInfo } from '@nats-io/jetstream';
import { isSubjectToken, nodeSubjects, type StreamKind, SubjectError, streamName } from './subjects.js';

/**
 * The offline-edge topology (docs/fleet.md): a hub with JetStream domain `hub`, and per site a
 * leaf nats-server with a JetStream domain of its own. On the leaf:
 *
 * - `<PREFIX>_CONFIG` is a mirror of the hub's config stream, filtered on the node's config
 *   subjects (`$JS.<hub>.API` is the hub's JetStream API as the leaf reaches it). The node keeps
 *   its whole desired state while the uplink is down, and the mirror catches up when it returns.
 *   A mirror copies messages, not deletions of messages: a domain is deleted by the contract's
 *   empty payload, which is a message like any other and is mirrored like one.
 * - `<PREFIX>_STATUS` and `<PREFIX>_LEASE` are the leaf's own streams, as on any server; the hub's
 *   status stream gathers each leaf's status stream as a source.
 *
 * These pure functions say what those streams look like and what about an existing one breaks
 * the topology. pkg/bus/streams.ts calls them; `deploy/nats/` holds the same as files.
 */

/** Where a node sits when it talks to a site's leaf server rather than to the hub. */
export interface SiteOptions {
  /** The hub's JetStream domain, as the leaf reaches it (`$JS.<hubDomain>.API`). */
  hubDomain: string;
  /** The node whose configs the leaf's mirror holds. */
  nodeId: string;
}

/** A JetStream domain name: one subject token (it becomes `$JS.<domain>.API`). */
export function isValidJsDomain(domain: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(domain) && isSubjectToken(domain);
}

/** `$JS.<domain>.API`: a JetStream domain's API prefix as seen from another domain. */
export function jsApiPrefix(domain: string): string {
  if (!isValidJsDomain(domain))
    throw new SubjectError(
      `invalid JetStream domain ${JSON.stringify(domain)}: must match [A-Za-z0-9_-]{1,64}`,
    );
  return `$JS.${domain}.API`;
}

/**
 * The leaf's config stream: the hub's config stream mirrored, restricted to one node's configs,
 * with the contract's settings (`contract`: retention, storage, one message per subject). It has no
 * subjects of its own (a mirror takes no publishes).
 */
export function siteConfigMirror(
  prefix: string,
  contract: Partial<StreamConfig> & { name: string },
  site: SiteOptions,
): Partial<StreamConfig> & { name: string } {
  const { subjects: _none, ...settings } = contract;
  return {
    ...settings,
    mirror: {
      name: streamName(prefix, 'config'),
      external: { api: jsApiPrefix(site.hubDomain), deliver: '' },
      filter_subject: nodeSubjects(prefix, site.nodeId).configFilter,
    },
  };
}

/**
 * The hub's status stream: its own nodes' subjects (nodes connected to the hub directly) and every
 * site's status stream as a source, so the hub holds the newest status of every domain of the
 * fleet. A source copies in the leaf's stream order, which is the order the node published in:
 * an older status of a domain never lands after a newer one. That holds only if the site's
 * statuses reach the hub by the source alone: the leaf connection must not carry `<prefix>.>`
 * (deploy/nats/leaf-site.conf denies it both ways), else a status would also be captured directly.
 */
export function hubStatusStream(
  prefix: string,
  own: Partial<StreamConfig> & { name: string },
  siteDomains: readonly string[],
): Partial<StreamConfig> & { name: string } {
  return {
    ...own,
    sources: siteDomains.map((d) => ({
      name: streamName(prefix, 'status'),
      external: { api: jsApiPrefix(d), deliver: '' },
    })),
  };
}

/**
 * What about a stream breaks the site topology, or the contract where the stream is a mirror (its
 * other settings are checked like any stream's; the subjects only where it is not a mirror).
 * `site` undefined: a node talking to the hub or a single server, which still accepts a mirrored
 * config stream that holds its configs (an operator may set one up without telling the node).
 */
export function mirrorProblems(
  prefix: string,
  kind: StreamKind,
  info: StreamInfo,
  site: SiteOptions | undefined,
  nodeId: string | undefined,
): string[] {
  const mirror = info.config.mirror;
  if (kind !== 'config')
    return mirror
      ? [`is a mirror of ${mirror.name}, but domainmgr publishes to it (a mirror takes no publishes)`]
      : [];
  const wantedName = streamName(prefix, 'config');
  if (!mirror)
    return site === undefined
      ? []
      : [
          `is not a mirror of the hub's ${wantedName} (${jsApiPrefix(site.hubDomain)}): ` +
            'configs published at the hub would never reach this node',
        ];
  const problems: string[] = [];
  if (mirror.name !== wantedName) problems.push(`mirrors ${mirror.name}, must mirror ${wantedName}`);
  const api = mirror.external?.api;
  if (site !== undefined && api !== jsApiPrefix(site.hubDomain))
    problems.push(
      `mirrors through ${api === undefined || api === '' ? 'its own domain' : api}, must mirror through ${jsApiPrefix(site.hubDomain)} (the hub)`,
    );
  const filter = mirror.filter_subject ?? '';
  const node = site?.nodeId ?? nodeId;
  // Without a node (domainctl), a mirror of any one node's configs is a config stream too.
  const oneNode =
    filter.startsWith(`${prefix}.`) && /^[^.]+\.config\.\*$/.test(filter.slice(prefix.length + 1));
  const covering = [
    '',
    `${prefix}.*.config.*`,
    `${prefix}.>`,
    ...(node === undefined ? [] : [`${prefix}.${node}.config.*`]),
  ];
  if (!covering.includes(filter) && !(node === undefined && oneNode))
    problems.push(
      `mirror filter ${filter} leaves out ${node === undefined ? 'the configs' : `node ${node}'s configs`} (${prefix}.${node ?? '<node>'}.config.*)`,
    );
  return problems;
}
