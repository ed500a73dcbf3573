/**
 * TEMPORARY stand-in for sim/xlcfg/parse.ts (the real xl.cfg parser, being written on branch
 * xlcfg). Same API, deliberately minimal: simple `key = value` lines, strings, numbers and flat
 * lists; enough for the simulator's own tests. It is NOT xl's grammar (no escapes beyond \" \\,
 * no nested lists, few checks). Delete it once parse.ts is merged and xl/create.ts imports that.
 */
import { randomUUID } from 'node:crypto';

export type XlCfgResult =
  | { ok: true; config: Record<string, unknown>; warnings: string[] }
  | { ok: false; exitCode: number; stderr: string };

type Value = string | number | Value[];

function parseValue(src: string): Value | undefined {
  const s = src.trim();
  if (s.startsWith('[')) {
    const body = s.replace(/^\[/, '').replace(/\]$/, '');
    const items: Value[] = [];
    const re = /'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([^,\s]+)/g;
    for (let m = re.exec(body); m; m = re.exec(body)) {
      const v = m[1] ?? m[2];
      items.push(v !== undefined ? v.replace(/\\(.)/g, '$1') : Number(m[3]));
    }
    return items;
  }
  const q = /^'((?:[^'\\]|\\.)*)'$|^"((?:[^"\\]|\\.)*)"$/.exec(s);
  if (q) return (q[1] ?? q[2] ?? '').replace(/\\(.)/g, '$1');
  if (/^0x[0-9a-f]+$/i.test(s)) return Number.parseInt(s, 16);
  if (/^[0-9]+$/.test(s)) return Number.parseInt(s, 10);
  return undefined;
}

function kv(spec: string): Record<string, string> {
  const out: Record<string, string> = {};
  const t = spec.indexOf('target=');
  const head = t >= 0 ? spec.slice(0, t) : spec;
  for (const part of head.split(',')) {
    const [k, ...rest] = part.split('=');
    if (k?.trim()) out[k.trim()] = rest.join('=').trim();
  }
  if (t >= 0) out.target = spec.slice(t + 'target='.length);
  return out;
}

/** `cpus = "a-b,c"` (no ^ exclusions here) as one affinity list per vcpu. */
function cpuList(spec: string | undefined, vcpus: number): number[][] | undefined {
  if (spec === undefined) return undefined;
  const cpus: number[] = [];
  for (const part of spec.split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a ?? 0; c <= (b ?? a ?? 0); c++) cpus.push(c);
  }
  return Array.from({ length: vcpus }, () => [...cpus]);
}

export function parseXlCfg(text: string, fileName: string, extraLines: readonly string[] = []): XlCfgResult {
  const vals = new Map<string, Value>();
  const lines = [...text.split('\n'), ...extraLines];
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] ?? '').replace(/#.*$/, '').trim();
    if (!line) continue;
    const m = /^([a-z][._0-9a-z]*)\s*=\s*(.*?);?$/.exec(line);
    const v = m ? parseValue(m[2] ?? '') : undefined;
    if (!m || v === undefined) {
      return {
        ok: false,
        exitCode: 1,
        stderr: `${fileName}:${n + 1}: config parsing error near \`${line}'\n`,
      };
    }
    vals.set(m[1] as string, v);
  }
  const str = (k: string): string | undefined => {
    const v = vals.get(k);
    return typeof v === 'string' ? v : undefined;
  };
  const num = (k: string): number | undefined => {
    const v = vals.get(k);
    return typeof v === 'number' ? v : undefined;
  };
  const name = str('name');
  if (!name) return { ok: false, exitCode: 1, stderr: 'Domain name must be specified.\n' };
  const t = str('type');
  const type = t === undefined ? 'pv' : 'hvm'.startsWith(t) ? 'hvm' : 'pv'.startsWith(t) ? 'pv' : 'pvh';
  if (type === 'pv' && !str('kernel') && !str('bootloader')) {
    return { ok: false, exitCode: 1, stderr: 'Neither kernel nor bootloader specified\n' };
  }
  const vcpus = num('vcpus') ?? 1;
  const memory = num('memory') ?? 128;
  const maxmem = num('maxmem') ?? memory;
  const bInfo: Record<string, unknown> = {
    max_vcpus: num('maxvcpus') ?? vcpus,
    avail_vcpus: Array.from({ length: vcpus }, (_, i) => i),
    vcpu_hard_affinity: cpuList(str('cpus'), vcpus),
    max_memkb: maxmem * 1024,
    target_memkb: memory * 1024,
    sched_params: {},
    claim_mode: 'True',
    kernel: str('kernel'),
    cmdline: str('cmdline'),
    ramdisk: str('ramdisk'),
    [`type.${type}`]: {},
    arch_arm: {},
    arch_x86: {},
  };
  const config: Record<string, unknown> = {
    c_info: { type, name, uuid: str('uuid') ?? randomUUID(), run_hotplug_scripts: 'True' },
    b_info: bInfo,
  };
  const list = (k: string): string[] => {
    const v = vals.get(k);
    return Array.isArray(v) ? v.map(String) : [];
  };
  const disks = list('disk').map((d) => {
    const o = kv(d);
    return {
      pdev_path: o.target,
      vdev: o.vdev,
      format: o.format ?? 'raw',
      readwrite: o.access === 'ro' ? 0 : 1,
    };
  });
  if (disks.length) config.disks = disks;
  const nics = list('vif').map((v, devid) => {
    const o = kv(v);
    return { devid, mac: o.mac, ip: o.ip, bridge: o.bridge, ifname: o.vifname };
  });
  if (nics.length) config.nics = nics;
  const pcidevs: Record<string, unknown>[] = [];
  for (const p of list('pci')) {
    const m = /^(?:([0-9a-f]{1,4}):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])/i.exec(p);
    if (!m)
      return { ok: false, exitCode: 6, stderr: `xl: unable to parse PCI BDF \`${p}' for passthrough\n` };
    const e: Record<string, unknown> = {};
    const dom = Number.parseInt(m[1] ?? '0', 16);
    const bus = Number.parseInt(m[2] ?? '0', 16);
    const dev = Number.parseInt(m[3] ?? '0', 16);
    const func = Number.parseInt(m[4] ?? '0', 16);
    if (dom) e.domain = dom;
    if (bus) e.bus = bus;
    if (dev) e.dev = dev;
    if (func) e.func = func;
    pcidevs.push({ ...e, vfunc_mask: 1, rdm_policy: 'strict' });
  }
  if (pcidevs.length) config.pcidevs = pcidevs;
  const action = (k: string, dflt: string | undefined): void => {
    const v = (str(k) ?? dflt)?.replace(/-/g, '_');
    if (v && v !== 'destroy') config[k] = v;
  };
  action('on_poweroff', undefined);
  action('on_reboot', 'restart');
  action('on_crash', undefined);
  config.on_soft_reset = 'soft_reset';
  return { ok: true, config: JSON.parse(JSON.stringify(config)), warnings: [] };
}
