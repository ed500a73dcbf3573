import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The whole simulated host as plain JSON: what the daemon persists after every mutating command
 * and reloads on start, so a restarted daemon continues the same host. Times are epoch
 * milliseconds, so time-based behaviour (shutdown delays, cpu time) survives restarts.
 */
export interface SimState {
  schema: 1;
  /** When the simulated host booted (Domain-0's start). */
  bootedAt: number;
  config: HostConfig;
  xen: XenState;
  rkt: RktState;
  smartos: SmartOsState;
  faults: FaultRule[];
  nextFaultId: number;
}

/** Tunables of the simulated host; `simctl config KEY=VALUE` changes them. */
export interface HostConfig {
  hostname: string;
  nrCpus: number;
  /** Xen: physical memory, Domain-0's share, and what Xen itself keeps, in MiB. */
  totalMemoryMiB: number;
  dom0MemoryMiB: number;
  xenReservedMiB: number;
  /** Memory a guest costs beyond its target (page tables, shadow, ...), in MiB. */
  domainOverheadMiB: number;
  /** A graceful shutdown or reboot completes this long after the guest got the request. */
  shutdownDelayMs: number;
  /**
   * How long libxl waits for a guest to acknowledge a shutdown/reboot request before `xl
   * shutdown` fails with `guest didn't acknowledge control request: -9` (real: about 60 s, seen
   * for a guest that was already shut down). Tests shorten it.
   */
  shutdownAckTimeoutMs: number;
  /** A freshly unpaused guest shows `r` (busy booting) this long, then `b` (idle). */
  bootBusyMs: number;
  /**
   * A guest that shut down to reboot (on_reboot = "restart") lists as shut down with reason r
   * this long, until xl's monitor has heard of it and destroyed it.
   */
  rebootDestroyMs: number;
  /**
   * How long a rebooting guest is then missing from listings: xl's monitor sleeps 2 s after the
   * destroy (xl_vmcontrol.c, "If this sleep is not there then domain re-creation fails
   * sometimes") and creates it again from the same configuration, unpaused.
   */
  rebootRestartDelayMs: number;
  /**
   * Then the monitor's create builds the domain paused and unpauses it this long later, once its
   * devices are up.
   */
  rebootBuildMs: number;
  /** Whether new HVM guests have PV drivers (without, graceful shutdown needs -F). */
  hvmPvDrivers: boolean;
  /** Physical PCI devices of the host (BDF `DDDD:BB:DD.F`). */
  pciDevices: string[];
  /** Added to every emulated call before it runs (demos, benchmarks). */
  latencyMs: number;
  /** SmartOS: the separate host vmadm manages. */
  smartosTotalMemoryMiB: number;
  /** vmadm stop completes after this long (a hung guest never stops gracefully). */
  vmadmStopDelayMs: number;
}

export interface XenDomain {
  domid: number;
  name: string;
  uuid: string;
  /** The libxl domain configuration (what `xl -N create` prints), as `xl list -l` shows it. */
  config: Record<string, unknown>;
  type: 'pv' | 'pvh' | 'hvm';
  targetMemKiB: number;
  maxMemKiB: number;
  vcpus: number;
  createdAt: number;
  paused: boolean;
  /** When the vcpus last started running (null while paused or shut down). */
  runningSince: number | null;
  /** CPU time accumulated before runningSince, in ms. */
  cpuMs: number;
  /** Set once the guest has shut down and is kept (on_* = preserve). */
  shutdown: { reason: ShutdownReason; at: number } | null;
  /** A graceful request the guest has received but not completed yet. */
  pending: { kind: 'poweroff' | 'reboot'; requestedAt: number; dueAt: number } | null;
  /** A hung guest ignores graceful shutdown and reboot requests. */
  guestHung: boolean;
  /** HVM only: without PV drivers there is no PV control interface. */
  pvDrivers: boolean;
  /** PCI devices passed through (BDF). */
  pci: string[];
  /** vif device ids (netback keys live in xenstore under these). */
  vifs: number[];
  /** Who created it: `xl create` or rkt's stage1-xen. */
  origin: 'xl' | 'rkt';
  /**
   * Being built by xl's monitor and its name not written yet: until then `xl list` shows
   * `(null)` and no command finds it by name.
   */
  unnamedUntil?: number;
}

export type ShutdownReason = 'poweroff' | 'reboot' | 'suspend' | 'crash' | 'watchdog' | 'soft_reset';

export interface PciDevice {
  bdf: string;
  assignable: boolean;
  name?: string;
  /** domid it is passed through to, if any. */
  assignedTo: number | null;
}

export interface XenState {
  nextDomid: number;
  domains: XenDomain[];
  pci: PciDevice[];
  /** Flat xenstore: path -> value. Directories are implied by their children. */
  xenstore: Record<string, string>;
  /** Rebooting guests xl's monitor destroys and builds again (rebootDestroyMs, rebootRestartDelayMs, rebootBuildMs). */
  restarts: PendingRestart[];
}

/**
 * A guest xl's monitor is restarting for a reboot: destroyed at destroyAt, created paused at
 * dueAt (newDomid), unpaused rebootBuildMs later.
 */
export interface PendingRestart {
  domid: number;
  newDomid: number | null;
  config: Record<string, unknown>;
  origin: 'xl' | 'rkt';
  destroyAt: number;
  dueAt: number;
}

export interface RktPod {
  uuid: string;
  /** The --dir the pod was run with (pods live under it). */
  dir: string;
  image: string;
  appName: string;
  state: 'running' | 'exited';
  createdAt: number;
  startedAt: number | null;
  /** Xen domain name = the pod uuid; domid when the stage1 create succeeded. */
  domid: number | null;
  interactive: boolean;
}

export interface RktState {
  pods: RktPod[];
}

export interface SmartVm {
  /** The VM object as vmadm get prints it (minus fields computed at read time). */
  props: Record<string, unknown>;
  state: 'running' | 'stopped' | 'stopping';
  bootedAt: number | null;
  guestHung: boolean;
}

export interface SmartOsState {
  vms: SmartVm[];
}

export interface FaultRule {
  id: number;
  tool: string;
  /** The subcommand (xl create, rkt run, vmadm start ...); '*' matches all. */
  sub: string;
  action: FaultAction;
  /**
   * How many more matching calls it applies to, then it is gone; null = every call. "Succeed
   * only after N tries" is a failure with times = N.
   */
  times: number | null;
  /** Matching calls that pass untouched before it starts applying (fail the 3rd call: skip 2). */
  skip: number;
  /**
   * Only calls with an argument that contains this text match (a domain's name, its cfg path, a
   * PCI address): a fault aimed at one domain while others go on. Absent: every call matches.
   */
  match?: string;
}

export type FaultAction =
  | { kind: 'fail'; exitCode: number; stderr: string; stdout: string }
  | { kind: 'hang'; ms: number | null }
  | { kind: 'garbage'; exitCode: number }
  /** The command runs; then the Xen domain `domain` (name or domid) disappears, as `simctl vanish`. */
  | { kind: 'vanish'; domain: string };

export const DEFAULT_PCI_DEVICES = ['0000:03:00.0', '0000:03:00.1', '0000:04:00.0', '0000:05:00.0'];

export function defaultConfig(): HostConfig {
  return {
    hostname: 'simhost',
    nrCpus: 4,
    totalMemoryMiB: 16384,
    dom0MemoryMiB: 4096,
    xenReservedMiB: 161,
    domainOverheadMiB: 1,
    shutdownDelayMs: 300,
    shutdownAckTimeoutMs: 60000,
    bootBusyMs: 1000,
    rebootDestroyMs: 100,
    rebootRestartDelayMs: 2000,
    rebootBuildMs: 100,
    hvmPvDrivers: true,
    pciDevices: [...DEFAULT_PCI_DEVICES],
    latencyMs: 0,
    smartosTotalMemoryMiB: 32768,
    vmadmStopDelayMs: 200,
  };
}

export function freshState(now: number, config: HostConfig = defaultConfig()): SimState {
  return {
    schema: 1,
    bootedAt: now,
    config,
    xen: {
      nextDomid: 1,
      domains: [],
      pci: config.pciDevices.map((bdf) => ({ bdf, assignable: false, assignedTo: null })),
      xenstore: {},
      restarts: [],
    },
    rkt: { pods: [] },
    smartos: { vms: [] },
    faults: [],
    nextFaultId: 1,
  };
}

export const STATE_FILE = 'state.json';

export class StateFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateFileError';
  }
}

/** Reads the persisted host, or a fresh one when the directory has none yet. */
export function loadState(dir: string, now: number): SimState {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return freshState(now);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new StateFileError(`cannot read the simulated host's state ${file}`, { cause: e });
  }
  const s = parsed as Partial<SimState>;
  if (s.schema !== 1) throw new StateFileError(`${file}: unknown state schema ${String(s.schema)}`);
  // Tunables and state added later get their defaults.
  const state = s as SimState;
  return {
    ...state,
    config: { ...defaultConfig(), ...s.config },
    xen: { ...state.xen, restarts: state.xen.restarts ?? [] },
  };
}

/**
 * Writes the state atomically: a temp file in the same directory, then rename. A daemon killed
 * at any point leaves either the previous or the new state, never a torn file.
 */
export function saveState(dir: string, state: SimState): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${STATE_FILE}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
  renameSync(tmp, join(dir, STATE_FILE));
}
