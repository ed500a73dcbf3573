import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { CreatedDomain, DomainRef } from '../hypervisor/hypervisor.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import { type Actual, pendingChanges } from './decide.js';
import type { StatusError } from './errors.js';

/** Everything a DomainStatus is made of, as the worker holds it. */
export interface StatusFacts {
  uuid: string;
  name: string;
  nodeId: string;
  backend: DomainStatus['backend'];
  state: DomainStatus['state'];
  observedGeneration: number;
  actual: Actual;
  ref: DomainRef | null;
  vifs: CreatedDomain['vifs'];
  /** The spec the domain was created from (null when none is). */
  runningSpec: DomainSpec | null;
  /** The accepted spec (null: no config, or a delete). */
  desiredSpec: DomainSpec | null;
  /** Wall times, ms since the epoch. */
  bootTime: number | null;
  lastTransitionTime: number;
  updatedAt: number;
  restartCount: number;
  error: StatusError | null;
}

/**
 * The DomainStatus the facts amount to. Pure. A domain known to be absent has no domid, vifs,
 * PCI devices or pending changes; the name it had stays until a new one is known.
 */
export function buildDomainStatus(f: StatusFacts): DomainStatus {
  const absent = f.actual === 'absent';
  return {
    uuid: f.uuid,
    name: f.name,
    nodeId: f.nodeId,
    backend: f.backend,
    state: f.state,
    observedGeneration: f.observedGeneration,
    domainName: f.ref?.domainName ?? null,
    domainId: absent ? null : (f.ref?.domainId ?? null),
    activated: f.state === 'RUNNING' || f.state === 'PAUSED' || f.state === 'BOOTING',
    bootTime: f.bootTime === null ? null : new Date(f.bootTime).toISOString(),
    lastTransitionTime: new Date(f.lastTransitionTime).toISOString(),
    updatedAt: new Date(f.updatedAt).toISOString(),
    restartCount: f.restartCount,
    vifs: absent ? [] : f.vifs,
    pciDevices: absent || f.runningSpec === null ? [] : f.runningSpec.pciDevices,
    pendingChanges: f.desiredSpec === null || absent ? [] : pendingChanges(f.desiredSpec, f.runningSpec),
    error: f.error,
  };
}
