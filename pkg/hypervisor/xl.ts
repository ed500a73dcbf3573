import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { CommandTimeoutError } from '../runner/errors.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import { asHypervisorError, commandFailure, withCleanup } from './command-failure.js';
import type { BackendDeps } from './deps.js';
import { checkTools, checkWritableDir } from './host-checks.js';
import {
  type ChangeWatch,
  type CreatedDomain,
  type DomainRef,
  type HostInfo,
  type Hypervisor,
  HypervisorError,
  type Listing,
  type VerifyResult,
} from './hypervisor.js';
import { removeFile, writeScratchFile } from './state-files.js';
import { renderXenConfig, XenHost, xenVifs } from './xen.js';

/**
 * The xl backend: one Xen domain per DomainSpec, named by the spec's name, with the spec's uuid
 * in its cfg (`<stateDir>/xl/<uuid>.cfg`). A create costs two processes whatever the number of
 * vifs: `xl create -p` and `xl unpause`; the domid and the offload keys go through xenstored's
 * socket. Without the socket, four: `xl domid` and one `xenstore-write` for all offload keys too.
 * What it shares with the rkt backend (listing, lifecycle commands, offload, PCI) is in xen.ts.
 */
export class XlBackend implements Hypervisor {
  readonly name = 'xl' as const;
  readonly canPause = true;
  readonly rebuildGraceMs: number;
  readonly #deps: BackendDeps;
  readonly #xen: XenHost;
  readonly #log: Logger;

  constructor(deps: BackendDeps) {
    this.#deps = deps;
    this.rebuildGraceMs = deps.config.rebuildGraceMs;
    this.#log = deps.logger.child({ backend: 'xl' });
    this.#xen = new XenHost(deps, this.#log);
  }

  cfgPath(uuid: string): string {
    return join(this.#deps.config.stateDir, 'xl', `${uuid}.cfg`);
  }

  async verify(): Promise<VerifyResult> {
    const { tools, stateDir } = this.#deps.config;
    const problems = await checkTools({ xl: tools.xl, xenstoreWrite: tools.xenstoreWrite });
    const dirProblem = await checkWritableDir(join(stateDir, 'xl'));
    if (dirProblem !== null) problems.push(dirProblem);
    const xen = await this.#xen.answers();
    problems.push(...xen.problems);
    return { ok: problems.length === 0, problems: [...problems, ...xen.notes] };
  }

  hostInfo(): Promise<HostInfo> {
    return this.#xen.hostInfo();
  }

  async list(): Promise<Listing> {
    return { domains: await this.#xen.list(), takenAt: this.#deps.clock.now() };
  }

  checkSpec(spec: DomainSpec): string[] {
    return xlSpecCheck(spec).problems;
  }

  async createPaused(spec: DomainSpec): Promise<CreatedDomain> {
    const { problems, cfgText } = xlSpecCheck(spec);
    if (problems.length > 0 || cfgText === null)
      throw new HypervisorError('create', `cannot create ${spec.name}: ${problems.join('; ')}`);
    const cfg = this.cfgPath(spec.uuid);
    // In place, not fsynced: xl reads it at once, and it is written again before any later
    // create (no domain outlives a power loss, so no cfg is needed after one).
    await asHypervisorError('create', async () => writeScratchFile(cfg, cfgText), `writing ${cfg}`);
    // Taken before the create: the new domain's domid comes after it (xen-store.ts).
    const floor = await this.#xen.domidFloor();
    try {
      await this.#xen.tool.createPaused(cfg);
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
      domid = await this.#xen.createdDomid({ domainName: spec.name, uuid: spec.uuid }, floor, 'create');
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
      await this.#xen.disableOffload(domid, created.vifs.length);
    } catch (error) {
      // Part of the build: a domain whose offload could not be set is not started half-configured.
      const cleanup = await this.#abandon(created.domainName, created.uuid);
      throw withCleanup(commandFailure('disableVifOffload', error, created.domainName), cleanup);
    }
  }

  unpause(ref: DomainRef): Promise<void> {
    return this.#xen.unpause(ref);
  }

  pause(ref: DomainRef): Promise<void> {
    return this.#xen.pause(ref);
  }

  /** `xl shutdown -F` whatever `force` says: xl has nothing harder short of destroy. */
  shutdown(ref: DomainRef, _options: { force: boolean }): Promise<void> {
    return this.#xen.shutdown(ref);
  }

  async destroy(ref: DomainRef): Promise<void> {
    const outcome = await asHypervisorError('destroy', () => this.#xen.destroyDomain(ref));
    if (outcome === 'missing') this.#log.info({ uuid: ref.uuid }, 'destroy: domain already gone');
    await asHypervisorError('destroy', () => removeFile(this.cfgPath(ref.uuid)));
  }

  reboot(ref: DomainRef): Promise<void> {
    return this.#xen.reboot(ref);
  }

  setMemory(ref: DomainRef, memoryMiB: number): Promise<void> {
    return this.#xen.setMemory(ref, memoryMiB);
  }

  pciPrepare(bdfs: readonly string[]): Promise<void> {
    return this.#xen.pciPrepare(bdfs);
  }

  pciRelease(bdfs: readonly string[]): Promise<void> {
    return this.#xen.pciRelease(bdfs);
  }

  /** xenstored's `@releaseDomain` / `@introduceDomain` watch (xen.ts); not live without the socket. */
  watchChanges(onChange: () => void): ChangeWatch {
    return this.#xen.watchChanges(onChange);
  }

  consoleCommand(ref: DomainRef): string[] {
    return this.#xen.consoleCommand(ref.domainName);
  }

  /** Destroys a domain of ours that a failed build left behind; returns the cleanup's failure. */
  async #abandon(name: string, uuid: string): Promise<unknown> {
    try {
      await this.#xen.destroyDomain({ domainName: name, uuid });
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
      const rows = await this.#xen.listRows();
      const ours = rows.find((r) => r.name === spec.name && r.uuid === spec.uuid);
      return ours === undefined ? null : await this.#abandon(spec.name, spec.uuid);
    } catch (error) {
      return error;
    }
  }
}

/**
 * The problems of a spec on the xl backend, and its xl.cfg (null when it cannot be rendered): xl
 * runs vms, named by the spec's name. Pure.
 */
export function xlSpecCheck(spec: DomainSpec): { problems: string[]; cfgText: string | null } {
  const problems: string[] = [];
  if (spec.type !== 'vm') {
    problems.push('/type "container" needs the rkt or vmadm backend; the xl backend runs type "vm" only');
  } else if (spec.virtualizationMode !== 'hvm' && spec.kernel === undefined) {
    problems.push(`/kernel is required for a ${spec.virtualizationMode} guest`);
  }
  if (/^\d+$/.test(spec.name)) problems.push('/name must not be all digits: xl would read it as a domid');
  const rendered = renderXenConfig(spec, {});
  return { problems: [...problems, ...rendered.problems], cfgText: rendered.cfgText };
}
