import type { Logger } from '../log/logger.js';
import type { CommandResult, CommandRunner, RunOptions } from '../runner/command-runner.js';
import { failedAfterAll } from './command-failure.js';
import { parseXlInfo } from './parse/xl-info.js';
import { parseXlList, type XlListRow } from './parse/xl-list.js';

/** The four netback keys Linux netfront reads; 0 turns the offload off in the guest. */
export const OFFLOAD_KEYS = [
  'feature-sg',
  'feature-gso-tcpv4',
  'feature-gso-tcpv6',
  'feature-ipv6-csum-offload',
] as const;

export interface XlToolOptions {
  runner: CommandRunner;
  logger: Logger;
  /** Path (or bare name) of xl and xenstore-write. */
  xl: string;
  xenstoreWrite: string;
  commandMs: number;
  createMs: number;
}

// What xl prints when the domain named is not there: a name it cannot resolve (rc=-6), a domid
// libxl cannot destroy (rc=-21), or `xl list <x>`'s wording.
const MISSING_DOMAIN = /is an invalid domain identifier \(rc=-6\)|destroy failed \(rc=-21\)|does not exist/;

/**
 * The xl and xenstore-write commands both Xen backends use (xl, and rkt for the Xen domain that
 * stage1-xen creates). One method, one process; no method retries or lists on its own, so the
 * callers can count their spawns. Rejects with the runner's errors; the backends wrap them.
 *
 * Domains are named by name, never by domid: xl reads an all-digit argument as a domid, and a
 * domid changes when xl's monitor restarts a rebooting guest, while the name stays.
 */
export class XlTool {
  readonly #o: XlToolOptions;

  constructor(options: XlToolOptions) {
    this.#o = options;
  }

  #run(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.#o.runner.run([this.#o.xl, ...args], { timeoutMs: this.#o.commandMs, ...options });
  }

  /** `xl create -p <cfg>`: builds the domain paused. */
  async createPaused(cfgPath: string): Promise<void> {
    await this.#run(['create', '-p', cfgPath], { timeoutMs: this.#o.createMs });
  }

  /** `xl domid <name>`. */
  async domid(name: string): Promise<number> {
    const r = await this.#run(['domid', name]);
    const text = r.stdout.trim();
    if (!/^\d+$/.test(text)) throw new Error(`xl domid ${name} printed ${JSON.stringify(text)}, not a domid`);
    return Number(text);
  }

  /**
   * One xenstore-write process zeroing the offload keys of `vifCount` vifs (devids 0..n-1, the
   * order of the cfg's vif list) under netback's directory in dom0. No process when no vifs.
   */
  async zeroOffload(domid: number, vifCount: number): Promise<void> {
    if (vifCount === 0) return;
    const args: string[] = [];
    for (let devid = 0; devid < vifCount; devid++) {
      for (const key of OFFLOAD_KEYS) args.push(`/local/domain/0/backend/vif/${domid}/${devid}/${key}`, '0');
    }
    await this.#o.runner.run([this.#o.xenstoreWrite, ...args], { timeoutMs: this.#o.commandMs });
  }

  /** `xl unpause <name>`. Exit 0 does not prove it worked: confirm with a listing. */
  async unpause(name: string): Promise<void> {
    await this.#run(['unpause', name]);
  }

  /** `xl pause <name>`. Exit 0 does not prove it worked: confirm with a listing. */
  async pause(name: string): Promise<void> {
    await this.#run(['pause', name]);
  }

  /**
   * `xl shutdown -F <name>`: asks the guest, returns at once. -F only matters for an HVM guest
   * without PV drivers, where it sends the ACPI power button instead of failing; every other
   * guest gets the same PV request as without it. 'missing' when there is no such domain.
   */
  async shutdown(name: string): Promise<'requested' | 'missing'> {
    const r = await this.#run(['shutdown', '-F', name], { acceptExitCodes: [1] });
    if (r.exitCode === 0) return 'requested';
    if (MISSING_DOMAIN.test(r.stderr)) return 'missing';
    throw failedAfterAll(r);
  }

  /** `xl reboot -F <name>` (-F as for shutdown). */
  async reboot(name: string): Promise<void> {
    await this.#run(['reboot', '-F', name]);
  }

  /** `xl destroy <name>`; 'missing' when there is no such domain (not an error). */
  async destroy(name: string): Promise<'destroyed' | 'missing'> {
    const r = await this.#run(['destroy', name], { acceptExitCodes: [1] });
    if (r.exitCode === 0) return 'destroyed';
    if (MISSING_DOMAIN.test(r.stderr)) return 'missing';
    throw failedAfterAll(r);
  }

  /** `xl mem-set <name> <N>m` (explicit unit: a bare number is MiB in the code, KiB in the man page). */
  async memSet(name: string, memoryMiB: number): Promise<void> {
    await this.#run(['mem-set', name, `${memoryMiB}m`]);
  }

  /** `xl list -v`: every domain with uuid and state, one process. */
  async list(): Promise<XlListRow[]> {
    const r = await this.#run(['list', '-v']);
    return parseXlList(r.stdout);
  }

  /** `xl info`, parsed into its key/value fields. */
  async info(): Promise<Map<string, string>> {
    const r = await this.#run(['info']);
    return parseXlInfo(r.stdout);
  }

  /** `xl pci-assignable-add <bdf>`: a device that is already assignable only warns (exit 0). */
  async pciAssignableAdd(bdf: string): Promise<void> {
    await this.#run(['pci-assignable-add', bdf]);
  }

  /** `xl pci-assignable-remove -r <bdf>`: gives the device back to its dom0 driver. */
  async pciAssignableRemove(bdf: string): Promise<void> {
    await this.#run(['pci-assignable-remove', '-r', bdf]);
  }

  /** `xl pci-assignable-list`: the BDFs currently assignable, lower case. */
  async pciAssignableList(): Promise<Set<string>> {
    const r = await this.#run(['pci-assignable-list']);
    return new Set(
      r.stdout
        .split('\n')
        // `%04x:%02x:%02x.%01x ` then the device's name, if it was given one.
        .map((l) => (l.trim().split(/\s+/)[0] ?? '').toLowerCase())
        .filter((l) => l !== ''),
    );
  }
}
