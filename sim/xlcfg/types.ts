import type { LibxlDisk } from './disk-spec.js';
import type { LibxlPci } from './pci-spec.js';
import type { LibxlNic } from './vif-spec.js';

export type { LibxlDisk, LibxlNic, LibxlPci };

/** libxl's action_on_shutdown enum as its JSON spells it (underscores). */
export type LibxlShutdownAction =
  | 'destroy'
  | 'restart'
  | 'restart_rename'
  | 'preserve'
  | 'coredump_destroy'
  | 'coredump_restart'
  | 'soft_reset';

export type LibxlDomainType = 'pv' | 'pvh' | 'hvm';

/**
 * The libxl domain configuration as `xl -N create` prints it (libxl_domain_config_to_json):
 * fields at their default are left out, defbools are "True"/"False", memory is KiB, bitmaps are
 * lists of set bit numbers. Only the parts this parser can produce are typed.
 */
export interface LibxlDomainConfig {
  c_info: {
    type: LibxlDomainType;
    name: string;
    /** Lower-case RFC 4122 text; xl generates a random one when the cfg has none. */
    uuid?: string;
    run_hotplug_scripts: 'True' | 'False';
  };
  b_info: {
    max_vcpus?: number;
    avail_vcpus?: number[];
    vcpu_hard_affinity?: number[][];
    numa_placement?: 'True' | 'False';
    tsc_mode?: 'always_emulate' | 'native' | 'native_paravirt';
    max_memkb?: number;
    target_memkb?: number;
    sched_params: Record<string, never>;
    claim_mode: 'True' | 'False';
    kernel?: string;
    cmdline?: string;
    ramdisk?: string;
    bootloader?: string;
    'type.pv'?: { e820_host?: 'True' | 'False' };
    'type.pvh'?: Record<string, never>;
    'type.hvm'?: { vga: object; vnc: object; sdl: object; spice: object; rdm: object };
    arch_arm: Record<string, never>;
    arch_x86: Record<string, never>;
  };
  disks?: LibxlDisk[];
  nics?: LibxlNic[];
  pcidevs?: LibxlPci[];
  on_poweroff?: LibxlShutdownAction;
  on_reboot?: LibxlShutdownAction;
  on_watchdog?: LibxlShutdownAction;
  on_crash?: LibxlShutdownAction;
  on_soft_reset?: LibxlShutdownAction;
}
