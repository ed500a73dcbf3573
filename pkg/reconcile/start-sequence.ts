import type { CreatedDomain, Hypervisor } from '../hypervisor/hypervisor.js';
import type { DomainSpec } from '../schema/domain-spec.js';

/**
 * The one definition of how a domain is started: the worker's create transaction
 * (create-transaction.ts) and `domainctl plan` (pkg/ctl/plan.ts) both run these steps, so what
 * plan prints is what a node runs.
 */
export type StartStep = 'pci-prepare' | 'create' | 'disable-vif-offload' | 'unpause';

/**
 * The backend steps that start `spec`, in order. Pure. The domain is always created paused, so
 * nothing runs before its vifs are set up; it is unpaused unless it is asked for paused. A
 * backend that cannot pause (vmadm) left it stopped, not paused: a domain asked for paused is
 * started too (the pause that follows fails as unsupported and the status says so), never left
 * stopped, where a listing would read it as a guest that powered off.
 */
export function startSteps(spec: DomainSpec, backend: Pick<Hypervisor, 'canPause'>): StartStep[] {
  const steps: StartStep[] = [];
  if (spec.pciDevices.length > 0) steps.push('pci-prepare');
  steps.push('create');
  if (spec.disableVifOffload && spec.vifs.length > 0) steps.push('disable-vif-offload');
  if (!spec.paused || !backend.canPause) steps.push('unpause');
  return steps;
}

/**
 * Runs `steps` (from startSteps) on the backend. `around` wraps each step's backend call (the
 * worker bounds and times it, plan records which step a command belongs to); `onCreated` is told
 * the domain as soon as it exists, before the steps that follow create. Resolves with what
 * create made; rejects with the first step that failed.
 */
export async function runStartSteps(
  hv: Hypervisor,
  spec: DomainSpec,
  steps: readonly StartStep[],
  around: <T>(step: StartStep, call: () => Promise<T>) => Promise<T>,
  onCreated: (created: CreatedDomain) => void = () => {},
): Promise<CreatedDomain> {
  let created: CreatedDomain | null = null;
  for (const step of steps) {
    switch (step) {
      case 'pci-prepare':
        await around(step, () => hv.pciPrepare(spec.pciDevices.map((p) => p.bdf)));
        break;
      case 'create': {
        const made = await around(step, () => hv.createPaused(spec));
        created = made;
        onCreated(made);
        break;
      }
      case 'disable-vif-offload': {
        const made = existing(created, step);
        await around(step, () => hv.disableVifOffload(made));
        break;
      }
      case 'unpause': {
        const made = existing(created, step);
        await around(step, () =>
          hv.unpause({ uuid: made.uuid, domainName: made.domainName, domainId: made.domainId }),
        );
        break;
      }
    }
  }
  return existing(created, 'create');
}

function existing(created: CreatedDomain | null, step: StartStep): CreatedDomain {
  if (created === null) throw new Error(`start sequence: ${step} before create`);
  return created;
}
