import { randomBytes, randomUUID } from 'node:crypto';
import type { SimHost } from '../core/host.js';
import type { PciDevice, PendingRestart, ShutdownReason, XenDomain } from '../core/state.js';
import { ToolExit } from '../core/types.js';
import { type KernelLoadRange, pvKernelAllocError } from './pv-kernel.js';
import { connectVifs, removeDomainKeys, writeDomainKeys } from './xenstore-model.js';

/**
 * The simulated Xen: domains, memory, PCI passthrough. xl and rkt's stage1-xen both act through
 * these functions, so a pod's domain is an ordinary Xen domain to `xl list`.
 */

export const DOM0_NAME = 'Domain-0';

/** libxl's shutdown reason codes (the letter xl list shows is "-rscwS"[code]). */
export const SHUTDOWN_CODES: Record<ShutdownReason, number> = {
  poweroff: 0,
  reboot: 1,
  suspend: 2,
  crash: 3,
  watchdog: 4,
  soft_reset: 5,
};
const SHUTDOWN_LETTERS = '-rscwS';

// libxl error lines carry the source position; these are the positions in 4.17 where known
// (libxl_pci.c:792 was read off the real binary; the ones marked "real" come from Debian's
// 4.17.7 captures in test/fixtures/real-xen/), plausible ones otherwise.
export const LIBXL_AT = {
  domainRename: 'libxl_domain.c:81:libxl__domain_rename', // real
  initiateCreate: 'libxl_create.c:1296:initiate_domain_create', // real
  buildDom: 'libxl_dom.c:586:libxl__build_dom', // real
  buildImage: 'libxl_dom.c:594:libxl__build_dom', // real
  rebuildDone: 'libxl_create.c:1640:domcreate_rebuild_done', // real
  destroyDomid: 'libxl_domain.c:1183:libxl__destroy_domid', // real
  destroyCallback: 'libxl_domain.c:1137:domain_destroy_callback', // real
  destroyCb: 'libxl_domain.c:1064:domain_destroy_cb', // real
  pciAdd: 'libxl_pci.c:1585:libxl__device_pci_add',
  attachDevices: 'libxl_create.c:1888:domcreate_attach_devices',
  assignableAdd: 'libxl_pci.c:792:libxl__device_pci_assignable_add',
  assignableRemove: 'libxl_pci.c:921:libxl__device_pci_assignable_remove',
  assignableAddWarn: 'libxl_pci.c:801:libxl__device_pci_assignable_add',
  domainType: 'libxl_dom.c:37:libxl__domain_type', // real
  pause: 'libxl_domain.c:587:libxl_domain_pause', // real
  userdataPath: 'libxl_dom.c:1216:libxl__userdata_path', // real
  pvcontrolCb: 'libxl_domain.c:854:pvcontrol_cb', // real
  unpause: 'libxl_domain.c:702:domain_unpause_done',
  setMemoryTarget: 'libxl_mem.c:285:libxl_set_memory_target',
  shutdown: 'libxl_domain.c:1539:libxl__domain_pvcontrol',
} as const;

/**
 * libxl's clean-up after a failed create (and `xl destroy` of a missing domid): real xl 4.17
 * prints these three lines after every failed create although nothing is left behind.
 */
export function destroyFailedLines(domid: number): string {
  return (
    libxlError(LIBXL_AT.destroyDomid, 'Non-existant domain', domid) +
    libxlError(LIBXL_AT.destroyCallback, 'Unable to destroy guest', domid) +
    libxlError(LIBXL_AT.destroyCb, 'Destruction of domain failed', domid)
  );
}

export function libxlError(at: string, msg: string, domid?: number): string {
  return `libxl: error: ${at}: ${domid === undefined ? '' : `Domain ${domid}:`}${msg}\n`;
}

export function domains(host: SimHost): XenDomain[] {
  return host.state.xen.domains;
}

export function byDomid(host: SimHost, domid: number): XenDomain | undefined {
  return host.state.xen.domains.find((d) => d.domid === domid);
}

export function byName(host: SimHost, name: string): XenDomain | undefined {
  const now = host.now();
  return host.state.xen.domains.find((d) => d.name === name && !unnamed(d, now));
}

/** A domain xl's monitor is building whose name is not written yet (XenDomain.unnamedUntil). */
export function unnamed(d: XenDomain, now: number): boolean {
  return d.unnamedUntil !== undefined && now < d.unnamedUntil;
}

/** Domain-0 or a guest: all that exists for lookups by name/domid. */
export function domidOfName(host: SimHost, name: string): number | undefined {
  if (name === DOM0_NAME) return 0;
  return byName(host, name)?.domid;
}

/**
 * xl's find_domain: an all-digit argument is a domid, taken unchecked; anything else is looked
 * up by name and an unknown name ends the command.
 */
export function findDomain(host: SimHost, arg: string): number {
  if (/^[0-9]+$/.test(arg)) return Number.parseInt(arg, 10);
  const domid = domidOfName(host, arg);
  if (domid === undefined) throw new ToolExit(1, '', `${arg} is an invalid domain identifier (rc=-6)\n`);
  return domid;
}

export function domainExists(host: SimHost, domid: number): boolean {
  return domid === 0 || byDomid(host, domid) !== undefined;
}

// ---- memory ----

function usedByDomainMiB(host: SimHost, d: XenDomain): number {
  return Math.ceil(d.targetMemKiB / 1024) + host.state.config.domainOverheadMiB;
}

export function dom0TargetMiB(host: SimHost): number {
  return host.state.config.dom0MemoryMiB;
}

export function totalMemoryMiB(host: SimHost): number {
  return host.state.config.totalMemoryMiB;
}

export function freeMemoryMiB(host: SimHost): number {
  const c = host.state.config;
  let free = c.totalMemoryMiB - c.xenReservedMiB - c.dom0MemoryMiB;
  for (const d of host.state.xen.domains) free -= usedByDomainMiB(host, d);
  return Math.max(0, free);
}

/**
 * What xl list shows as Mem. A PV guest (and Domain-0, which is PV) shows its target exactly, as
 * the real Xen 4.17 capture does (`test/fixtures/real-xen/xl-list*.txt`: 128 for memory = 128,
 * 160 right after `mem-set 160`, Domain-0 1024 with dom0_mem=1024M). PVH/HVM guests show 1 MiB
 * less, as the reference's sample (a PVH guest) does; that has not been checked on real Xen.
 */
export function currentMemMiB(d: Pick<XenDomain, 'type' | 'targetMemKiB'>): number {
  const slack = d.type === 'pv' ? 0 : 1024;
  return Math.max(0, Math.floor((d.targetMemKiB - slack) / 1024));
}

// ---- state letters and cpu time ----

export function stateLetters(host: SimHost, d: XenDomain, now: number): string {
  if (d.shutdown) return `---s${SHUTDOWN_LETTERS[SHUTDOWN_CODES[d.shutdown.reason]]}-`;
  if (d.paused) return '--p---';
  if (d.runningSince !== null && now - d.runningSince < host.state.config.bootBusyMs) return 'r-----';
  return '-b----';
}

/** Guests use a little cpu while running: 3% of each vcpu. */
export function cpuSeconds(d: XenDomain, now: number): number {
  const running = d.runningSince === null ? 0 : Math.max(0, now - d.runningSince);
  return (d.cpuMs + running * 0.03 * d.vcpus) / 1000;
}

export function dom0CpuSeconds(host: SimHost, now: number): number {
  return ((now - host.state.bootedAt) * 0.05 + 1000) / 1000;
}

function stopClock(d: XenDomain, now: number): void {
  if (d.runningSince !== null) d.cpuMs += Math.max(0, now - d.runningSince) * 0.03 * d.vcpus;
  d.runningSince = null;
}

export function setPaused(host: SimHost, d: XenDomain, paused: boolean): void {
  const now = host.now();
  if (d.shutdown) return; // a shut-down domain has no vcpus to run
  if (paused && !d.paused) stopClock(d, now);
  if (!paused && d.paused) d.runningSince = now;
  d.paused = paused;
  host.touch();
}

// ---- PCI ----

/** Parses a BDF as xl does: `[DDDD:]BB:DD.F`, hex. */
export function parseBdf(text: string): { domain: number; bus: number; dev: number; func: number } | null {
  const m = /^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/.exec(text);
  if (!m) return null;
  return {
    domain: Number.parseInt(m[1] ?? '0', 16),
    bus: Number.parseInt(m[2] ?? '0', 16),
    dev: Number.parseInt(m[3] ?? '0', 16),
    func: Number.parseInt(m[4] ?? '0', 16),
  };
}

export function formatBdf(b: { domain: number; bus: number; dev: number; func: number }): string {
  const h = (n: number, w: number): string => n.toString(16).padStart(w, '0');
  return `${h(b.domain, 4)}:${h(b.bus, 2)}:${h(b.dev, 2)}.${h(b.func, 1)}`;
}

export function pciDevice(host: SimHost, bdf: string): PciDevice | undefined {
  return host.state.xen.pci.find((p) => p.bdf === bdf);
}

/** The BDF of a libxl pcidev entry (fields at 0 are omitted from libxl JSON). */
function pcidevBdf(p: Record<string, unknown>): string {
  const n = (k: string): number => (typeof p[k] === 'number' ? (p[k] as number) : 0);
  return formatBdf({ domain: n('domain'), bus: n('bus'), dev: n('dev'), func: n('func') });
}

// ---- create / destroy ----

export interface CreateOutcome {
  ok: boolean;
  domid: number;
  /** libxl's error lines on failure. */
  stderr: string;
  /** xl's exit code on failure (the negated libxl error). */
  exitCode: number;
}

function randomMac(): string {
  const b = randomBytes(3);
  return `00:16:3e:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
}

function asRecord(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function asArray(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.map(asRecord) : [];
}

/**
 * libxl_domain_create_new on the simulated hypervisor: the libxl config in, a domain out (or
 * libxl's error lines). Failing creates consume a domid as the real one does.
 */
export function createDomain(
  host: SimHost,
  config: Record<string, unknown>,
  opts: {
    paused: boolean;
    origin: 'xl' | 'rkt';
    /** The kernel's load range when it is an ELF64 file (see pv-kernel.ts); else not checked. */
    kernel?: KernelLoadRange | null;
  },
): CreateOutcome {
  const xen = host.state.xen;
  const cInfo = asRecord(config.c_info);
  const bInfo = asRecord(config.b_info);
  const name = String(cInfo.name ?? '');
  const domid = xen.nextDomid;
  xen.nextDomid = domid >= 32751 ? 1 : domid + 1;
  host.touch();
  const fail = (stderr: string): CreateOutcome => ({ ok: false, domid, stderr, exitCode: 3 });

  if (domidOfName(host, name) !== undefined) {
    return fail(
      libxlError(LIBXL_AT.domainRename, `Domain with name "${name}" already exists.`, domid) +
        libxlError(LIBXL_AT.initiateCreate, 'cannot make domain: -6', domid) +
        destroyFailedLines(domid),
    );
  }
  const targetKiB = typeof bInfo.target_memkb === 'number' ? bInfo.target_memkb : 0;
  const maxKiB = typeof bInfo.max_memkb === 'number' ? bInfo.max_memkb : targetKiB;
  const needMiB = Math.ceil(targetKiB / 1024) + host.state.config.domainOverheadMiB;
  if (needMiB > freeMemoryMiB(host)) {
    return fail(
      "xc: error: panic: xg_dom_boot.c:119: xc_dom_boot_mem_init: can't allocate low memory for domain: Out of memory\n" +
        libxlError(LIBXL_AT.buildDom, 'xc_dom_boot_mem_init failed: Cannot allocate memory') +
        libxlError(LIBXL_AT.rebuildDone, 'cannot (re-)build domain: -3', domid) +
        destroyFailedLines(domid),
    );
  }
  // xc_dom_build_image, after the memory is allocated: a PV guest's memory must hold its kernel.
  const rawType = String(cInfo.type ?? 'pv');
  const type = rawType === 'hvm' || rawType === 'pvh' ? rawType : 'pv';
  const kernelError =
    type === 'pv' && opts.kernel ? pvKernelAllocError(Math.floor(targetKiB / 1024), opts.kernel) : null;
  if (kernelError !== null) {
    return fail(
      kernelError +
        // errno is left over from earlier in libxc: the real line says ENOENT
        libxlError(LIBXL_AT.buildImage, 'xc_dom_build_image failed: No such file or directory') +
        libxlError(LIBXL_AT.rebuildDone, 'cannot (re-)build domain: -3', domid) +
        destroyFailedLines(domid),
    );
  }
  const pci = asArray(config.pcidevs).map(pcidevBdf);
  for (const bdf of pci) {
    const dev = pciDevice(host, bdf);
    if (!dev?.assignable || dev.assignedTo !== null) {
      const b = parseBdf(bdf) ?? { domain: 0, bus: 0, dev: 0, func: 0 };
      const short = `${b.domain.toString(16)}:${b.bus.toString(16)}:${b.dev.toString(16)}.${b.func.toString(16)}`;
      return fail(
        libxlError(LIBXL_AT.pciAdd, `PCI device ${short} is not assignable`, domid) +
          libxlError(LIBXL_AT.attachDevices, 'unable to add pci devices', domid),
      );
    }
  }

  // The domain exists from here on: fill in what libxl decides at create time.
  const nics = asArray(config.nics);
  nics.forEach((nic, i) => {
    if (typeof nic.devid !== 'number') nic.devid = i;
    if (typeof nic.mac !== 'string') nic.mac = randomMac();
  });
  if (nics.length > 0) config.nics = nics;
  if (typeof cInfo.uuid !== 'string') cInfo.uuid = randomUUID();
  const now = host.now();
  const d: XenDomain = {
    domid,
    name,
    uuid: String(cInfo.uuid),
    config,
    type,
    targetMemKiB: targetKiB,
    maxMemKiB: maxKiB,
    vcpus: Array.isArray(bInfo.avail_vcpus) ? bInfo.avail_vcpus.length : Number(bInfo.max_vcpus ?? 1) || 1,
    createdAt: now,
    paused: true,
    runningSince: null,
    cpuMs: 0,
    shutdown: null,
    pending: null,
    guestHung: false,
    pvDrivers: type !== 'hvm' || host.state.config.hvmPvDrivers,
    pci,
    vifs: nics.map((n) => Number(n.devid)),
    origin: opts.origin,
  };
  xen.domains.push(d);
  for (const bdf of pci) {
    const dev = pciDevice(host, bdf);
    if (dev) dev.assignedTo = domid;
  }
  writeDomainKeys(host, d);
  host.emit({ type: 'xen-introduce', domid });
  if (!opts.paused) setPaused(host, d, false);
  host.touch();
  return { ok: true, domid, stderr: '', exitCode: 0 };
}

/** Removes a domain and everything it held (PCI devices go back to assignable, xenstore keys go). */
export function destroyDomain(host: SimHost, domid: number): void {
  const xen = host.state.xen;
  const i = xen.domains.findIndex((d) => d.domid === domid);
  if (i < 0) return;
  xen.domains.splice(i, 1);
  for (const p of xen.pci) if (p.assignedTo === domid) p.assignedTo = null;
  removeDomainKeys(host, domid);
  host.touch();
  host.emit({ type: 'xen-death', domid });
}

function actionFor(d: XenDomain, reason: ShutdownReason): string {
  const key =
    reason === 'poweroff'
      ? 'on_poweroff'
      : reason === 'reboot'
        ? 'on_reboot'
        : reason === 'crash'
          ? 'on_crash'
          : reason === 'watchdog'
            ? 'on_watchdog'
            : reason === 'soft_reset'
              ? 'on_soft_reset'
              : '';
  const v = key ? d.config[key] : 'preserve';
  return typeof v === 'string' ? v : 'destroy';
}

/**
 * xl's monitor restarts a rebooting guest: the domain lists as shut down (reason r) until the
 * monitor destroys it (rebootDestroyMs), then is in no listing while the monitor sleeps
 * (rebootRestartDelayMs), then is built again from the same configuration, paused (same name and
 * uuid, a new domid), and unpaused once built (rebootBuildMs), even after `create -p`. tickXen
 * takes the steps.
 */
function restartDomain(host: SimHost, d: XenDomain): void {
  const destroyAt = host.now() + host.state.config.rebootDestroyMs;
  host.state.xen.restarts.push({
    domid: d.domid,
    newDomid: null,
    config: structuredClone(d.config),
    origin: d.origin,
    destroyAt,
    dueAt: destroyAt + host.state.config.rebootRestartDelayMs,
  });
  host.touch();
}

/**
 * The monitor's steps that are due: the destroy (of the domain it watches, if still there), the
 * build, which as any `xl create` fails when the name was taken meanwhile (the monitor then exits
 * and the guest stays down), and the unpause. Returns when the next step is due, if any.
 */
function advanceRestart(host: SimHost, r: PendingRestart, now: number): number | null {
  if (r.destroyAt > now) return r.destroyAt;
  if (byDomid(host, r.domid) !== undefined) destroyDomain(host, r.domid);
  if (r.dueAt > now) return r.dueAt;
  const done = (): null => {
    host.state.xen.restarts = host.state.xen.restarts.filter((x) => x !== r);
    host.touch();
    return null;
  };
  if (r.newDomid === null) {
    const built = createDomain(host, r.config, { paused: true, origin: r.origin });
    if (!built.ok) return done();
    r.newDomid = built.domid;
    // Listed as `(null)` for the first half of the build, as real xl shows a domain libxl has not
    // named yet.
    const d = byDomid(host, built.domid);
    if (d) d.unnamedUntil = now + host.state.config.rebootBuildMs / 2;
    host.touch();
  }
  const unpauseAt = r.dueAt + host.state.config.rebootBuildMs;
  if (unpauseAt > now) return unpauseAt;
  const d = byDomid(host, r.newDomid);
  if (d?.paused && d.shutdown === null) setPaused(host, d, false);
  return done();
}

/**
 * The guest has shut down (or crashed): report it, then do what on_poweroff / on_reboot /
 * on_crash say, as xl's monitor process does.
 */
export function guestShutdown(host: SimHost, d: XenDomain, reason: ShutdownReason): void {
  const now = host.now();
  stopClock(d, now);
  d.pending = null;
  d.shutdown = { reason, at: now };
  host.touch();
  host.emit({ type: 'xen-shutdown', domid: d.domid, reasonCode: SHUTDOWN_CODES[reason] });
  const action = actionFor(d, reason);
  switch (action) {
    case 'preserve':
      break;
    case 'restart':
    case 'coredump_restart':
    case 'soft_reset':
      restartDomain(host, d);
      break;
    case 'rename_restart': {
      // The old domain stays (renamed, new uuid); a new one starts under the name.
      const config = structuredClone(d.config);
      const stamp = new Date(now).toISOString().replace(/[-:]/g, '').slice(0, 13);
      d.name = `${d.name}-${stamp}Z`;
      d.uuid = randomUUID();
      createDomain(host, config, { paused: false, origin: d.origin });
      break;
    }
    default:
      destroyDomain(host, d.domid);
  }
}

/**
 * The domains whose vifs tickXen has connected. tickXen runs before every call the simulator
 * serves (each xenstored request too): connecting every vif of every domain each time made a
 * call cost O(domains), most of the simulator's CPU in a 1,000-domain create burst. Not
 * persisted: after a restart each booted domain is connected once more, which changes nothing.
 */
const vifsConnected = new WeakSet<XenDomain>();

/**
 * Advances graceful shutdowns whose time has come, and connects the vifs of guests that have
 * booted (the boot-busy phase is over); returns when to look again.
 */
export function tickXen(host: SimHost, now: number): number | null {
  let next: number | null = null;
  for (const d of host.state.xen.domains) {
    if (d.shutdown || d.runningSince === null || d.vifs.length === 0 || vifsConnected.has(d)) continue;
    const bootedAt = d.runningSince + host.state.config.bootBusyMs;
    if (bootedAt <= now) {
      connectVifs(host, d);
      vifsConnected.add(d);
    } else next = next === null ? bootedAt : Math.min(next, bootedAt);
  }
  for (const r of [...host.state.xen.restarts]) {
    const due = advanceRestart(host, r, now);
    if (due !== null) next = next === null ? due : Math.min(next, due);
  }
  for (const d of [...host.state.xen.domains]) {
    const p = d.pending;
    if (!p || d.guestHung || d.paused || d.shutdown) continue;
    if (p.dueAt <= now) guestShutdown(host, d, p.kind);
    else next = next === null ? p.dueAt : Math.min(next, p.dueAt);
  }
  return next;
}

/** Delivers a graceful shutdown/reboot request to the guest; it completes after a delay. */
export function requestShutdown(host: SimHost, d: XenDomain, kind: 'poweroff' | 'reboot'): void {
  const now = host.now();
  d.pending = { kind, requestedAt: now, dueAt: now + host.state.config.shutdownDelayMs };
  host.touch();
}

export function domainMustExist(host: SimHost, domid: number): XenDomain | undefined {
  return byDomid(host, domid);
}
