import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryMiB } from '../bench/lib/proc.js';
import { foldJournal, LEDGER_FILE, type LedgerEntry } from '../pkg/reconcile/ledger.js';
import { Controller } from '../test/support/controller.js';
import { DomainmgrProcess } from '../test/support/domainmgr-process.js';
import { type SimHostHandle, startSimHost } from '../test/support/sim-host.js';
import type { DomainConfig } from '../types/generated/domain-config.js';
import type { DomainStatus } from '../types/generated/domain-status.js';
import { type DesiredRecord, hostListingFromSimState, type SimXenState, type Snapshot } from './checks.js';
import type { Workload } from './workload.js';

/**
 * One xl edge node for a campaign: a simulated host, domainmgr's state directory and images, a
 * controller on the node's subjects, and domainmgr as a real process that the campaign kills and
 * starts again. snapshot() gathers what the checks read: the host's own state, the streams, the
 * ledger.
 */
export class CampaignNode {
  readonly sim: SimHostHandle;
  readonly root: string;
  readonly stateDir: string;
  readonly kernel: string;
  readonly disk: string;
  readonly prefix = `kc${randomBytes(4).toString('hex')}`;
  readonly nodeId = `kill-${randomBytes(3).toString('hex')}`;
  ctl!: Controller;
  dm: DomainmgrProcess | null = null;
  /** Every domainmgr run, oldest first. */
  readonly runs: DomainmgrProcess[] = [];

  private constructor(
    readonly natsUrl: string,
    readonly orphanPolicy: 'destroy' | 'keep',
  ) {
    this.sim = startSimHost();
    this.root = mkdtempSync(join(tmpdir(), 'domainmgr-campaign-'));
    const images = join(this.root, 'images');
    mkdirSync(images);
    this.kernel = join(images, 'vmlinuz');
    this.disk = join(images, 'disk0.raw');
    writeFileSync(this.kernel, 'not really a kernel\n');
    writeFileSync(this.disk, '');
    this.stateDir = join(this.root, 'state');
  }

  static async create(natsUrl: string, orphanPolicy: 'destroy' | 'keep' = 'destroy'): Promise<CampaignNode> {
    const n = new CampaignNode(natsUrl, orphanPolicy);
    // Guests boot and shut down quickly, so that a point converges in seconds.
    await n.sim.simctl(['config', 'bootBusyMs=200', 'shutdownDelayMs=150']);
    n.ctl = await Controller.connect(natsUrl, n.prefix, n.nodeId);
    return n;
  }

  /** Starts domainmgr (not waiting for anything). */
  spawn(): DomainmgrProcess {
    if (this.dm !== null && this.dm.exited === null) throw new Error('domainmgr already running');
    const dm = DomainmgrProcess.start({
      backend: 'xl',
      nodeId: this.nodeId,
      prefix: this.prefix,
      stateDir: this.stateDir,
      natsUrl: this.natsUrl,
      sim: this.sim,
      allowedRoots: [join(this.root, 'images')],
      probeIntervalMs: 500,
      shutdownGraceMs: 3000,
      restartBackoffInitialMs: 200,
      // A kill -9 leaves the lease held until it expires: the successor waits that long (issue 16's
      // design); 2 s instead of the default 15 s, so that convergence measures the reconcile.
      extraArgs: ['--orphan-policy', this.orphanPolicy, '--log-level', 'info', '--lease-ttl-ms', '2000'],
    });
    this.dm = dm;
    this.runs.push(dm);
    // Keep only the tail of earlier runs' logs: a 200-point campaign runs hundreds of them.
    for (const old of this.runs.slice(0, -2)) old.logs.splice(0, Math.max(0, old.logs.length - 40));
    return dm;
  }

  /** SIGKILLs domainmgr and waits until it is gone. */
  async kill(): Promise<void> {
    const dm = this.dm;
    if (dm === null || dm.exited !== null) return;
    dm.kill('SIGKILL');
    await dm.waitExit(30_000);
  }

  /** domainmgr's resident memory, MiB (null when it does not run). */
  rssMiB(): number | null {
    const dm = this.dm;
    if (dm === null || dm.exited !== null) return null;
    try {
      return memoryMiB(dm.pid).rss;
    } catch {
      return null;
    }
  }

  /** Publishes an op's config (null: the empty payload, a delete), retrying while NATS is away. */
  publish(uuid: string, doc: DomainConfig | null): Promise<number> {
    return this.ctl.apply(uuid, doc, 60_000);
  }

  /** Everything the checks read, for the workload's uuids that were ever published. */
  async snapshot(w: Workload): Promise<Snapshot> {
    const host = hostListingFromSimState(JSON.parse(await this.sim.simctl(['state'])) as SimXenState);
    const desired = new Map<string, DesiredRecord>();
    const stored = new Map<string, DomainStatus>();
    const history = new Map<string, readonly DomainStatus[]>();
    for (const uuid of w.uuids) {
      if (w.last(uuid) === undefined) continue;
      const m = await this.ctl.jsm.streams.getMessage(this.ctl.configStream, {
        last_by_subj: this.ctl.configSubject(uuid),
      });
      if (m === null) continue;
      desired.set(uuid, {
        seq: m.seq,
        config: m.data.length === 0 ? null : (JSON.parse(new TextDecoder().decode(m.data)) as DomainConfig),
      });
      const st = await this.ctl.storedStatus(uuid);
      if (st !== null) stored.set(uuid, st);
      history.set(uuid, this.ctl.statuses(uuid));
    }
    return { host, desired, stored, history, ledger: this.ledger(), orphanPolicy: this.orphanPolicy };
  }

  ledger(): Map<string, LedgerEntry> {
    const p = join(this.stateDir, LEDGER_FILE);
    return existsSync(p) ? foldJournal(readFileSync(p, 'utf8'), new Map()) : new Map();
  }

  /** The last log lines of the current run, for a failure message. */
  tail(): string {
    return this.dm?.tail(30) ?? '';
  }

  async destroy(): Promise<void> {
    await this.kill().catch(() => undefined);
    await this.ctl.deleteStreams().catch(() => undefined);
    await this.ctl.close().catch(() => undefined);
    await this.sim.stop();
    rmSync(this.root, { recursive: true, force: true });
  }
}
