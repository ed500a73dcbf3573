import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { CommandTimeoutError } from '../runner/errors.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import { asHypervisorError, commandFailure, describeFailure, withCleanup } from './command-failure.js';
import type { BackendDeps } from './deps.js';
import { checkTools, checkWritableDir } from './host-checks.js';
import {
  type CreatedDomain,
  type DomainRef,
  type HostInfo,
  type Hypervisor,
  HypervisorError,
  type Listing,
  type VerifyResult,
} from './hypervisor.js';
import { hostInfoFromXlInfo } from './parse/xl-info.js';
import type { XlListRow } from './parse/xl-list.js';
import { removeFile, writeScratchFile } from './state-files.js';
import { xlState } from './states.js';
import { renderXlConfig, XlConfigError } from './xl-config.js';
import { XlTool, xenVifs } from './xl-tool.js';

/**
 * The xl backend: one Xen domain per DomainSpec, named by the spec's name, with the spec's uuid
 * in its cfg (`<stateDir>/xl/<uuid>.cfg`). A create costs four processes whatever the number of
 * vifs: `xl create -p`, `xl domid`, one `xenstore-write` for all offload keys, `xl unpause`.
 */
export class XlBackend implements Hypervisor {
  readonly name = 'xl' as const;
  readonly canPause = true;
  readonly #deps: BackendDeps;
  readonly #xl: XlTool;
  readonly #log: Logger;

  constructor(deps: BackendDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ backend: 'xl' });
    this.#xl = xlToolFor(deps, this.#log);
  }

  cfgPath(uuid: string): string {
    return join(this.#deps.config.stateDir, 'xl', `${uuid}.cfg`);
  }

  async verify(): Promise<VerifyResult> {
    const { tools, stateDir } = this.#deps.config;
    const problems = await checkTools({ xl: tools.xl, xenstoreWrite: tools.xenstoreWrite });
    const dirProblem = await checkWritableDir(join(stateDir, 'xl'));
    if (dirProblem !== null) problems.push(dirProblem);
    problems.push(...(await xlAnswers(this.#xl)));
    return { ok: problems.length === 0, problems };
  }

  async hostInfo(): Promise<HostInfo> {
    return asHypervisorError('hostInfo', async () => hostInfoFromXlInfo(await this.#xl.info()));
  }

  async list(): Promise<Listing> {
    const rows = await asHypervisorError('list', () => this.#xl.list());
    return { domains: rows.map(observed), takenAt: this.#deps.clock.now() };
  }

  checkSpec(spec: DomainSpec): string[] {
    return checkXenSpec(spec, 'xl');
  }

  async createPaused(spec: DomainSpec): Promise<CreatedDomain> {
    const { problems, cfgText } = xenSpecCheck(spec, 'xl');
    if (problems.length > 0 || cfgText === null)
      throw new HypervisorError('create', `cannot create ${spec.name}: ${problems.join('; ')}`);
    const cfg = this.cfgPath(spec.uuid);
    // In place, not fsynced: xl reads it at once, and it is written again before any later
    // create (no domain outlives a power loss, so no cfg is needed after one).
    await asHypervisorError('create', async () => writeScratchFile(cfg, cfgText), `writing ${cfg}`);
    try {
      await this.#xl.createPaused(cfg);
    } catch (error) {
      // A failed `xl create` has destroyed its own half-built domain (libxl does that), and a
      // name clash must leave the other domain alone, so nothing is destroyed by name here.
      // Only a create we killed on timeout may have left ours behind: find it by name AND uuid.
      const cleanup = error instanceof CommandTimeoutError ? await this.#destroyIfOurs(spec) : null;
      await removeFile(cfg).catch(() => {});
      throw withCleanup(commandFailure('create', error, `creating ${spec.name}`), cleanup);
    }
    let domid: number;
    try {
      domid = await this.#xl.domid(spec.name);
    } catch (error) {
      const cleanup = await this.#abandon(spec.name, spec.uuid);
      throw withCleanup(commandFailure('create', error, `finding the domid of ${spec.name}`), cleanup);
    }
    this.#log.info({ uuid: spec.uuid, name: spec.name, domid }, 'domain created paused');
    return {
      uuid: spec.uuid,
      domainName: spec.name,
      domainId: domid,
      vifs: xenVifs(spec, domid),
    };
  }

  async disableVifOffload(created: CreatedDomain): Promise<void> {
    if (created.vifs.length === 0) return;
    const domid = created.domainId;
    if (domid === null) throw new HypervisorError('disableVifOffload', `${created.domainName} has no domid`);
    try {
      await this.#xl.zeroOffload(domid, created.vifs.length);
    } catch (error) {
      // Part of the build: a domain whose offload could not be set is not started half-configured.
      const cleanup = await this.#abandon(nameOf(created, 'disableVifOffload'), created.uuid);
      throw withCleanup(commandFailure('disableVifOffload', error, created.domainName), cleanup);
    }
  }

  async unpause(ref: DomainRef): Promise<void> {
    await asHypervisorError('unpause', () => this.#xl.unpause(nameOf(ref, 'unpause')));
  }

  async pause(ref: DomainRef): Promise<void> {
    await asHypervisorError('pause', () => this.#xl.pause(nameOf(ref, 'pause')));
  }

  /** `xl shutdown -F` whatever `force` says: xl has nothing harder short of destroy. */
  async shutdown(ref: DomainRef, _options: { force: boolean }): Promise<void> {
    const outcome = await asHypervisorError('shutdown', () => this.#xl.shutdown(nameOf(ref, 'shutdown')));
    if (outcome === 'missing') this.#log.info({ uuid: ref.uuid }, 'shutdown: domain already gone');
  }

  async destroy(ref: DomainRef): Promise<void> {
    const outcome = await asHypervisorError('destroy', () => this.#xl.destroy(nameOf(ref, 'destroy')));
    if (outcome === 'missing') this.#log.info({ uuid: ref.uuid }, 'destroy: domain already gone');
    await asHypervisorError('destroy', () => removeFile(this.cfgPath(ref.uuid)));
  }

  async reboot(ref: DomainRef): Promise<void> {
    await asHypervisorError('reboot', () => this.#xl.reboot(nameOf(ref, 'reboot')));
  }

  async setMemory(ref: DomainRef, memoryMiB: number): Promise<void> {
    await asHypervisorError('setMemory', () => this.#xl.memSet(nameOf(ref, 'setMemory'), memoryMiB));
  }

  async pciPrepare(bdfs: readonly string[]): Promise<void> {
    await pciPrepare(this.#xl, bdfs);
  }

  async pciRelease(bdfs: readonly string[]): Promise<void> {
    await pciRelease(this.#xl, bdfs);
  }

  consoleCommand(ref: DomainRef): string[] {
    return [this.#deps.config.tools.xl, 'console', ref.domainName];
  }

  /** Destroys a domain of ours that a failed build left behind; returns the cleanup's failure. */
  async #abandon(name: string, uuid: string): Promise<unknown> {
    try {
      await this.#xl.destroy(name);
      await removeFile(this.cfgPath(uuid));
      this.#log.warn({ uuid, name }, 'half-built domain destroyed');
      return null;
    } catch (error) {
      this.#log.error({ uuid, name, err: error }, 'could not destroy a half-built domain');
      return error;
    }
  }

  /** After a killed `xl create`: destroys the domain with our name and our uuid, if there is one. */
  async #destroyIfOurs(spec: DomainSpec): Promise<unknown> {
    try {
      const rows = await this.#xl.list();
      const ours = rows.find((r) => r.name === spec.name && r.uuid === spec.uuid);
      return ours === undefined ? null : await this.#abandon(spec.name, spec.uuid);
    } catch (error) {
      return error;
    }
  }
}

export function xlToolFor(deps: BackendDeps, logger: Logger): XlTool {
  return new XlTool({
    runner: deps.runner,
    logger,
    xl: deps.config.tools.xl,
    xenstoreWrite: deps.config.tools.xenstoreWrite,
    commandMs: deps.config.timeouts.commandMs,
    createMs: deps.config.timeouts.createMs,
  });
}

/** A listed xl domain as the engine sees it. */
export function observed(row: XlListRow): Listing['domains'][number] {
  return {
    uuid: row.uuid,
    name: row.name,
    domainId: row.domid,
    state: xlState(row.flags),
    memoryMiB: row.memoryMiB,
  };
}

/** The name xl is given for `ref`; an all-digit name would be read by xl as a domid. */
export function nameOf(ref: { domainName: string; uuid: string }, operation: string): string {
  if (/^\d+$/.test(ref.domainName) || ref.domainName === '') {
    throw new HypervisorError(
      operation,
      `refusing to pass ${JSON.stringify(ref.domainName)} to xl (domain ${ref.uuid}): xl would read it as a domid`,
    );
  }
  return ref.domainName;
}

/**
 * Problems of a spec on a Xen backend: xl runs vms (named by the spec's name), rkt runs
 * containers (named by their pod uuid, with the spec rendered as stage1-xen's seed cfg).
 */
export function checkXenSpec(spec: DomainSpec, backend: 'xl' | 'rkt'): string[] {
  return xenSpecCheck(spec, backend).problems;
}

/** checkXenSpec's problems, and the cfg it rendered to find them (null when it cannot be rendered). */
export function xenSpecCheck(
  spec: DomainSpec,
  backend: 'xl' | 'rkt',
): { problems: string[]; cfgText: string | null } {
  const problems: string[] = [];
  if (backend === 'xl') {
    if (spec.type !== 'vm') {
      problems.push('/type "container" needs the rkt or vmadm backend; the xl backend runs type "vm" only');
    } else if (spec.virtualizationMode !== 'hvm' && spec.kernel === undefined) {
      problems.push(`/kernel is required for a ${spec.virtualizationMode} guest`);
    }
    if (/^\d+$/.test(spec.name)) problems.push('/name must not be all digits: xl would read it as a domid');
  } else {
    if (spec.type !== 'container') {
      problems.push('/type "vm" needs the xl or vmadm backend; the rkt backend runs type "container" only');
    }
    if (spec.image === undefined || spec.image === '') problems.push('/image is required by rkt');
  }
  let cfgText: string | null = null;
  try {
    cfgText = renderXlConfig(spec, backend === 'rkt' ? RKT_SEED : {});
  } catch (error) {
    if (!(error instanceof XlConfigError)) throw error;
    problems.push(error.message);
  }
  return { problems, cfgText };
}

/** stage1-xen appends its own name (the pod uuid), kernel, ramdisk and type choice to the seed. */
export const RKT_SEED = { includeName: false, includeType: false } as const;

/** `xl info` answers: the hypervisor is there. */
export async function xlAnswers(xl: XlTool): Promise<string[]> {
  try {
    await xl.info();
    return [];
  } catch (error) {
    return [`xl info does not answer: ${describeFailure(error)}`];
  }
}

export async function pciPrepare(xl: XlTool, bdfs: readonly string[]): Promise<void> {
  for (const bdf of bdfs) await asHypervisorError('pciPrepare', () => xl.pciAssignableAdd(bdf));
}

/**
 * Gives back only the devices that are assignable now: `pci-assignable-remove` of a device that
 * is not fails in libxl (it cannot de-quarantine it), and release must be idempotent.
 */
export async function pciRelease(xl: XlTool, bdfs: readonly string[]): Promise<void> {
  if (bdfs.length === 0) return;
  const assignable = await asHypervisorError('pciRelease', () => xl.pciAssignableList());
  for (const bdf of bdfs) {
    if (assignable.has(bdf.toLowerCase())) {
      await asHypervisorError('pciRelease', () => xl.pciAssignableRemove(bdf));
    }
  }
}
