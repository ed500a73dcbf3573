import { randomUUID } from 'node:crypto';
import type { DomainConfig } from '../../types/generated/domain-config.js';

/** The benchmark's domain: a small PVH guest with 2 vifs and 1 disk, offload disabled (the default). */
export function benchDomain(i: number, runTag: string): DomainConfig {
  return {
    uuid: randomUUID(),
    name: `b${runTag}-${i}`,
    generation: 1,
    activate: true,
    type: 'vm',
    virtualizationMode: 'pvh',
    memoryMiB: 16,
    vcpus: 1,
    kernel: '/var/lib/domainmgr/images/vmlinuz',
    cmdline: 'console=hvc0 root=/dev/xvda1 ro',
    disks: [{ path: `/var/lib/domainmgr/images/bench-${i}.img`, format: 'raw', vdev: 'xvda' }],
    vifs: [{ bridge: 'xenbr0' }, { bridge: 'xenbr1' }],
    restartPolicy: 'always',
    disableVifOffload: true,
  };
}

export function benchDomains(n: number, runTag: string): DomainConfig[] {
  return Array.from({ length: n }, (_, i) => benchDomain(i, runTag));
}
