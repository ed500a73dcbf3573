import { randomUUID } from 'node:crypto';
import { type CfgStore, stringItems, XlExit } from './cfg-store.js';
import { parseCpuRange } from './cpumap.js';
import { type LibxlDisk, parseDiskSpec } from './disk-spec.js';
import { type LibxlPci, parsePciSpec } from './pci-spec.js';
import type { LibxlDomainConfig, LibxlDomainType, LibxlShutdownAction } from './types.js';
import { XlCfgUnsupported } from './unsupported.js';
import { type LibxlNic, parseVifSpec } from './vif-spec.js';

/** Host shape the simulated xl answers libxl's queries with (the real-xl preload uses the same). */
export const SIMULATED_HOST_CPUS = 8;

const ACTIONS: Record<string, LibxlShutdownAction> = {
  destroy: 'destroy',
  restart: 'restart',
  'rename-restart': 'restart_rename',
  preserve: 'preserve',
  'coredump-destroy': 'coredump_destroy',
  'coredump-restart': 'coredump_restart',
  'soft-reset': 'soft_reset',
};

const TSC_MODES = ['default', 'always_emulate', 'native', 'native_paravirt'] as const;

/** Keys xl 4.17 reads that are not modelled, in the order xl reads them (see XlCfgUnsupported). */
const UNSUPPORTED = {
  seclabel: ['init_seclabel', 'seclabel'],
  builder: ['builder', 'hap'],
  pool: ['oos', 'pool'],
  pvh: ['pvshim', 'pvshim_path', 'pvshim_cmdline', 'pvshim_extra'],
  sched: ['cpu_weight', 'cap', 'period', 'slice', 'latency', 'extratime'],
  afterVcpus: ['vuart', 'vnuma'],
  afterCpus: ['cpus_soft', 'max_grant_frames', 'max_maptrack_frames'],
  pv: ['e820_host'],
  rdm: ['rdm'],
  afterPci: ['dtdev', 'passthrough', 'shadow_memory', 'nomigrate'],
  afterTsc: ['rtc_timeoffset', 'vncviewer', 'localtime', 'videoram', 'max_event_channels'],
  deviceTree: ['device_tree'],
  afterCmdline: ['driver_domain', 'acpi'],
  afterBootloader: ['bootloader_args', 'timer_mode', 'nestedhvm'],
  hvm: [
    'firmware_override',
    'bios_path_override',
    'bios',
    'pae',
    'acpi_s3',
    'acpi_s4',
    'acpi_laptop_slate',
    'nx',
    'hpet',
    'vpt_align',
    'apic',
    'viridian',
    'mmio_hole',
    'altp2mhvm',
    'smbios_firmware',
    'acpi_firmware',
    'ms_vm_genid',
    'rdm_mem_boundary',
    'mca_caps',
  ],
  firmware: ['firmware'],
  afterType: ['altp2m', 'vmtrace_buf_kb', 'vpmu', 'ioports', 'irqs', 'iomem'],
  afterDisk: ['p9', 'vtpm', 'vdispl', 'pvcalls', 'vsnd', 'channel'],
  afterVif: [
    'vif2',
    'vfb',
    'usbctrl',
    'usbdev',
    'cpuid',
    'device_model',
    'device_model_override',
    'device_model_version',
    'device_model_stubdomain_override',
    'device_model_stubdomain_seclabel',
    'device_model_user',
    'stubdomain_kernel',
    'stubdomain_ramdisk',
    'stubdomain_memory',
    'device_model_args',
    'device_model_args_pv',
    'device_model_args_hvm',
    'vnc',
    'vnclisten',
    'vncpasswd',
    'vncdisplay',
    'vncunused',
    'sdl',
    'opengl',
    'display',
    'xauthority',
    'keymap',
    'dm_restrict',
  ],
  hvmDisplay: [
    'vga',
    'stdvga',
    'hdtype',
    'spice',
    'spiceport',
    'spicetls_port',
    'spicehost',
    'spicedisable_ticketing',
    'spicepasswd',
    'spiceagent_mouse',
    'spicevdagent',
    'spice_clipboard_sharing',
    'spiceusbredirection',
    'spice_image_compression',
    'spice_streaming_video',
    'nographic',
    'gfx_passthru',
    'serial',
    'boot',
    'usb',
    'usbversion',
    'usbdevice',
    'vkb_device',
    'soundhw',
    'xen_platform_pci',
    'vendor_device',
  ],
  tail: ['gic_version', 'tee', 'vkb', 'xend_suspend_evtchn_compat', 'msr_relaxed'],
} as const;

function rejectUnsupported(cfg: CfgStore, keys: readonly string[]): void {
  for (const k of keys) if (cfg.has(k)) throw new XlCfgUnsupported(`config key \`${k}'`);
}

function bitmap(capacity: number, bits: Iterable<number>): number[] {
  return [...bits].filter((b) => b < capacity).sort((a, b) => a - b);
}

/** libxl_cpu_bitmap_alloc capacity: n bits rounded up to bytes; 0 means "the host's CPUs". */
function cpuBitmapCapacity(n: number): number {
  const bits = n === 0 ? SIMULATED_HOST_CPUS : n;
  return Math.ceil(bits / 8) * 8;
}

function fail(cfg: CfgStore, line: string, code = 1): never {
  cfg.report.push(line);
  throw new XlExit(code);
}

/**
 * xl's parse_config_data for the supported keys, in xl's own order so that warnings come out in
 * the same order and the first fatal problem is the same one. Prints into cfg.report; ends with
 * XlExit for xl's exits and XlCfgUnsupported for configs outside the modelled subset.
 */
export function buildDomainConfig(cfg: CfgStore): LibxlDomainConfig {
  const src = cfg.source;
  rejectUnsupported(cfg, UNSUPPORTED.seclabel);

  let type: LibxlDomainType | undefined;
  const typeText = cfg.getString('type');
  if (typeText !== undefined) {
    // strncmp(buf, "hvm", strlen(buf)): any prefix matches, even "".
    if ('hvm'.startsWith(typeText)) type = 'hvm';
    else if ('pv'.startsWith(typeText)) type = 'pv';
    else if ('pvh'.startsWith(typeText)) type = 'pvh';
    else fail(cfg, `Invalid domain type ${typeText}.\n`);
  }
  rejectUnsupported(cfg, UNSUPPORTED.builder);
  const domType: LibxlDomainType = type ?? 'pv';

  const name = cfg.getString('name');
  if (name === undefined) fail(cfg, 'Domain name must be specified.\n');

  let uuid: string | undefined;
  const uuidText = cfg.getString('uuid');
  if (uuidText !== undefined) {
    if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(uuidText))
      fail(cfg, `Failed to parse UUID: ${uuidText}\n`);
    uuid = uuidText.toLowerCase();
  } else {
    uuid = randomUUID();
  }
  rejectUnsupported(cfg, UNSUPPORTED.pool);
  if (domType === 'pvh') rejectUnsupported(cfg, UNSUPPORTED.pvh);
  rejectUnsupported(cfg, UNSUPPORTED.sched);

  const MEMKB_DEFAULT = -1n;
  let targetMemkb = MEMKB_DEFAULT;
  let maxMemkb = MEMKB_DEFAULT;
  const mem = cfg.getLong('memory');
  if (!mem.e) targetMemkb = BigInt.asIntN(64, mem.value * 1024n);
  const maxmem = cfg.getLong('maxmem');
  if (!maxmem.e) maxMemkb = BigInt.asIntN(64, maxmem.value * 1024n);
  let vcpus = 0;
  let availVcpus: number[] | undefined;
  const vc = cfg.getLong('vcpus');
  if (!vc.e) {
    if (vc.value < 0n || vc.value > 4096n) throw new XlCfgUnsupported(`vcpus = ${vc.value}`);
    vcpus = Number(vc.value);
    const cap = cpuBitmapCapacity(vcpus);
    availVcpus = bitmap(
      cap,
      Array.from({ length: vcpus }, (_, i) => i),
    );
  }
  let maxVcpus = 0;
  const mvc = cfg.getLong('maxvcpus');
  if (!mvc.e) {
    if (mvc.value < 0n || mvc.value > 4096n) throw new XlCfgUnsupported(`maxvcpus = ${mvc.value}`);
    maxVcpus = Number(mvc.value);
  }
  rejectUnsupported(cfg, UNSUPPORTED.afterVcpus);
  if (maxMemkb === MEMKB_DEFAULT) maxMemkb = targetMemkb;
  if (maxVcpus === 0) maxVcpus = vcpus;
  if (maxVcpus < vcpus) fail(cfg, 'xl: maxvcpus < vcpus\n');
  if (targetMemkb < -1n || targetMemkb > 2n ** 52n || maxMemkb < -1n || maxMemkb > 2n ** 52n)
    throw new XlCfgUnsupported('memory/maxmem outside 0 .. 2^42 MiB');

  // cpus: a list (one range string per vcpu) or one string for every vcpu.
  let hardAffinity: number[][] | undefined;
  let numaPlacement: 'False' | undefined;
  const cpusList = cfg.getList('cpus', true);
  const cpusString = cpusList.e ? cfg.getString('cpus') : undefined;
  const cap = cpuBitmapCapacity(0);
  const cpuRange = (spec: string): number[] => {
    const r = parseCpuRange(spec, cap);
    if ('error' in r) fail(cfg, r.error);
    return bitmap(cap, r.bits);
  };
  if (cpusString !== undefined) {
    // One string for every vcpu; it is parsed even when there are no vcpus to apply it to.
    const bits = cpuRange(cpusString);
    hardAffinity = Array.from({ length: maxVcpus }, () => [...bits]);
  } else if (!cpusList.e) {
    const n = Math.min(cpusList.items.length, maxVcpus);
    const specs = stringItems(cpusList.items);
    // A nested list before entry n leaves xl's remaining bitmaps uninitialised.
    if (specs.length < n) throw new XlCfgUnsupported('cpus list with a nested list');
    hardAffinity = specs.slice(0, n).map(cpuRange);
    numaPlacement = 'False';
  }
  rejectUnsupported(cfg, UNSUPPORTED.afterCpus);

  const action = (key: string, dflt: string): LibxlShutdownAction => {
    const text = cfg.getString(key) ?? dflt;
    const a = ACTIONS[text];
    if (a === undefined) fail(cfg, `Unknown ${key} action "${text}" specified\n`);
    return a;
  };
  const onPoweroff = action('on_poweroff', 'destroy');
  const onReboot = action('on_reboot', 'restart');
  const onWatchdog = action('on_watchdog', 'destroy');
  const onCrash = action('on_crash', 'destroy');
  const onSoftReset = action('on_soft_reset', 'soft-reset');

  if (domType === 'pv') rejectUnsupported(cfg, UNSUPPORTED.pv);
  const flag = (key: string): boolean => {
    const r = cfg.getLong(key);
    return !r.e && BigInt.asIntN(32, r.value) !== 0n;
  };
  const pciDefaults = {
    msitranslate: flag('pci_msitranslate'),
    power_mgmt: flag('pci_power_mgmt'),
    permissive: flag('pci_permissive'),
    seize: flag('pci_seize'),
    // An HVM guest's RDM policy defaults to "invalid" (left out); PV/PVH read zeroed memory.
    rdm_policy: domType === 'hvm' ? undefined : ('strict' as const),
  };
  rejectUnsupported(cfg, UNSUPPORTED.rdm);
  let pcidevs: LibxlPci[] | undefined;
  const pciList = cfg.getList('pci');
  if (!pciList.e) {
    pcidevs = [];
    for (const spec of stringItems(pciList.items)) {
      const r = parsePciSpec(spec, pciDefaults, cfg.report);
      if (!r.ok) {
        if (r.crash) throw new XlExit(139);
        fail(cfg, `unable to parse PCI_SPEC_STRING \`${spec}' for passthrough\n`, 6);
      }
      pcidevs.push(r.pci);
    }
  }
  const e820Host = domType === 'pv' && pcidevs !== undefined && pcidevs.length > 0;
  rejectUnsupported(cfg, UNSUPPORTED.afterPci);

  let tscMode: (typeof TSC_MODES)[number] | undefined;
  const tscLong = cfg.getLong('tsc_mode', true);
  if (!tscLong.e) {
    const l = tscLong.value;
    const s = l >= 0n && l < 4n ? TSC_MODES[Number(l)] : undefined;
    cfg.report.push(
      `WARNING: specifying "tsc_mode" as an integer is deprecated. Please use the named parameter variant. ${
        s ? `e.g. tsc_mode="${s}"` : ''
      }\n`,
    );
    if (s === undefined) fail(cfg, `ERROR: invalid value ${l} for "tsc_mode"\n`);
    tscMode = s;
  } else {
    const t = cfg.getString('tsc_mode');
    if (t !== undefined) {
      cfg.report.push(`got a tsc mode string: "${t}"\n`);
      const m = TSC_MODES.find((x) => x === t.toLowerCase());
      if (m === undefined) fail(cfg, `ERROR: invalid value "${t}" for "tsc_mode"\n`);
      tscMode = m;
    }
  }
  rejectUnsupported(cfg, UNSUPPORTED.afterTsc);

  let kernel = cfg.getString('kernel');
  const ramdisk = cfg.getString('ramdisk');
  rejectUnsupported(cfg, UNSUPPORTED.deviceTree);
  const cmdlineText = cfg.getString('cmdline');
  const root = cfg.getString('root');
  const extra = cfg.getString('extra');
  let cmdline: string | undefined;
  if (cmdlineText !== undefined) {
    cmdline = cmdlineText;
    if (root !== undefined || extra !== undefined)
      cfg.report.push('Warning: ignoring root= and extra= in favour of cmdline=\n');
  } else if (root !== undefined && extra !== undefined) {
    cmdline = `root=${root} ${extra}`;
  } else if (root !== undefined) {
    cmdline = `root=${root}`;
  } else if (extra !== undefined) {
    cmdline = extra;
  }
  rejectUnsupported(cfg, UNSUPPORTED.afterCmdline);
  const bootloader = cfg.getString('bootloader');
  rejectUnsupported(cfg, UNSUPPORTED.afterBootloader);

  if (domType === 'hvm') {
    const base = kernel === undefined ? '.' : kernel.replace(/\/+$/, '').split('/').pop() || '/';
    if (base === 'hvmloader') {
      cfg.report.push(
        'WARNING: you seem to be using "kernel" directive to override HVM guest firmware. Ignore that. Use "firmware_override" instead if you really want a non-default firmware\n',
      );
      kernel = undefined;
    }
    rejectUnsupported(cfg, UNSUPPORTED.hvm);
    rejectUnsupported(cfg, UNSUPPORTED.firmware);
  } else {
    rejectUnsupported(cfg, UNSUPPORTED.firmware);
    if (bootloader === undefined && kernel === undefined)
      fail(cfg, 'Neither kernel nor bootloader specified\n');
  }
  rejectUnsupported(cfg, UNSUPPORTED.afterType);

  let disks: LibxlDisk[] | undefined;
  const diskList = cfg.getList('disk');
  if (!diskList.e) {
    disks = [];
    for (const spec of stringItems(diskList.items)) {
      const d = parseDiskSpec(spec, src, cfg.report);
      if (!d) throw new XlExit(1);
      disks.push(d);
    }
  }
  rejectUnsupported(cfg, UNSUPPORTED.afterDisk);

  let nics: LibxlNic[] | undefined;
  const vifList = cfg.getList('vif');
  if (!vifList.e) {
    nics = stringItems(vifList.items).map((spec, i) => parseVifSpec(spec, i, cfg.report));
  }
  rejectUnsupported(cfg, UNSUPPORTED.afterVif);
  if (domType === 'hvm') rejectUnsupported(cfg, UNSUPPORTED.hvmDisplay);
  rejectUnsupported(cfg, UNSUPPORTED.tail);

  // After parsing, xl create ANDs every hard-affinity map with the global masks of xl.conf (all
  // pcpus here) and refuses a vcpu left with none.
  if (hardAffinity?.some((bits) => bits.length === 0)) fail(cfg, 'vcpu hard affinity map is empty\n');

  const bInfo: LibxlDomainConfig['b_info'] = {
    sched_params: {},
    claim_mode: 'True',
    arch_arm: {},
    arch_x86: {},
  };
  const ordered: LibxlDomainConfig['b_info'] = {} as LibxlDomainConfig['b_info'];
  if (maxVcpus) ordered.max_vcpus = maxVcpus;
  if (availVcpus && availVcpus.length > 0) ordered.avail_vcpus = availVcpus;
  if (hardAffinity && hardAffinity.length > 0) ordered.vcpu_hard_affinity = hardAffinity;
  if (numaPlacement) ordered.numa_placement = numaPlacement;
  if (tscMode && tscMode !== 'default') ordered.tsc_mode = tscMode;
  if (maxMemkb !== MEMKB_DEFAULT) ordered.max_memkb = Number(maxMemkb);
  if (targetMemkb !== MEMKB_DEFAULT) ordered.target_memkb = Number(targetMemkb);
  ordered.sched_params = bInfo.sched_params;
  ordered.claim_mode = bInfo.claim_mode;
  if (kernel !== undefined) ordered.kernel = kernel;
  if (cmdline !== undefined) ordered.cmdline = cmdline;
  if (ramdisk !== undefined) ordered.ramdisk = ramdisk;
  if (bootloader !== undefined) ordered.bootloader = bootloader;
  if (domType === 'pv') ordered['type.pv'] = e820Host ? { e820_host: 'True' } : {};
  else if (domType === 'pvh') ordered['type.pvh'] = {};
  else ordered['type.hvm'] = { vga: {}, vnc: {}, sdl: {}, spice: {}, rdm: {} };
  ordered.arch_arm = bInfo.arch_arm;
  ordered.arch_x86 = bInfo.arch_x86;

  const out: LibxlDomainConfig = {
    c_info: {
      type: domType,
      name,
      ...(uuid !== '00000000-0000-0000-0000-000000000000' ? { uuid } : {}),
      run_hotplug_scripts: 'True',
    },
    b_info: ordered,
  };
  if (disks && disks.length > 0) out.disks = disks;
  if (nics && nics.length > 0) out.nics = nics;
  if (pcidevs && pcidevs.length > 0) out.pcidevs = pcidevs;
  if (onPoweroff !== 'destroy') out.on_poweroff = onPoweroff;
  if (onReboot !== 'destroy') out.on_reboot = onReboot;
  if (onWatchdog !== 'destroy') out.on_watchdog = onWatchdog;
  if (onCrash !== 'destroy') out.on_crash = onCrash;
  if (onSoftReset !== 'destroy') out.on_soft_reset = onSoftReset;
  return out;
}
