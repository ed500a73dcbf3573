import { expect } from '@jest/globals';
import type { CreatedDomain, Hypervisor } from '../../pkg/hypervisor/hypervisor.js';
import { HypervisorError } from '../../pkg/hypervisor/hypervisor.js';
import type { DomainSpec } from '../../pkg/schema/domain-spec.js';

/** The engine's build sequence, done by hand: createPaused, disableVifOffload, unpause. */
export async function build(hv: Hypervisor, spec: DomainSpec): Promise<CreatedDomain> {
  const created = await hv.createPaused(spec);
  if (spec.disableVifOffload) await hv.disableVifOffload(created);
  await hv.unpause(created);
  return created;
}

/** The HypervisorError `p` rejects with; fails the test when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<HypervisorError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(HypervisorError);
    return error as HypervisorError;
  }
  throw new Error('expected a rejection');
}
