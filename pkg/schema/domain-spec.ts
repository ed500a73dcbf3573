import { createHash } from 'node:crypto';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import { withSchemaDefaults } from './validators.js';

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

/** The fields whose default the schema states (types/domain-config.schema.json, `default`). */
type SchemaDefaulted = DomainConfig &
  Required<
    Pick<
      DomainConfig,
      | 'paused'
      | 'restartCounter'
      | 'purgeCounter'
      | 'virtualizationMode'
      | 'vcpus'
      | 'disks'
      | 'vifs'
      | 'pciDevices'
      | 'restartPolicy'
      | 'disableVifOffload'
    >
  > & { disks: (Disk & { readOnly: boolean })[] };

/**
 * Fills the contract's defaults in: the schema's `default`s (through ajv, withSchemaDefaults),
 * then the ones no schema can state because they derive from other fields: maxMemoryMiB is
 * memoryMiB, maxVcpus is vcpus, a vif's MAC comes from the uuid. Pure; the input is not modified.
 */
export function toDomainSpec(config: DomainConfig): DomainSpec {
  const filled = withSchemaDefaults(config) as SchemaDefaulted;
  return {
    ...filled,
    maxMemoryMiB: filled.maxMemoryMiB ?? filled.memoryMiB,
    maxVcpus: filled.maxVcpus ?? filled.vcpus,
    vifs: filled.vifs.map((v, i) => ({ ...v, mac: (v.mac ?? macFor(config.uuid, i)).toLowerCase() })),
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
