import type { DomainSpec } from '../schema/domain-spec.js';

/**
 * The xl.cfg writer: one DomainSpec in, the text of an xl domain config file out. Pure.
 *
 * Every string value goes through xlString(), the one quoting function, so no value can end its
 * statement, open a comment or add a key, whatever it holds. Values that xl parses a second time
 * (the `disk`, `vif` and `pci` spec strings) are also checked for the separators of that inner
 * syntax, because there quoting does not help: a comma in a MAC would start a new key.
 *
 * Lifecycle actions (decided here, explained in docs/backends.md):
 * - on_crash = "preserve": a crashed guest stays listed with shutdown reason `c`, so the manager
 *   sees a crash as a crash (the contract requires it).
 * - on_poweroff = "preserve": a guest poweroff stays listed as shut down with reason `-`. That is
 *   positive evidence of a poweroff: a domain that merely vanished was destroyed by someone. The
 *   manager destroys the preserved domain once it has recorded the poweroff.
 * - on_reboot = "restart": a guest reboot stays the guest's business; xl's per-domain monitor
 *   rebuilds the domain with the same name and uuid (and a new domid, which is why the backends
 *   address xl domains by name). The rebuilt domain's vifs get netback's default offload keys:
 *   the offload zeroing happens only on domainmgr's own create path.
 */
export interface XlConfigOptions {
  /**
   * Write `name`. False for the stage1-xen seed config: stage1 appends its own name (the pod
   * uuid), kernel and ramdisk, and the last assignment of a key wins in xl.cfg.
   */
  includeName?: boolean;
  /** Write `type`. False for the stage1-xen seed config, where stage1 picks pv or pvh. */
  includeType?: boolean;
}

export const XL_LIFECYCLE = {
  on_poweroff: 'preserve',
  on_reboot: 'restart',
  on_crash: 'preserve',
} as const;

/** A value that cannot be written into an xl.cfg without changing its meaning. */
export class XlConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XlConfigError';
  }
}

const NAMED_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '"': '\\"',
  "'": "\\'",
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
};

/**
 * A double-quoted xl.cfg string that xl's parser reads back as exactly `value`.
 *
 * libxlu understands `\" \' \\ \a \b \f \n \r \t \v`; any other control character has no
 * faithful spelling: its octal escape is accepted by the parser but the character is dropped
 * (libxlu_cfg.c reads the digits and never stores the value), and `\x` always fails. Such a
 * value is refused rather than silently changed.
 */
export function xlString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const named = NAMED_ESCAPES[ch];
    if (named !== undefined) {
      out += named;
      continue;
    }
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) {
      throw new XlConfigError(
        `control character U+${code.toString(16).padStart(4, '0')} cannot be written into an xl.cfg string`,
      );
    }
    out += ch;
  }
  return `${out}"`;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const BDF = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const DISK_WORD = /^[a-z0-9]+$/;

/** The xl.cfg text for `spec`. Throws XlConfigError for a value xl would misread. */
export function renderXlConfig(spec: DomainSpec, options: XlConfigOptions = {}): string {
  const lines: string[] = ['# Written by domainmgr; rewritten at every create.'];
  const set = (key: string, value: string | number) => {
    lines.push(`${key} = ${typeof value === 'number' ? xlNumber(key, value) : xlString(value)}`);
  };
  const setList = (key: string, items: readonly string[]) => {
    if (items.length > 0) lines.push(`${key} = [ ${items.map(xlString).join(', ')} ]`);
  };

  if (options.includeName ?? true) set('name', spec.name);
  set('uuid', spec.uuid);
  if ((options.includeType ?? true) && spec.type === 'vm') set('type', spec.virtualizationMode);
  set('memory', spec.memoryMiB);
  set('maxmem', spec.maxMemoryMiB);
  set('vcpus', spec.vcpus);
  set('maxvcpus', spec.maxVcpus);
  if (spec.cpus !== undefined) set('cpus', spec.cpus);
  if (spec.kernel !== undefined) set('kernel', spec.kernel);
  if (spec.ramdisk !== undefined) set('ramdisk', spec.ramdisk);
  if (spec.cmdline !== undefined) set('cmdline', spec.cmdline);
  setList('disk', diskSpecs(spec));
  setList('vif', vifSpecs(spec));
  setList(
    'pci',
    spec.pciDevices.map((d, i) => {
      if (!BDF.test(d.bdf)) throw new XlConfigError(`/pciDevices/${i}/bdf is not a PCI address: ${d.bdf}`);
      return d.bdf;
    }),
  );
  set('on_poweroff', XL_LIFECYCLE.on_poweroff);
  set('on_reboot', XL_LIFECYCLE.on_reboot);
  set('on_crash', XL_LIFECYCLE.on_crash);
  return `${lines.join('\n')}\n`;
}

function xlNumber(key: string, value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new XlConfigError(`${key} must be a whole number`);
  return String(value);
}

/** Virtual disk names for disks that name none: xvda, xvdb, ... skipping names in use. */
export function assignVdevs(disks: DomainSpec['disks']): string[] {
  const taken = new Set(disks.map((d) => d.vdev).filter((v): v is string => v !== undefined));
  let next = 0;
  return disks.map((d) => {
    if (d.vdev !== undefined) return d.vdev;
    for (;;) {
      const candidate = `xvd${letters(next++)}`;
      if (!taken.has(candidate)) {
        taken.add(candidate);
        return candidate;
      }
    }
  });
}

/** 0 -> a, 25 -> z, 26 -> aa (the Linux disk naming). */
function letters(n: number): string {
  let s = '';
  let i = n;
  do {
    s = String.fromCharCode(97 + (i % 26)) + s;
    i = Math.floor(i / 26) - 1;
  } while (i >= 0);
  return s;
}

function diskSpecs(spec: DomainSpec): string[] {
  const vdevs = assignVdevs(spec.disks);
  return spec.disks.map((d, i) => {
    const vdev = vdevs[i] ?? '';
    if (!DISK_WORD.test(d.format)) throw new XlConfigError(`/disks/${i}/format is not a disk format`);
    if (!DISK_WORD.test(vdev)) throw new XlConfigError(`/disks/${i}/vdev is not a virtual disk name`);
    // target= must come last: xl's disk parser takes everything after it, commas included, as
    // the path, so a path can hold any character the cfg string can carry.
    return `format=${d.format}, vdev=${vdev}, access=${d.readOnly ? 'ro' : 'rw'}, target=${d.path}`;
  });
}

function vifSpecs(spec: DomainSpec): string[] {
  return spec.vifs.map((v, i) => {
    const mac = v.mac.toLowerCase();
    // xl only warns about a bad MAC or an unknown key and creates the domain anyway.
    if (!MAC.test(mac)) throw new XlConfigError(`/vifs/${i}/mac is not a MAC address: ${v.mac}`);
    const parts = [`mac=${mac}`, `bridge=${vifWord(v.bridge, i, 'bridge')}`];
    if (v.ip !== undefined) parts.push(`ip=${vifWord(v.ip, i, 'ip')}`);
    if (v.vifName !== undefined) parts.push(`vifname=${vifWord(v.vifName, i, 'vifName')}`);
    return parts.join(',');
  });
}

/** A value inside a vif spec: its commas and equals signs would be read as new keys. */
function vifWord(value: string, index: number, field: string): string {
  if (value === '' || /[,=\s]/.test(value)) {
    throw new XlConfigError(
      `/vifs/${index}/${field} cannot hold commas, '=' or spaces: ${JSON.stringify(value)}`,
    );
  }
  return value;
}
