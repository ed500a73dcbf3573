import type { Clock } from '../../pkg/clock.js';
import {
  type CreatedDomain,
  type DomainRef,
  type HostInfo,
  type Hypervisor,
  HypervisorError,
  type Listing,
  type ObservedDomain,
  type ObservedState,
  type PartialListing,
  UnsupportedError,
  type VerifyResult,
} from '../../pkg/hypervisor/hypervisor.js';
import type { DomainSpec } from '../../pkg/schema/domain-spec.js';

interface FakeDomain {
  uuid: string | null;
  name: string;
  domid: number;
  state: ObservedState;
  memoryMiB: number;
  leavesAt: number | null;
  hung: boolean;
  stopDetail?: string;
}

/**
 * An in-memory hypervisor for the engine's unit tests, driven by the injected clock: as strict
 * as the contract (create on a used name fails; unpause can "succeed" without effect; a graceful
 * shutdown takes time or never ends). The real backends are tested against the simulated host.
 */
export class FakeHypervisor implements Hypervisor {
  readonly name = 'xl' as const;
  get canPause(): boolean {
    return !this.pauseUnsupported;
  }
  readonly calls: string[] = [];
  readonly domains = new Map<number, FakeDomain>();
  totalMemoryMiB = 16384;
  shutdownDelayMs = 1000;
  /** Operation name -> errors to throw on its next calls. */
  readonly failures = new Map<string, Error[]>();
  /** When set, unpause returns without unpausing (xl's exit-0-on-failure). */
  unpauseIsNoop = false;
  /** When set, pause returns without pausing (exit 0 without effect). */
  pauseIsNoop = false;
  /** vmadm-like: pause is unsupported and createPaused leaves the domain stopped ('shutdown'). */
  pauseUnsupported = false;
  /** Resolves creates only when released (for concurrency tests). */
  gate: Promise<void> | null = null;
  inFlightCreates = 0;
  maxInFlightCreates = 0;
  #nextDomid = 1;
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.domains.set(0, {
      uuid: null,
      name: 'Domain-0',
      domid: 0,
      state: 'running',
      memoryMiB: 1024,
      leavesAt: null,
      hung: false,
    });
  }

  failNext(
    operation: string,
    error: Error = new HypervisorError(operation, `${operation} failed (injected)`),
  ): void {
    const list = this.failures.get(operation) ?? [];
    list.push(error);
    this.failures.set(operation, list);
  }

  /** A domain the manager did not make (or made before a restart). */
  addDomain(uuid: string | null, name: string, state: ObservedState = 'running', memoryMiB = 256): number {
    const domid = this.#nextDomid++;
    this.domains.set(domid, { uuid, name, domid, state, memoryMiB, leavesAt: null, hung: false });
    return domid;
  }

  byUuid(uuid: string): FakeDomain | undefined {
    this.#tick();
    return [...this.domains.values()].find((d) => d.uuid === uuid);
  }

  /** `stopDetail`: how the listing says it stopped (ObservedDomain.stopDetail). */
  crash(uuid: string, stopDetail?: string): void {
    const d = this.byUuid(uuid);
    if (d === undefined) return;
    d.state = 'crashed';
    if (stopDetail !== undefined) d.stopDetail = stopDetail;
  }

  powerOff(uuid: string): void {
    const d = this.byUuid(uuid);
    if (d !== undefined) d.state = 'shutdown';
  }

  vanish(uuid: string): void {
    const d = this.byUuid(uuid);
    if (d !== undefined) this.domains.delete(d.domid);
  }

  hang(uuid: string): void {
    const d = this.byUuid(uuid);
    if (d !== undefined) d.hung = true;
  }

  count(op: string): number {
    return this.calls.filter((c) => c.startsWith(op)).length;
  }

  #fail(op: string): void {
    const e = this.failures.get(op)?.shift();
    if (e !== undefined) throw e;
  }

  #tick(): void {
    const now = this.#clock.monotonic();
    for (const [id, d] of this.domains) if (d.leavesAt !== null && now >= d.leavesAt) this.domains.delete(id);
  }

  #find(ref: DomainRef): FakeDomain | undefined {
    this.#tick();
    if (ref.domainId !== null) return this.domains.get(ref.domainId);
    return [...this.domains.values()].find((d) => d.name === ref.domainName);
  }

  async verify(): Promise<VerifyResult> {
    this.calls.push('verify');
    return { ok: true, problems: [] };
  }

  async hostInfo(): Promise<HostInfo> {
    this.calls.push('hostInfo');
    this.#fail('hostInfo');
    this.#tick();
    let used = 0;
    for (const d of this.domains.values()) used += d.memoryMiB;
    return {
      totalMemoryMiB: this.totalMemoryMiB,
      freeMemoryMiB: this.totalMemoryMiB - used,
      nrCpus: 8,
      hypervisorVersion: '4.17.5',
    };
  }

  async list(): Promise<Listing> {
    const takenAt = this.#clock.now();
    this.calls.push('list');
    this.#fail('list');
    return { domains: this.#observed(), takenAt };
  }

  /** Recorded as `some <uuids>`; fails with the errors injected for `listSome`. */
  async listSome(uuids: readonly string[]): Promise<PartialListing> {
    const takenAt = this.#clock.now();
    this.calls.push(`some ${uuids.join(',')}`);
    this.#fail('listSome');
    const domains = this.#observed().filter((d) => d.uuid !== null && uuids.includes(d.uuid));
    return { domains, covers: uuids, takenAt };
  }

  #observed(): ObservedDomain[] {
    this.#tick();
    return [...this.domains.values()].map((d) => ({
      uuid: d.uuid,
      name: d.name,
      domainId: d.domid,
      state: d.state,
      memoryMiB: d.memoryMiB,
      ...(d.stopDetail === undefined ? {} : { stopDetail: d.stopDetail }),
    }));
  }

  checkSpec(spec: DomainSpec): string[] {
    return spec.type === 'vm' && spec.virtualizationMode !== 'hvm' && spec.kernel === undefined
      ? ['/kernel is required for a pv or pvh vm on xl']
      : [];
  }

  async createPaused(spec: DomainSpec): Promise<CreatedDomain> {
    this.calls.push(`create ${spec.name}`);
    this.inFlightCreates++;
    this.maxInFlightCreates = Math.max(this.maxInFlightCreates, this.inFlightCreates);
    try {
      if (this.gate !== null) await this.gate;
      this.#fail('create');
      this.#tick();
      if ([...this.domains.values()].some((d) => d.name === spec.name)) {
        throw new HypervisorError('create', `Domain with name "${spec.name}" already exists.`);
      }
      const domid = this.#nextDomid++;
      this.domains.set(domid, {
        uuid: spec.uuid,
        name: spec.name,
        domid,
        state: this.pauseUnsupported ? 'shutdown' : 'paused',
        memoryMiB: spec.memoryMiB,
        leavesAt: null,
        hung: false,
      });
      return {
        uuid: spec.uuid,
        domainName: spec.name,
        domainId: domid,
        vifs: spec.vifs.map((v, i) => ({
          vifName: v.vifName ?? `vif${domid}.${i}`,
          mac: v.mac,
          bridge: v.bridge,
        })),
      };
    } finally {
      this.inFlightCreates--;
    }
  }

  async disableVifOffload(created: CreatedDomain): Promise<void> {
    this.calls.push(`offload ${created.domainName}`);
    this.#fail('offload');
  }

  async unpause(ref: DomainRef): Promise<void> {
    this.calls.push(`unpause ${ref.domainName}`);
    this.#fail('unpause');
    const d = this.#find(ref);
    if (d === undefined)
      throw new HypervisorError('unpause', `${ref.domainName} is an invalid domain identifier (rc=-6)`);
    if (!this.unpauseIsNoop) d.state = 'running';
  }

  async pause(ref: DomainRef): Promise<void> {
    this.calls.push(`pause ${ref.domainName}`);
    if (this.pauseUnsupported) throw new UnsupportedError('pause', 'zones cannot be paused');
    this.#fail('pause');
    const d = this.#find(ref);
    if (d !== undefined && !this.pauseIsNoop) d.state = 'paused';
  }

  async shutdown(ref: DomainRef, options: { force: boolean }): Promise<void> {
    this.calls.push(`shutdown${options.force ? ' -F' : ''} ${ref.domainName}`);
    this.#fail('shutdown');
    const d = this.#find(ref);
    if (d === undefined) return;
    if (!d.hung) d.leavesAt = this.#clock.monotonic() + this.shutdownDelayMs;
  }

  async destroy(ref: DomainRef): Promise<void> {
    this.calls.push(`destroy ${ref.domainName}`);
    this.#fail('destroy');
    const d = this.#find(ref);
    if (d !== undefined) this.domains.delete(d.domid);
  }

  async reboot(ref: DomainRef): Promise<void> {
    this.calls.push(`reboot ${ref.domainName}`);
  }

  async setMemory(ref: DomainRef, memoryMiB: number): Promise<void> {
    this.calls.push(`mem-set ${ref.domainName} ${memoryMiB}`);
    this.#fail('mem-set');
    const d = this.#find(ref);
    if (d !== undefined) d.memoryMiB = memoryMiB;
  }

  async pciPrepare(bdfs: readonly string[]): Promise<void> {
    this.calls.push(`pci-assignable-add ${bdfs.join(' ')}`);
  }

  async pciRelease(bdfs: readonly string[]): Promise<void> {
    this.calls.push(`pci-assignable-remove ${bdfs.join(' ')}`);
  }

  consoleCommand(ref: DomainRef): string[] {
    return ['xl', 'console', ref.domainName];
  }
}
