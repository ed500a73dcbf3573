import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { SimHost } from '../core/host.js';
import type { XenDomain } from '../core/state.js';
import { type Invocation, result, ToolExit, type ToolOutcome, type ToolResult } from '../core/types.js';
import {
  byDomid,
  cpuSeconds,
  createDomain,
  currentMemMiB,
  DOM0_NAME,
  destroyDomain,
  dom0CpuSeconds,
  domainExists,
  domidOfName,
  findDomain,
  formatBdf,
  LIBXL_AT,
  libxlError,
  parseBdf,
  pciDevice,
  requestShutdown,
  SHUTDOWN_CODES,
  setPaused,
  stateLetters,
  unnamed,
} from '../xen/model.js';
import { type KernelLoadRange, readElf64LoadRange } from '../xen/pv-kernel.js';
import { xsWrite } from '../xen/xenstore-model.js';
import { parseXlCfg } from '../xlcfg/parse.js';
import { type Parsed, xlGetopt } from './getopt.js';
import { HELP, REAL_XL_COMMANDS } from './help.js';
import { xlInfo } from './info.js';
import { yajlStringify } from './yajl-json.js';

interface XlContext {
  host: SimHost;
  inv: Invocation;
  dryRun: boolean;
  force: boolean;
}

type Handler = (ctx: XlContext, args: string[]) => ToolOutcome;

function opts(args: string[], cmd: string, optstring: string, required: number): Parsed {
  const help = HELP[cmd] ?? { synopsis: '', summary: '' };
  const longopts = LONGS[cmd] ?? [];
  return xlGetopt(args, optstring, longopts, cmd, required, help);
}

const LONGS: Record<string, { name: string; char: string; hasArg: boolean }[]> = {
  create: [
    { name: 'dryrun', char: 'n', hasArg: false },
    { name: 'quiet', char: 'q', hasArg: false },
    { name: 'defconfig', char: 'f', hasArg: true },
    { name: 'vncviewer', char: 'V', hasArg: false },
    { name: 'vncviewer-autopass', char: 'A', hasArg: false },
  ],
  list: [
    { name: 'long', char: 'l', hasArg: false },
    { name: 'verbose', char: 'v', hasArg: false },
    { name: 'context', char: 'Z', hasArg: false },
    { name: 'cpupool', char: 'c', hasArg: false },
    { name: 'numa', char: 'n', hasArg: false },
  ],
  shutdown: [
    { name: 'all', char: 'a', hasArg: false },
    { name: 'wait', char: 'w', hasArg: false },
  ],
  reboot: [
    { name: 'all', char: 'a', hasArg: false },
    { name: 'wait', char: 'w', hasArg: false },
  ],
  info: [{ name: 'numa', char: 'n', hasArg: false }],
  'pci-assignable-add': [{ name: 'name', char: 'n', hasArg: true }],
  'vcpu-pin': [
    { name: 'force', char: 'f', hasArg: false },
    { name: 'ignore-global-affinity-masks', char: 'i', hasArg: false },
  ],
  uptime: [],
};

const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
};

function readCallerFile(inv: Invocation, file: string): { text: string } | { error: string } {
  try {
    return { text: readFileSync(isAbsolute(file) ? file : resolve(inv.cwd, file), 'utf8') };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    return { error: STRERROR[code] ?? code };
  }
}

// ---- create ----

/**
 * `xl create`, shared with rkt's stage1-xen (which runs the same command). Returns the result
 * and, on success, the new domid.
 */
export function xlCreate(host: SimHost, inv: Invocation, args: string[], dryRun: boolean): ToolResult {
  let filename: string | null = null;
  let rest = args;
  const first = args[0];
  if (first !== undefined && !first.startsWith('-') && !first.includes('=')) {
    filename = first;
    rest = args.slice(1);
  }
  const p = opts(rest, 'create', 'Fnqf:pcdeVA', 0);
  if (p.value('f') !== null) filename = p.value('f');
  const extra: string[] = [];
  for (const a of p.operands) {
    if (a.includes('=')) extra.push(a);
    else if (filename === null) filename = a;
    else return result(2, usage('create'), '');
  }
  const dry = dryRun || p.has('n');
  if (filename === null) return result(6, '', 'Config file not specified and none in save file\n');
  let text = '';
  if (filename !== '/dev/null') {
    const r = readCallerFile(inv, filename);
    if ('error' in r) return result(3, '', `Failed to read config file: ${filename}: ${r.error}\n`);
    text = r.text;
  }
  let stderr = p.has('q') ? '' : `Parsing config from ${filename}\n`;
  const parsed = parseXlCfg(text, filename, extra);
  if (!parsed.ok) return result(parsed.exitCode, '', stderr + parsed.stderr);
  for (const w of parsed.warnings) stderr += w.endsWith('\n') ? w : `${w}\n`;
  if (dry) return result(0, `${yajlStringify(parsed.config)}\n`, stderr);
  // The model keeps configs as plain JSON records (they are printed back by `xl list -l`).
  const out = createDomain(host, parsed.config as unknown as Record<string, unknown>, {
    paused: p.has('p'),
    origin: 'xl',
    kernel: kernelLoadRange(host, inv, parsed.config.b_info.kernel),
  });
  if (!out.ok) return result(out.exitCode, '', stderr + out.stderr);
  return result(0, '', stderr);
}

/**
 * The load range of the guest's kernel when it is an ELF64 file (libxc then refuses a PV guest
 * whose memory cannot hold it, see sim/xen/pv-kernel.ts). An absolute path is looked up first
 * below `$DOMAINMGR_SIM_DIR/rootfs` (the simulated host's own files, as rkt's /var/lib/rkt), then
 * as it is; a relative one against the caller's cwd, as xl opens it. A missing file, a bzImage or
 * any other non-ELF64 file gives undefined: not checked (the real tool would fail on a missing
 * kernel, and check a compressed one after decompressing it; the simulator does neither).
 */
function kernelLoadRange(host: SimHost, inv: Invocation, kernel: unknown): KernelLoadRange | undefined {
  if (typeof kernel !== 'string' || kernel === '') return undefined;
  const candidates = isAbsolute(kernel)
    ? [join(host.dir, 'rootfs', kernel), kernel]
    : [resolve(inv.cwd, kernel)];
  for (const file of candidates) {
    if (isFile(file)) return readElf64LoadRange(file) ?? undefined;
  }
  return undefined;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false; // missing, or a path through something that is not a directory
  }
}

function usage(cmd: string): string {
  const h = HELP[cmd];
  if (!h) return '';
  let s = `Usage: xl [${h.flags ?? '-vtTf'}] ${cmd} ${h.synopsis}\n\n${h.summary}\n\n`;
  if (h.options) s += `Options:\n\n${h.options}\n`;
  return s;
}

// ---- list ----

const LIST_HEADER = 'Name                                        ID   Mem VCPUs\tState\tTime(s)';

function listRow(
  name: string,
  domid: number,
  memMiB: number,
  vcpus: number,
  state: string,
  cpu: number,
): string {
  return `${name.padEnd(40)} ${String(domid).padStart(5)} ${String(memMiB).padStart(5)} ${String(vcpus).padStart(5)}     ${state}  ${cpu.toFixed(1).padStart(8)}`;
}

function dom0Config(host: SimHost): Record<string, unknown> {
  return {
    c_info: { type: 'pv', name: DOM0_NAME },
    b_info: {
      max_vcpus: host.state.config.nrCpus,
      sched_params: {},
      'type.invalid': {},
      arch_arm: {},
      arch_x86: {},
    },
  };
}

/** A copy of `obj` with `key` set; a new key goes before the first of `before` present, else last. */
function withKey(
  obj: Record<string, unknown>,
  key: string,
  value: unknown,
  before: readonly string[],
): Record<string, unknown> {
  if (key in obj) return { ...obj, [key]: value };
  const out: Record<string, unknown> = {};
  let placed = false;
  for (const [k, v] of Object.entries(obj)) {
    if (!placed && before.includes(k)) {
      out[key] = value;
      placed = true;
    }
    out[k] = v;
  }
  if (!placed) out[key] = value;
  return out;
}

// Fields that follow, in libxl_types.idl order, the ones libxl fills in for a running domain.
const C_INFO_AFTER_DOMID = ['uuid', 'xsdata', 'platformdata', 'poolid', 'pool_name', 'run_hotplug_scripts'];
const B_INFO_AFTER_VIDEO = [
  'shadow_memkb',
  'iommu_memkb',
  'rtc_timeoffset',
  'exec_ssidref',
  'localtime',
  'sched_params',
  'claim_mode',
  'kernel',
  'cmdline',
];
const NIC_AFTER_NICTYPE = ['rate_bytes_per_interval', 'rate_interval_usecs', 'gatewaydev'];

/**
 * The config `xl list -l` prints: the create-time config with the memory as it is now; for a PV
 * guest also what libxl fills in once the domain runs, as the real capture shows
 * (test/fixtures/real-xen/xl-list-l.txt): `c_info.domid` 4294967295, `b_info.video_memkb` 0,
 * the credit2 scheduler's defaults, `arch_x86.msr_relaxed`, each nic's `nictype`. PVH/HVM guests
 * keep the reference sample's shape (not yet checked on real Xen).
 */
function liveConfig(d: XenDomain): Record<string, unknown> {
  const c = structuredClone(d.config);
  let b = (c.b_info ?? {}) as Record<string, unknown>;
  b.target_memkb = d.targetMemKiB;
  b.max_memkb = d.maxMemKiB;
  if (d.type === 'pv') {
    c.c_info = withKey((c.c_info ?? {}) as Record<string, unknown>, 'domid', 4294967295, C_INFO_AFTER_DOMID);
    b = withKey(b, 'video_memkb', 0, B_INFO_AFTER_VIDEO);
    const sp = (b.sched_params ?? {}) as Record<string, unknown>;
    b.sched_params = { sched: 'credit2', weight: 256, cap: 0, ...sp };
    b.arch_x86 = { msr_relaxed: 'False', ...((b.arch_x86 ?? {}) as Record<string, unknown>) };
    if (Array.isArray(c.nics)) {
      c.nics = (c.nics as Record<string, unknown>[]).map((n) =>
        withKey(n, 'nictype', 'vif', NIC_AFTER_NICTYPE),
      );
    }
  }
  c.b_info = b;
  return c;
}

function xlList(ctx: XlContext, args: string[]): ToolResult {
  const { host } = ctx;
  const p = opts(args, 'list', 'lvhZcn', 0);
  if (p.operands.length > 1) return result(1, usage('list'), '');
  let ids: number[];
  if (p.operands.length === 1) {
    const arg = p.operands[0] as string;
    const domid = findDomain(host, arg);
    if (!domainExists(host, domid)) return result(1, '', `Error: Domain '${arg}' does not exist.\n`);
    ids = [domid];
  } else {
    ids = [0, ...host.state.xen.domains.map((d) => d.domid).sort((a, b) => a - b)];
  }
  const now = host.now();
  if (p.has('l')) {
    const arr = ids.map((id) => {
      const d = byDomid(host, id);
      return { domid: id, config: d ? liveConfig(d) : dom0Config(host) };
    });
    return result(0, `${yajlStringify(arr)}\n\n`);
  }
  const verbose = p.has('v');
  const lines = [
    verbose ? `${LIST_HEADER}   UUID                            Reason-Code\tSecurity Label` : LIST_HEADER,
  ];
  for (const id of ids) {
    const d = byDomid(host, id);
    let line: string;
    if (!d) {
      const c = host.state.config;
      line = listRow(DOM0_NAME, 0, c.dom0MemoryMiB, c.nrCpus, 'r-----', dom0CpuSeconds(host, now));
      if (verbose) line += ` 00000000-0000-0000-0000-000000000000        -                -`;
    } else {
      line = listRow(
        unnamed(d, now) ? '(null)' : d.name,
        d.domid,
        currentMemMiB(d),
        d.vcpus,
        stateLetters(host, d, now),
        cpuSeconds(d, now),
      );
      if (verbose) {
        const code = d.shutdown ? String(SHUTDOWN_CODES[d.shutdown.reason]) : '-';
        line += ` ${d.uuid} ${code.padStart(8)}                -`;
      }
    }
    lines.push(line);
  }
  return result(0, `${lines.join('\n')}\n`);
}

// ---- simple domain commands ----

function xlDomid(ctx: XlContext, args: string[]): ToolResult {
  const p = opts(args, 'domid', '', 1);
  const name = p.operands[0] as string;
  const domid = domidOfName(ctx.host, name);
  if (domid === undefined) {
    return result(1, '', `Can't get domid of domain name '${name}', maybe this domain does not exist.\n`);
  }
  return result(0, `${domid}\n`);
}

function xlDomname(ctx: XlContext, args: string[]): ToolResult {
  const p = opts(args, 'domname', '', 1);
  const arg = p.operands[0] as string;
  const domid = Number.parseInt(arg, 10);
  const name = domid === 0 ? DOM0_NAME : byDomid(ctx.host, domid)?.name;
  if (Number.isNaN(domid) || name === undefined) {
    return result(
      1,
      '',
      `Can't get domain name of domain id '${domid}', maybe this domain does not exist.\n`,
    );
  }
  return result(0, `${name}\n`);
}

function noSuchDomainType(domid: number): string {
  return libxlError(LIBXL_AT.domainType, `unable to get domain type for domid=${domid}`);
}

function xlPause(ctx: XlContext, args: string[], pause: boolean): ToolResult {
  const p = opts(args, pause ? 'pause' : 'unpause', '', 1);
  const domid = findDomain(ctx.host, p.operands[0] as string);
  const d = byDomid(ctx.host, domid);
  // xl ignores libxl's verdict: the failure is only a line on stderr, the exit code is 0.
  if (!d) {
    if (domid === 0) return result(0);
    return result(
      0,
      '',
      pause ? libxlError(LIBXL_AT.pause, 'Pausing domain: No such process', domid) : noSuchDomainType(domid),
    );
  }
  setPaused(ctx.host, d, pause);
  return result(0);
}

function xlDestroy(ctx: XlContext, args: string[]): ToolResult {
  const p = opts(args, 'destroy', 'f', 1);
  const domid = findDomain(ctx.host, p.operands[0] as string);
  if (domid === 0 && !p.has('f')) {
    return result(
      1,
      '',
      'Not destroying domain 0; use -f to force.\nThis can only be done when using a disaggregated hardware domain and toolstack.\n\n',
    );
  }
  const d = byDomid(ctx.host, domid);
  if (!d) {
    return result(
      1,
      '',
      libxlError(LIBXL_AT.destroyDomid, 'Non-existant domain', domid) +
        libxlError(LIBXL_AT.destroyCallback, 'Unable to destroy guest', domid) +
        libxlError(LIBXL_AT.destroyCb, 'Destruction of domain failed', domid) +
        `destroy failed (rc=${domid === 0 ? -3 : -21})\n`,
    );
  }
  destroyDomain(ctx.host, domid);
  return result(0);
}

function xlShutdown(ctx: XlContext, args: string[], reboot: boolean): ToolOutcome {
  const cmd = reboot ? 'reboot' : 'shutdown';
  const p = opts(args, cmd, 'awF', 0);
  const { host } = ctx;
  if (p.operands.length === 0 && !p.has('a')) return result(1, '', 'You must specify -a or a domain id.\n\n');
  const targets = p.has('a')
    ? host.state.xen.domains.map((d) => d.domid)
    : [findDomain(host, p.operands[0] as string)];
  let stderr = '';
  const waitFor: number[] = [];
  for (const domid of targets) {
    stderr += reboot ? `Rebooting domain ${domid}\n` : `Shutting down domain ${domid}\n`;
    const d = byDomid(host, domid);
    if (!d) {
      return result(1, '', `${stderr + noSuchDomainType(domid)}${cmd} failed (rc=-3)\n`);
    }
    if (d.shutdown) {
      // Real xl 4.17 (test/fixtures/real-xen/xl-shutdown-already-shut-down.txt): the request is
      // written, nobody acknowledges it, libxl gives up after about 60 s.
      const failed = `${stderr}${libxlError(LIBXL_AT.pvcontrolCb, "guest didn't acknowledge control request: -9")}${cmd} failed (rc=-9)\n`;
      return delay(host.state.config.shutdownAckTimeoutMs, ctx.inv.signal).then(() => result(1, '', failed));
    }
    if (d.type === 'hvm' && !d.pvDrivers) {
      if (!p.has('F')) {
        return result(
          1,
          '',
          reboot
            ? `${stderr}PV control interface not available: external graceful reboot not possible.\nUse "-F" to fallback to ACPI reset event.\nreboot failed (rc=-10)\n`
            : `${stderr}PV control interface not available: external graceful shutdown not possible.\nUse "-F" to fallback to ACPI power event.\nshutdown failed (rc=-10)\n`,
        );
      }
      stderr += reboot
        ? 'PV control interface not available: sending ACPI reset button event.\n'
        : 'PV control interface not available: sending ACPI power button event.\n';
    }
    requestShutdown(host, d, reboot ? 'reboot' : 'poweroff');
    waitFor.push(domid);
  }
  if (!p.has('w')) return result(0, '', stderr);
  stderr += `Waiting for ${waitFor.length} domains\n`;
  const left = new Set(waitFor);
  return host
    .waitFor((e) => {
      if (e?.type === 'xen-shutdown' && left.has(e.domid)) {
        stderr += `Domain ${e.domid} has been shut down, reason code ${e.reasonCode}\n`;
        left.delete(e.domid);
      } else if (e?.type === 'xen-death' && left.has(e.domid)) {
        stderr += `Domain ${e.domid} has been destroyed\n`;
        left.delete(e.domid);
      }
      return left.size === 0 ? true : undefined;
    }, ctx.inv.signal)
    .then(() => result(0, '', stderr));
}

/** Resolves after `ms`; rejects when the caller goes away first (the command then never ends). */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error('caller went away'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new Error('caller went away'));
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** xl's parse_mem_size_kb: strtoll, then at most one unit letter; a bare number is MiB. */
export function parseMemSizeKb(mem: string): number {
  const m = /^\s*([+-]?\d*)(.*)$/s.exec(mem);
  const digits = m?.[1] ?? '';
  const rest = m?.[2] ?? mem;
  let kb = /\d/.test(digits) ? Number.parseInt(digits, 10) : 0;
  const tail = /\d/.test(digits) ? rest : mem;
  if (tail.length > 1) return -1;
  switch (tail.toLowerCase()) {
    case 't':
      kb *= 1024 * 1024 * 1024;
      break;
    case 'g':
      kb *= 1024 * 1024;
      break;
    case '':
    case 'm':
      kb *= 1024;
      break;
    case 'k':
      break;
    case 'b':
      kb = Math.floor(kb / 1024);
      break;
    default:
      return -1;
  }
  return kb;
}

function xlMemSet(ctx: XlContext, args: string[], max: boolean): ToolResult {
  const cmd = max ? 'mem-max' : 'mem-set';
  const p = opts(args, cmd, '', 2);
  const domid = findDomain(ctx.host, p.operands[0] as string);
  const mem = p.operands[1] as string;
  const kb = parseMemSizeKb(mem);
  if (kb === -1) return result(1, '', `invalid memory size: ${mem}\n`);
  const d = byDomid(ctx.host, domid);
  const failText = `cannot set domid ${domid} ${max ? 'static' : 'dynamic'} max memory to : ${mem}\n`;
  if (domid === 0) {
    ctx.host.state.config.dom0MemoryMiB = Math.floor(kb / 1024);
    ctx.host.touch();
    return result(0);
  }
  if (!d && !max) {
    // Real xl 4.17 (test/fixtures/real-xen/xl-mem-set-missing-domid.txt), errno 0 and all.
    return result(
      1,
      '',
      libxlError(LIBXL_AT.userdataPath, `unable to find domain info for domain ${domid}: Success`) + failText,
    );
  }
  if (!d) {
    return result(
      1,
      '',
      libxlError(
        LIBXL_AT.setMemoryTarget,
        `Cannot get memory info from /local/domain/${domid}/memory/static-max: No such file or directory`,
        domid,
      ) + failText,
    );
  }
  if (max) {
    d.maxMemKiB = kb;
  } else {
    if (kb > d.maxMemKiB) {
      return result(
        1,
        '',
        libxlError(
          LIBXL_AT.setMemoryTarget,
          'memory_dynamic_max must be less than or equal to memory_static_max\n',
          domid,
        ) + failText,
      );
    }
    d.targetMemKiB = kb;
    xsWrite(ctx.host, `/local/domain/${domid}/memory/target`, String(kb));
  }
  ctx.host.touch();
  return result(0);
}

function xlVcpuPin(ctx: XlContext, args: string[]): ToolResult {
  const p = opts(args, 'vcpu-pin', 'fi', 3);
  const domid = findDomain(ctx.host, p.operands[0] as string);
  const d = byDomid(ctx.host, domid);
  const vcpuArg = p.operands[1] as string;
  if (vcpuArg !== 'all' && !/^\d+$/.test(vcpuArg)) return result(1, '', `Invalid vcpu number '${vcpuArg}'\n`);
  if (!d && domid !== 0) return result(1, '', noSuchDomainType(domid));
  const n = d ? d.vcpus : ctx.host.state.config.nrCpus;
  if (vcpuArg !== 'all' && Number(vcpuArg) >= n) {
    return result(
      1,
      '',
      `libxl: error: libxl_sched.c:62:libxl_set_vcpuaffinity: Domain ${domid}:Setting vcpu affinity: Invalid argument\n`,
    );
  }
  return result(0);
}

function xlUptime(ctx: XlContext, args: string[]): ToolResult {
  const p = opts(args, 'uptime', 's', 0);
  const now = ctx.host.now();
  const fmt = (secs: number): string => {
    const s = Math.floor(secs);
    const d = Math.floor(s / 86400);
    const hms = `${Math.floor((s % 86400) / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
    return d > 0 ? `${d} days, ${hms}` : hms;
  };
  const rows: [string, number, number][] = [[DOM0_NAME, 0, (now - ctx.host.state.bootedAt) / 1000]];
  for (const d of ctx.host.state.xen.domains) rows.push([d.name, d.domid, (now - d.createdAt) / 1000]);
  const lines = p.has('s') ? [] : ['Name                                ID Uptime'];
  for (const [name, id, up] of rows) lines.push(`${name.padEnd(35)} ${String(id).padStart(2)} ${fmt(up)}`);
  return result(0, `${lines.join('\n')}\n`);
}

// ---- PCI ----

function bdfOrExit(cmd: string, text: string): string {
  const b = parseBdf(text);
  if (!b) throw new ToolExit(2, '', `${cmd}: malformed BDF "${text}"\n`);
  return formatBdf(b);
}

function xlPciAssignableAdd(ctx: XlContext, args: string[]): ToolResult {
  const p = opts(args, 'pci-assignable-add', 'n:', 1);
  const bdf = bdfOrExit('pci-assignable-add', p.operands[0] as string);
  const dev = pciDevice(ctx.host, bdf);
  if (!dev) {
    return result(
      1,
      '',
      libxlError(
        LIBXL_AT.assignableAdd,
        `Couldn't lstat /sys/bus/pci/devices/${bdf}: No such file or directory`,
      ),
    );
  }
  if (dev.assignable) {
    return result(
      0,
      '',
      `libxl: warning: ${LIBXL_AT.assignableAddWarn}: ${bdf} already assigned to pciback\n`,
    );
  }
  dev.assignable = true;
  const name = p.value('n');
  if (name !== null) dev.name = name;
  ctx.host.touch();
  return result(0);
}

function xlPciAssignableRemove(ctx: XlContext, args: string[]): ToolResult {
  const p = opts(args, 'pci-assignable-remove', 'r', 1);
  const arg = p.operands[0] as string;
  const named = ctx.host.state.xen.pci.find((d) => d.name !== undefined && d.name === arg);
  const bdf = named ? named.bdf : bdfOrExit('pci-assignable-remove', arg);
  const dev = pciDevice(ctx.host, bdf);
  if (!dev?.assignable || dev.assignedTo !== null) {
    return result(1, '', libxlError(LIBXL_AT.assignableRemove, `failed to de-quarantine ${bdf}`));
  }
  dev.assignable = false;
  delete dev.name;
  ctx.host.touch();
  return result(0);
}

function xlPciAssignableList(ctx: XlContext, args: string[]): ToolResult {
  opts(args, 'pci-assignable-list', 'n', 0);
  const lines = ctx.host.state.xen.pci
    .filter((d) => d.assignable && d.assignedTo === null)
    .map((d) => `${d.bdf} ${d.name ?? ''}\n`);
  return result(0, lines.join(''));
}

function xlPciList(ctx: XlContext, args: string[]): ToolResult {
  const p = opts(args, 'pci-list', '', 1);
  const domid = findDomain(ctx.host, p.operands[0] as string);
  const d = byDomid(ctx.host, domid);
  if (!d || d.pci.length === 0) return result(0);
  const lines = d.pci.map((bdf, i) => `${(i + 4).toString(16).padStart(2, '0')}.0 ${bdf}`);
  return result(0, `Vdev Device\n${lines.join('\n')}\n`);
}

function xlConsole(ctx: XlContext, args: string[]): ToolResult {
  const p = opts(args, 'console', 't:n:', 1);
  const domid = findDomain(ctx.host, p.operands[0] as string);
  if (!domainExists(ctx.host, domid)) return result(1, '', noSuchDomainType(domid));
  // xenconsole would take over the terminal; the simulated guest prints nothing and the
  // console detaches at once.
  return result(0);
}

const COMMANDS: Record<string, Handler> = {
  create: (ctx, args) => xlCreate(ctx.host, ctx.inv, args, ctx.dryRun),
  list: xlList,
  domid: xlDomid,
  domname: xlDomname,
  pause: (ctx, a) => xlPause(ctx, a, true),
  unpause: (ctx, a) => xlPause(ctx, a, false),
  destroy: xlDestroy,
  shutdown: (ctx, a) => xlShutdown(ctx, a, false),
  reboot: (ctx, a) => xlShutdown(ctx, a, true),
  'mem-set': (ctx, a) => xlMemSet(ctx, a, false),
  'mem-max': (ctx, a) => xlMemSet(ctx, a, true),
  'vcpu-pin': xlVcpuPin,
  info: (ctx, a) => xlInfo(ctx.host, opts(a, 'info', 'n', 0).operands),
  uptime: xlUptime,
  'pci-assignable-add': xlPciAssignableAdd,
  'pci-assignable-remove': xlPciAssignableRemove,
  'pci-assignable-list': xlPciAssignableList,
  'pci-list': xlPciList,
  console: xlConsole,
};

const DRY_RUN_OK = new Set(['create']);

function fullHelp(): string {
  const names = Object.keys(HELP);
  return `Usage xl [-vfNtT] <subcommand> [args]\n\nxl subcommands emulated by the simulated host:\n\n${names
    .map((n) => ` ${n.padEnd(20)}${HELP[n]?.summary ?? ''}`)
    .join('\n')}\n`;
}

/** The `xl` executable. */
export function runXl(host: SimHost, inv: Invocation): ToolOutcome {
  const args = inv.args;
  let i = 0;
  let dryRun = false;
  let force = false;
  // Global options stop at the subcommand (getopt with a leading '+').
  for (; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith('-') || a === '-') break;
    if (a === '--') {
      i++;
      break;
    }
    for (const c of a.slice(1)) {
      if (c === 'N') dryRun = true;
      else if (c === 'f') force = true;
      else if (c === 'v' || c === 't' || c === 'T') continue;
      else return result(1, '', `xl: invalid option -- '${c}'\nunknown global option\n`);
    }
  }
  const cmd = args[i];
  if (cmd === undefined) return result(1, fullHelp(), '');
  const rest = args.slice(i + 1);
  if (cmd === 'help') return result(0, fullHelp(), '');
  const handler = COMMANDS[cmd];
  if (!handler) {
    if (REAL_XL_COMMANDS.has(cmd)) {
      return result(1, '', `xl ${cmd}: not emulated by the domainmgr simulated host\n`);
    }
    return result(1, '', 'command not implemented\n');
  }
  if (dryRun && !DRY_RUN_OK.has(cmd)) return result(1, '', 'command does not implement -N (dryrun) option\n');
  return handler({ host, inv, dryRun, force }, rest);
}
