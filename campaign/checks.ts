import type { LedgerEntry } from '../pkg/reconcile/ledger.js';
import type { DomainConfig } from '../types/generated/domain-config.js';
import type { DomainStatus } from '../types/generated/domain-status.js';

/**
 * The campaign's invariants, as pure functions of what the host, the NATS streams and the ledger
 * hold at one moment. Each check returns its violations (empty: it holds); a kept orphan is not a
 * violation but is reported. Nothing here reads a file or a stream: the driver gathers a Snapshot.
 */

/** A guest as the simulated hypervisor lists it (`simctl state`, Domain-0 left out). */
export interface HostDomain {
  uuid: string;
  name: string;
  domid: number;
  paused: boolean;
  /** The guest has shut down (still listed until destroyed). */
  shutDown: boolean;
  /** Balloon target, MiB. */
  memoryMiB: number;
  /** BDFs passed through to it. */
  pci: string[];
}

export interface HostPciDevice {
  bdf: string;
  /** Bound to pciback (xl pci-assignable-add). */
  assignable: boolean;
  /** The domid holding it, null when none. */
  assignedTo: number | null;
}

export interface HostListing {
  domains: HostDomain[];
  pci: HostPciDevice[];
}

/** The config stream's last message of a uuid: the config, or null for a delete (empty payload). */
export interface DesiredRecord {
  seq: number;
  config: DomainConfig | null;
}

export interface Snapshot {
  host: HostListing;
  /** Last config stream message per uuid the controller ever published. */
  desired: ReadonlyMap<string, DesiredRecord>;
  /** Last status stored in the status stream per uuid (absent: none stored). */
  stored: ReadonlyMap<string, DomainStatus>;
  /** Every status received on the status subjects per uuid, in order of arrival. */
  history: ReadonlyMap<string, readonly DomainStatus[]>;
  /** The ledger's entries (its journal folded). */
  ledger: ReadonlyMap<string, LedgerEntry>;
  orphanPolicy: 'destroy' | 'keep';
}

export interface Violation {
  check: CheckName;
  uuid?: string;
  detail: string;
}

export type CheckName =
  | 'final-state'
  | 'unique-uuid'
  | 'orphan'
  | 'pci'
  | 'ledger'
  | 'acked-acted-on'
  | 'generation-monotonic';

const sortedBdfs = (bdfs: readonly string[]): string =>
  [...bdfs]
    .map((b) => b.toLowerCase())
    .sort()
    .join(',');

/** The host domains of `uuid`. */
function onHost(host: HostListing, uuid: string): HostDomain[] {
  return host.domains.filter((d) => d.uuid === uuid);
}

/**
 * Every domain's state on the host matches its last desired config: active -> one live domain
 * with the desired name, memory, pause state and PCI devices; halted or deleted -> none.
 */
export function checkFinalState(s: Snapshot): Violation[] {
  const out: Violation[] = [];
  const v = (uuid: string, detail: string) => out.push({ check: 'final-state', uuid, detail });
  for (const [uuid, { config }] of s.desired) {
    const doms = onHost(s.host, uuid);
    if (config === null || !config.activate) {
      if (doms.length > 0)
        v(
          uuid,
          `${config === null ? 'deleted' : 'halted'} but on the host as domid ${doms.map((d) => d.domid)}`,
        );
      continue;
    }
    const [d] = doms;
    if (d === undefined) {
      v(uuid, 'active in its config but not on the host');
      continue;
    }
    if (d.shutDown) v(uuid, `domid ${d.domid} has shut down`);
    if (d.name !== config.name) v(uuid, `name ${d.name} on the host, ${config.name} desired`);
    if (d.memoryMiB !== config.memoryMiB)
      v(uuid, `memory ${d.memoryMiB} MiB on the host, ${config.memoryMiB} desired`);
    const paused = config.paused ?? false;
    if (d.paused !== paused)
      v(uuid, `${d.paused ? 'paused' : 'unpaused'} on the host, paused=${paused} desired`);
    const want = sortedBdfs((config.pciDevices ?? []).map((p) => p.bdf));
    if (sortedBdfs(d.pci) !== want) v(uuid, `PCI [${sortedBdfs(d.pci)}] on the host, [${want}] desired`);
  }
  return out;
}

/** No uuid names two domains on the host. */
export function checkUniqueUuid(s: Snapshot): Violation[] {
  const byUuid = new Map<string, number[]>();
  for (const d of s.host.domains) byUuid.set(d.uuid, [...(byUuid.get(d.uuid) ?? []), d.domid]);
  return [...byUuid]
    .filter(([, ids]) => ids.length > 1)
    .map(([uuid, ids]) => ({
      check: 'unique-uuid',
      uuid,
      detail: `domids ${ids.join(', ')} share the uuid`,
    }));
}

/**
 * No domain of ours (one the ledger knows) is on the host without any config. Under orphanPolicy keep such a domain is allowed: returned in `kept`.
 */
export function checkOrphans(s: Snapshot): { violations: Violation[]; kept: Violation[] } {
  const violations: Violation[] = [];
  const kept: Violation[] = [];
  for (const d of s.host.domains) {
    // A uuid with a config (a delete too) is judged by the final-state check.
    if (!s.ledger.has(d.uuid) || s.desired.has(d.uuid)) continue;
    const o: Violation = {
      check: 'orphan',
      uuid: d.uuid,
      detail: `domid ${d.domid} (${d.name}) has no config`,
    };
    (s.orphanPolicy === 'keep' ? kept : violations).push(o);
  }
  return { violations, kept };
}

/** No PCI device is held by two domains, and none is left assignable (pciback) while unused. */
export function checkPci(s: Snapshot): Violation[] {
  const out: Violation[] = [];
  const holders = new Map<string, number[]>();
  for (const d of s.host.domains)
    for (const b of d.pci) holders.set(b.toLowerCase(), [...(holders.get(b.toLowerCase()) ?? []), d.domid]);
  for (const [bdf, ids] of holders)
    if (ids.length > 1) out.push({ check: 'pci', detail: `${bdf} held by domids ${ids.join(', ')}` });
  for (const dev of s.host.pci) {
    const held = holders.has(dev.bdf.toLowerCase()) || dev.assignedTo !== null;
    if (dev.assignable && !held) out.push({ check: 'pci', detail: `${dev.bdf} left assignable and unused` });
  }
  return out;
}

/**
 * The ledger agrees with the host: a domain of ours on the host has an entry naming the spec it
 * runs (name and PCI devices as on the host); an entry that says a domain is built names one that
 * is there; a deleted uuid has no entry.
 */
export function checkLedger(s: Snapshot): Violation[] {
  const out: Violation[] = [];
  const v = (uuid: string, detail: string) => out.push({ check: 'ledger', uuid, detail });
  for (const d of s.host.domains) {
    const e = s.ledger.get(d.uuid);
    if (e === undefined) {
      if (s.desired.has(d.uuid)) v(d.uuid, `domid ${d.domid} is on the host but not in the ledger`);
      continue;
    }
    if (e.runningSpec === null) {
      v(d.uuid, `domid ${d.domid} is on the host, the ledger says none is built (phase ${e.phase})`);
      continue;
    }
    if (e.runningSpec.name !== d.name) v(d.uuid, `ledger name ${e.runningSpec.name}, host ${d.name}`);
    const want = sortedBdfs(e.runningSpec.pciDevices.map((p) => p.bdf));
    if (want !== sortedBdfs(d.pci)) v(d.uuid, `ledger PCI [${want}], host [${sortedBdfs(d.pci)}]`);
  }
  for (const [uuid, e] of s.ledger) {
    if (e.runningSpec !== null && e.phase === 'created' && onHost(s.host, uuid).length === 0)
      v(uuid, 'the ledger has a created domain the host does not');
    if (s.desired.get(uuid)?.config === null)
      v(uuid, `deleted, but the ledger keeps an entry (phase ${e.phase})`);
  }
  return out;
}

/**
 * Every config the stream acknowledged was acted on: the stored status reflects its generation
 * (a delete: DELETED), without an error, and the counters it raised were carried out.
 */
export function checkAckedActedOn(s: Snapshot): Violation[] {
  const out: Violation[] = [];
  const v = (uuid: string, detail: string) => out.push({ check: 'acked-acted-on', uuid, detail });
  for (const [uuid, { seq, config }] of s.desired) {
    const st = s.stored.get(uuid);
    if (config === null) {
      if (st !== undefined && st.state !== 'DELETED')
        v(uuid, `delete (seq ${seq}) stored, status says ${st.state}`);
      continue;
    }
    if (st === undefined) {
      v(uuid, `config generation ${config.generation} (seq ${seq}) has no status`);
      continue;
    }
    if (st.observedGeneration !== config.generation)
      v(
        uuid,
        `config generation ${config.generation} (seq ${seq}), status observed ${st.observedGeneration}`,
      );
    const want = !config.activate ? ['HALTED'] : config.paused ? ['PAUSED'] : ['RUNNING'];
    if (!want.includes(st.state)) v(uuid, `status ${st.state}, config asks for ${want.join('|')}`);
    if (st.error !== null) v(uuid, `status carries an error: ${st.error.message}`);
    const e = s.ledger.get(uuid);
    if (config.activate && e !== undefined) {
      // A counter below the one acted on is a count started over (domainmgr takes it as acted on
      // when it next writes the entry); one above was raised and not carried out.
      if (e.restartCounter < (config.restartCounter ?? 0))
        v(uuid, `restartCounter ${config.restartCounter ?? 0} desired, ledger acted on ${e.restartCounter}`);
      if (e.purgeCounter < (config.purgeCounter ?? 0))
        v(uuid, `purgeCounter ${config.purgeCounter ?? 0} desired, ledger acted on ${e.purgeCounter}`);
    }
  }
  return out;
}

/** observedGeneration never goes backwards among the statuses received for a uuid. */
export function checkGenerationMonotonic(s: Snapshot): Violation[] {
  const out: Violation[] = [];
  for (const [uuid, statuses] of s.history) {
    let high = 0;
    for (const [i, st] of statuses.entries()) {
      if (st.observedGeneration < high) {
        out.push({
          check: 'generation-monotonic',
          uuid,
          detail: `status #${i} (${st.state}) observed ${st.observedGeneration} after ${high}`,
        });
        break;
      }
      high = st.observedGeneration;
    }
  }
  return out;
}

export interface CheckReport {
  violations: Violation[];
  /** Domains kept under orphanPolicy keep: allowed, reported. */
  keptOrphans: Violation[];
}

/**
 * The checks of the state reached (all but the history check): they hold once the node has
 * converged, so a driver polls them until they do.
 */
export function checkConverged(s: Snapshot): CheckReport {
  const orphans = checkOrphans(s);
  return {
    violations: [
      ...checkFinalState(s),
      ...checkUniqueUuid(s),
      ...orphans.violations,
      ...checkPci(s),
      ...checkLedger(s),
      ...checkAckedActedOn(s),
    ],
    keptOrphans: orphans.kept,
  };
}

/** Every check on one snapshot. */
export function checkAll(s: Snapshot): CheckReport {
  const r = checkConverged(s);
  return { violations: [...r.violations, ...checkGenerationMonotonic(s)], keptOrphans: r.keptOrphans };
}

/** One line per violation, for a failure message. */
export function describeViolations(vs: readonly Violation[]): string {
  return vs.map((x) => `${x.check}${x.uuid === undefined ? '' : ` ${x.uuid}`}: ${x.detail}`).join('\n');
}

/** The part of the simulated host's state (`simctl state`) the checks read. */
export interface SimXenState {
  xen: {
    domains: {
      domid: number;
      name: string;
      uuid: string;
      targetMemKiB: number;
      paused: boolean;
      shutdown: unknown;
      pci: string[];
    }[];
    pci: { bdf: string; assignable: boolean; assignedTo: number | null }[];
  };
}

/** The host listing of a `simctl state` document (Domain-0 left out). */
export function hostListingFromSimState(state: SimXenState): HostListing {
  return {
    domains: state.xen.domains
      .filter((d) => d.domid !== 0)
      .map((d) => ({
        uuid: d.uuid,
        name: d.name,
        domid: d.domid,
        paused: d.paused,
        shutDown: d.shutdown !== null,
        memoryMiB: d.targetMemKiB / 1024,
        pci: [...d.pci],
      })),
    pci: state.xen.pci.map((p) => ({ bdf: p.bdf, assignable: p.assignable, assignedTo: p.assignedTo })),
  };
}
