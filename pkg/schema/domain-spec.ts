import { createHash } from 'node:crypto';
import type { DomainConfig } from '../../types/generated/domain-config.js';

type Vif = NonNullable<DomainConfig['vifs']>[number];
type Disk = NonNullable<DomainConfig['disks']>[number];

/**
 * A DomainConfig that passed validation, with every default of the contract filled in, so that
 * workers and backends never repeat the defaults. Derived from the generated type, not a copy.
 */
export type DomainSpec = Omit<
  Required<Omit<DomainConfig, 'kernel' | 'ramdisk' | 'cmdline' | 'image' | 'cpus'>>,
  'vifs' | 'disks'
> &
  Pick<DomainConfig, 'kernel' | 'ramdisk' | 'cmdline' | 'image' | 'cpus'> & {
    vifs: (Vif & { mac: string })[];
    disks: (Disk & { readOnly: boolean })[];
  };

/** Fills the contract's defaults in. Pure; the input is not modified. */
export function toDomainSpec(config: DomainConfig): DomainSpec {
  const vcpus = config.vcpus ?? 1;
  return {
    ...config,
    paused: config.paused ?? false,
    restartCounter: config.restartCounter ?? 0,
    purgeCounter: config.purgeCounter ?? 0,
    virtualizationMode: config.virtualizationMode ?? 'pvh',
    maxMemoryMiB: config.maxMemoryMiB ?? config.memoryMiB,
    vcpus,
    maxVcpus: config.maxVcpus ?? vcpus,
    disks: (config.disks ?? []).map((d) => ({ ...d, readOnly: d.readOnly ?? false })),
    vifs: (config.vifs ?? []).map((v, i) => ({ ...v, mac: (v.mac ?? macFor(config.uuid, i)).toLowerCase() })),
    pciDevices: config.pciDevices ?? [],
    restartPolicy: config.restartPolicy ?? 'on-failure',
    disableVifOffload: config.disableVifOffload ?? true,
  };
}

/**
 * The MAC of a vif that names none: Xen's OUI 00:16:3e and three bytes of a hash of the domain
 * uuid and the vif's index, so the same domain gets the same MACs on every node and every start.
 */
export function macFor(uuid: string, index: number): string {
  const h = createHash('sha256').update(`${uuid}/${index}`).digest();
  const tail = [h[0], h[1], h[2]].map((b) => (b ?? 0).toString(16).padStart(2, '0'));
  return `00:16:3e:${tail.join(':')}`;
}
