import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { cpus, freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { errorText } from '../error-text.js';
import type { Logger } from '../log/logger.js';
import type { CommandResult, RunOptions } from '../runner/command-runner.js';
import { CommandTimeoutError } from '../runner/errors.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import { isUuidText } from '../schema/uuid.js';
import { asHypervisorError, commandFailure, failedAfterAll, withCleanup } from './command-failure.js';
import type { BackendDeps } from './deps.js';
import { checkTools, checkWritableDir } from './host-checks.js';
import {
  type ChangeWatch,
  type CreatedDomain,
  createdVifs,
  type DomainRef,
  type HostInfo,
  type Hypervisor,
  HypervisorError,
  type Listing,
  type ObservedDomain,
  type PartialListing,
  type VerifyResult,
} from './hypervisor.js';
import { type CgroupVersion, type LxcMount, memoryKey, renderLxcConfig, vethNameFor } from './lxc-config.js';
import { isUnder, resolveImage } from './lxc-image.js';
import { watchLxcMonitor } from './lxc-monitor.js';
import { parseLxcInfo } from './parse/lxc-info.js';
import {
  type InitEnd,
  initEndText,
  LXC_LS_COLUMNS,
  type LxcMark,
  type LxcStateName,
  lastInitEnd,
  lxcObservedState,
  parseLxcLs,
} from './parse/lxc-ls.js';
import { writeFileAtomic } from './state-files.js';

const MARKS: readonly LxcMark[] = ['defined', 'started', 'stopping', 'rebooting'];
// lxc-stop on a container that is not running (or not defined): exit 2, "<name> is not running".
const NOT_RUNNING = /is not running/;
// lxc-info on a container that is not defined: exit 1, "<name> doesn't exist".
const DOES_NOT_EXIST = /doesn't exist/;
/**
 * The bound of one lxc-freeze try. LXC's cgroup v1 freeze writes FROZEN and re-reads the freezer
 * once a second until it reads FROZEN, so a healthy freeze takes about a second.
 */
const FREEZE_TRY_MS = 5_000;

/** Where the host's cgroup controllers are mounted; the v1 memory controller decides the layout. */
export interface CgroupFacts {
  /** /sys/fs/cgroup/memory/memory.limit_in_bytes exists: a v1 memory controller. */
  v1Memory: boolean;
  /** /sys/fs/cgroup/cgroup.controllers exists: the unified (v2) hierarchy is at the root. */
  v2Root: boolean;
}

/** The cgroup version LXC will put a container's memory limit in, or null when neither. Pure. */
export function cgroupVersionOf(facts: CgroupFacts): CgroupVersion | null {
  if (facts.v1Memory) return 'v1';
  if (facts.v2Root) return 'v2';
  return null;
}

/**
 * The folders LXC makes for a container (payload and monitor) that exist under the cgroup root,
 * in any layout: directly (v2) or under each v1 controller's folder.
 */
function cgroupFolders(root: string, name: string): string[] {
  let controllers: string[] = [];
  try {
    controllers = readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    // no cgroup filesystem to read: nothing to clean
  }
  return ['', ...controllers]
    .flatMap((c) => [`lxc.payload.${name}`, `lxc.monitor.${name}`].map((n) => join(root, c, n)))
    .filter((p) => existsSync(p));
}

/**
 * The lxc backend (LXC 5): a `type: container` domain is a Linux container in domainmgr's own
 * container path, `<stateDir>/lxc` (every tool runs with `-P` and it), so containers anywhere else
 * (`/var/lib/lxc`, made by hand) are never listed or touched. A container is named by its domain's
 * uuid, and `domainmgr.json` beside its config records the uuid and display name: after a restart
 * the listing finds every container by uuid.
 *
 * Lifecycle (docs/backends.md): createPaused writes the container's folder (config, overlay upper
 * layer, mark) and starts nothing, unless the spec asks to stay paused, which starts and freezes
 * it; unpause is `lxc-start -d` for a container not started yet, else `lxc-unfreeze`. A mark file
 * (`domainmgr-mark`) says what domainmgr last did, so that a STOPPED container reads as created,
 * stopped on request or crashed (see lxcObservedState). domainmgr never runs lxc-destroy: it
 * deletes the rootfs its config names, which for a folder image would be the image itself.
 */
export class LxcBackend implements Hypervisor {
  readonly name = 'lxc' as const;
  readonly canPause = true;
  readonly #deps: BackendDeps;
  readonly #log: Logger;
  readonly #cgroupRoot: string;
  #version: string | null = null;

  constructor(deps: BackendDeps, options: { cgroupRoot?: string } = {}) {
    this.#deps = deps;
    this.#log = deps.logger.child({ backend: 'lxc' });
    this.#cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
  }

  /** The container path every tool gets with -P. */
  get lxcPath(): string {
    return join(this.#deps.config.stateDir, 'lxc');
  }

  get #imageCache(): string {
    return join(this.#deps.config.stateDir, 'lxc-images');
  }

  containerDir(uuid: string): string {
    return join(this.lxcPath, uuid);
  }

  #tool(name: string): string {
    const dir = this.#deps.config.tools.lxcDir ?? '';
    return dir === '' ? `lxc-${name}` : join(dir, `lxc-${name}`);
  }

  #lxc(
    name: string,
    uuid: string | null,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<CommandResult> {
    const argv = [this.#tool(name), '-P', this.lxcPath, ...(uuid === null ? [] : ['-n', uuid]), ...args];
    return this.#deps.runner.run(argv, { timeoutMs: this.#deps.config.timeouts.commandMs, ...options });
  }

  #cgroupVersion(): CgroupVersion | null {
    return cgroupVersionOf({
      v1Memory: existsSync(join(this.#cgroupRoot, 'memory', 'memory.limit_in_bytes')),
      v2Root: existsSync(join(this.#cgroupRoot, 'cgroup.controllers')),
    });
  }

  async verify(): Promise<VerifyResult> {
    const tools: Record<string, string> = { tar: 'tar', ip: 'ip' };
    for (const t of ['start', 'stop', 'ls', 'freeze', 'unfreeze', 'cgroup', 'console', 'monitor'])
      tools[`lxc-${t}`] = this.#tool(t);
    const problems = await checkTools(tools);
    const dirProblem = await checkWritableDir(this.lxcPath);
    if (dirProblem !== null) problems.push(dirProblem);
    if (this.#cgroupVersion() === null) {
      problems.push(
        `no cgroup memory controller under ${this.#cgroupRoot} (neither v1 memory nor v2 unified)`,
      );
    }
    const filesystems = await readFile('/proc/filesystems', 'utf8').catch(() => '');
    if (!/\boverlay$/m.test(filesystems))
      problems.push('the kernel has no overlay filesystem (container root filesystems need it)');
    try {
      await this.list();
    } catch (error) {
      problems.push(`lxc-ls does not answer: ${errorText(error)}`);
    }
    for (const [bridge, users] of await this.#bridgesInUse()) {
      if (!bridgeExists(bridge))
        problems.push(`bridge ${bridge} (used by container ${users.join(', ')}) does not exist`);
    }
    return { ok: problems.length === 0, problems };
  }

  async hostInfo(): Promise<HostInfo> {
    if (this.#version === null) {
      const r = await asHypervisorError('hostInfo', () =>
        this.#deps.runner.run([this.#tool('start'), '--version'], {
          timeoutMs: this.#deps.config.timeouts.commandMs,
        }),
      );
      this.#version = r.stdout.trim();
    }
    const cgroup = this.#cgroupVersion() ?? 'none';
    return {
      totalMemoryMiB: Math.floor(totalmem() / 1048576),
      freeMemoryMiB: Math.floor(freemem() / 1048576),
      nrCpus: cpus().length,
      hypervisorVersion: `LXC ${this.#version} (cgroup ${cgroup})`,
    };
  }

  async list(): Promise<Listing> {
    const r = await asHypervisorError('list', () =>
      this.#lxc('ls', null, ['-f', '-F', LXC_LS_COLUMNS.join(',')]),
    );
    const rows = await asHypervisorError('list', async () => parseLxcLs(r.stdout));
    const domains = await Promise.all(rows.map((row) => this.#observed(row.name, row.state, row.pid)));
    return { domains, takenAt: this.#deps.clock.now() };
  }

  /**
   * One `lxc-info -s -p` per container (about 5 ms each, whatever the number of containers; `lxc-ls
   * -f` asks every container and took 2-3 s at 100), classified as list() does. A uuid without a
   * container (no config in domainmgr's path, or LXC says it does not exist) is absent.
   */
  async listSome(uuids: readonly string[]): Promise<PartialListing> {
    const found = await Promise.all(
      [...new Set(uuids)].map(async (uuid): Promise<ObservedDomain | null> => {
        if (!isUuidText(uuid) || !existsSync(join(this.containerDir(uuid), 'config'))) return null;
        const info = await asHypervisorError('list', async () => {
          const r = await this.#lxc('info', uuid, ['-s', '-p'], { acceptExitCodes: [1] });
          if (r.exitCode === 0) return parseLxcInfo(r.stdout);
          if (DOES_NOT_EXIST.test(r.stderr)) return null;
          throw failedAfterAll(r);
        });
        return info === null ? null : this.#observed(uuid, info.state, info.pid);
      }),
    );
    return {
      domains: found.filter((d): d is ObservedDomain => d !== null),
      covers: uuids,
      takenAt: this.#deps.clock.now(),
    };
  }

  /** A container as LXC reports it, classified with domainmgr's mark and how its init ended. */
  async #observed(name: string, state: LxcStateName, pid: number | null): Promise<ObservedDomain> {
    const mark = state === 'STOPPED' ? await this.#readMark(name) : null;
    const end =
      mark === 'started' || (state === 'STOPPED' && mark === null) ? await this.#initEnd(name) : undefined;
    const observed = lxcObservedState(state, mark, end?.end);
    return {
      uuid: isUuidText(name) ? name : null,
      name,
      domainId: pid,
      state: observed,
      memoryMiB: null,
      ...(end !== undefined && (observed === 'crashed' || observed === 'shutdown')
        ? { stopDetail: initEndText(end.end, end.firstError) }
        : {}),
    };
  }

  checkSpec(spec: DomainSpec): string[] {
    return checkLxcSpec(spec, this.#deps.config.storage.allowedRoots);
  }

  async createPaused(spec: DomainSpec): Promise<CreatedDomain> {
    const problems = this.checkSpec(spec);
    if (problems.length > 0)
      throw new HypervisorError('create', `cannot create ${spec.name}: ${problems.join('; ')}`);
    const missing = [...new Set(spec.vifs.map((v) => v.bridge))].filter((b) => !bridgeExists(b));
    if (missing.length > 0) {
      throw new HypervisorError(
        'create',
        `cannot create ${spec.name}: bridge ${missing.join(', ')} does not exist on this host`,
      );
    }
    const dir = this.containerDir(spec.uuid);
    if (existsSync(join(dir, 'config'))) {
      throw new HypervisorError(
        'create',
        `container ${spec.uuid} already exists in ${this.lxcPath}; destroy it first`,
      );
    }
    const cgroup = this.#cgroupVersion();
    if (cgroup === null)
      throw new HypervisorError('create', `no cgroup memory controller under ${this.#cgroupRoot}`);

    const { config } = this.#deps;
    const lower = await asHypervisorError('create', () =>
      resolveImage(spec.image ?? '', {
        runner: this.#deps.runner,
        tar: 'tar',
        cacheDir: this.#imageCache,
        allowedRoots: config.storage.allowedRoots,
        timeoutMs: config.timeouts.createMs,
      }),
    );
    const mounts = await asHypervisorError('create', () => mountsOf(spec));
    const vethNames = spec.vifs.map((v, i) => v.vifName ?? vethNameFor(spec.uuid, i));
    let text: string;
    try {
      text = renderLxcConfig({
        spec,
        rootfs: `overlay:${lower}:${join(dir, 'delta')}`,
        cgroup,
        vethNames,
        mounts,
      });
    } catch (error) {
      throw commandFailure('create', error, `writing the config of ${spec.name}`);
    }
    try {
      // A folder without a config is what a create cut off before its config left: not a container.
      await rm(dir, { recursive: true, force: true });
      await mkdir(join(dir, 'delta'), { recursive: true, mode: 0o700 });
      await writeFile(
        join(dir, 'domainmgr.json'),
        `${JSON.stringify({ uuid: spec.uuid, name: spec.name, image: spec.image })}\n`,
      );
      await this.#writeMark(spec.uuid, 'defined');
      await writeFileAtomic(join(dir, 'config'), text, 0o600);
    } catch (error) {
      const cleanup = await rm(dir, { recursive: true, force: true }).then(
        () => null,
        (e: unknown) => e,
      );
      throw withCleanup(commandFailure('create', error, `writing ${dir}`), cleanup);
    }
    const created: CreatedDomain = {
      uuid: spec.uuid,
      domainName: spec.uuid,
      domainId: null,
      vifs: createdVifs(spec, (_v, i) => vethNames[i] ?? ''),
    };
    if (spec.paused) {
      // The contract's paused is frozen: start it and freeze it at once.
      try {
        await this.#start(created, 'create');
        await this.#freeze(spec.uuid, this.#deps.config.timeouts.createMs);
      } catch (error) {
        const cleanup = await this.destroy(created).then(
          () => null,
          (e: unknown) => e,
        );
        throw withCleanup(commandFailure('create', error, `starting ${spec.name} to freeze it`), cleanup);
      }
    }
    this.#log.info({ uuid: spec.uuid, name: spec.name, frozen: spec.paused }, 'container defined');
    return created;
  }

  /** A documented no-op: a veth has no netback offload keys. */
  async disableVifOffload(_created: CreatedDomain): Promise<void> {}

  /** `lxc-start -d` for a container not started yet (bounded by the create timeout), else `lxc-unfreeze`. */
  async unpause(ref: DomainRef): Promise<void> {
    const mark = await this.#readMark(ref.uuid);
    if (mark === 'defined') {
      await this.#start(ref, 'unpause');
      return;
    }
    await asHypervisorError('unpause', () => this.#lxc('unfreeze', ref.uuid, []));
  }

  async pause(ref: DomainRef): Promise<void> {
    await asHypervisorError('pause', () => this.#freeze(ref.uuid, this.#deps.config.timeouts.commandMs));
  }

  /**
   * Marks the container as stopped on request, thaws it (a graceful stop of a frozen container
   * would hang), then `lxc-stop -W` (the halt signal, returns at once: the caller waits out the
   * grace and destroys) or, forced, `lxc-stop -k`. A container that is gone or not running is fine.
   */
  async shutdown(ref: DomainRef, options: { force: boolean }): Promise<void> {
    if (!existsSync(join(this.containerDir(ref.uuid), 'config'))) return;
    await asHypervisorError('shutdown', async () => {
      await this.#writeMark(ref.uuid, 'stopping');
      await this.#lxc('unfreeze', ref.uuid, [], { acceptExitCodes: [1] });
      const r = await this.#lxc('stop', ref.uuid, [options.force ? '-k' : '-W'], { acceptExitCodes: [2] });
      if (r.exitCode !== 0 && !NOT_RUNNING.test(r.stderr)) throw failedAfterAll(r);
    });
  }

  /**
   * Kills the container (`lxc-stop -k`, frozen or not) and removes everything it had: whatever
   * LXC left of its host-side veths and cgroups, then its folder. Idempotent.
   */
  async destroy(ref: DomainRef): Promise<void> {
    const dir = this.containerDir(ref.uuid);
    if (!existsSync(dir)) return;
    await asHypervisorError('destroy', async () => {
      const veths = await this.#vethsOf(ref.uuid);
      if (existsSync(join(dir, 'config'))) {
        await this.#writeMark(ref.uuid, 'stopping');
        const r = await this.#lxc('stop', ref.uuid, ['-k'], { acceptExitCodes: [2] });
        if (r.exitCode !== 0 && !NOT_RUNNING.test(r.stderr)) throw failedAfterAll(r);
      }
      for (const veth of veths) {
        if (!existsSync(join('/sys/class/net', veth))) continue;
        const r = await this.#deps.runner.run(['ip', 'link', 'delete', veth], {
          timeoutMs: this.#deps.config.timeouts.commandMs,
          acceptExitCodes: [1],
        });
        if (r.exitCode !== 0 && existsSync(join('/sys/class/net', veth))) throw failedAfterAll(r);
        this.#log.warn({ uuid: ref.uuid, veth }, 'LXC left a host-side veth behind; deleted it');
      }
      for (const folder of cgroupFolders(this.#cgroupRoot, ref.uuid)) {
        await removeCgroup(folder);
        this.#log.warn({ uuid: ref.uuid, folder }, 'LXC left a cgroup behind; removed it');
      }
      await rm(dir, { recursive: true, force: true });
    });
  }

  /** `lxc-stop -r`: the reboot signal; LXC starts the container again. */
  async reboot(ref: DomainRef): Promise<void> {
    await asHypervisorError('reboot', async () => {
      await this.#writeMark(ref.uuid, 'rebooting');
      try {
        await this.#lxc('stop', ref.uuid, ['-r']);
      } finally {
        await this.#writeMark(ref.uuid, 'started');
      }
    });
  }

  /** The cgroup memory limit, live (`lxc-cgroup`; v1 memory.limit_in_bytes, v2 memory.max). */
  async setMemory(ref: DomainRef, memoryMiB: number): Promise<void> {
    const cgroup = this.#cgroupVersion();
    if (cgroup === null)
      throw new HypervisorError('setMemory', `no cgroup memory controller under ${this.#cgroupRoot}`);
    await asHypervisorError('setMemory', () =>
      this.#lxc('cgroup', ref.uuid, [memoryKey(cgroup), String(memoryMiB * 1048576)]),
    );
  }

  /** A no-op: checkSpec refuses PCI devices for containers. */
  async pciPrepare(_bdfs: readonly string[]): Promise<void> {}

  async pciRelease(_bdfs: readonly string[]): Promise<void> {}

  consoleCommand(ref: DomainRef): string[] {
    return [this.#tool('console'), '-P', this.lxcPath, '-n', ref.uuid];
  }

  /**
   * One long-lived `lxc-monitor -P <path>` for every container of domainmgr's path (without -n it
   * follows all of them), kept running with backoff (lxc-monitor.ts): each settled state it prints
   * calls onChange with the container's uuid, and the caller's listing (listSome) classifies it.
   */
  watchChanges(onChange: (uuid?: string) => void): ChangeWatch {
    return watchLxcMonitor(
      { runner: this.#deps.runner, clock: this.#deps.clock, logger: this.#log },
      this.monitorArgv(),
      // A container of our path not named by a uuid is none of ours: a full listing decides.
      (name) => onChange(name !== undefined && isUuidText(name) ? name : undefined),
    );
  }

  /** The lxc-monitor command of watchChanges. */
  monitorArgv(): string[] {
    return [this.#tool('monitor'), '-P', this.lxcPath];
  }

  /**
   * lxc-start in daemon mode, logging to `start.log` at INFO (about 25 lines a start): its errors
   * are quoted when it fails, and the container's monitor goes on to log how the init ended
   * (`ended on signal ...`), which tells a guest poweroff from a crash (lxcObservedState).
   */
  async #start(ref: DomainRef, operation: string): Promise<void> {
    const log = join(this.containerDir(ref.uuid), 'start.log');
    try {
      await writeFile(log, '');
      await this.#writeMark(ref.uuid, 'started');
      await this.#lxc('start', ref.uuid, ['-d', '-o', log, '-l', 'INFO'], {
        timeoutMs: this.#deps.config.timeouts.createMs,
      });
    } catch (error) {
      await this.#writeMark(ref.uuid, 'defined').catch(() => undefined);
      const said = firstLxcError(await readFile(log, 'utf8').catch(() => ''));
      throw commandFailure(
        operation,
        error,
        `starting container ${ref.uuid}${said === null ? '' : ` (LXC: ${said})`}`,
      );
    }
  }

  /**
   * lxc-freeze, each try bounded by FREEZE_TRY_MS, within budgetMs in all. Why: a freeze issued
   * just after lxc-start returned has been seen (in CI, twice in about ten runs; never by hand) to
   * stay FREEZING for good, lxc-freeze polling forever. A try that runs out is thawed (the freezer
   * is left FREEZING when lxc-freeze is killed) and made again; the last try's error is the one
   * reported when the budget runs out.
   */
  async #freeze(uuid: string, budgetMs: number): Promise<void> {
    const clock = this.#deps.clock;
    const deadline = clock.monotonic() + budgetMs;
    for (let attempt = 1; ; attempt++) {
      const left = deadline - clock.monotonic();
      try {
        await this.#lxc('freeze', uuid, [], { timeoutMs: Math.max(1, Math.min(FREEZE_TRY_MS, left)) });
        return;
      } catch (error) {
        if (!(error instanceof CommandTimeoutError) || deadline - clock.monotonic() <= 0) throw error;
        this.#log.warn(
          { uuid, attempt, timeoutMs: error.timeoutMs },
          'lxc-freeze did not finish; thawing and freezing again',
        );
        await this.#lxc('unfreeze', uuid, [], { acceptExitCodes: [1] });
      }
    }
  }

  /**
   * How the container's last init ended, from the start log lxc-start keeps writing (see #start),
   * and the log's first ERROR, quoted when the end is not in the log.
   */
  async #initEnd(uuid: string): Promise<{ end: InitEnd; firstError: string | null }> {
    const log = await readFile(join(this.containerDir(uuid), 'start.log'), 'utf8').catch(() => '');
    return { end: lastInitEnd(log), firstError: firstLxcError(log) };
  }

  async #readMark(uuid: string): Promise<LxcMark | null> {
    try {
      const text = (await readFile(join(this.containerDir(uuid), 'domainmgr-mark'), 'utf8')).trim();
      return (MARKS as readonly string[]).includes(text) ? (text as LxcMark) : null;
    } catch {
      return null;
    }
  }

  async #writeMark(uuid: string, mark: LxcMark): Promise<void> {
    await writeFile(join(this.containerDir(uuid), 'domainmgr-mark'), `${mark}\n`);
  }

  /** The host-side veth names the container's config names (domainmgr wrote them). */
  async #vethsOf(uuid: string): Promise<string[]> {
    const text = await readFile(join(this.containerDir(uuid), 'config'), 'utf8').catch(() => '');
    return [...text.matchAll(/^lxc\.net\.\d+\.veth\.pair = "([^"]+)"$/gm)].map((m) => m[1] ?? '');
  }

  /** bridge -> containers of ours whose config attaches to it. */
  async #bridgesInUse(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    const names = await readdir(this.lxcPath).catch(() => [] as string[]);
    for (const name of names) {
      const text = await readFile(join(this.lxcPath, name, 'config'), 'utf8').catch(() => '');
      for (const m of text.matchAll(/^lxc\.net\.\d+\.link = "([^"]+)"$/gm)) {
        const bridge = m[1] ?? '';
        out.set(bridge, [...(out.get(bridge) ?? []), name]);
      }
    }
    return out;
  }
}

/** The lxc backend's own checks of a valid spec. Pure. */
export function checkLxcSpec(spec: DomainSpec, allowedRoots: readonly string[]): string[] {
  const problems: string[] = [];
  if (spec.type !== 'container') {
    problems.push('/type "vm" needs the xl or vmadm backend; the lxc backend runs type "container" only');
  }
  if (spec.pciDevices.length > 0) {
    problems.push('/pciDevices cannot be passed through to a container: the lxc backend refuses PCI devices');
  }
  const image = spec.image ?? '';
  if (!image.startsWith('/')) {
    problems.push(
      '/image must be an absolute path (a root filesystem folder or a tar archive of one) on the lxc backend',
    );
  } else if (!isUnder(image, allowedRoots)) {
    problems.push(
      `/image must lie under an allowed storage root: ${allowedRoots.join(', ') || '(none configured)'}`,
    );
  }
  spec.disks.forEach((d, i) => {
    if (/[\s\\]/.test(d.path))
      problems.push(
        `/disks/${i}/path must hold no blank or backslash on the lxc backend (it becomes a mount entry)`,
      );
  });
  return problems;
}

/** Each disk as a bind mount at /mnt/<vdev> (or /mnt/disk<i>), a folder or a file as it is on the host. */
async function mountsOf(spec: DomainSpec): Promise<LxcMount[]> {
  return Promise.all(
    spec.disks.map(async (d, i) => {
      let kind: 'dir' | 'file';
      try {
        kind = (await stat(d.path)).isDirectory() ? 'dir' : 'file';
      } catch {
        throw new HypervisorError('create', `disk ${d.path} does not exist`);
      }
      return { source: d.path, target: `mnt/${d.vdev ?? `disk${i}`}`, readOnly: d.readOnly, kind };
    }),
  );
}

function bridgeExists(name: string): boolean {
  return existsSync(join('/sys/class/net', name, 'bridge'));
}

/** The message of the first ERROR line of an LXC log (`... ERROR module - file:func:line - text`). */
export function firstLxcError(log: string): string | null {
  for (const line of log.split('\n')) {
    const m = /\sERROR\s+\S+ - \S+ - (.*)$/.exec(line);
    if (m?.[1] !== undefined) return m[1];
  }
  return null;
}

/** rmdir a cgroup folder and the folders under it, deepest first (cgroupfs has only folders to remove). */
async function removeCgroup(folder: string): Promise<void> {
  const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await removeCgroup(join(folder, e.name));
  await rmdir(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
