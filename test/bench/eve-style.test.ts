/**
 * The benchmark's EVE-style strategy (bench/lib/eve-style-hypervisor.ts, injected by
 * bench/domainmgr-main.ts with --create-concurrency 1): the real engine over the real XlBackend
 * wrapped in it does what EVE's domainmgr did, exactly; without it, nothing of it happens. Runs on
 * a scripted xl host.
 */
import { readFileSync } from 'node:fs';
import { EveStyleHypervisor } from '../../bench/lib/eve-style-hypervisor.js';
import { loadConfig } from '../../pkg/config/load-config.js';
import type { BackendDeps } from '../../pkg/hypervisor/deps.js';
import { HypervisorError } from '../../pkg/hypervisor/hypervisor.js';
import { XlBackend } from '../../pkg/hypervisor/xl.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { Engine } from '../../pkg/reconcile/engine.js';
import type { CommandResult, CommandRunner, RunOptions } from '../../pkg/runner/command-runner.js';
import { testConfig, vmSpec } from '../support/backend-fixtures.js';
import { FakeRunner } from '../support/fake-runner.js';
import { ManualClock } from '../support/manual-clock.js';
import { MemoryLedger } from '../support/memory-ledger.js';
import { FixedConnection, MemoryStatusSink } from '../support/memory-ports.js';

const UUIDS = [1, 2, 3].map(
  (i) =>
    `${String(i).repeat(8)}-${String(i).repeat(4)}-4${String(i).repeat(3)}-8${String(i).repeat(3)}-${String(i).repeat(12)}`,
);
const EVE_KEYS = [
  'feature-sg',
  'feature-gso-tcpv4',
  'feature-gso-tcpv6',
  'feature-ipv6-csum-offload',
  'feature-ipv4-csum-offload',
];

/** A tiny scripted xl host: create -p, domid, list -v [name], unpause, xenstore-write, info. */
class ScriptedXl implements CommandRunner {
  readonly fake = new FakeRunner();
  readonly domains = new Map<string, { domid: number; uuid: string; paused: boolean }>();
  inFlightCreates = 0;
  maxInFlightCreates = 0;
  #nextDomid = 1;

  constructor() {
    const row = (name: string, d: { domid: number; uuid: string; paused: boolean }) =>
      `${name.padEnd(40)} ${String(d.domid).padStart(5)} ${'255'.padStart(5)} ${'1'.padStart(5)}     ${d.paused ? '--p---' : '-b----'}  ${'0.1'.padStart(8)} ${d.uuid} ${'-'.padStart(8)} ${'-'.padStart(16)}`;
    const header =
      'Name                                        ID   Mem VCPUs\tState\tTime(s)   UUID                            Reason-Code\tSecurity Label';
    this.fake
      .on(['xl', 'info'], {
        stdout:
          'total_memory           : 16000\nfree_memory            : 9000\nnr_cpus                : 4\nxen_version            : 4.17.3\n',
      })
      .on(['xl', 'create'], (argv) => {
        const cfg = readFileSync(argv[3] as string, 'utf8');
        const name = /^name = "(.*)"$/m.exec(cfg)?.[1] as string;
        const uuid = /^uuid = "(.*)"$/m.exec(cfg)?.[1] as string;
        this.domains.set(name, { domid: this.#nextDomid++, uuid, paused: true });
        return {};
      })
      .on(['xl', 'domid'], (argv) => {
        const d = this.domains.get(argv[2] as string);
        return d
          ? { stdout: `${d.domid}\n` }
          : { exitCode: 1, stderr: `Can't get domid of domain name '${argv[2]}'\n` };
      })
      .on(['xl', 'unpause'], (argv) => {
        const d = this.domains.get(argv[2] as string);
        if (d) d.paused = false;
        return {};
      })
      .on(['xl', 'list', '-v'], (argv) => {
        const only = argv[3];
        if (only !== undefined) {
          const d = this.domains.get(only);
          return d
            ? { stdout: `${header}\n${row(only, d)}\n` }
            : { exitCode: 1, stderr: `Error: Domain '${only}' does not exist.\n` };
        }
        return { stdout: `${header}\n${[...this.domains].map(([n, d]) => row(n, d)).join('\n')}\n` };
      })
      .on(['xenstore-write'], {});
  }

  async run(argv: readonly string[], options?: RunOptions): Promise<CommandResult> {
    const create = argv[0] === 'xl' && argv[1] === 'create';
    if (create) this.maxInFlightCreates = Math.max(this.maxInFlightCreates, ++this.inFlightCreates);
    try {
      // Commands take time (a create long enough for the others to start if they may).
      await new Promise((r) => (create ? setTimeout(r, 50) : setImmediate(r)));
      return await this.fake.run(argv, options);
    } finally {
      if (create) this.inFlightCreates--;
    }
  }

  get argvs(): string[][] {
    return this.fake.argvs;
  }
}

async function scenario(eveStyle: boolean) {
  const clock = new ManualClock();
  const runner = new ScriptedXl();
  const config = {
    ...loadConfig([], {}).config,
    ...testConfig(),
    nodeId: 'node-1',
    // Longer than the create phase (at most 30 s of the manual clock): no tick or polling round
    // confirms a start; only the probe a start asks for can.
    probeIntervalMs: 60_000,
    probeJitter: 0,
    // As bench/run.ts runs the EVE-style strategy: one create at a time.
    createConcurrency: eveStyle ? 1 : 4,
    storage: { allowedRoots: ['/persist'] },
  };
  const deps: BackendDeps = { runner, logger: silentLogger, config, clock };
  const backend = new XlBackend(deps);
  const eve = eveStyle ? new EveStyleHypervisor(backend, deps) : null;
  const hypervisor = eve ?? backend;
  const sink = new MemoryStatusSink();
  const engine = new Engine({
    config,
    hypervisor,
    clock,
    logger: silentLogger,
    ledger: new MemoryLedger(),
    status: sink,
    connection: new FixedConnection(),
    version: '0.0.0-test',
    random: () => 0.5,
  });
  await engine.start();
  engine.markSynced();
  for (const [i, uuid] of UUIDS.entries()) {
    const doc = {
      uuid,
      name: `vm${i}`,
      generation: 1,
      activate: true,
      type: 'vm',
      memoryMiB: 256,
      kernel: '/persist/vmlinuz',
      vifs: [{ bridge: 'br0' }, { bridge: 'br1' }],
    };
    await engine.handleConfig({ uuid, seq: i + 1, payload: new TextEncoder().encode(JSON.stringify(doc)) });
  }
  // The manual clock drives the engine; the scripted creates take real time.
  for (let i = 0; i < 3000 && !UUIDS.every((u) => sink.last(u)?.state === 'RUNNING'); i++) {
    await clock.advance(10);
    await new Promise((r) => setTimeout(r, 1));
  }
  for (const u of UUIDS) expect(sink.last(u)?.state).toBe('RUNNING');
  const createPhase = runner.argvs;
  // Let the probes confirming the boots pass (until a quiet second), then watch three ticks.
  let quiet = 0;
  for (let i = 0; i < 5000 && quiet < 100; i++) {
    const n = runner.argvs.length;
    await clock.advance(10);
    quiet = runner.argvs.length === n ? quiet + 1 : 0;
  }
  const before = runner.argvs.length;
  const perTick = eveStyle ? 2 * UUIDS.length : 1;
  for (let i = 0; i < 30_000; i++) {
    if (runner.argvs.slice(before).filter((a) => a[1] !== 'info').length >= 3 * perTick) break;
    await clock.advance(10);
  }
  // (NodeStatus's periodic `xl info` is not a probe.)
  const later = runner.argvs.slice(before).filter((a) => a[1] !== 'info');
  await engine.stop();
  eve?.close();
  return { runner, createPhase, later };
}

describe('the EVE-style strategy', () => {
  test('creates one at a time, one xenstore-write per key (10 per vif), a probe per domain per tick', async () => {
    const { runner, createPhase, later } = await scenario(true);
    expect(runner.maxInFlightCreates).toBe(1);
    for (const [name, d] of runner.domains) {
      const writes = createPhase.filter(
        (a) =>
          a[0] === 'xenstore-write' &&
          (a[1]?.startsWith(`/local/domain/0/backend/vif/${d.domid}/`) ||
            a[1]?.startsWith(`/local/domain/${d.domid}/`)),
      );
      const expected = [0, 1].flatMap((devid) =>
        [
          `/local/domain/0/backend/vif/${d.domid}/${devid}`,
          `/local/domain/${d.domid}/device/vif/${devid}`,
        ].flatMap((dir) => EVE_KEYS.map((k) => ['xenstore-write', `${dir}/${k}`, '0'])),
      );
      expect({ name, writes }).toEqual({ name, writes: expected });
    }
    // No listing of all domains at any time: every probe names its domain; each tick probes all.
    expect([...createPhase, ...later].filter((a) => a[1] === 'list' && a.length === 3)).toEqual([]);
    // Each start was confirmed (RUNNING before any polling round) by a probe of that domain alone.
    for (const name of runner.domains.keys()) {
      const started = createPhase.findIndex((a) => a[1] === 'unpause' && a[2] === name);
      expect(started).toBeGreaterThanOrEqual(0);
      expect(createPhase.slice(started).map((a) => a.join(' '))).toEqual(
        expect.arrayContaining([`xl domid ${name}`, `xl list -v ${name}`]),
      );
    }
    const tick = ['vm0', 'vm1', 'vm2'].flatMap((n) => [
      ['xl', 'domid', n],
      ['xl', 'list', '-v', n],
    ]);
    expect(later).toEqual([...tick, ...tick, ...tick]);
  });

  test('without it (domainmgr as shipped): creates in parallel, one xenstore-write per create, one listing per tick', async () => {
    const { runner, createPhase, later } = await scenario(false);
    expect(runner.maxInFlightCreates).toBeGreaterThan(1);
    expect(createPhase.filter((a) => a[0] === 'xenstore-write')).toHaveLength(3);
    expect(createPhase.filter((a) => a[1] === 'domid')).toHaveLength(3);
    expect(later).toEqual([
      ['xl', 'list', '-v'],
      ['xl', 'list', '-v'],
      ['xl', 'list', '-v'],
    ]);
  });
});

describe('EveStyleHypervisor alone', () => {
  const created = { uuid: UUIDS[0] as string, domainName: 'vm0', domainId: 7, vifs: [] };

  test('a failed xenstore-write destroys the half-built domain and names the command', async () => {
    const fake = new FakeRunner()
      .on(['xenstore-write'], { exitCode: 1, stderr: 'write failed\n' })
      .on(['xl', 'destroy'], {});
    const clock = new ManualClock();
    const deps: BackendDeps = { runner: fake, logger: silentLogger, config: testConfig(), clock };
    const eve = new EveStyleHypervisor(new XlBackend(deps), deps);
    const vif = { vifName: 'vif7.0', mac: '00:16:3e:00:00:01', bridge: 'br0' };
    const failure = eve.disableVifOffload({ ...created, vifs: [vif] });
    await expect(failure).rejects.toThrow(HypervisorError);
    await expect(failure).rejects.toThrow(/xenstore-write .*feature-sg 0.* failed \(exit 1\): write failed/);
    expect(fake.argvs.map((a) => a.slice(0, 2))).toEqual([
      ['xenstore-write', '/local/domain/0/backend/vif/7/0/feature-sg'],
      ['xl', 'destroy'],
    ]);
    eve.close();
  });

  test('list() answers from the last probe and probes only what an operation changed', async () => {
    const host = new ScriptedXl();
    const clock = new ManualClock();
    const config = { ...testConfig(), probeIntervalMs: 1000 };
    const deps: BackendDeps = { runner: host, logger: silentLogger, config, clock };
    const eve = new EveStyleHypervisor(new XlBackend(deps), deps);
    host.domains.set('vm0', { domid: 7, uuid: UUIDS[0] as string, paused: true });
    host.domains.set('vm1', { domid: 8, uuid: UUIDS[1] as string, paused: false });
    // Known from the config (checkSpec), not probed yet: not in the listing.
    for (const name of ['vm0', 'vm1']) expect(eve.checkSpec(vmSpec({ name }))).toEqual([]);
    expect((await eve.list()).domains).toEqual([]);
    expect(host.argvs).toEqual([]);
    // The polling round probes each by name.
    await clock.advance(1000);
    for (let i = 0; i < 100 && host.argvs.length < 4; i++) await new Promise((r) => setImmediate(r));
    expect(host.argvs.map((a) => a.join(' '))).toEqual([
      'xl domid vm0',
      'xl list -v vm0',
      'xl domid vm1',
      'xl list -v vm1',
    ]);
    const states = async () => (await eve.list()).domains.map((d) => `${d.name} ${d.state}`);
    expect(await states()).toEqual(['vm0 paused', 'vm1 running']);
    expect(host.argvs).toHaveLength(4);
    // vm0 unpaused: the next listing probes vm0 alone.
    await eve.unpause({ uuid: UUIDS[0] as string, domainName: 'vm0', domainId: 7 });
    expect(await states()).toEqual(['vm0 running', 'vm1 running']);
    expect(host.argvs.slice(5).map((a) => a.join(' '))).toEqual(['xl domid vm0', 'xl list -v vm0']);
    eve.close();
  });
});
