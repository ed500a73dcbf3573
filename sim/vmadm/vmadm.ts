import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { SimHost } from '../core/host.js';
import type { SmartVm } from '../core/state.js';
import { type Invocation, result, type ToolOutcome, type ToolResult } from '../core/types.js';

/**
 * vmadm on a separate simulated SmartOS host (its own VM namespace and memory). Success
 * messages go to stderr, stdout carries data only; exit 0 success, 1 error, 2 usage.
 */

const BRANDS = ['joyent', 'joyent-minimal', 'lx', 'kvm', 'bhyve'] as const;
const TYPES: Record<string, string> = {
  joyent: 'OS',
  'joyent-minimal': 'OS',
  lx: 'LX',
  kvm: 'KVM',
  bhyve: 'BHYV',
};
const HW_BRANDS = new Set(['kvm', 'bhyve']);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const USAGE = [
  'Usage: /usr/vm/sbin/vmadm <command> [options]',
  '',
  'create [-f <filename>]',
  'console <uuid>',
  'delete <uuid>',
  'get <uuid>',
  'info <uuid> [type,...]',
  'list [-p] [-H] [-o field,...] [-s field,...] [field=value ...]',
  'lookup [-j|-1] [-o field,...] [field=value ...]',
  'reboot <uuid> [-F]',
  'start <uuid> [option=value ...]',
  'stop <uuid> [-F] [-t timeout]',
  'update <uuid> [-f <filename>]',
  ' -or- update <uuid> property=value [property=value ...]',
  '',
  "For more detailed information on the use of this command,type 'man vmadm'.",
  '',
].join('\n');

function usage(message?: string): ToolResult {
  return result(2, '', `${message ? `${message}\n` : ''}${USAGE}`);
}

const ok = (msg: string, stdout = ''): ToolResult => result(0, stdout, `${msg}\n`);
const err = (msg: string): ToolResult => result(1, '', `${msg}\n`);

/** The shape vmadm's getUUID accepts (length 36, dashes in place); anything else is usage. */
function uuidShape(s: string | undefined): s is string {
  return (
    s !== undefined && s.length === 36 && s[8] === '-' && s[13] === '-' && s[18] === '-' && s[23] === '-'
  );
}

function vms(host: SimHost): SmartVm[] {
  return host.state.smartos.vms;
}

function find(host: SimHost, uuid: string): SmartVm | undefined {
  return vms(host).find((v) => v.props.uuid === uuid);
}

/** The VM as vmadm get / lookup -j show it: stored properties plus the live ones. */
function view(host: SimHost, vm: SmartVm): Record<string, unknown> {
  const p: Record<string, unknown> = { ...vm.props };
  p.state = vm.state;
  p.zone_state = vm.state === 'running' ? 'running' : vm.state === 'stopping' ? 'shutting_down' : 'installed';
  if (vm.state === 'running' && vm.bootedAt !== null) {
    p.pid = 10000 + (Number.parseInt(String(p.uuid).slice(0, 4), 16) % 50000);
    p.boot_timestamp = new Date(vm.bootedAt).toISOString();
  } else {
    delete p.pid;
  }
  void host;
  return Object.fromEntries(Object.entries(p).sort(([a], [b]) => a.localeCompare(b)));
}

function memMiB(vm: SmartVm): number {
  return Number(vm.props.max_physical_memory ?? 0);
}

function freeMiB(host: SimHost): number {
  let used = 0;
  for (const v of vms(host)) if (v.state !== 'stopped') used += memMiB(v);
  return host.state.config.smartosTotalMemoryMiB - used;
}

function boot(host: SimHost, vm: SmartVm): string | null {
  if (memMiB(vm) > freeMiB(host)) return 'not enough free memory on the host';
  vm.state = 'running';
  vm.bootedAt = host.now();
  host.touch();
  return null;
}

function halt(host: SimHost, vm: SmartVm): void {
  vm.state = 'stopped';
  vm.bootedAt = null;
  host.touch();
  host.emit({ type: 'vm-state', uuid: String(vm.props.uuid) });
}

const NUMERIC = [
  'ram',
  'max_physical_memory',
  'vcpus',
  'max_swap',
  'max_locked_memory',
  'quota',
  'cpu_cap',
  'cpu_shares',
];
const UPDATABLE = new Set([
  ...NUMERIC,
  'alias',
  'autoboot',
  'hostname',
  'customer_metadata',
  'tags',
  'pci_devices',
  'update_pci_devices',
  'add_pci_devices',
  'remove_pci_devices',
  'resolvers',
]);

function invalidNumbers(obj: Record<string, unknown>): string[] {
  const bad: string[] = [];
  for (const k of NUMERIC) {
    if (!(k in obj)) continue;
    const v = obj[k];
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) bad.push(k);
    else obj[k] = n;
  }
  return bad;
}

function validPciDevices(v: unknown): boolean {
  return (
    Array.isArray(v) &&
    v.every(
      (d) => d !== null && typeof d === 'object' && typeof (d as Record<string, unknown>).path === 'string',
    )
  );
}

function normalisePci(list: unknown[]): Record<string, unknown>[] {
  return list.map((d, i) => {
    const o = d as Record<string, unknown>;
    return { path: o.path, pci_slot: o.pci_slot ?? `${i + 6}:0:0`, model: o.model ?? 'passthru' };
  });
}

type Payload = { ok: true; payload: Record<string, unknown> } | { ok: false; result: ToolResult };

function readPayload(inv: Invocation, file: string | null): Payload {
  let text: string;
  if (file === null || file === '-') {
    if (inv.stdin === null)
      return { ok: false, result: usage('Will not create from stdin when stdin is a tty.') };
    text = inv.stdin;
  } else {
    try {
      text = readFileSync(isAbsolute(file) ? file : resolve(inv.cwd, file), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        return { ok: false, result: err(`File: ${file} does not exist.`) };
      return {
        ok: false,
        result: err(`Error reading: ${file} ${JSON.stringify({ code: (e as NodeJS.ErrnoException).code })}`),
      };
    }
  }
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      return { ok: false, result: err('Invalid JSON payload: not an object') };
    return { ok: true, payload: v as Record<string, unknown> };
  } catch (e) {
    return { ok: false, result: err(`Invalid JSON payload: ${(e as Error).message}`) };
  }
}

function fileFlag(args: string[]): { file: string | null; rest: string[] } {
  const rest: string[] = [];
  let file: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-f' || a === '--file') file = args[++i] ?? '-';
    else if (a.startsWith('--file=')) file = a.slice(7);
    else if (a.startsWith('-f') && a.length > 2) file = a.slice(2);
    else rest.push(a);
  }
  return { file, rest };
}

function create(host: SimHost, inv: Invocation, args: string[]): ToolResult {
  const { file } = fileFlag(args);
  const read = readPayload(inv, file);
  if (!read.ok) return read.result;
  const p = structuredClone(read.payload);
  const brand = p.brand === undefined ? 'joyent' : p.brand;
  if (typeof brand !== 'string' || !(BRANDS as readonly string[]).includes(brand)) {
    return err(`Unsupported brand: ${String(brand)}`);
  }
  p.brand = brand;
  const bad = invalidNumbers(p);
  if (p.uuid !== undefined && (typeof p.uuid !== 'string' || !UUID_RE.test(p.uuid))) bad.push('uuid');
  if (p.alias !== undefined && typeof p.alias !== 'string') bad.push('alias');
  if (p.autoboot !== undefined && typeof p.autoboot !== 'boolean') bad.push('autoboot');
  if (p.pci_devices !== undefined && (brand !== 'bhyve' || !validPciDevices(p.pci_devices)))
    bad.push('pci_devices');
  if (bad.length) return err(`Invalid value(s) for: ${bad.join(',')}`);
  if (!HW_BRANDS.has(brand) && p.image_uuid === undefined)
    return err('Missing required properties: image_uuid');
  const uuid = typeof p.uuid === 'string' ? p.uuid : randomUUID();
  if (find(host, uuid)) return err(`VM with UUID ${uuid} already exists`);
  p.uuid = uuid;
  p.zonename = uuid;
  p.zonepath = `/zones/${uuid}`;
  p.autoboot = p.autoboot ?? true;
  if (HW_BRANDS.has(brand)) {
    p.ram = p.ram ?? 256;
    p.max_physical_memory = p.max_physical_memory ?? Number(p.ram) + 1024;
    p.vcpus = p.vcpus ?? 1;
  } else {
    // For zones "ram" is another name for max_physical_memory.
    p.max_physical_memory = p.max_physical_memory ?? p.ram ?? 256;
    delete p.ram;
  }
  p.max_locked_memory = p.max_locked_memory ?? p.max_physical_memory;
  p.max_swap = p.max_swap ?? Math.max(Number(p.max_physical_memory), 256);
  p.nics = Array.isArray(p.nics)
    ? p.nics.map((n, i) => ({
        interface: `net${i}`,
        mac: `90:b8:d0:${randomUUID()
          .slice(0, 6)
          .replace(/(..)(?=.)/g, '$1:')}`,
        nic_tag: 'admin',
        ips: ['dhcp'],
        model: HW_BRANDS.has(brand) ? 'virtio' : undefined,
        primary: i === 0 ? true : undefined,
        ...(n as Record<string, unknown>),
      }))
    : [];
  p.disks = Array.isArray(p.disks) ? p.disks : [];
  if (brand === 'bhyve') p.pci_devices = normalisePci(Array.isArray(p.pci_devices) ? p.pci_devices : []);
  p.customer_metadata = p.customer_metadata ?? {};
  p.internal_metadata = p.internal_metadata ?? {};
  p.tags = p.tags ?? {};
  p.create_timestamp = new Date(host.now()).toISOString();
  const vm: SmartVm = {
    props: JSON.parse(JSON.stringify(p)),
    state: 'stopped',
    bootedAt: null,
    guestHung: false,
  };
  if (p.autoboot === true) {
    if (memMiB(vm) > freeMiB(host))
      return err(`Failed to create VM ${uuid}: not enough free memory on the host`);
    boot(host, vm);
  }
  vms(host).push(vm);
  host.touch();
  return ok(`Successfully created VM ${uuid}`);
}

function start(host: SimHost, uuid: string): ToolResult {
  const vm = find(host, uuid);
  if (!vm) return err(`Unable to start VM ${uuid}: VM ${uuid} not found`);
  if (vm.state !== 'stopped') return ok(`VM ${uuid} is already 'running'`);
  const why = boot(host, vm);
  if (why) return err(`Unable to start VM ${uuid}: ${why}`);
  return ok(`Successfully started VM ${uuid}`);
}

function stop(host: SimHost, uuid: string, args: string[], reboot: boolean): ToolOutcome {
  let force = false;
  let timeoutSecs: number | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-F' || a === '--force') force = true;
    else if (a === '-t' || a === '--timeout') {
      const v = args[++i];
      if (v === undefined || !/^\d+$/.test(v)) return usage('Invalid timeout');
      timeoutSecs = Number(v);
    } else return usage(`Invalid argument to ${reboot ? 'reboot' : 'stop'}: ${a}`);
  }
  const vm = find(host, uuid);
  if (!vm) return err(`VM ${uuid} not found`);
  const brand = String(vm.props.brand);
  if (timeoutSecs !== null && !HW_BRANDS.has(brand) && vm.props.docker !== true) {
    return err(`Unable to stop VM ${uuid}: the -t option is only supported for bhyve, kvm and docker VMs`);
  }
  if (vm.state === 'stopped') {
    return reboot
      ? err(`Unable to reboot VM ${uuid}: VM is not running`)
      : ok(`VM ${uuid} is already not 'running' (currently: stopped)`);
  }
  const done = (): ToolResult => {
    if (reboot) {
      const why = boot(host, vm);
      if (why) return err(`Unable to reboot VM ${uuid}: ${why}`);
      return ok(`Successfully completed reboot for VM ${uuid}`);
    }
    return ok(`Successfully completed stop for VM ${uuid}`);
  };
  if (force) {
    halt(host, vm);
    return done();
  }
  // Graceful: the guest stops after a short while; a hung guest is halted when the grace ends.
  const grace = (timeoutSecs ?? (HW_BRANDS.has(brand) ? 180 : 60)) * 1000;
  const delay = vm.guestHung ? grace : Math.min(grace, host.state.config.vmadmStopDelayMs);
  vm.state = 'stopping';
  host.touch();
  // A caller that goes away does not cancel the stop: like the real command killed midway,
  // the zone shutdown it started carries on.
  return new Promise<ToolResult>((resolveP) => {
    setTimeout(() => {
      if (vm.state === 'stopping') halt(host, vm);
      host.persistIfDirty();
      resolveP(done());
    }, delay);
  });
}

function del(host: SimHost, uuid: string): ToolResult {
  const vm = find(host, uuid);
  if (!vm) return err(`Failed to delete VM ${uuid}: VM ${uuid} not found`);
  host.state.smartos.vms = vms(host).filter((v) => v !== vm);
  host.touch();
  return ok(`Successfully deleted VM ${uuid}`);
}

function coerce(v: string): unknown {
  if (v === 'true') return true;
  if (v === 'false') return false;
  return v;
}

function update(host: SimHost, inv: Invocation, uuid: string, args: string[]): ToolResult {
  const { file, rest } = fileFlag(args);
  let changes: Record<string, unknown>;
  if (rest.length > 0) {
    changes = {};
    for (const kv of rest) {
      const eq = kv.indexOf('=');
      if (eq < 0) return usage(`Bad arguments: unable to split ${kv}`);
      changes[kv.slice(0, eq)] = coerce(kv.slice(eq + 1));
    }
  } else {
    const read = readPayload(inv, file);
    if (!read.ok) return read.result;
    changes = read.payload;
  }
  const vm = find(host, uuid);
  if (!vm) return err(`VM ${uuid} not found`);
  const brand = String(vm.props.brand);
  const bad = invalidNumbers(changes);
  for (const k of Object.keys(changes)) if (!UPDATABLE.has(k) && !bad.includes(k)) bad.push(k);
  for (const k of ['pci_devices', 'update_pci_devices', 'add_pci_devices']) {
    if (k in changes && (brand !== 'bhyve' || !validPciDevices(changes[k]))) bad.push(k);
  }
  if ('remove_pci_devices' in changes && (brand !== 'bhyve' || !Array.isArray(changes.remove_pci_devices))) {
    bad.push('remove_pci_devices');
  }
  if (bad.length) return err(`Invalid value(s) for: ${bad.join(',')}`);
  const p = vm.props;
  for (const [k, v] of Object.entries(changes)) {
    if (k === 'ram' && !HW_BRANDS.has(brand)) p.max_physical_memory = v;
    else if (k === 'add_pci_devices')
      p.pci_devices = normalisePci([...((p.pci_devices as unknown[]) ?? []), ...(v as unknown[])]);
    else if (k === 'remove_pci_devices') {
      const drop = new Set((v as unknown[]).map(String));
      p.pci_devices = ((p.pci_devices as Record<string, unknown>[]) ?? []).filter(
        (d) => !drop.has(String(d.path)),
      );
    } else if (k === 'update_pci_devices' || k === 'pci_devices')
      p.pci_devices = normalisePci(v as unknown[]);
    else p[k] = v;
  }
  host.touch();
  return ok(`Successfully updated VM ${uuid}`);
}

const LIST_FIELDS: Record<string, { header: string; width: number }> = {
  alias: { header: 'ALIAS', width: 10 },
  autoboot: { header: 'AUTOBOOT', width: 8 },
  brand: { header: 'BRAND', width: 14 },
  cpu_cap: { header: 'CPU_CAP', width: 7 },
  create_timestamp: { header: 'CREATE_TIMESTAMP', width: 24 },
  hostname: { header: 'HOSTNAME', width: 32 },
  image_uuid: { header: 'IMAGE_UUID', width: 36 },
  ram: { header: 'RAM', width: 7 },
  max_physical_memory: { header: 'MAX_PHYS', width: 8 },
  max_swap: { header: 'MAX_SWAP', width: 8 },
  pid: { header: 'PID', width: 6 },
  zone_state: { header: 'ZONE_STATE', width: 10 },
  state: { header: 'STATE', width: 16 },
  type: { header: 'TYPE', width: 4 },
  uuid: { header: 'UUID', width: 36 },
  vcpus: { header: 'VCPUS', width: 5 },
  zonename: { header: 'ZONENAME', width: 12 },
  zonepath: { header: 'ZONEPATH', width: 40 },
};

/** The object vmadm list and lookup filter and print: the VM plus its fake fields (type, ram). */
function listable(host: SimHost, vm: SmartVm): Record<string, unknown> {
  const v = view(host, vm);
  v.type = TYPES[String(v.brand)] ?? 'OS';
  if (v.brand !== 'kvm' && v.brand !== 'bhyve') v.ram = v.max_physical_memory;
  return v;
}

function flatten(obj: Record<string, unknown>, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function filterArgs(args: string[]): { filters: [string, string][]; flags: string[] } | ToolResult {
  const filters: [string, string][] = [];
  const flags: string[] = [];
  for (const a of args) {
    if (a.startsWith('-')) flags.push(a);
    else {
      const eq = a.indexOf('=');
      if (eq < 0) return usage(`Bad arguments: unable to split ${a}`);
      filters.push([a.slice(0, eq), a.slice(eq + 1)]);
    }
  }
  return { filters, flags };
}

function matches(v: Record<string, unknown>, filters: [string, string][]): boolean {
  return filters.every(([k, want]) => {
    const got = flatten(v, k);
    return got !== undefined && String(got) === want;
  });
}

function list(host: SimHost, args: string[]): ToolResult {
  let parsable = false;
  let header = true;
  let order = 'uuid,type,ram,state,alias';
  let sortby = 'ram,uuid';
  const plain: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-p' || a === '--parsable') {
      parsable = true;
      header = false;
    } else if (a === '-H') header = false;
    else if (a === '-h') header = true;
    else if (a === '-o' || a === '--order') order = args[++i] ?? '';
    else if (a === '-s' || a === '--sortby') sortby = args[++i] ?? '';
    else if (a.startsWith('-')) return usage(`Invalid option: ${a}`);
    else plain.push(a);
  }
  const fa = filterArgs(plain);
  if ('exitCode' in fa) return fa;
  for (const [k] of fa.filters)
    if (!(k in LIST_FIELDS) && !/^(nics|disks)\.\d+\.|^(tags|customer_metadata)\./.test(k))
      return err(`Invalid filter key: "${k}"`);
  const fields = order.split(',');
  for (const f of fields) if (!LIST_FIELDS[f]) return err(`invalid order field: ${f}`);
  const sorts = sortby.split(',');
  for (const s of sorts) if (!LIST_FIELDS[s.replace(/^[-+]/, '')]) return err(`invalid sort field: ${s}`);
  const rows = vms(host)
    .map((vm) => listable(host, vm))
    .filter((v) => matches(v, fa.filters));
  rows.sort((a, b) => {
    for (const s of sorts) {
      const dir = s.startsWith('-') ? -1 : 1;
      const k = s.replace(/^[-+]/, '');
      const av = a[k] as string | number | undefined;
      const bv = b[k] as string | number | undefined;
      if (av === bv) continue;
      if (av === undefined) return dir;
      if (bv === undefined) return -dir;
      return (av > bv ? 1 : -1) * dir;
    }
    return 0;
  });
  const line = (vals: string[]): string =>
    parsable
      ? vals.join(':')
      : vals
          .map((v, i) => v.padEnd(LIST_FIELDS[fields[i] as string]?.width ?? 0))
          .join('  ')
          .replace(/\s+$/, '');
  const out: string[] = [];
  if (header) out.push(line(fields.map((f) => LIST_FIELDS[f]?.header ?? f)));
  for (const r of rows) {
    out.push(
      line(
        fields.map((f) => {
          const v = flatten(r, f);
          return v === undefined || v === null || v === '' ? (parsable ? '' : '-') : String(v);
        }),
      ),
    );
  }
  return result(0, out.length ? `${out.join('\n')}\n` : '');
}

function lookup(host: SimHost, args: string[]): ToolResult {
  let json = false;
  let unique = false;
  let outFields: string[] | null = null;
  const plain: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-j' || a === '--json') json = true;
    else if (a === '-1' || a === '--unique') unique = true;
    else if (a === '-o' || a === '--output') outFields = (args[++i] ?? '').split(',');
    else if (a.startsWith('-')) return usage(`Invalid option: ${a}`);
    else plain.push(a);
  }
  if (outFields && !json) return err('Cannot specify -o without -j');
  const fa = filterArgs(plain);
  if ('exitCode' in fa) return fa;
  const found = vms(host)
    .map((vm) => listable(host, vm))
    .filter((v) => matches(v, fa.filters));
  if (unique && found.length !== 1) return err(`Requested unique lookup but found ${found.length} results.`);
  if (json) {
    const shaped = found.map((v) => {
      if (outFields === null) {
        const { type: _t, ...rest } = v;
        if (v.brand !== 'kvm' && v.brand !== 'bhyve') delete rest.ram;
        return rest;
      }
      return Object.fromEntries(outFields.map((f) => [f, flatten(v, f)]));
    });
    return result(0, `${JSON.stringify(shaped, null, 2)}\n`);
  }
  return result(0, found.map((v) => `${String(v.uuid)}\n`).join(''));
}

function info(host: SimHost, uuid: string): ToolResult {
  const vm = find(host, uuid);
  if (!vm) return err(`Unable to get VM info for VM ${uuid}: VM ${uuid} not found`);
  if (vm.state !== 'running') return err(`Unable to get VM info for VM ${uuid}: VM ${uuid} is not running`);
  const brand = String(vm.props.brand);
  if (!HW_BRANDS.has(brand))
    return err(`Unable to get VM info for VM ${uuid}: Unable to get info for VM of brand ${brand}`);
  const data = { vnc: { display: 0, port: 0, host: '' }, version: { qemu: 'sim', package: 'sim' } };
  return result(0, `${JSON.stringify(data, null, 2)}\n`);
}

const UUID_COMMANDS = new Set([
  'start',
  'boot',
  'stop',
  'halt',
  'reboot',
  'delete',
  'destroy',
  'get',
  'json',
  'update',
  'info',
  'console',
]);
const ALL_COMMANDS = new Set([
  ...UUID_COMMANDS,
  'create',
  'list',
  'lookup',
  'help',
  'validate',
  'install',
  'receive',
  'recv',
  'send',
  'reprovision',
  'sysrq',
  'create-snapshot',
  'delete-snapshot',
  'rollback-snapshot',
  'events',
  'kill',
]);

/** The `vmadm` executable. */
export function runVmadm(host: SimHost, inv: Invocation): ToolOutcome {
  const [cmd, ...rest] = inv.args;
  if (cmd === undefined) return usage();
  if (cmd === '-h' || cmd === '-?' || cmd === 'help') return result(0, USAGE, '');
  if (!ALL_COMMANDS.has(cmd)) return usage(`Invalid command: "${cmd}".`);
  if (UUID_COMMANDS.has(cmd)) {
    const uuid = rest.shift();
    if (!uuidShape(uuid)) return usage(`Invalid or missing UUID for ${cmd}`);
    switch (cmd) {
      case 'start':
      case 'boot':
        return start(host, uuid);
      case 'stop':
      case 'halt':
        return stop(host, uuid, rest, false);
      case 'reboot':
        return stop(host, uuid, rest, true);
      case 'delete':
      case 'destroy':
        return del(host, uuid);
      case 'get':
      case 'json': {
        const vm = find(host, uuid);
        if (!vm) return err(`zoneadm: ${uuid}: No such zone configured`);
        return result(0, `${JSON.stringify(view(host, vm), null, 2)}\n`);
      }
      case 'update':
        return update(host, inv, uuid, rest);
      case 'info':
        return info(host, uuid);
      default:
        return err(`vmadm ${cmd}: not emulated by the domainmgr simulated host`);
    }
  }
  switch (cmd) {
    case 'create':
      return create(host, inv, rest);
    case 'list':
      return list(host, rest);
    case 'lookup':
      return lookup(host, rest);
    default:
      return err(`vmadm ${cmd}: not emulated by the domainmgr simulated host`);
  }
}
