import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DomainConfig } from '../../types/generated/domain-config.js';

/**
 * The benchmark's allowed storage root. domainmgr resolves every kernel and disk path at create
 * time and refuses one that does not exist, so the files are made (empty: the simulated host
 * reads none of them) before a domain names them.
 */
export const BENCH_IMAGES = mkdtempSync(join(tmpdir(), 'domainmgr-bench-images-'));

function imageFile(name: string): string {
  const path = join(BENCH_IMAGES, name);
  closeSync(openSync(path, 'a'));
  return path;
}

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
    kernel: imageFile('vmlinuz'),
    cmdline: 'console=hvc0 root=/dev/xvda1 ro',
    disks: [{ path: imageFile(`bench-${i}.img`), format: 'raw', vdev: 'xvda' }],
    vifs: [{ bridge: 'xenbr0' }, { bridge: 'xenbr1' }],
    restartPolicy: 'always',
    disableVifOffload: true,
  };
}

export function benchDomains(n: number, runTag: string): DomainConfig[] {
  return Array.from({ length: n }, (_, i) => benchDomain(i, runTag));
}
