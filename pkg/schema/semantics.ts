import type { DomainConfig } from '../../types/generated/domain-config.js';

/**
 * Rules that cross fields or need the node's configuration, checked after the schema passed.
 * Pure; each finding is a sentence naming the field, like the schema's.
 */
export function checkDomainConfigSemantics(config: DomainConfig, allowedRoots?: readonly string[]): string[] {
  const problems: string[] = [];
  if (config.maxMemoryMiB !== undefined && config.maxMemoryMiB < config.memoryMiB) {
    problems.push(`/maxMemoryMiB must be >= memoryMiB (${config.memoryMiB})`);
  }
  const vcpus = config.vcpus ?? 1;
  if (config.maxVcpus !== undefined && config.maxVcpus < vcpus) {
    problems.push(`/maxVcpus must be >= vcpus (${vcpus})`);
  }
  if (config.cpus !== undefined) problems.push(...checkCpuList(config.cpus));
  if (config.type === 'container') {
    if (config.virtualizationMode !== undefined) {
      problems.push('/virtualizationMode is for type "vm" only');
    }
    if (config.image === undefined || config.image === '')
      problems.push('/image is required for type "container"');
  }
  findDuplicates(config.pciDevices ?? [], (d) => d.bdf, '/pciDevices', 'bdf', problems);
  findDuplicates(config.vifs ?? [], (v) => v.mac?.toLowerCase(), '/vifs', 'mac', problems);
  findDuplicates(config.vifs ?? [], (v) => v.vifName, '/vifs', 'vifName', problems);
  findDuplicates(config.disks ?? [], (d) => d.vdev, '/disks', 'vdev', problems);
  findDuplicates(config.disks ?? [], (d) => d.path, '/disks', 'path', problems);
  (config.vifs ?? []).forEach((v, i) => {
    // A multicast MAC (low bit of the first octet set) would never receive unicast frames.
    if (v.mac !== undefined && (Number.parseInt(v.mac.slice(0, 2), 16) & 1) === 1) {
      problems.push(`/vifs/${i}/mac must be a unicast address (first octet even)`);
    }
  });
  if (allowedRoots !== undefined) {
    // The strings only, which is all an offline check can compare; at create time the real paths
    // are compared too (pkg/hypervisor/storage-confinement.ts).
    const under = (p: string) => allowedRoots.some((root) => isUnderRoot(p, root));
    const roots = allowedRoots.length === 0 ? '(none configured)' : allowedRoots.join(', ');
    (config.disks ?? []).forEach((d, i) => {
      if (!under(d.path)) problems.push(`/disks/${i}/path must lie under an allowed storage root: ${roots}`);
    });
    if (config.kernel !== undefined && !under(config.kernel)) {
      problems.push(`/kernel must lie under an allowed storage root: ${roots}`);
    }
    if (config.ramdisk !== undefined && !under(config.ramdisk)) {
      problems.push(`/ramdisk must lie under an allowed storage root: ${roots}`);
    }
  }
  return problems;
}

/** Whether `path` is `root` or lies below it, compared as strings (no resolving). */
export function isUnderRoot(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

function checkCpuList(cpus: string): string[] {
  if (cpus === 'all') return [];
  for (const part of cpus.split(',')) {
    const [lo, hi] = part.replace('^', '').split('-').map(Number);
    if (hi !== undefined && lo !== undefined && hi < lo) return [`/cpus range ${part} runs backwards`];
  }
  return [];
}

function findDuplicates<T>(
  items: readonly T[],
  key: (item: T) => string | undefined,
  path: string,
  field: string,
  problems: string[],
): void {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const k = key(item);
    if (k === undefined) return;
    const j = first.get(k);
    if (j === undefined) first.set(k, i);
    else problems.push(`${path}/${i}/${field} repeats ${path}/${j}/${field} (${k})`);
  });
}
