import { cpus, freemem, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { errorText } from '../error-text.js';
import type { Logger } from '../log/logger.js';
import type { CommandResult, RunOptions } from '../runner/command-runner.js';
import { CommandFailedError, CommandTimeoutError } from '../runner/errors.js';
import type { DomainSpec } from '../schema/domain-spec.js';
import { asHypervisorError, commandFailure, failedAfterAll, withCleanup } from './command-failure.js';
import type { BackendDeps } from './deps.js';
import { checkTools, checkWritableDir } from './host-checks.js';
import {
  type CreatedDomain,
  createdVifs,
  type DomainRef,
  type HostInfo,
  type Hypervisor,
  HypervisorError,
  type Listing,
  UnsupportedError,
  type VerifyResult,
} from './hypervisor.js';
import { parseVmadmList, VMADM_LIST_FIELDS } from './parse/vmadm-list.js';
import { vmadmState } from './states.js';
import { checkVmadmSpec, vmadmCreatePayload } from './vmadm-payload.js';

const NOT_FOUND = /not found|No such zone configured/;
const ALREADY_EXISTS = /already exists/;

/**
 * The vmadm backend (SmartOS): containers are joyent zones, vms are bhyve guests, both named by
 * the spec's uuid (vmadm's own key); the alias is the spec's name. vmadm prints its success
 * messages on stderr: only the exit code says whether a command failed.
 */
export class VmadmBackend implements Hypervisor {
  readonly name = 'vmadm' as const;
  /** vmadm has no way to freeze a VM: its create-paused is a stopped VM (autoboot false). */
  readonly canPause = false;
  readonly #deps: BackendDeps;
  readonly #log: Logger;

  constructor(deps: BackendDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ backend: 'vmadm' });
  }

  #vmadm(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const { config } = this.#deps;
    return this.#deps.runner.run([config.tools.vmadm, ...args], {
      timeoutMs: config.timeouts.commandMs,
      ...options,
    });
  }

  async verify(): Promise<VerifyResult> {
    const problems = await checkTools({ vmadm: this.#deps.config.tools.vmadm });
    const dirProblem = await checkWritableDir(join(this.#deps.config.stateDir, 'vmadm'));
    if (dirProblem !== null) problems.push(dirProblem);
    try {
      await this.list();
    } catch (error) {
      problems.push(`vmadm list does not answer: ${errorText(error)}`);
    }
    return { ok: problems.length === 0, problems };
  }

  /**
   * vmadm has no host summary; domainmgr runs in the SmartOS global zone, so the host is the
   * machine node itself sees (memory, cpus, kernel release).
   */
  async hostInfo(): Promise<HostInfo> {
    return {
      totalMemoryMiB: Math.floor(totalmem() / 1048576),
      freeMemoryMiB: Math.floor(freemem() / 1048576),
      nrCpus: cpus().length,
      hypervisorVersion: `SmartOS ${release()}`,
    };
  }

  async list(): Promise<Listing> {
    const r = await asHypervisorError('list', () =>
      this.#vmadm(['list', '-p', '-H', '-o', VMADM_LIST_FIELDS.join(',')]),
    );
    const rows = await asHypervisorError('list', async () => parseVmadmList(r.stdout));
    const domains = rows.map((row) => ({
      uuid: row.uuid,
      name: row.alias ?? row.uuid,
      domainId: null,
      state: vmadmState(row.state),
      memoryMiB: row.ramMiB,
    }));
    return { domains, takenAt: this.#deps.clock.now() };
  }

  checkSpec(spec: DomainSpec): string[] {
    return checkVmadmSpec(spec);
  }

  async createPaused(spec: DomainSpec): Promise<CreatedDomain> {
    const problems = this.checkSpec(spec);
    if (problems.length > 0)
      throw new HypervisorError('create', `cannot create ${spec.name}: ${problems.join('; ')}`);
    const payload = JSON.stringify(vmadmCreatePayload(spec));
    try {
      await this.#vmadm(['create'], { input: payload, timeoutMs: this.#deps.config.timeouts.createMs });
    } catch (error) {
      // "VM with UUID <u> already exists": that VM is someone's (maybe ours), never touched here.
      const clash = error instanceof CommandFailedError && ALREADY_EXISTS.test(error.stderr);
      const mayExist =
        error instanceof CommandTimeoutError || (error instanceof CommandFailedError && !clash);
      const cleanup = mayExist ? await this.#deleteQuietly(spec.uuid) : null;
      throw withCleanup(commandFailure('create', error, `creating ${spec.name}`), cleanup);
    }
    this.#log.info({ uuid: spec.uuid, name: spec.name }, 'VM created stopped (autoboot false)');
    return {
      uuid: spec.uuid,
      domainName: spec.name,
      domainId: null,
      vifs: createdVifs(spec, (_v, i) => `net${i}`),
    };
  }

  /** A documented no-op: vmadm guests have no netback, so there are no offload keys to zero. */
  async disableVifOffload(_created: CreatedDomain): Promise<void> {}

  /** `vmadm start`: a VM that is already running is fine (vmadm says so and exits 0). */
  async unpause(ref: DomainRef): Promise<void> {
    await asHypervisorError('unpause', () => this.#vmadm(['start', ref.uuid]));
  }

  async pause(ref: DomainRef): Promise<void> {
    throw new UnsupportedError(
      'pause',
      `vmadm cannot pause ${ref.domainName}: it has no way to freeze a VM's cpus`,
    );
  }

  /**
   * `vmadm stop [-F]`. vmadm waits for the VM to stop (up to 60 s for a zone, 180 s for bhyve),
   * so the call is bounded by the shutdown grace: a stop still waiting then is not an error, the
   * caller destroys. A VM that is already stopped or gone is fine.
   */
  async shutdown(ref: DomainRef, options: { force: boolean }): Promise<void> {
    const args = ['stop', ref.uuid, ...(options.force ? ['-F'] : [])];
    try {
      const r = await this.#vmadm(args, {
        acceptExitCodes: [1],
        timeoutMs: this.#deps.config.shutdownGraceMs,
      });
      if (r.exitCode !== 0 && !NOT_FOUND.test(r.stderr)) throw failedAfterAll(r);
    } catch (error) {
      if (error instanceof CommandTimeoutError) {
        this.#log.warn({ uuid: ref.uuid }, 'vmadm stop still waiting after the shutdown grace');
        return;
      }
      throw commandFailure('shutdown', error);
    }
  }

  async destroy(ref: DomainRef): Promise<void> {
    const r = await asHypervisorError('destroy', () =>
      this.#vmadm(['delete', ref.uuid], { acceptExitCodes: [1] }),
    );
    if (r.exitCode !== 0 && !NOT_FOUND.test(r.stderr)) throw commandFailure('destroy', failedAfterAll(r));
  }

  async reboot(ref: DomainRef): Promise<void> {
    await asHypervisorError('reboot', () => this.#vmadm(['reboot', ref.uuid]));
  }

  /**
   * `vmadm update <uuid>` with `{"ram": N}`: for a zone ram is its max_physical_memory and
   * applies at once; a bhyve guest cannot balloon, so there it takes effect at the next boot.
   */
  async setMemory(ref: DomainRef, memoryMiB: number): Promise<void> {
    await asHypervisorError('setMemory', () =>
      this.#vmadm(['update', ref.uuid], { input: JSON.stringify({ ram: memoryMiB }) }),
    );
  }

  /** A no-op: vmadm assigns devices at create (and checkSpec refuses PCI devices for now). */
  async pciPrepare(_bdfs: readonly string[]): Promise<void> {}

  async pciRelease(_bdfs: readonly string[]): Promise<void> {}

  consoleCommand(ref: DomainRef): string[] {
    return [this.#deps.config.tools.vmadm, 'console', ref.uuid];
  }

  async #deleteQuietly(uuid: string): Promise<unknown> {
    try {
      await this.destroy({ uuid, domainName: uuid, domainId: null });
      return null;
    } catch (error) {
      return error;
    }
  }
}
