import { stringify as yamlStringify } from 'yaml';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { NodeStatus } from '../../types/generated/node-status.js';

/**
 * domainctl's output, as pure functions of the statuses and the current time: kubectl-like
 * tables, one-line change descriptions for `watch`, JSON and YAML. Everything here is tested
 * by table tests (test/domainctl/format.test.ts).
 */

export type OutputFormat = 'table' | 'json' | 'yaml';

/** Left-aligned columns separated by three spaces, like kubectl; the last column is not padded. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** kubectl's age: 45s, 3m12s (under 10 min), 42m, 5h3m (under 10 h), 17h, 3d4h (under 10 d), 12d, 2y45d. */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return '<unknown>';
  if (ms < 0) return '0s';
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (s < 60) return `${s}s`;
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (h < 1) return `${m}m`;
  if (h < 10) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (d < 1) return `${h}h`;
  if (d < 10) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365) return `${d}d`;
  const y = Math.floor(d / 365);
  return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
}

function ageSince(iso: string | null | undefined, now: number): string {
  if (iso === null || iso === undefined) return '-';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '<unknown>' : formatAge(now - t);
}

/** Memory in MiB as kubectl-style binary units: 512Mi, 1.5Gi, 2Ti. */
export function formatMiB(mib: number): string {
  if (!Number.isFinite(mib)) return '-';
  if (mib < 1024) return `${Math.round(mib)}Mi`;
  const units = ['Gi', 'Ti', 'Pi'];
  let v = mib / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const text = v >= 100 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, '');
  return `${text}${units[u]}`;
}

/** One line of free text: newlines folded, cut to `max` characters with an ellipsis. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, Math.max(0, max - 3))}...`;
}

export const DOMAIN_COLUMNS = ['NODE', 'NAME', 'UUID', 'STATE', 'GEN', 'DOMID', 'RESTARTS', 'AGE', 'ERROR'];

/**
 * The `get` table. AGE is how long the domain has been in its STATE (since lastTransitionTime);
 * ERROR is the error's message on one line, cut to `errorWidth`.
 */
export function domainTable(statuses: readonly DomainStatus[], now: number, errorWidth = 60): string {
  const rows = statuses.map((s) => [
    s.nodeId,
    s.name,
    s.uuid,
    s.state,
    String(s.observedGeneration),
    s.domainId === null ? '-' : String(s.domainId),
    String(s.restartCount),
    ageSince(s.lastTransitionTime, now),
    s.error === null ? '' : oneLine(s.error.message, errorWidth),
  ]);
  return renderTable(DOMAIN_COLUMNS, rows);
}

export const NODE_COLUMNS = ['NODE', 'BACKEND', 'READY', 'DOMAINS', 'FREE MEM', 'VERSION', 'AGE'];

/** The contract's states in lifecycle order, for the DOMAINS column. */
const STATE_ORDER = [
  'RUNNING',
  'PAUSED',
  'BOOTING',
  'CREATING',
  'PENDING',
  'HALTING',
  'HALTED',
  'BROKEN',
  'REJECTED',
  'DELETING',
  'DELETED',
];

/** "3 RUNNING, 1 BROKEN": non-zero counts in lifecycle order; DELETED is left out; "-" for none. */
export function domainCounts(domains: Record<string, number>): string {
  const known = STATE_ORDER.filter((s) => s !== 'DELETED' && (domains[s] ?? 0) > 0);
  const other = Object.keys(domains)
    .filter((s) => !STATE_ORDER.includes(s) && (domains[s] ?? 0) > 0)
    .sort();
  const parts = [...known, ...other].map((s) => `${domains[s]} ${s}`);
  return parts.length === 0 ? '-' : parts.join(', ');
}

/**
 * READY as kubectl says it: Ready, NotReady, or Unknown when the node's last NodeStatus is older
 * than `staleAfterMs` (a node publishes one every nodeStatusInterval, 30 s by default, so a much
 * older one means the node or its domainmgr is gone). AGE is the domainmgr's uptime (startedAt).
 */
export function nodeTable(nodes: readonly NodeStatus[], now: number, staleAfterMs: number): string {
  const rows = nodes.map((n) => [
    n.nodeId,
    n.backend,
    readiness(n, now, staleAfterMs),
    domainCounts(n.domains),
    formatMiB(n.host.freeMemoryMiB),
    n.version,
    ageSince(n.startedAt, now),
  ]);
  return renderTable(NODE_COLUMNS, rows);
}

export function readiness(n: NodeStatus, now: number, staleAfterMs: number): string {
  const updated = Date.parse(n.updatedAt);
  if (Number.isNaN(updated) || now - updated > staleAfterMs) return `Unknown (${ageSince(n.updatedAt, now)})`;
  return n.ready ? 'Ready' : 'NotReady';
}

/** The part of a status a watch line shows; two statuses with the same key print the same line. */
export function changeKey(s: DomainStatus): string {
  return JSON.stringify([
    s.state,
    s.observedGeneration,
    s.domainId,
    s.restartCount,
    s.error?.message ?? null,
    s.pendingChanges,
    s.name,
  ]);
}

/**
 * One human-readable line for a status, as `watch` and `--wait` print it:
 * `2026-01-02T03:04:05Z  edge-1/web1  RUNNING  gen 3  domid 7` followed, where they apply, by
 * `restarts N`, `pending: memoryMiB,vcpus` and `error (source): message`.
 */
export function statusLine(s: DomainStatus, options: { time?: Date; withNode?: boolean } = {}): string {
  const parts: string[] = [];
  if (options.time !== undefined) parts.push(options.time.toISOString().replace(/\.\d{3}Z$/, 'Z'));
  parts.push(options.withNode === false ? s.name : `${s.nodeId}/${s.name}`);
  parts.push(s.state.padEnd(8));
  parts.push(`gen ${s.observedGeneration}`);
  if (s.domainId !== null) parts.push(`domid ${s.domainId}`);
  if (s.restartCount > 0) parts.push(`restarts ${s.restartCount}`);
  if (s.pendingChanges.length > 0) parts.push(`pending: ${s.pendingChanges.join(',')}`);
  if (s.error !== null) {
    const retry = s.error.retryAt === undefined ? '' : ` (retry at ${s.error.retryAt})`;
    parts.push(`error (${s.error.source}): ${oneLine(s.error.message, 200)}${retry}`);
  }
  return parts.join('  ');
}

/** JSON for humans (indented) or YAML. */
export function renderData(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) : yamlStringify(value).trimEnd();
}

/** Sorts statuses by node, then name, then uuid: stable output for tables and scripts. */
export function byNodeAndName<T extends { nodeId: string; name?: string; uuid?: string }>(
  a: T,
  b: T,
): number {
  return (
    a.nodeId.localeCompare(b.nodeId) ||
    (a.name ?? '').localeCompare(b.name ?? '') ||
    (a.uuid ?? '').localeCompare(b.uuid ?? '')
  );
}
