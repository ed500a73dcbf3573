import type { DomainSpec } from '../schema/domain-spec.js';

/**
 * The one interface every backend implements (xl.ts, rkt.ts, vmadm.ts); registry.ts picks one
 * from the `backend` configuration flag. The reconcile engine knows nothing but this file.
 *
 * Conventions for every operation:
 * - Domains are identified by the DomainSpec's uuid (ownership is decided by uuid, never by
 *   name). A backend keeps whatever it needs to map uuid -> hypervisor handle (xl: uuid in the
 *   cfg, listed by `xl list -v`; rkt: uuid -> pod map under the state directory; vmadm: the VM's
 *   own uuid).
 * - Failures reject with HypervisorError (cause: the runner's CommandError with argv, exit code
 *   and stderr), or with the runner's CommandTimeoutError wrapped the same way.
 * - "Idempotent" means calling it again after success changes nothing and succeeds.
 */
export type BackendName = 'xl' | 'rkt' | 'vmadm' | 'lxc';

/** A domain's state as the hypervisor reports it, normalised across backends. */
export type ObservedState =
  /** Running or blocked (idle) on its vcpus. */
  | 'running'
  /** Paused (xl pause, or left paused by create -p). */
  | 'paused'
  /**
   * Shut down by its guest (poweroff) and still listed (xl: on_poweroff = "preserve", reason
   * `-`); or a vmadm VM that is stopped, which includes one created with autoboot false and not
   * started yet. The guest has stopped: the engine records it and destroys the domain.
   */
  | 'shutdown'
  /** Crashed and still listed (xl: on_crash = "preserve", reason c); vmadm: failed. */
  | 'crashed'
  /** Being torn down, or between states (xl dying; vmadm stopping, provisioning). */
  | 'transitional';

export interface ObservedDomain {
  /** The domain's uuid, lower case; null when the hypervisor entry has none we can read. */
  uuid: string | null;
  /** Its name on the hypervisor. */
  name: string;
  /** Xen domid; null where the backend has none (vmadm). */
  domainId: number | null;
  state: ObservedState;
  /** Current memory as listed, MiB; null when the listing does not say. */
  memoryMiB: number | null;
  /**
   * For a crashed or shut-down domain: how it stopped, in the hypervisor's words (lxc: how the
   * init ended, quoting LXC's log), for the status error. Absent where the backend cannot say.
   */
  stopDetail?: string;
}

/** One listing of all domains: one process spawn, whatever the number of domains. */
export interface Listing {
  domains: ObservedDomain[];
  /** When the listing was taken (ms since epoch, from the injected clock). */
  takenAt: number;
}

export interface HostInfo {
  totalMemoryMiB: number;
  freeMemoryMiB: number;
  nrCpus: number;
  hypervisorVersion: string;
}

export interface VerifyResult {
  /** false only for problems that keep the backend from working. */
  ok: boolean;
  /**
   * Readable problems: a tool missing, the hypervisor not answering, a state dir not writable;
   * also, with ok true, a degraded way of working (xl or rkt without xenstored's socket: the
   * older commands, and deaths noticed at the next listing).
   */
  problems: string[];
}

/**
 * A listing of some domains only (Hypervisor.listSome): `covers` are the uuids it speaks for, and
 * `domains` holds every domain with one of them. A covered uuid without a domain is absent; a uuid
 * not covered is not spoken of at all (never "vanished").
 */
export interface PartialListing extends Listing {
  covers: readonly string[];
}

/** A subscription made by Hypervisor.watchChanges. */
export interface ChangeWatch {
  /** Ends the subscription. */
  close(): void;
  /**
   * false while changes may be missed (xl: the connection to xenstored is down): the engine then
   * lists every probeIntervalMs instead of every resyncIntervalMs. Absent: always live.
   */
  readonly live?: boolean;
  /**
   * How long the burst of events one change makes takes to end (lxc: a container's settled state
   * can follow another line within ~10 ms): the engine lists this long after an event, so that the
   * burst costs one listing. Absent: 0, a feed whose change is one event (xl: xenstored fires
   * `@releaseDomain` once per death or shutdown) is listed at once, within the probe gap.
   */
  readonly settleMs?: number;
}

/**
 * How the caller names an existing domain to the backend: the uuid plus what create or the last
 * listing said. Backends use whichever handle their tool needs (xl: the name; rkt: the pod from
 * its uuid map; vmadm: the uuid), so no operation needs an extra lookup. xl never uses the domid
 * here: xl's monitor gives a rebooting guest a new domid (same name and uuid), so a remembered
 * domid can be stale, while names are unique on a host. (An all-digit name would be read by xl
 * as a domid; the xl backend refuses such names.) domainId is for xenstore paths and statuses.
 */
export interface DomainRef {
  uuid: string;
  domainName: string;
  domainId: number | null;
}

/** What create set up, reported in DomainStatus. */
export interface CreatedDomain extends DomainRef {
  vifs: { vifName: string; mac: string; bridge: string; ip?: string }[];
}

/**
 * A created domain's vifs as its status reports them: the spec's, in order, each with the name
 * its backend gave it (`nameOf(vif, index)`).
 */
export function createdVifs(
  spec: DomainSpec,
  nameOf: (vif: DomainSpec['vifs'][number], index: number) => string,
): CreatedDomain['vifs'] {
  return spec.vifs.map((v, i) => ({
    vifName: nameOf(v, i),
    mac: v.mac,
    bridge: v.bridge,
    ...(v.ip === undefined ? {} : { ip: v.ip }),
  }));
}

export interface Hypervisor {
  readonly name: BackendName;

  /**
   * Whether `pause` can freeze a domain. Where it cannot (vmadm), createPaused's "paused" is a
   * stopped VM that only unpause (start) turns into a running one, so a domain asked for paused
   * is started anyway and the engine reports that it could not be paused.
   */
  readonly canPause: boolean;

  /**
   * How long a running domain of ours may be missing from listings before it counts as gone,
   * because the toolstack itself may be building it again: xl's monitor restarts a rebooting
   * guest (on_reboot = restart) by destroying it, sleeping 2 s and creating it anew (same name
   * and uuid, a new domid). Absent or 0: a missing domain is gone at once.
   */
  readonly rebuildGraceMs?: number;

  /**
   * Ganeti's Verify: are the tools present and is the hypervisor answering? Never rejects; all
   * findings are in the result.
   */
  verify(): Promise<VerifyResult>;

  /** Host memory, cpus and version. Rejects when the hypervisor cannot be asked. */
  hostInfo(): Promise<HostInfo>;

  /**
   * Every domain on the host, ours or not (Domain-0, hand-made domains included), with states,
   * in exactly one process spawn.
   */
  list(): Promise<Listing>;

  /**
   * Backend-specific checks of a valid spec (e.g. xl pv/pvh needs a kernel; rkt needs an image).
   * Pure; returns readable problems, empty when the spec can be created.
   */
  checkSpec(spec: DomainSpec): string[];

  /**
   * Builds the domain and leaves it paused (xl create -p; rkt run with STAGE1_XL_OPTS=-p; vmadm
   * create with autoboot false). On any failure after the domain came into being it is destroyed
   * again before rejecting: create never leaves a half-built domain. Not idempotent: a clash
   * rejects and leaves the other domain alone. What counts as a clash is the tool's: xl refuses a
   * name in use (but not a uuid in use: the engine creates only uuids its last listing did not
   * show); rkt refuses a uuid that already has a pod in its map; vmadm refuses a uuid in use.
   */
  createPaused(spec: DomainSpec): Promise<CreatedDomain>;

  /**
   * Zeroes the netback offload keys of every vif of the (paused) domain in one process (none
   * when it has no vifs). The engine calls it between createPaused and unpause when the spec's
   * disableVifOffload is true. Part of the build: on failure the domain is destroyed before
   * rejecting, like createPaused. Idempotent. A documented no-op where the backend has no such
   * keys (vmadm).
   */
  disableVifOffload(created: CreatedDomain): Promise<void>;

  /**
   * Lets a paused domain run (xl unpause; vmadm start). Resolves once the command returned;
   * the caller confirms with the next listing (xl unpause exits 0 even when it failed) and, when
   * the domain still lists as paused, reports it and unpauses again with backoff. Also the resume
   * of a domain paused on request, so unlike disableVifOffload it never destroys anything itself.
   * Idempotent on a running domain.
   */
  unpause(ref: DomainRef): Promise<void>;

  /** Freezes a running domain's vcpus. Idempotent. Rejects with UnsupportedError where impossible. */
  pause(ref: DomainRef): Promise<void>;

  /**
   * Asks the guest to shut down (graceful) or forces the power off (vmadm stop -F). xl always
   * passes -F, which only matters for an HVM guest without PV drivers (ACPI power button instead
   * of failing) and has nothing harder short of destroy, so `force` changes nothing there.
   * Returns at once on xl and rkt; vmadm stop waits for the VM, bounded by the shutdown grace.
   * Afterwards the domain either vanishes or lists as 'shutdown' (xl keeps a powered-off guest:
   * on_poweroff = "preserve"); either way the caller then destroys it. A hung guest does
   * neither: the caller waits, bounded by the grace, then destroys. Resolves without error when
   * the domain is already gone.
   */
  shutdown(ref: DomainRef, options: { force: boolean }): Promise<void>;

  /**
   * Removes the domain from the hypervisor at once, and everything the backend kept for it
   * (cfg file, pod, uuid map entry). Idempotent: a domain that is already gone is not an error.
   */
  destroy(ref: DomainRef): Promise<void>;

  /** Reboots the guest in place. Rejects when the domain is gone. */
  reboot(ref: DomainRef): Promise<void>;

  /** Balloons a running domain to `memoryMiB` (xl mem-set; vmadm update). */
  setMemory(ref: DomainRef, memoryMiB: number): Promise<void>;

  /**
   * Makes PCI devices assignable to guests (xl pci-assignable-add). Idempotent: a device that is
   * already assignable is fine. A no-op where the backend assigns at create (vmadm).
   */
  pciPrepare(bdfs: readonly string[]): Promise<void>;

  /** Gives the devices back to dom0 (xl pci-assignable-remove -r). Idempotent. */
  pciRelease(bdfs: readonly string[]): Promise<void>;

  /** The argv an operator runs for the domain's console (printed, never run by domainmgr). */
  consoleCommand(ref: DomainRef): string[];

  /**
   * Optional: the domains with these uuids only, at a cost that does not grow with the number of
   * domains on the host (lxc: one `lxc-info` per container, where `lxc-ls -f` asks every
   * container). Classified exactly as list() would. The caller uses it to answer a change feed
   * that names the domain (watchChanges); backends without it are always listed in full.
   */
  listSome?(uuids: readonly string[]): Promise<PartialListing>;

  /**
   * Optional: a feed of "something changed on the host, list soon" (xl and rkt: xenstored's
   * `@releaseDomain` and `@introduceDomain` watches; lxc: one long-lived lxc-monitor). `onChange`
   * carries no state; it names the domain's uuid when the feed knows which domain changed (lxc),
   * and is called without one when it does not, and when the feed goes down or comes back (changes
   * may have been missed). The caller answers each call with an expedited listing (of that domain
   * alone when named and the backend has listSome), which classifies exactly as the periodic one,
   * so the feed only shortens how long a change goes unseen. The backend keeps the feed alive
   * itself (restarting what ends, logged); the periodic listing stays as the slow resync and
   * covers its gaps. Backends without one leave it out.
   */
  watchChanges?(onChange: (uuid?: string) => void): ChangeWatch;
}

/** A hypervisor operation failed. `cause` is the runner's error when a command failed. */
export class HypervisorError extends Error {
  readonly operation: string;
  constructor(operation: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HypervisorError';
    this.operation = operation;
  }
}

/** The backend cannot do this at all (e.g. pause a vmadm zone). */
export class UnsupportedError extends HypervisorError {
  constructor(operation: string, message: string) {
    super(operation, message);
    this.name = 'UnsupportedError';
  }
}
