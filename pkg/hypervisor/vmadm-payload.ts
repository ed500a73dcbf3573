import { isIP } from 'node:net';
import type { DomainSpec } from '../schema/domain-spec.js';
import { isUuidText } from '../schema/uuid.js';

/**
 * The JSON that `vmadm create` reads on stdin for a DomainSpec. Pure.
 *
 * - `autoboot: false` is vmadm's "create paused": the VM is left `stopped` until `vmadm start`.
 * - brand: a container is a native `joyent` zone (its image is a SmartOS image uuid); `lx` would
 *   need a kernel_version and an lx image, which the contract cannot express yet. A vm is `bhyve`
 *   (SmartOS's current HVM; kvm is legacy).
 * - memory: a zone's cap is `max_physical_memory`; a bhyve guest's memory is `ram`.
 * - vcpus: bhyve `vcpus`; a zone has no vcpus, so it gets a `cpu_cap` of 100 per vcpu.
 * - nics: `nic_tag` is the vif's bridge; the first nic is primary. The contract's `ip` has no
 *   prefix length and vmadm wants one, so it is written as a host address (/32 or /128); a vif
 *   without ip gets `dhcp`.
 * - disks (bhyve only): existing devices named by path (`nocreate`), the first one boots.
 * PCI passthrough, read-only disks and non-raw disks are refused by checkVmadmSpec instead.
 */
export function vmadmCreatePayload(spec: DomainSpec): Record<string, unknown> {
  const zone = spec.type === 'container';
  const nics = spec.vifs.map((v, i) => ({
    interface: `net${i}`,
    nic_tag: v.bridge,
    mac: v.mac,
    ips: [v.ip === undefined ? 'dhcp' : `${v.ip}/${isIP(v.ip) === 6 ? 128 : 32}`],
    primary: i === 0,
    ...(zone ? {} : { model: 'virtio' }),
  }));
  const payload: Record<string, unknown> = {
    uuid: spec.uuid,
    alias: spec.name,
    brand: zone ? 'joyent' : 'bhyve',
    autoboot: false,
    nics,
  };
  if (zone) {
    payload.image_uuid = spec.image;
    payload.max_physical_memory = spec.memoryMiB;
    payload.cpu_cap = spec.vcpus * 100;
  } else {
    payload.ram = spec.memoryMiB;
    payload.vcpus = spec.vcpus;
    payload.disks = spec.disks.map((d, i) => ({
      path: d.path,
      boot: i === 0,
      model: 'virtio',
      media: 'disk',
      nocreate: true,
    }));
  }
  return payload;
}

/** What a vmadm VM cannot take from a valid spec; empty when vmadmCreatePayload is faithful. */
export function checkVmadmSpec(spec: DomainSpec): string[] {
  const problems: string[] = [];
  if (spec.type === 'container') {
    if (spec.image === undefined || !isUuidText(spec.image)) {
      problems.push('/image must be a SmartOS image uuid on the vmadm backend');
    }
    if (spec.disks.length > 0) problems.push('/disks: a vmadm zone takes no disks (its image is its root)');
  } else {
    // bhyve is always a full HVM. pvh is the contract's default, so it cannot be told from a
    // deliberate choice and is accepted; an explicit pv guest cannot run at all.
    if (spec.virtualizationMode === 'pv') {
      problems.push('/virtualizationMode pv: vmadm runs vms under bhyve, which cannot run a pv guest');
    }
    spec.disks.forEach((d, i) => {
      if (d.format !== 'raw')
        problems.push(`/disks/${i}/format ${d.format}: bhyve on vmadm takes raw devices only`);
      if (d.readOnly) problems.push(`/disks/${i}/readOnly: vmadm cannot attach a disk read-only`);
    });
    if (spec.kernel !== undefined)
      problems.push('/kernel: bhyve on vmadm boots from its disk, not a kernel file');
  }
  if (spec.pciDevices.length > 0) {
    problems.push(
      '/pciDevices: vmadm passthrough names a /dev/pptN device, and domainmgr cannot map a BDF to it yet',
    );
  }
  if (spec.maxMemoryMiB !== spec.memoryMiB && spec.type === 'vm') {
    problems.push('/maxMemoryMiB: bhyve does not balloon; it must equal memoryMiB on vmadm');
  }
  return problems;
}
