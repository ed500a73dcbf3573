/* Generated from types/domain-config.schema.json by scripts/gen-types.mjs: do not edit; run `npm run gen:types`. */

/**
 * Desired state of one domain, published by a controller on <prefix>.<nodeId>.config.<uuid>. An empty payload on that subject deletes the domain. Cross-field rules (maxMemoryMiB >= memoryMiB, a vm's kernel, a container's image, duplicates) are checked after the schema, in pkg/schema/semantics.ts.
 */
export interface DomainConfig {
  /**
   * Identity; must equal the subject's last token.
   */
  uuid: string;
  /**
   * Display name, also the name on the hypervisor.
   */
  name: string;
  /**
   * Set by the controller; increases with every change.
   */
  generation: number;
  /**
   * true: run; false: defined but halted.
   */
  activate: boolean;
  /**
   * Freeze the vcpus of an active domain.
   */
  paused?: boolean;
  restartCounter?: number;
  purgeCounter?: number;
  type: 'vm' | 'container';
  /**
   * vm only (a container that names one is rejected; the default is filled in for every spec).
   */
  virtualizationMode?: 'pv' | 'pvh' | 'hvm';
  memoryMiB: number;
  /**
   * Default: memoryMiB.
   */
  maxMemoryMiB?: number;
  vcpus?: number;
  /**
   * Default: vcpus.
   */
  maxVcpus?: number;
  cpus?: string;
  kernel?: string;
  ramdisk?: string;
  cmdline?: string;
  /**
   * Container image: rkt image hash (sha512-...) or absolute ACI path under an allowed storage root; vmadm image uuid; lxc: absolute path, under an allowed storage root, of a root filesystem folder or a tar archive of one. Never starts with -: it is passed on a tool's command line.
   */
  image?: string;
  /**
   * @maxItems 64
   */
  disks?: {
    path: string;
    format: 'raw' | 'qcow2' | 'vhd';
    vdev?: string;
    readOnly?: boolean;
  }[];
  /**
   * @maxItems 64
   */
  vifs?: {
    bridge: string;
    /**
     * Generated from the uuid when absent.
     */
    mac?: string;
    ip?: string;
    vifName?: string;
  }[];
  /**
   * @maxItems 64
   */
  pciDevices?: {
    bdf: string;
  }[];
  restartPolicy?: 'always' | 'on-failure' | 'never';
  disableVifOffload?: boolean;
}
