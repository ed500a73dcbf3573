/**
 * EVE's domainmgr's strategy over the xl backend, which the benchmark measures domainmgr against
 * (bench/run.ts, the "EVE-style" rows). It wraps the service's real XlBackend and runs its own
 * commands through the service's runner, so /metrics counts them like every other command. What
 * it changes, as EVE's domainmgr did it:
 * - offload: one xenstore-write per key, five keys (the four the backend writes and
 *   feature-ipv4-csum-offload), under netback's directory and under the guest's device directory:
 *   10 processes per vif, where the backend spawns one for all;
 * - polling: every probeIntervalMs, each configured domain probed by name, `xl domid <name>` and,
 *   when there is one, `xl list -v <name>`: two processes per domain, where the backend lists all
 *   domains with one;
 * - confirmation: a domain that an operation changed is probed by itself at the engine's next
 *   listing (the engine asks for one at once after a create or a shutdown).
 * list() never lists all domains: it probes the domains changed since their last probe and answers
 * for the others with what their last probe saw. Creates one at a time, EVE's other difference,
 * is the service's `--create-concurrency 1`, which the benchmark passes with this strategy.
 *
 * Which domains: EVE polls the domains of its config. A Hypervisor sees the config through
 * checkSpec, which the engine calls for every config it takes in; a name is never dropped (the
 * benchmark deletes no domain).
 */

import type { TimerHandle } from '../../pkg/clock.js';
import { commandFailure, withCleanup } from '../../pkg/hypervisor/command-failure.js';
import type {
  CreatedDomain,
  DomainRef,
  HostInfo,
  Hypervisor,
  Listing,
  ObservedDomain,
  VerifyResult,
} from '../../pkg/hypervisor/hypervisor.js';
import { HypervisorError } from '../../pkg/hypervisor/hypervisor.js';
import { parseXlList } from '../../pkg/hypervisor/parse/xl-list.js';
import type { BackendDeps } from '../../pkg/hypervisor/registry.js';
import { observed } from '../../pkg/hypervisor/xen.js';
import type { Logger } from '../../pkg/log/logger.js';
import type { DomainSpec } from '../../pkg/schema/domain-spec.js';

/** The offload keys EVE's domainmgr zeroed, one xenstore-write each. */
export const EVE_OFFLOAD_KEYS = [
  'feature-sg',
  'feature-gso-tcpv4',
  'feature-gso-tcpv6',
  'feature-ipv6-csum-offload',
  'feature-ipv4-csum-offload',
] as const;

export class EveStyleHypervisor implements Hypervisor {
  readonly name: Hypervisor['name'];
  readonly canPause: boolean;
  readonly #inner: Hypervisor;
  readonly #deps: BackendDeps;
  readonly #log: Logger;
  /** The names polled, in the order their configs came. */
  readonly #names = new Set<string>();
  /** What the newest probe of each name saw (null: no such domain), with that probe's number. */
  readonly #seen = new Map<string, { probe: number; domain: ObservedDomain | null }>();
  /** Names an operation touched since list() last probed them. */
  readonly #changed = new Set<string>();
  #probes = 0;
  #pollTimer: TimerHandle | null = null;
  #closed = false;

  constructor(inner: Hypervisor, deps: BackendDeps) {
    if (inner.name !== 'xl')
      throw new Error(`the EVE-style strategy drives xl, not the ${inner.name} backend`);
    this.#inner = inner;
    this.#deps = deps;
    this.#log = deps.logger.child({ component: 'eve-style' });
    this.name = inner.name;
    this.canPause = inner.canPause;
    this.#schedulePoll();
  }

  /** Stops polling. */
  close(): void {
    this.#closed = true;
    if (this.#pollTimer !== null) this.#deps.clock.cancel(this.#pollTimer);
    this.#pollTimer = null;
  }

  verify(): Promise<VerifyResult> {
    return this.#inner.verify();
  }

  hostInfo(): Promise<HostInfo> {
    return this.#inner.hostInfo();
  }

  async list(): Promise<Listing> {
    const changed = [...this.#changed];
    this.#changed.clear();
    for (const [i, name] of changed.entries()) {
      try {
        await this.#probe(name);
      } catch (error) {
        for (const left of changed.slice(i)) this.#changed.add(left);
        throw commandFailure('list', error, `probing ${name}`);
      }
    }
    const domains: ObservedDomain[] = [];
    for (const name of this.#names) {
      const domain = this.#seen.get(name)?.domain;
      if (domain !== undefined && domain !== null) domains.push(domain);
    }
    return { domains, takenAt: this.#deps.clock.now() };
  }

  checkSpec(spec: DomainSpec): string[] {
    const problems = this.#inner.checkSpec(spec);
    if (problems.length === 0) this.#names.add(spec.name);
    return problems;
  }

  createPaused(spec: DomainSpec): Promise<CreatedDomain> {
    return this.#touching(spec.name, () => this.#inner.createPaused(spec));
  }

  disableVifOffload(created: CreatedDomain): Promise<void> {
    return this.#touching(created.domainName, () => this.#zeroOffloadEachKey(created));
  }

  unpause(ref: DomainRef): Promise<void> {
    return this.#touching(ref.domainName, () => this.#inner.unpause(ref));
  }

  pause(ref: DomainRef): Promise<void> {
    return this.#touching(ref.domainName, () => this.#inner.pause(ref));
  }

  shutdown(ref: DomainRef, options: { force: boolean }): Promise<void> {
    return this.#touching(ref.domainName, () => this.#inner.shutdown(ref, options));
  }

  destroy(ref: DomainRef): Promise<void> {
    return this.#touching(ref.domainName, () => this.#inner.destroy(ref));
  }

  reboot(ref: DomainRef): Promise<void> {
    return this.#touching(ref.domainName, () => this.#inner.reboot(ref));
  }

  setMemory(ref: DomainRef, memoryMiB: number): Promise<void> {
    return this.#touching(ref.domainName, () => this.#inner.setMemory(ref, memoryMiB));
  }

  pciPrepare(bdfs: readonly string[]): Promise<void> {
    return this.#inner.pciPrepare(bdfs);
  }

  pciRelease(bdfs: readonly string[]): Promise<void> {
    return this.#inner.pciRelease(bdfs);
  }

  consoleCommand(ref: DomainRef): string[] {
    return this.#inner.consoleCommand(ref);
  }

  /** Runs an operation on domain `name`; afterwards (done or failed) its state wants a probe. */
  async #touching<T>(name: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } finally {
      this.#names.add(name);
      this.#changed.add(name);
    }
  }

  #schedulePoll(): void {
    if (this.#closed) return;
    this.#pollTimer = this.#deps.clock.schedule(this.#deps.config.probeIntervalMs, () => {
      this.#pollTimer = null;
      void this.#poll();
    });
  }

  /** One polling round: every name, one after the other; the next round an interval after. */
  async #poll(): Promise<void> {
    for (const name of [...this.#names]) {
      if (this.#closed) return;
      try {
        await this.#probe(name);
      } catch (error) {
        this.#log.warn({ name, err: commandFailure('list', error).message }, 'probing the domain failed');
      }
    }
    this.#schedulePoll();
  }

  /** `xl domid <name>`, then `xl list -v <name>` if it has one; what it saw is kept unless a newer probe's is. */
  async #probe(name: string): Promise<void> {
    const probe = ++this.#probes;
    const { runner, config } = this.#deps;
    const options = { acceptExitCodes: [1], timeoutMs: config.timeouts.commandMs };
    let domain: ObservedDomain | null = null;
    const domid = await runner.run([config.tools.xl, 'domid', name], options);
    if (domid.exitCode === 0) {
      const listed = await runner.run([config.tools.xl, 'list', '-v', name], options);
      const row = listed.exitCode === 0 ? parseXlList(listed.stdout).find((r) => r.name === name) : undefined;
      if (row !== undefined) domain = observed(row);
    }
    const before = this.#seen.get(name);
    if (before === undefined || before.probe < probe) this.#seen.set(name, { probe, domain });
  }

  async #zeroOffloadEachKey(created: CreatedDomain): Promise<void> {
    if (created.vifs.length === 0) return;
    const domid = created.domainId;
    if (domid === null) throw new HypervisorError('disableVifOffload', `${created.domainName} has no domid`);
    const { runner, config } = this.#deps;
    try {
      for (let devid = 0; devid < created.vifs.length; devid++) {
        for (const dir of [
          `/local/domain/0/backend/vif/${domid}/${devid}`,
          `/local/domain/${domid}/device/vif/${devid}`,
        ]) {
          for (const key of EVE_OFFLOAD_KEYS) {
            await runner.run([config.tools.xenstoreWrite, `${dir}/${key}`, '0'], {
              timeoutMs: config.timeouts.commandMs,
            });
          }
        }
      }
    } catch (error) {
      // As the backend does: a domain whose offload could not be set is not started half-configured.
      const cleanup = await this.#inner.destroy(created).then(
        () => null,
        (e: unknown) => e,
      );
      throw withCleanup(commandFailure('disableVifOffload', error, created.domainName), cleanup);
    }
  }
}
