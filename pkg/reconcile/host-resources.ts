import type { HostInfo } from '../hypervisor/hypervisor.js';

/** When the last host reading began (monotonic ms; null: none yet), and what happened since. */
export interface HostReadingAge {
  readAt: number | null;
  /** A create took memory, or a failed create or a destroy gave some back, since it began. */
  changedSince: boolean;
}

/**
 * Whether the periodic NodeStatus takes a fresh host reading (xl info: one process) or reports
 * the last one: fresh when there is none, when domains took or gave back memory since, or when it
 * is `maxAgeMs` old. An idle node then reads its host once per `maxAgeMs`, not once per NodeStatus.
 */
export function hostReadingDue(age: HostReadingAge, nowMs: number, maxAgeMs: number): boolean {
  if (age.readAt === null || age.changedSince) return true;
  return nowMs - age.readAt >= maxAgeMs;
}

/**
 * Host resources the engine hands out before create, so that a create that cannot succeed
 * fails with a clear error instead of a failed tool call: memory, and PCI devices (one domain at
 * a time). Not a hypervisor mirror: memory is checked against the last `xl info` minus what
 * creates since then reserved, and refreshed from the hypervisor when a check would fail, so a
 * create costs no extra process unless memory is tight.
 */
export class HostResources {
  #info: HostInfo | null = null;
  /** Creates in flight: not yet visible in any host reading. */
  #inFlight = new Map<string, number>();
  /** Creates done since the last reading began: visible only to the next reading. */
  #committed = new Map<string, number>();
  /** Sums of #inFlight and #committed, kept with them: a check costs O(1), not O(creates). */
  #inFlightMiB = 0;
  #committedMiB = 0;
  #pci = new Map<string, string>();
  /** When the last successful reading began (monotonic ms), and the memory changes it saw. */
  #readAt: number | null = null;
  #changesAtReading = 0;
  /** Memory changes so far: creates committed, reservations given back. */
  #changes = 0;
  readonly #refresh: () => Promise<HostInfo>;
  readonly #monotonic: () => number;

  /** `monotonic`: the clock that dates readings (ms), the engine's injected one. */
  constructor(refresh: () => Promise<HostInfo>, monotonic: () => number = () => performance.now()) {
    this.#refresh = refresh;
    this.#monotonic = monotonic;
  }

  get info(): HostInfo | null {
    return this.#info;
  }

  /** Whether a periodic reader should call refresh() (hostReadingDue). */
  readingDue(maxAgeMs: number): boolean {
    const age = { readAt: this.#readAt, changedSince: this.#changes !== this.#changesAtReading };
    return hostReadingDue(age, this.#monotonic(), maxAgeMs);
  }

  /**
   * Takes a fresh host reading. Creates that finished before it began are part of its free
   * memory and drop out of the reservations; creates still in flight stay reserved.
   */
  async refresh(): Promise<HostInfo> {
    const seen = [...this.#committed.keys()];
    const startedAt = this.#monotonic();
    const changes = this.#changes;
    const info = await this.#refresh();
    this.#info = info;
    // Dated from its start: a change during the reading may be missing from it, so it stays due.
    this.#readAt = startedAt;
    this.#changesAtReading = changes;
    for (const uuid of seen) this.#uncommit(uuid);
    return info;
  }

  /**
   * Reserves memory for a create. Returns null when it fits, else the reason. Reads the host
   * afresh once when the cached figure says no, since domains may have left since.
   */
  async reserveMemory(uuid: string, memoryMiB: number): Promise<string | null> {
    if (this.#info === null) await this.refresh();
    if (this.#fits(uuid, memoryMiB)) {
      this.#reserve(uuid, memoryMiB);
      return null;
    }
    await this.refresh();
    if (this.#fits(uuid, memoryMiB)) {
      this.#reserve(uuid, memoryMiB);
      return null;
    }
    const free = this.#free(uuid);
    return `not enough free memory on the host: ${memoryMiB} MiB asked, ${free} MiB free`;
  }

  /** A create succeeded: its memory stays reserved until a host reading taken after it. */
  commitMemory(uuid: string): void {
    const m = this.#inFlight.get(uuid);
    if (m === undefined) return;
    this.#unreserve(uuid);
    this.#uncommit(uuid);
    this.#committed.set(uuid, m);
    this.#committedMiB += m;
    this.#changes++;
  }

  /** A create failed, or the domain was destroyed: its reservation is given back. */
  releaseMemory(uuid: string): void {
    this.#unreserve(uuid);
    this.#uncommit(uuid);
    this.#changes++;
  }

  /** Claims PCI devices for a domain; returns the devices held by another domain, with their holder. */
  claimPci(uuid: string, bdfs: readonly string[]): { bdf: string; holder: string }[] {
    const conflicts = bdfs.flatMap((bdf) => {
      const holder = this.#pci.get(bdf);
      return holder !== undefined && holder !== uuid ? [{ bdf, holder }] : [];
    });
    if (conflicts.length === 0) for (const bdf of bdfs) this.#pci.set(bdf, uuid);
    return conflicts;
  }

  /** Gives back every device a domain holds. */
  releasePci(uuid: string): void {
    for (const [bdf, holder] of this.#pci) if (holder === uuid) this.#pci.delete(bdf);
  }

  #reserve(uuid: string, memoryMiB: number): void {
    this.#unreserve(uuid);
    this.#inFlight.set(uuid, memoryMiB);
    this.#inFlightMiB += memoryMiB;
  }

  #unreserve(uuid: string): void {
    const m = this.#inFlight.get(uuid);
    if (m === undefined) return;
    this.#inFlight.delete(uuid);
    this.#inFlightMiB -= m;
  }

  #uncommit(uuid: string): void {
    const m = this.#committed.get(uuid);
    if (m === undefined) return;
    this.#committed.delete(uuid);
    this.#committedMiB -= m;
  }

  /**
   * Free memory as `except` sees it: the last reading minus every other domain's reservation.
   * Kept as a running total, not a loop over the reservations, so that a burst of N creates
   * between two host readings costs O(N), not O(N^2).
   */
  #free(except: string): number {
    const info = this.#info;
    if (info === null) return 0;
    const own = (this.#inFlight.get(except) ?? 0) + (this.#committed.get(except) ?? 0);
    return info.freeMemoryMiB - (this.#inFlightMiB + this.#committedMiB - own);
  }

  #fits(uuid: string, memoryMiB: number): boolean {
    return memoryMiB <= this.#free(uuid);
  }
}
