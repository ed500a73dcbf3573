import type { DomainConfig } from '../types/generated/domain-config.js';

/** A small seeded PRNG (mulberry32): the same seed gives the same workload and kill points. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[Math.floor(this.next() * xs.length)];
    if (x === undefined) throw new Error('pick from an empty list');
    return x;
  }
  /** A uuid (v4 shape) drawn from this generator. */
  uuid(): string {
    const hex = Array.from({ length: 32 }, () => this.int(0, 15).toString(16));
    hex[12] = '4';
    hex[16] = this.pick(['8', '9', 'a', 'b']);
    const h = hex.join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}

/** The simulated host's PCI devices (sim/README.md), one per pool slot at most. */
export const HOST_BDFS = ['0000:03:00.0', '0000:03:00.1', '0000:04:00.0', '0000:05:00.0'];

export type OpKind =
  | 'create'
  | 'memory'
  | 'pause'
  | 'unpause'
  | 'restart'
  | 'purge'
  | 'stop'
  | 'start'
  | 'delete';

/** One config the controller publishes: a DomainConfig, or null (delete). */
export interface Op {
  kind: OpKind;
  uuid: string;
  doc: DomainConfig | null;
}

export interface WorkloadFiles {
  kernel: string;
  disk: string;
}

/**
 * The desired state of a pool of domains and the mixed changes a controller makes to it: creates
 * with vifs (and PCI devices for the first slots), memory changes within maxMemoryMiB, pause and
 * unpause, restarts and purges (counters), stops, starts and deletes. Every op raises the uuid's
 * generation. Fields that a running domain cannot take live (vifs, PCI devices) are fixed per uuid,
 * so that every last config is one the node can reach without a restart.
 */
export class Workload {
  readonly uuids: string[];
  /** Per slot, fixed for the uuid's life: its PCI device (or none) and its number of vifs. */
  readonly #hardware: { pci: { bdf: string }[]; vifs: number }[];
  readonly #docs = new Map<string, DomainConfig | null>();
  readonly #generation = new Map<string, number>();
  /** Creates the ops asked for (from nothing, a start, a restart or a purge): at most this many `xl create`s are needed. */
  createsAsked = 0;

  constructor(
    readonly rng: Rng,
    readonly files: WorkloadFiles,
    size = 6,
  ) {
    this.uuids = Array.from({ length: size }, () => rng.uuid());
    // Fixed per uuid: a delete and a create of the same uuid while domainmgr is down reach it as one
    // changed config (the stream keeps the last message per subject), and a change of devices is
    // only carried out by a restart (a pending change), not live.
    this.#hardware = this.uuids.map((_, slot) => {
      const bdf = HOST_BDFS[slot];
      return { pci: bdf !== undefined && rng.chance(0.6) ? [{ bdf }] : [], vifs: rng.int(1, 2) };
    });
  }

  /** The last config published for `uuid` (undefined: never published, null: deleted). */
  last(uuid: string): DomainConfig | null | undefined {
    return this.#docs.get(uuid);
  }

  /** The next op, applied to the workload's own record of the desired state. */
  next(): Op {
    const slot = this.rng.int(0, this.uuids.length - 1);
    const uuid = this.uuids[slot] as string;
    const cur = this.#docs.get(uuid) ?? null;
    const generation = (this.#generation.get(uuid) ?? 0) + 1;
    this.#generation.set(uuid, generation);
    let kind: OpKind;
    let doc: DomainConfig | null;
    if (cur === null) {
      kind = 'create';
      doc = this.#fresh(uuid, slot, generation);
      this.createsAsked++;
    } else {
      kind = cur.activate
        ? this.rng.pick<OpKind>([
            'memory',
            'memory',
            'pause',
            'unpause',
            'restart',
            'purge',
            'stop',
            'delete',
          ])
        : this.rng.pick<OpKind>(['start', 'start', 'memory', 'delete']);
      doc = { ...cur, generation };
      switch (kind) {
        case 'memory':
          doc.memoryMiB = this.rng.int(2, 8) * 64;
          break;
        case 'pause':
          doc.paused = true;
          break;
        case 'unpause':
          doc.paused = false;
          break;
        case 'restart':
          doc.restartCounter = (cur.restartCounter ?? 0) + 1;
          this.createsAsked++;
          break;
        case 'purge':
          doc.purgeCounter = (cur.purgeCounter ?? 0) + 1;
          this.createsAsked++;
          break;
        case 'stop':
          doc.activate = false;
          break;
        case 'start':
          doc.activate = true;
          this.createsAsked++;
          break;
        case 'delete':
          doc = null;
          break;
      }
    }
    this.#docs.set(uuid, doc);
    return { kind, uuid, doc };
  }

  #fresh(uuid: string, slot: number, generation: number): DomainConfig {
    const hw = this.#hardware[slot] ?? { pci: [], vifs: 1 };
    return {
      uuid,
      name: `kc-${slot}`,
      generation,
      activate: true,
      paused: this.rng.chance(0.2),
      type: 'vm',
      virtualizationMode: 'pvh',
      kernel: this.files.kernel,
      cmdline: 'console=hvc0 root=/dev/xvda1',
      memoryMiB: this.rng.int(2, 8) * 64,
      maxMemoryMiB: 512,
      vcpus: 1,
      vifs: Array.from({ length: hw.vifs }, () => ({ bridge: 'xenbr0' })),
      disks: [{ path: this.files.disk, format: 'raw', vdev: 'xvda' }],
      pciDevices: hw.pci,
    };
  }
}
