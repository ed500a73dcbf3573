import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { foldJournal, LEDGER_FILE, type LedgerEntry } from '../../../pkg/reconcile/ledger.js';
import type { DomainConfig } from '../../../types/generated/domain-config.js';
import { SHARED_NATS_URL } from '../../bus/support/nats-server.js';
import { Controller } from '../../support/controller.js';
import {
  type Backend,
  DomainmgrProcess,
  type DomainmgrProcessOptions,
} from '../../support/domainmgr-process.js';
import { type SimHostHandle, startSimHost } from '../../support/sim-host.js';

/**
 * One edge node for a service test: a fresh simulated host, a temporary root with an allowed
 * image folder (a dummy kernel and disk in it) and domainmgr's state directory, a prefix and a
 * node id of the test's own, a controller tailing the node's statuses, and domainmgr itself as
 * a child process (started by start(), restartable).
 */
export class TestNode {
  readonly backend: Backend;
  readonly sim: SimHostHandle;
  readonly root: string;
  readonly images: string;
  readonly stateDir: string;
  readonly stage1: string;
  readonly prefix: string;
  readonly nodeId: string;
  readonly natsUrl: string;
  ctl!: Controller;
  dm: DomainmgrProcess | null = null;
  /** Every domainmgr process this node ran, oldest first (for logs). */
  readonly runs: DomainmgrProcess[] = [];
  readonly #extraArgs: readonly string[];

  private constructor(
    backend: Backend,
    natsUrl: string,
    extraArgs: readonly string[],
    identity?: { prefix: string; nodeId: string },
  ) {
    this.backend = backend;
    this.natsUrl = natsUrl;
    this.#extraArgs = extraArgs;
    this.sim = startSimHost();
    this.root = mkdtempSync(join(tmpdir(), `domainmgr-svc-${backend}-`));
    this.images = join(this.root, 'images');
    mkdirSync(this.images);
    writeFileSync(join(this.images, 'vmlinuz'), 'not really a kernel\n');
    writeFileSync(join(this.images, 'disk0.raw'), '');
    this.stage1 = join(this.root, 'stage1-xen.aci');
    writeFileSync(this.stage1, 'not really a stage1 image\n');
    this.stateDir = join(this.root, 'state');
    this.prefix = identity?.prefix ?? `t${randomBytes(5).toString('hex')}`;
    this.nodeId = identity?.nodeId ?? `node-${backend}-${randomBytes(3).toString('hex')}`;
  }

  static async create(
    backend: Backend,
    options: {
      natsUrl?: string;
      extraArgs?: readonly string[];
      /** Another node's prefix and node id: a second host that claims to be the same node. */
      identity?: { prefix: string; nodeId: string };
    } = {},
  ): Promise<TestNode> {
    const n = new TestNode(
      backend,
      options.natsUrl ?? SHARED_NATS_URL,
      options.extraArgs ?? [],
      options.identity,
    );
    n.ctl = await Controller.connect(n.natsUrl.split(','), n.prefix, n.nodeId);
    return n;
  }

  /** Starts domainmgr and waits for its `ready` line. */
  async start(options: Partial<DomainmgrProcessOptions> = {}): Promise<DomainmgrProcess> {
    const dm = this.spawn(options);
    await dm.waitReady(30_000);
    return dm;
  }

  /** Starts domainmgr without waiting for anything (a standby never logs `ready`). */
  spawn(options: Partial<DomainmgrProcessOptions> = {}): DomainmgrProcess {
    if (this.dm !== null && this.dm.exited === null) throw new Error('domainmgr already running');
    const dm = DomainmgrProcess.start({
      backend: this.backend,
      nodeId: this.nodeId,
      prefix: this.prefix,
      stateDir: this.stateDir,
      natsUrl: this.natsUrl,
      sim: this.sim,
      allowedRoots: [this.images],
      rktStage1: this.stage1,
      ...options,
      extraArgs: [...this.#extraArgs, ...(options.extraArgs ?? [])],
    });
    this.dm = dm;
    this.runs.push(dm);
    return dm;
  }

  /** The running domainmgr (fails when none runs). */
  get service(): DomainmgrProcess {
    if (this.dm === null || this.dm.exited !== null) throw new Error('domainmgr is not running');
    return this.dm;
  }

  /** SIGTERM and wait; returns the exit. */
  async stopService(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const dm = this.dm;
    if (dm === null || dm.exited !== null) return dm?.exited ?? { code: null, signal: null };
    dm.kill('SIGTERM');
    return dm.waitExit(30_000);
  }

  async destroy(): Promise<void> {
    if (this.dm !== null && this.dm.exited === null) {
      this.dm.kill('SIGKILL');
      await this.dm.waitExit(10_000).catch(() => undefined);
    }
    await this.ctl.deleteStreams().catch(() => undefined);
    await this.ctl.close().catch(() => undefined);
    await this.sim.stop();
    rmSync(this.root, { recursive: true, force: true });
  }

  /**
   * A valid DomainConfig for this backend: xl a pvh vm with the dummy kernel, rkt a container
   * with an image hash, vmadm a joyent zone (container) or a bhyve guest booting from a raw disk.
   */
  doc(
    uuid: string,
    name: string,
    over: Partial<DomainConfig> = {},
    kind: 'vm' | 'container' = this.backend === 'xl' ? 'vm' : 'container',
  ): DomainConfig {
    const base: DomainConfig = { uuid, name, generation: 1, activate: true, type: kind, memoryMiB: 256 };
    if (this.backend === 'xl') {
      Object.assign(base, {
        virtualizationMode: 'pvh',
        kernel: join(this.images, 'vmlinuz'),
        cmdline: 'console=hvc0 root=/dev/xvda1',
        maxMemoryMiB: 512,
        vcpus: 1,
        vifs: [{ bridge: 'xenbr0' }],
        disks: [{ path: join(this.images, 'disk0.raw'), format: 'raw', vdev: 'xvda' }],
      });
    } else if (this.backend === 'rkt') {
      Object.assign(base, {
        image: `sha512-${'ab12'.repeat(8)}`,
        maxMemoryMiB: 512,
        vifs: [{ bridge: 'xenbr0' }],
      });
    } else if (kind === 'container') {
      Object.assign(base, {
        image: '4f0b2b64-8f4a-4c3e-9d4f-6f0f6f0f6f0f',
        maxMemoryMiB: 1024,
        vcpus: 1,
        vifs: [{ bridge: 'admin', ip: '10.88.0.10' }],
      });
    } else {
      Object.assign(base, {
        virtualizationMode: 'hvm',
        memoryMiB: 512,
        maxMemoryMiB: 512,
        vcpus: 2,
        vifs: [{ bridge: 'admin' }],
        disks: [{ path: join(this.images, 'disk0.raw'), format: 'raw' }],
      });
    }
    return { ...base, ...over } as DomainConfig;
  }

  // ---- the host, read through the simulated tools ----

  async #run(argv: string[]): Promise<string> {
    const r = await this.sim.run(argv, { timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /** Every guest on the host (Domain-0 left out): name, domid (Xen), state, uuid. */
  async hostDomains(): Promise<HostDomain[]> {
    if (this.backend === 'vmadm') {
      const out = await this.#run(['vmadm', 'list', '-p', '-H', '-o', 'uuid,alias,state,ram']);
      return out
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const [uuid = '', alias = '', state = '', ram = ''] = l.split(':');
          return { uuid, name: alias, domid: null, state, memoryMiB: Number(ram) };
        });
    }
    const out = await this.#run(['xl', 'list', '-v']);
    return out
      .split('\n')
      .slice(1)
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const f = l.trim().split(/\s+/);
        return {
          name: f[0] ?? '',
          domid: Number(f[1]),
          memoryMiB: Number(f[2]),
          state: f[4] ?? '',
          uuid: f[6] ?? '',
        };
      })
      .filter((d) => d.name !== 'Domain-0');
  }

  /** The host's guests whose uuid is `uuid`. */
  async hostDomainsOf(uuid: string): Promise<HostDomain[]> {
    return (await this.hostDomains()).filter((d) => d.uuid === uuid);
  }

  /** Target memory (xl: `xl list -l` target_memkb) or the VM's memory (`vmadm get`), MiB. */
  async targetMemoryMiB(uuid: string): Promise<number | null> {
    if (this.backend === 'vmadm') {
      const vm = JSON.parse(await this.#run(['vmadm', 'get', uuid])) as Record<string, unknown>;
      return Number(vm.brand === 'bhyve' ? vm.ram : vm.max_physical_memory);
    }
    const doms = JSON.parse(await this.#run(['xl', 'list', '-l'])) as {
      config: { c_info: { uuid?: string }; b_info: { target_memkb?: number } };
    }[];
    const d = doms.find((x) => x.config.c_info.uuid === uuid);
    return d?.config.b_info.target_memkb === undefined ? null : d.config.b_info.target_memkb / 1024;
  }

  /** `vmadm get` of a VM (vmadm backend). */
  async vmadmGet(uuid: string): Promise<Record<string, unknown>> {
    return JSON.parse(await this.#run(['vmadm', 'get', uuid])) as Record<string, unknown>;
  }

  /** rkt pods on the host (rkt backend): pod uuid and state. */
  async rktPods(): Promise<{ name: string; state: string }[]> {
    const out = await this.#run(['rkt', 'list', '--format=json']);
    return (JSON.parse(out) as { name: string; state: string }[] | null) ?? [];
  }

  /** The ledger's journal (one JSON line per put or remove). */
  get ledgerPath(): string {
    return join(this.stateDir, LEDGER_FILE);
  }

  /** The ledger's entry for `uuid` as the journal holds it now (null: none). */
  ledger(uuid: string): LedgerEntry | null {
    const p = this.ledgerPath;
    if (!existsSync(p)) return null;
    return foldJournal(readFileSync(p, 'utf8'), new Map()).get(uuid) ?? null;
  }

  /**
   * Everything domainmgr and the host may keep for a domain, that should all be gone once it is
   * DELETED: Xen domain / VM, rkt pod, cfg and pod files, uuid map entry, ledger entry. Returns
   * what is left, as readable strings (empty: nothing left).
   */
  async leftovers(uuid: string, podUuid?: string | null): Promise<string[]> {
    const left: string[] = [];
    for (const d of await this.hostDomains()) {
      if (d.uuid === uuid || (podUuid && d.name === podUuid))
        left.push(`domain on the host: ${JSON.stringify(d)}`);
    }
    if (this.ledger(uuid) !== null) left.push(`ledger entry for ${uuid} in ${this.ledgerPath}`);
    const files =
      this.backend === 'xl'
        ? [join(this.stateDir, 'xl', `${uuid}.cfg`)]
        : this.backend === 'rkt'
          ? [join(this.stateDir, 'rkt', `${uuid}.cfg`), join(this.stateDir, 'rkt', `${uuid}.pod-uuid`)]
          : [];
    for (const f of files) if (existsSync(f)) left.push(`file ${f}`);
    if (this.backend === 'rkt') {
      const map = join(this.stateDir, 'rkt', 'pods.json');
      if (existsSync(map)) {
        const pods = JSON.parse(readFileSync(map, 'utf8')) as Record<string, string>;
        if (pods[uuid] !== undefined) left.push(`pods.json entry ${uuid} -> ${pods[uuid]}`);
      }
      for (const p of await this.rktPods()) if (p.name === podUuid) left.push(`rkt pod ${JSON.stringify(p)}`);
    }
    return left;
  }

  /**
   * Waits until the log (which may trail the statuses by a few ms) shows `last` among the state
   * changes of `uuid` after the first `from`, and returns those changes.
   */
  async transitionsUntil(uuid: string, last: string, from = 0, timeoutMs = 15_000): Promise<string[]> {
    return eventually(
      `${last} in the log of ${uuid}`,
      async () => this.transitions(uuid).slice(from),
      (t) => t.includes(last),
      timeoutMs,
    );
  }

  /** Log lines of every run of domainmgr on this node that are state changes of `uuid`. */
  transitions(uuid: string, runs: DomainmgrProcess[] = this.runs): string[] {
    return runs.flatMap((r) =>
      r.logs
        .filter((l) => l.uuid === uuid && l.msg === 'state')
        .map((l) => `${String(l.from)}>${String(l.to)}`),
    );
  }
}

export interface HostDomain {
  uuid: string;
  name: string;
  domid: number | null;
  state: string;
  memoryMiB: number;
}

export function newUuid(): string {
  return randomUUID();
}

/** Polls `read` until `ok` holds for its value; fails with the last value after timeoutMs. */
export async function eventually<T>(
  what: string,
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether `seq` is `of` with some elements left out (order kept). */
export function isSubsequence(seq: readonly string[], of: readonly string[]): boolean {
  let i = 0;
  for (const s of seq) {
    while (i < of.length && of[i] !== s) i++;
    if (i === of.length) return false;
    i++;
  }
  return true;
}
