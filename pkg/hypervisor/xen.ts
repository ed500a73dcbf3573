import { errorText } from '../error-text.js';
import type { Logger } from '../log/logger.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import { asHypervisorError } from './command-failure.js';
import type { BackendDeps } from './deps.js';
import {
  type ChangeWatch,
  type CreatedDomain,
  createdVifs,
  type HostInfo,
  HypervisorError,
  type ObservedDomain,
} from './hypervisor.js';
import { hostInfoFromXlInfo } from './parse/xl-info.js';
import type { XlListRow } from './parse/xl-list.js';
import { xlState } from './states.js';
import { storeUnreachable, XenStore } from './xen-store.js';
import { renderXlConfig, XlConfigError, type XlConfigOptions } from './xl-config.js';
import { XlTool } from './xl-tool.js';

/** How a backend names one Xen domain to xl: its name there, and the domain uuid for messages. */
export interface XenDomainName {
  domainName: string;
  uuid: string;
  /** Its domid when known (a listing or the create said it). */
  domainId?: number | null;
}

/**
 * The Xen layer both Xen backends stand on: the xl backend (one Xen domain per vm, named by the
 * spec's name) and the rkt backend (stage1-xen makes each pod a Xen domain named by the pod
 * uuid). It does what is the same for both, through xl and xenstored's socket: the listing as
 * observations, host facts, the lifecycle commands on a named domain, a new domain's domid, the
 * offload write, the domain-death watch, PCI assignability, the xl.cfg check. What differs (how a
 * domain is built and torn down, how the listing maps back to domain uuids) stays in xl.ts and
 * rkt.ts.
 *
 * xenstored's socket (`tools.xenstoredSocket`, else libxenstore's lookup: XENSTORED_PATH, else
 * the default path) is opened on first use (verify, at start). Through it a create costs two
 * processes: the domid is looked up and the offload keys written in one transaction over the
 * socket (xen-store.ts). When the socket is absent or refuses us (not a dom0, not root), the
 * layer says so once in the log and in every verify() (as a problem with ok true: it works) and
 * uses the commands instead: `xl domid`, one `xenstore-write`. When an open connection is down
 * for a while (xenstored restarting), each create that meets it uses the commands too.
 *
 * Every method that takes an operation name rejects with HypervisorError for it; the raw ones
 * (domid, createdDomid, disableOffload, destroyDomain, listRows) reject with the runner's errors, for the backends'
 * build and teardown paths, which add their own context and cleanup.
 */
export class XenHost {
  readonly #deps: BackendDeps;
  readonly #xl: XlTool;
  readonly #log: Logger;
  #storeOpening: Promise<XenStore | null> | null = null;
  #store: XenStore | null = null;
  #storeProblem: string | null = null;

  constructor(deps: BackendDeps, logger: Logger) {
    this.#deps = deps;
    this.#log = logger;
    this.#xl = new XlTool({
      runner: deps.runner,
      logger,
      xl: deps.config.tools.xl,
      xenstoreWrite: deps.config.tools.xenstoreWrite,
      commandMs: deps.config.timeouts.commandMs,
      createMs: deps.config.timeouts.createMs,
    });
  }

  /** The raw xl commands, for the xl backend's own create (`xl create -p`). */
  get tool(): XlTool {
    return this.#xl;
  }

  /**
   * `xl info` answers: the hypervisor is there. Empty when it does, else the problem. Then the
   * store (opened once): its absence is a note (a working, slower mode), not a failure.
   */
  async answers(): Promise<{ problems: string[]; notes: string[] }> {
    try {
      await this.#xl.info();
    } catch (error) {
      return { problems: [`xl info does not answer: ${errorText(error)}`], notes: [] };
    }
    await this.#openStore();
    return { problems: [], notes: this.#storeProblem === null ? [] : [this.#fallbackNote()] };
  }

  #fallbackNote(): string {
    return `xenstored's socket is not usable (${this.#storeProblem}): creates run xl domid and xenstore-write (4 processes instead of 2), and deaths are noticed at the next listing (probeIntervalMs)`;
  }

  /** Opens xenstored's socket once; null (and the reason logged once) when it cannot be used. */
  #openStore(): Promise<XenStore | null> {
    this.#storeOpening ??= XenStore.open(this.#deps.config.tools.xenstoredSocket ?? '', this.#log).then(
      (r) => {
        this.#store = r.store;
        this.#storeProblem = r.problem;
        if (r.store === null) this.#log.warn({ problem: r.problem }, this.#fallbackNote());
        else this.#log.info({ socket: r.store.socketPath }, 'talking to xenstored over its socket');
        return r.store;
      },
    );
    return this.#storeOpening;
  }

  /**
   * The floor of the native domid lookup for a create about to start (see XenStore); null when
   * the store cannot be used (the domid then comes from `xl domid`). Opens the store if needed.
   */
  async domidFloor(): Promise<number | null> {
    const store = await this.#openStore();
    return store?.connected ? store.domidFloor() : null;
  }

  /**
   * The domid of a domain just created (after `floor` from domidFloor()): from xenstore when it
   * can, else `xl domid`. Raw errors.
   */
  async createdDomid(name: XenDomainName, floor: number | null, operation: string): Promise<number> {
    const store = this.#store;
    if (store !== null && floor !== null) {
      try {
        const found = await store.findDomid(name.domainName, name.uuid, floor);
        if (found !== null) return found;
        this.#log.warn(
          { uuid: name.uuid, name: name.domainName, floor },
          'domid not found in xenstore after the floor; asking xl domid',
        );
      } catch (error) {
        if (!storeUnreachable(error)) throw error;
      }
    }
    const domid = await this.domid(name, operation);
    store?.note([domid]);
    return domid;
  }

  /**
   * Zeroes the offload keys of `vifCount` vifs: one xenstore transaction, or (no store, or its
   * connection down) one xenstore-write process; nothing when 0. Raw errors.
   */
  async disableOffload(domid: number, vifCount: number): Promise<void> {
    if (vifCount === 0) return;
    const store = this.#store;
    if (store?.connected) {
      try {
        await store.zeroOffload(domid, vifCount);
        return;
      } catch (error) {
        if (!storeUnreachable(error)) throw error;
      }
    }
    await this.#xl.zeroOffload(domid, vifCount);
  }

  /** The domain-death watch (Hypervisor.watchChanges); never live without the store. */
  watchChanges(onChange: () => void): ChangeWatch {
    return this.#store?.watchDomains(onChange) ?? { close: () => undefined, live: false };
  }

  async hostInfo(): Promise<HostInfo> {
    return asHypervisorError('hostInfo', async () => hostInfoFromXlInfo(await this.#xl.info()));
  }

  /** Every Xen domain (`xl list -v`, one process) as the engine sees it. */
  async list(): Promise<ObservedDomain[]> {
    const rows = await asHypervisorError('list', () => this.#xl.list());
    this.#store?.note(rows.map((r) => r.domid));
    return rows.map(observed);
  }

  /** `xl list -v` rows, raw errors. */
  listRows(): Promise<XlListRow[]> {
    return this.#xl.list();
  }

  /** `xl domid <name>`; raw errors. */
  domid(name: XenDomainName, operation: string): Promise<number> {
    return this.#xl.domid(xlName(name, operation));
  }

  async unpause(name: XenDomainName): Promise<void> {
    await asHypervisorError('unpause', () => this.#xl.unpause(xlName(name, 'unpause')));
  }

  async pause(name: XenDomainName): Promise<void> {
    await asHypervisorError('pause', () => this.#xl.pause(xlName(name, 'pause')));
  }

  /** `xl shutdown -F`; a domain that is already gone is not an error. */
  async shutdown(name: XenDomainName): Promise<void> {
    const outcome = await asHypervisorError('shutdown', () => this.#xl.shutdown(xlName(name, 'shutdown')));
    if (outcome === 'missing') this.#log.info({ uuid: name.uuid }, 'shutdown: domain already gone');
  }

  /** `xl destroy`; 'missing' when the domain is already gone. Raw errors. */
  destroyDomain(name: XenDomainName): Promise<'destroyed' | 'missing'> {
    return this.#xl.destroy(xlName(name, 'destroy'));
  }

  async reboot(name: XenDomainName): Promise<void> {
    await asHypervisorError('reboot', () => this.#xl.reboot(xlName(name, 'reboot')));
  }

  /**
   * `xl mem-set`. libxl reports some failures on stderr only and exits 0; with xenstored's socket
   * and a known domid the domain's `memory/target` is read before and after (no process): a
   * target left as it was by a mem-set that asked for another is a failure. (Not the value
   * itself: libxl writes the target less the video memory for HVM guests.) Without the socket the
   * exit code is trusted, as an extra process per change would cost more than it tells.
   */
  async setMemory(name: XenDomainName, memoryMiB: number): Promise<void> {
    const store = this.#store?.connected === true ? this.#store : null;
    const domid = name.domainId ?? null;
    const read = () =>
      store === null || domid === null
        ? Promise.resolve(undefined)
        : store.memoryTargetKiB(domid).catch(() => undefined);
    const before = await read();
    await asHypervisorError('setMemory', () => this.#xl.memSet(xlName(name, 'setMemory'), memoryMiB));
    if (before === undefined || before === String(memoryMiB * 1024)) return;
    const after = await read();
    if (after === before) {
      throw new HypervisorError(
        'setMemory',
        `xl mem-set ${name.domainName} ${memoryMiB}m exited 0 but memory/target of domain ${domid} is still ${before} KiB`,
      );
    }
  }

  async pciPrepare(bdfs: readonly string[]): Promise<void> {
    for (const bdf of bdfs) await asHypervisorError('pciPrepare', () => this.#xl.pciAssignableAdd(bdf));
  }

  /**
   * Gives back only the devices that are assignable now: `pci-assignable-remove` of a device that
   * is not fails in libxl (it cannot de-quarantine it), and release must be idempotent.
   */
  async pciRelease(bdfs: readonly string[]): Promise<void> {
    if (bdfs.length === 0) return;
    const assignable = await asHypervisorError('pciRelease', () => this.#xl.pciAssignableList());
    const removed = bdfs.filter((bdf) => assignable.has(bdf.toLowerCase()));
    if (removed.length === 0) return;
    for (const bdf of removed) {
      await asHypervisorError('pciRelease', () => this.#xl.pciAssignableRemove(bdf));
    }
    // libxl reports some failures on stderr only and exits 0: a device still assignable was not
    // given back, and left so it would sit assignable and unused. The caller retries the release.
    const after = await asHypervisorError('pciRelease', () => this.#xl.pciAssignableList());
    const stuck = removed.filter((bdf) => after.has(bdf.toLowerCase()));
    if (stuck.length > 0) {
      throw new HypervisorError(
        'pciRelease',
        `xl pci-assignable-remove -r ${stuck.join(' ')} exited 0 but the device is still assignable`,
      );
    }
  }

  consoleCommand(domainName: string): string[] {
    return [this.#deps.config.tools.xl, 'console', domainName];
  }
}

/** A listed xl domain as the engine sees it. */
export function observed(row: XlListRow): ObservedDomain {
  return {
    uuid: row.uuid,
    name: row.name,
    domainId: row.domid,
    state: xlState(row.flags),
    memoryMiB: row.memoryMiB,
  };
}

/** The name xl is given for a domain; an all-digit name would be read by xl as a domid. */
export function xlName(name: XenDomainName, operation: string): string {
  if (/^\d+$/.test(name.domainName) || name.domainName === '') {
    throw new HypervisorError(
      operation,
      `refusing to pass ${JSON.stringify(name.domainName)} to xl (domain ${name.uuid}): xl would read it as a domid`,
    );
  }
  return name.domainName;
}

/**
 * The xl.cfg of a spec (with `options`, e.g. the stage1-xen seed's), or the problem that keeps it
 * from being written. Pure.
 */
export function renderXenConfig(
  spec: DomainSpec,
  options: XlConfigOptions,
): { problems: string[]; cfgText: string | null } {
  try {
    return { problems: [], cfgText: renderXlConfig(spec, options) };
  } catch (error) {
    if (!(error instanceof XlConfigError)) throw error;
    return { problems: [error.message], cfgText: null };
  }
}

/**
 * The vifs a Xen domain was built with, as the status reports them: netback names a vif
 * `vif<domid>.<devid>` unless the config names it, and devids follow the order of the list.
 */
export function xenVifs(spec: DomainSpec, domid: number): CreatedDomain['vifs'] {
  return createdVifs(spec, (v, devid) => v.vifName ?? `vif${domid}.${devid}`);
}
