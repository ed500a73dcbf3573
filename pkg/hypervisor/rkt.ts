import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { CommandResult, RunOptions } from '../runner/command-runner.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import { isUnderRoot } from '../schema/semantics.js';
import { isUuidText } from '../schema/uuid.js';
import { asHypervisorError, commandFailure, failedAfterAll, withCleanup } from './command-failure.js';
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
import { parseRktStatus } from './parse/rkt-status.js';
import { PodMap } from './rkt-pod-map.js';
import { removeFile, writeFileAtomic } from './state-files.js';
import { renderXenConfig, XenHost, xenVifs } from './xen.js';

// rkt's answer when the pod named does not exist (exit 254).
const NO_SUCH_POD = /no matches found/;

/**
 * The rkt backend: a container is a rkt pod run by the stage1-xen stage1, which runs `xl create`
 * itself; the Xen domain is named by the full pod uuid. domainmgr seeds stage1's xl config with
 * the spec (STAGE1_SEED_XL_CFG) and asks for a paused domain (STAGE1_XL_OPTS=-p), then does the
 * same Xen tail as the xl backend (xen.ts): the domid and the offload keys through xenstored's
 * socket, then `xl unpause`. A create costs two processes: rkt run, xl unpause (four without
 * the socket: `xl domid` and one `xenstore-write` too).
 *
 * Domain uuid -> pod uuid lives in `<stateDir>/rkt/pods.json`; the listing is one `xl list -v`,
 * mapped back through it.
 */
export class RktBackend implements Hypervisor {
  readonly name = 'rkt' as const;
  readonly canPause = true;
  readonly #deps: BackendDeps;
  readonly #xen: XenHost;
  readonly #log: Logger;
  readonly #pods: PodMap;

  constructor(deps: BackendDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ backend: 'rkt' });
    this.#xen = new XenHost(deps, this.#log);
    this.#pods = new PodMap(join(this.#dir, 'pods.json'));
  }

  get #dir(): string {
    return join(this.#deps.config.stateDir, 'rkt');
  }

  /** The seed xl config of a domain. */
  cfgPath(uuid: string): string {
    return join(this.#dir, `${uuid}.cfg`);
  }

  /** Where `rkt run --uuid-file-save` writes a domain's pod uuid (one file per domain). */
  podUuidPath(uuid: string): string {
    return join(this.#dir, `${uuid}.pod-uuid`);
  }

  async verify(): Promise<VerifyResult> {
    const { tools, rkt } = this.#deps.config;
    const problems = await checkTools({ rkt: tools.rkt, xl: tools.xl, xenstoreWrite: tools.xenstoreWrite });
    const dirProblem = await checkWritableDir(this.#dir);
    if (dirProblem !== null) problems.push(dirProblem);
    try {
      await access(rkt.stage1Path, constants.R_OK);
    } catch {
      problems.push(`rkt.stage1Path ${rkt.stage1Path} cannot be read`);
    }
    const xen = await this.#xen.answers();
    problems.push(...xen.problems);
    return { ok: problems.length === 0, problems: [...problems, ...xen.notes] };
  }

  hostInfo(): Promise<HostInfo> {
    return this.#xen.hostInfo();
  }

  async list(): Promise<Listing> {
    const domains = await this.#xen.list();
    const byPod = await asHypervisorError('list', () => this.#pods.byPod(), `reading ${this.#pods.path}`);
    return {
      domains: domains.map((d) => ({ ...d, uuid: byPod.get(d.name) ?? d.uuid })),
      takenAt: this.#deps.clock.now(),
    };
  }

  checkSpec(spec: DomainSpec): string[] {
    return rktSpecCheck(spec, this.#deps.config.storage.allowedRoots).problems;
  }

  async createPaused(spec: DomainSpec): Promise<CreatedDomain> {
    const { problems, cfgText } = rktSpecCheck(spec, this.#deps.config.storage.allowedRoots);
    if (problems.length > 0 || cfgText === null || spec.image === undefined)
      throw new HypervisorError('create', `cannot create ${spec.name}: ${problems.join('; ')}`);
    const existing = await asHypervisorError('create', () => this.#pods.podOf(spec.uuid));
    if (existing !== undefined) {
      throw new HypervisorError(
        'create',
        `domain ${spec.uuid} already has pod ${existing}; destroy it first`,
      );
    }
    const cfg = this.cfgPath(spec.uuid);
    const uuidFile = this.podUuidPath(spec.uuid);
    await asHypervisorError(
      'create',
      async () => {
        await writeFileAtomic(cfg, cfgText);
        await removeFile(uuidFile);
      },
      `writing ${cfg}`,
    );

    const { config } = this.#deps;
    const argv = [
      config.tools.rkt,
      'run',
      `--stage1-path=${config.rkt.stage1Path}`,
      `--uuid-file-save=${uuidFile}`,
      ...(config.rkt.insecureOptions === '' ? [] : [`--insecure-options=${config.rkt.insecureOptions}`]),
      // Last, and checked by rktImageProblem to be a sha512- hash or an absolute path: it cannot
      // start with -, so rkt cannot read it as a flag. (No `--` before it: rkt run reads a `--`
      // after the image as the start of the app's arguments, and does not document one before.)
      spec.image,
    ];
    const floor = await this.#xen.domidFloor();
    try {
      await this.#deps.runner.run(argv, {
        timeoutMs: config.timeouts.createMs,
        env: { STAGE1_XL_OPTS: '-p', STAGE1_SEED_XL_CFG: cfg },
      });
    } catch (error) {
      // rkt writes the uuid file before stage1 starts: a pod may exist even though run failed.
      const pod = await readPodUuid(uuidFile);
      const cleanup =
        pod === null ? await this.#forgetFiles(spec.uuid) : await this.#teardown(spec.uuid, pod);
      throw withCleanup(commandFailure('create', error, `running the pod of ${spec.name}`), cleanup);
    }

    const pod = await readPodUuid(uuidFile);
    if (pod === null) {
      const cleanup = await this.#forgetFiles(spec.uuid);
      throw withCleanup(
        new HypervisorError('create', `rkt run exited 0 but left no pod uuid in ${uuidFile}`),
        cleanup,
      );
    }
    await asHypervisorError('create', () => this.#pods.set(spec.uuid, pod), `recording pod ${pod}`);

    let domid: number;
    try {
      domid = await this.#xen.createdDomid({ domainName: pod, uuid: spec.uuid }, floor, 'create');
    } catch (error) {
      // stage1-xen exits 0 even when its `xl create` failed (it leaves an empty pid file): no Xen
      // domain named by the pod uuid means the create failed.
      const detail = await this.#podState(pod);
      const cleanup = await this.#teardown(spec.uuid, pod);
      throw withCleanup(
        commandFailure(
          'create',
          error,
          `rkt run exited 0 but pod ${pod} has no Xen domain (stage1-xen's xl create failed${detail})`,
        ),
        cleanup,
      );
    }
    this.#log.info({ uuid: spec.uuid, pod, domid }, 'pod created paused');
    return {
      uuid: spec.uuid,
      domainName: pod,
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
      const pod = await this.#pods.podOf(created.uuid).catch(() => undefined);
      const cleanup = pod === undefined ? null : await this.#teardown(created.uuid, pod);
      throw withCleanup(commandFailure('disableVifOffload', error, created.domainName), cleanup);
    }
  }

  async unpause(ref: DomainRef): Promise<void> {
    const pod = await this.#podOf(ref, 'unpause');
    await this.#xen.unpause({ domainName: pod, uuid: ref.uuid });
  }

  async pause(ref: DomainRef): Promise<void> {
    const pod = await this.#podOf(ref, 'pause');
    await this.#xen.pause({ domainName: pod, uuid: ref.uuid });
  }

  /** A graceful request to the pod's guest (`xl shutdown -F <pod>`); `rkt stop` is a destroy. */
  async shutdown(ref: DomainRef, _options: { force: boolean }): Promise<void> {
    const pod = await asHypervisorError('shutdown', () => this.#pods.podOf(ref.uuid));
    if (pod === undefined) return;
    await this.#xen.shutdown({ domainName: pod, uuid: ref.uuid });
  }

  /**
   * Tears down the domain's pod. A ref that names another pod than the map's (a pod uuid as
   * domainName) is a pod of this domain the map does not know: a `rkt run` whose domainmgr was
   * killed before it recorded the pod, found by the listing through the uuid in its xl config.
   * Only that pod is torn down; the map's pod, if any, stays.
   */
  async destroy(ref: DomainRef): Promise<void> {
    const pod = await asHypervisorError('destroy', () => this.#pods.podOf(ref.uuid));
    if (isUuidText(ref.domainName) && ref.domainName !== pod) {
      const other = ref.domainName;
      let failure = await this.#teardownPod(ref.uuid, other);
      // No pod in the map at all: the files of the unrecorded create go too.
      if (failure === null && pod === undefined) failure = await this.#forgetFiles(ref.uuid);
      if (failure !== null)
        throw commandFailure('destroy', failure, `unrecorded pod ${other} of ${ref.uuid}`);
      this.#log.warn(
        { uuid: ref.uuid, pod: other, recorded: pod ?? null },
        'unrecorded pod of the domain torn down',
      );
      return;
    }
    const failure =
      pod === undefined ? await this.#forgetFiles(ref.uuid) : await this.#teardown(ref.uuid, pod);
    if (failure !== null) throw commandFailure('destroy', failure, `pod ${pod ?? '(none)'} of ${ref.uuid}`);
  }

  async reboot(ref: DomainRef): Promise<void> {
    const pod = await this.#podOf(ref, 'reboot');
    await this.#xen.reboot({ domainName: pod, uuid: ref.uuid });
  }

  async setMemory(ref: DomainRef, memoryMiB: number): Promise<void> {
    const pod = await this.#podOf(ref, 'setMemory');
    await this.#xen.setMemory({ domainName: pod, uuid: ref.uuid }, memoryMiB);
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

  async #podOf(ref: DomainRef, operation: string): Promise<string> {
    const pod = await asHypervisorError(operation, () => this.#pods.podOf(ref.uuid));
    if (pod === undefined) throw new HypervisorError(operation, `domain ${ref.uuid} has no pod`);
    return pod;
  }

  #rkt(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const { config } = this.#deps;
    return this.#deps.runner.run([config.tools.rkt, ...args], {
      timeoutMs: config.timeouts.commandMs,
      ...options,
    });
  }

  /**
   * Removes a pod and its Xen domain: `rkt stop` (stage1-xen runs `xl destroy`), then
   * `xl destroy <pod>` in case the domain is still there (stage1-xen's stop discards every error,
   * and with --force it does nothing at all), then `rkt rm`, then the map entry and files.
   * Returns the first failure (after trying every step), null when all went well.
   */
  async #teardown(uuid: string, pod: string): Promise<unknown> {
    const failure = await this.#teardownPod(uuid, pod);
    if (failure !== null) return failure;
    let mapFailure: unknown = null;
    try {
      await this.#pods.delete(uuid);
    } catch (error) {
      mapFailure = error;
    }
    const files = await this.#forgetFiles(uuid);
    return mapFailure ?? files;
  }

  /** `rkt stop`, `xl destroy`, `rkt rm` of one pod; the first failure (every step is tried), or null. */
  async #teardownPod(uuid: string, pod: string): Promise<unknown> {
    let failure: unknown = null;
    const step = async (fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (error) {
        failure ??= error;
      }
    };
    await step(async () => {
      const r = await this.#rkt(['stop', pod], { acceptExitCodes: [254] });
      if (r.exitCode !== 0 && !NO_SUCH_POD.test(r.stderr)) throw failedAfterAll(r);
    });
    await step(async () => {
      if ((await this.#xen.destroyDomain({ domainName: pod, uuid })) === 'destroyed') {
        this.#log.warn({ uuid, pod }, 'rkt stop left the Xen domain behind; destroyed it with xl');
      }
    });
    await step(async () => {
      const r = await this.#rkt(['rm', pod], { acceptExitCodes: [254] });
      if (r.exitCode !== 0 && !NO_SUCH_POD.test(r.stderr)) throw failedAfterAll(r);
    });
    return failure;
  }

  /** Removes the seed cfg and pod uuid file of a domain; returns the failure, if any. */
  async #forgetFiles(uuid: string): Promise<unknown> {
    try {
      await removeFile(this.cfgPath(uuid));
      await removeFile(this.podUuidPath(uuid));
      return null;
    } catch (error) {
      return error;
    }
  }

  /** `; pod state: X` for an error message, or nothing when rkt cannot say. */
  async #podState(pod: string): Promise<string> {
    try {
      const r = await this.#rkt(['status', '--format=json', pod]);
      return `; pod state: ${parseRktStatus(r.stdout).state}`;
    } catch {
      return '';
    }
  }
}

/** The pod uuid rkt saved, or null when the file is missing, empty or not a uuid. */
async function readPodUuid(path: string): Promise<string | null> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return isUuidText(text) ? text : null;
  } catch {
    return null;
  }
}

/** stage1-xen appends its own name (the pod uuid), kernel, ramdisk and type choice to the seed. */
export const RKT_SEED = { includeName: false, includeType: false } as const;

/**
 * The problems of a spec on the rkt backend, and its stage1-xen seed cfg (null when it cannot be
 * rendered): rkt runs containers, named by their pod uuid. Pure.
 */
export function rktSpecCheck(
  spec: DomainSpec,
  allowedRoots: readonly string[],
): { problems: string[]; cfgText: string | null } {
  const problems: string[] = [];
  if (spec.type !== 'container') {
    problems.push('/type "vm" needs the xl or vmadm backend; the rkt backend runs type "container" only');
  }
  const imageProblem = rktImageProblem(spec.image, allowedRoots);
  if (imageProblem !== null) problems.push(imageProblem);
  const rendered = renderXenConfig(spec, RKT_SEED);
  return { problems: [...problems, ...rendered.problems], cfgText: rendered.cfgText };
}

/** An rkt image id as `rkt image list` prints it and `rkt run` takes it (a prefix is enough). */
const IMAGE_HASH = /^sha512-[0-9a-f]+$/;

/**
 * What is wrong with `image` for rkt, or null. The contract allows an image hash or an ACI path;
 * domainmgr never lets rkt fetch by name or URL. An ACI path must be absolute, normalised and
 * under an allowed storage root, like a vm's disks. Nothing that starts with - passes (the schema
 * refuses it too): it would reach rkt run's argv as a flag. Pure.
 */
export function rktImageProblem(image: string | undefined, allowedRoots: readonly string[]): string | null {
  if (image === undefined || image === '') return '/image is required by rkt';
  if (image.startsWith('-'))
    return `/image ${JSON.stringify(image)} must not start with -: rkt run would read it as an option`;
  if (IMAGE_HASH.test(image)) return null;
  if (!image.startsWith('/'))
    return `/image ${JSON.stringify(image)} must be an image hash (sha512-<hex>) or an absolute ACI path: domainmgr does not let rkt fetch images by name or URL`;
  if (posix.normalize(image) !== image)
    return `/image ${JSON.stringify(image)} must be a normalised ACI path (no ., .. or repeated /)`;
  const roots = allowedRoots.length === 0 ? '(none configured)' : allowedRoots.join(', ');
  const under = allowedRoots.some((root) => isUnderRoot(image, root));
  return under ? null : `/image ${image} must lie under an allowed storage root: ${roots}`;
}
