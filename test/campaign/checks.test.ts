import { describe, expect, test } from '@jest/globals';
import {
  type CheckName,
  checkAll,
  type HostDomain,
  hostListingFromSimState,
  type Snapshot,
} from '../../campaign/checks.js';
import { isKnownUnfixed } from '../../campaign/kill-driver.js';
import type { LedgerEntry } from '../../pkg/reconcile/ledger.js';
import { toDomainSpec } from '../../pkg/schema/domain-spec.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';

const U = '11111111-1111-4111-8111-111111111111';
const V = '22222222-2222-4222-8222-222222222222';
const BDF = '0000:03:00.0';

const config = (over: Partial<DomainConfig> = {}): DomainConfig => ({
  uuid: U,
  name: 'kc-0',
  generation: 4,
  activate: true,
  type: 'vm',
  kernel: '/images/vmlinuz',
  memoryMiB: 256,
  maxMemoryMiB: 512,
  pciDevices: [{ bdf: BDF }],
  ...over,
});

const hostDomain = (over: Partial<HostDomain> = {}): HostDomain => ({
  uuid: U,
  name: 'kc-0',
  domid: 7,
  paused: false,
  shutDown: false,
  memoryMiB: 256,
  pci: [BDF],
  ...over,
});

const status = (over: Partial<DomainStatus> = {}): DomainStatus =>
  ({
    uuid: U,
    name: 'kc-0',
    nodeId: 'n',
    backend: 'xl',
    state: 'RUNNING',
    observedGeneration: 4,
    domainName: 'kc-0',
    domainId: 7,
    activated: true,
    bootTime: null,
    lastTransitionTime: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    restartCount: 0,
    vifs: [],
    pciDevices: [],
    pendingChanges: [],
    error: null,
    ...over,
  }) as DomainStatus;

function ledgerEntry(over: Partial<LedgerEntry> = {}): LedgerEntry {
  const spec = toDomainSpec(config());
  return {
    uuid: U,
    name: 'kc-0',
    phase: 'created',
    restartCounter: 0,
    purgeCounter: 0,
    restartCount: 0,
    runningSpec: spec,
    currentMemoryMiB: 256,
    ...over,
  };
}

/** A converged node: one running domain with its PCI device, as its config asks. */
function good(): Snapshot {
  return {
    host: { domains: [hostDomain()], pci: [{ bdf: BDF, assignable: true, assignedTo: 7 }] },
    desired: new Map([[U, { seq: 9, config: config() }]]),
    stored: new Map([[U, status()]]),
    history: new Map([[U, [status({ state: 'CREATING', observedGeneration: 3 }), status()]]]),
    ledger: new Map([[U, ledgerEntry()]]),
    orphanPolicy: 'destroy',
  };
}

/** What is spoilt, the check that must then fail, and the spoiling. */
type Case = [string, CheckName, (s: Snapshot) => Snapshot];

const cases: Case[] = [
  [
    'memory not as desired',
    'final-state',
    (s) => ({ ...s, host: { ...s.host, domains: [hostDomain({ memoryMiB: 128 })] } }),
  ],
  [
    'paused but desired running',
    'final-state',
    (s) => ({ ...s, host: { ...s.host, domains: [hostDomain({ paused: true })] } }),
  ],
  ['active but not on the host', 'final-state', (s) => ({ ...s, host: { domains: [], pci: [] } })],
  [
    'shut down on the host',
    'final-state',
    (s) => ({ ...s, host: { ...s.host, domains: [hostDomain({ shutDown: true })] } }),
  ],
  [
    'halted but on the host',
    'final-state',
    (s) => ({ ...s, desired: new Map([[U, { seq: 9, config: config({ activate: false }) }]]) }),
  ],
  [
    'two domains with one uuid',
    'unique-uuid',
    (s) => ({ ...s, host: { ...s.host, domains: [hostDomain(), hostDomain({ domid: 8, pci: [] })] } }),
  ],
  [
    'a domain of ours without a config',
    'orphan',
    (s) => ({
      ...s,
      host: { ...s.host, domains: [...s.host.domains, hostDomain({ uuid: V, domid: 9, pci: [] })] },
      ledger: new Map([
        ...s.ledger,
        [V, ledgerEntry({ uuid: V, runningSpec: toDomainSpec(config({ uuid: V, pciDevices: [] })) })],
      ]),
    }),
  ],
  [
    'a PCI device held by two domains',
    'pci',
    (s) => ({
      ...s,
      host: { ...s.host, domains: [...s.host.domains, hostDomain({ uuid: V, domid: 9 })] },
    }),
  ],
  [
    'a PCI device left assignable and unused',
    'pci',
    (s) => ({
      ...s,
      host: { ...s.host, pci: [...s.host.pci, { bdf: '0000:04:00.0', assignable: true, assignedTo: null }] },
    }),
  ],
  ['a host domain the ledger does not know', 'ledger', (s) => ({ ...s, ledger: new Map() })],
  [
    'the ledger says built, the host has none',
    'ledger',
    (s) => ({
      ...s,
      ledger: new Map([...s.ledger, [V, ledgerEntry({ uuid: V })]]),
    }),
  ],
  ['a config without a status', 'acked-acted-on', (s) => ({ ...s, stored: new Map() })],
  [
    'a status of an older generation',
    'acked-acted-on',
    (s) => ({ ...s, stored: new Map([[U, status({ observedGeneration: 3 })]]) }),
  ],
  [
    'a raised restartCounter not acted on',
    'acked-acted-on',
    (s) => ({ ...s, desired: new Map([[U, { seq: 9, config: config({ restartCounter: 1 }) }]]) }),
  ],
  [
    'observedGeneration going backwards',
    'generation-monotonic',
    (s) => ({
      ...s,
      history: new Map([[U, [status(), status({ state: 'DELETED', observedGeneration: 0 })]]]),
    }),
  ],
];

describe('campaign checks', () => {
  test('a converged node passes every check', () => {
    expect(checkAll(good())).toEqual({ violations: [], keptOrphans: [] });
  });

  test.each(cases)('%s fails the %s check', (_what, check, spoil) => {
    const { violations } = checkAll(spoil(good()));
    expect(violations.map((v) => v.check)).toContain(check);
  });

  test('under orphanPolicy keep an orphan is reported, not a violation', () => {
    const s = cases.find(([w]) => w === 'a domain of ours without a config')?.[2](good());
    if (s === undefined) throw new Error('case missing');
    const r = checkAll({ ...s, orphanPolicy: 'keep' });
    expect(r.violations).toEqual([]);
    expect(r.keptOrphans.map((v) => v.uuid)).toEqual([V]);
  });

  test('a delete, done: nothing on the host, no ledger entry, DELETED', () => {
    const r = checkAll({
      host: { domains: [], pci: [{ bdf: BDF, assignable: false, assignedTo: null }] },
      desired: new Map([[U, { seq: 12, config: null }]]),
      stored: new Map([[U, status({ state: 'DELETED', domainId: null })]]),
      history: new Map([[U, [status(), status({ state: 'DELETED' })]]]),
      ledger: new Map(),
      orphanPolicy: 'destroy',
    });
    expect(r.violations).toEqual([]);
  });

  test('the one accepted step back (a delete of a uuid with no record: 0) is told apart from the others', () => {
    expect(
      isKnownUnfixed({ check: 'generation-monotonic', detail: 'status #3 (DELETED) observed 0 after 2' }),
    ).toBe(true);
    expect(
      isKnownUnfixed({ check: 'generation-monotonic', detail: 'status #3 (DELETING) observed 1 after 2' }),
    ).toBe(false);
    expect(
      isKnownUnfixed({ check: 'generation-monotonic', detail: 'status #3 (RUNNING) observed 1 after 2' }),
    ).toBe(false);
  });

  test('the host listing of simctl state leaves Domain-0 out and reads memory in MiB', () => {
    const h = hostListingFromSimState({
      xen: {
        domains: [
          { domid: 0, name: 'Domain-0', uuid: '0', targetMemKiB: 1, paused: false, shutdown: null, pci: [] },
          {
            domid: 3,
            name: 'kc-0',
            uuid: U,
            targetMemKiB: 262144,
            paused: true,
            shutdown: { reason: 'crash' },
            pci: [BDF],
          },
        ],
        pci: [{ bdf: BDF, assignable: true, assignedTo: 3 }],
      },
    });
    expect(h.domains).toEqual([hostDomain({ domid: 3, paused: true, shutDown: true })]);
    expect(h.pci).toEqual([{ bdf: BDF, assignable: true, assignedTo: 3 }]);
  });
});
