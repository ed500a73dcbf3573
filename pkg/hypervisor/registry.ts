import type { BackendDeps } from './deps.js';
import type { BackendName, Hypervisor } from './hypervisor.js';
import { LxcBackend } from './lxc.js';
import { RktBackend } from './rkt.js';
import { VmadmBackend } from './vmadm.js';
import { XlBackend } from './xl.js';

export type { BackendDeps } from './deps.js';

/** The backend named by the `backend` configuration flag. */
export function createHypervisor(name: BackendName, deps: BackendDeps): Hypervisor {
  switch (name) {
    case 'xl':
      return new XlBackend(deps);
    case 'rkt':
      return new RktBackend(deps);
    case 'vmadm':
      return new VmadmBackend(deps);
    case 'lxc':
      return new LxcBackend(deps);
    default: {
      const unknown: never = name;
      throw new Error(`unknown backend ${JSON.stringify(unknown)}`);
    }
  }
}
