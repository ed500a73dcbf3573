import { atoi, scanHexUint } from './c-strings.js';

/** One entry of libxl's `pcidevs` array as xl -N prints it. */
export interface LibxlPci {
  func?: number;
  dev?: number;
  bus?: number;
  domain?: number;
  vdevfn?: number;
  vfunc_mask?: number;
  msitranslate?: boolean;
  power_mgmt?: boolean;
  permissive?: boolean;
  seize?: boolean;
  rdm_policy?: 'strict' | 'relaxed';
  name?: string;
}

export interface PciDefaults {
  msitranslate: boolean;
  power_mgmt: boolean;
  permissive: boolean;
  seize: boolean;
  /** The domain-wide RDM policy the device inherits (xl reads it even for PV guests). */
  rdm_policy: 'strict' | 'relaxed' | undefined;
}

/** xl's outcome for a PCI_SPEC_STRING: the device, or libxl's error (exit 6) or a crash. */
export type PciParse = { ok: true; pci: LibxlPci } | { ok: false; crash: boolean };

const LIBXL_PCI_FUNC_ALL = 0xffffffff;

interface Bdf {
  domain: number;
  bus: number;
  dev: number;
  func: number;
  vfuncMask: number;
  next: number;
}

/** sscanf with a format of %x conversions and literal characters; counts conversions done. */
function scanFormat(s: string, from: number, parts: readonly string[]): { values: number[]; next: number } {
  const values: number[] = [];
  let at = from;
  for (const part of parts) {
    if (part === '%x') {
      const r = scanHexUint(s, at);
      if (!r) return { values, next: -1 };
      values.push(r.value);
      at = r.next;
    } else if (s[at] === part) {
      at++;
    } else {
      return { values, next: -1 };
    }
  }
  return { values, next: at };
}

/**
 * parse_bdf in libxlutil. Where sscanf converts the numbers but the "." after the device is
 * missing, the real code adds an uninitialised offset to its pointer: xl 4.17 crashes (SIGSEGV)
 * on e.g. "0000:03:00"; that outcome is reported as `crash`.
 */
function parseBdf(str: string): Bdf | 'inval' | 'crash' {
  let colons = 0;
  for (let i = 0; i < str.length && /[0-9a-fA-F:]/.test(str[i] as string); i++) if (str[i] === ':') colons++;
  let domain = 0;
  let bus: number;
  let dev: number;
  let at: number;
  if (colons === 1) {
    const r = scanFormat(str, 0, ['%x', ':', '%x', '.']);
    if (r.values.length !== 2) return 'inval';
    if (r.next < 0) return 'crash';
    [bus, dev] = r.values as [number, number];
    at = r.next;
  } else if (colons === 2) {
    const r = scanFormat(str, 0, ['%x', ':', '%x', ':', '%x', '.']);
    if (r.values.length !== 3) return 'inval';
    if (r.next < 0) return 'crash';
    [domain, bus, dev] = r.values as [number, number, number];
    at = r.next;
  } else {
    return 'inval';
  }
  if (domain > 0xffff || bus > 0xff || dev > 0x1f) return 'inval';
  if (str[at] === '*') return { domain, bus, dev, func: 0, vfuncMask: LIBXL_PCI_FUNC_ALL, next: at + 1 };
  const f = scanHexUint(str, at);
  if (!f || f.value > 7) return 'inval';
  return { domain, bus, dev, func: f.value, vfuncMask: 1, next: f.next };
}

function parseVslot(str: string, from: number): { vdevfn: number; next: number } | null {
  const r = scanHexUint(str, from);
  if (!r || r.value > 0x1f) return null;
  return { vdevfn: r.value << 3, next: r.next };
}

/**
 * xlu_pci_parse_spec_string: `[DDDD:]BB:DD.F[@VSLOT][,key=value...]` or `bdf=...`/`name=...`
 * keys. Diagnostics (printed without a newline by libxlutil) go to `report`.
 */
export function parsePciSpec(spec: string, defaults: PciDefaults, report: string[]): PciParse {
  const pci = {
    domain: 0,
    bus: 0,
    dev: 0,
    func: 0,
    vdevfn: 0,
    vfuncMask: 0,
    msitranslate: defaults.msitranslate,
    power_mgmt: defaults.power_mgmt,
    permissive: defaults.permissive,
    seize: defaults.seize,
    rdm_policy: defaults.rdm_policy as 'strict' | 'relaxed' | undefined,
    name: undefined as string | undefined,
  };
  const fail: PciParse = { ok: false, crash: false };
  let bdfPresent = false;
  let namePresent = false;
  const applyBdf = (b: Bdf) => {
    pci.domain = b.domain;
    pci.bus = b.bus;
    pci.dev = b.dev;
    pci.func = b.func;
    pci.vfuncMask = b.vfuncMask;
  };
  let ptr = 0;
  const first = parseBdf(spec);
  if (first === 'crash') return { ok: false, crash: true };
  if (first !== 'inval') {
    bdfPresent = true;
    applyBdf(first);
    ptr = first.next;
    if (spec[ptr] === '@') {
      const v = parseVslot(spec, ptr + 1);
      if (!v) return fail;
      pci.vdevfn = v.vdevfn;
      ptr = v.next;
    }
    if (spec[ptr] === ',') ptr++;
    else if (ptr < spec.length) return fail;
  }
  while (ptr < spec.length) {
    const eq = spec.indexOf('=', ptr);
    if (eq < 0) return fail;
    const key = spec.slice(ptr, eq);
    let end = spec.indexOf(',', eq + 1);
    if (end < 0) end = spec.length;
    const val = spec.slice(eq + 1, end);
    ptr = end < spec.length ? end + 1 : end;
    if (key === 'bdf') {
      const b = parseBdf(val);
      if (b === 'crash') return { ok: false, crash: true };
      if (b === 'inval') return fail;
      applyBdf(b);
      bdfPresent = true;
    } else if (key === 'vslot') {
      const v = parseVslot(val, 0);
      if (!v) return fail;
      pci.vdevfn = v.vdevfn;
    } else if (key === 'permissive') {
      pci.permissive = atoi(val) !== 0;
    } else if (key === 'msitranslate') {
      pci.msitranslate = atoi(val) !== 0;
    } else if (key === 'seize') {
      pci.seize = atoi(val) !== 0;
    } else if (key === 'power_mgmt') {
      pci.power_mgmt = atoi(val) !== 0;
    } else if (key === 'rdm_policy') {
      const lower = val.toLowerCase();
      if (lower !== 'strict' && lower !== 'relaxed') {
        report.push(`Unknown RDM policy: ${val}`);
        return fail;
      }
      pci.rdm_policy = lower;
    } else if (key === 'name') {
      namePresent = true;
      pci.name = val;
    } else {
      report.push(`Unknown PCI_SPEC_STRING option: ${key}`);
      return fail;
    }
  }
  if (bdfPresent === namePresent) return fail;
  const out: LibxlPci = {};
  if (pci.func) out.func = pci.func;
  if (pci.dev) out.dev = pci.dev;
  if (pci.bus) out.bus = pci.bus;
  if (pci.domain) out.domain = pci.domain;
  if (pci.vdevfn) out.vdevfn = pci.vdevfn;
  if (pci.vfuncMask) out.vfunc_mask = pci.vfuncMask;
  if (pci.msitranslate) out.msitranslate = true;
  if (pci.power_mgmt) out.power_mgmt = true;
  if (pci.permissive) out.permissive = true;
  if (pci.seize) out.seize = true;
  if (pci.rdm_policy) out.rdm_policy = pci.rdm_policy;
  if (pci.name !== undefined) out.name = pci.name;
  return { ok: true, pci: out };
}
