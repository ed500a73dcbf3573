import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawnHelperPids } from '../../bench/lib/proc.js';
import { packageVersion, projectRoot, readProjectJson } from '../../pkg/project-files.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import { OwnNatsServer } from '../bus/support/nats-server.js';
import { samples } from '../observe/exposition.js';
import { eventually, newUuid, TestNode } from './support/node.js';

/**
 * Every metric the README and docs/deploy.md document, read from a real domainmgr's /metrics
 * while it runs against a nats-server of the test's own (so the test can freeze and stop it) on
 * the simulated host. Each check records the metric it saw take its expected value; the last test
 * fails when a documented metric was not moved by any check, or when /metrics exposes a
 * domainmgr_* metric the docs do not name.
 */

jest.setTimeout(120_000);

const DOCS = ['README.md', 'docs/deploy.md'];
const STATES = (
  readProjectJson('types/definitions.schema.json') as { definitions: { state: { enum: string[] } } }
).definitions.state.enum;

/**
 * The metric names the docs give: `domainmgr_...` names, and the `process_*` / `nodejs_*`
 * families of prom-client (kept with their `*`).
 */
function documentedMetrics(): string[] {
  const names = new Set<string>();
  for (const doc of DOCS) {
    const text = readFileSync(join(projectRoot, doc), 'utf8');
    for (const m of text.matchAll(/\b(domainmgr_[a-z0-9_]*[a-z0-9]|process_\*|nodejs_\*)/g))
      names.add(m[1] as string);
  }
  return [...names].sort();
}

type Scrape = Map<string, number>;

describe('/metrics of a running domainmgr', () => {
  let server: OwnNatsServer;
  let node: TestNode;
  let metricsUrl: string;
  /** Documented names a check has seen take the value it expected. */
  const moved = new Set<string>();
  const a = newUuid();
  const rejected = newUuid();

  const scrape = async (): Promise<Scrape> => {
    const res = await fetch(metricsUrl);
    expect(res.status).toBe(200);
    return samples(await res.text());
  };
  const value = (s: Scrape, series: string): number => s.get(series) ?? Number.NaN;
  /** Polls /metrics until `ok` holds (bounded), then records `names` as moved. */
  const until = async (what: string, ok: (s: Scrape) => boolean, ...names: string[]): Promise<Scrape> => {
    let last: Scrape = new Map();
    const read = async (): Promise<Scrape> => {
      last = await scrape();
      return last;
    };
    const s = await eventually(what, read, ok, 30_000).catch((e: unknown) => {
      const ours = [...last].filter(([k]) => k.startsWith('domainmgr_') && !k.includes('_bucket'));
      throw new Error(`${String(e)}\n${ours.map(([k, v]) => `${k} ${v}`).join('\n')}`);
    });
    for (const n of names) moved.add(n);
    return s;
  };
  const domains = (s: Scrape): Record<string, number> =>
    Object.fromEntries(STATES.map((st) => [st, value(s, `domainmgr_domains{state="${st}"}`)]));
  const sameCounts = (x: Record<string, number>, y: Record<string, number>): boolean =>
    JSON.stringify(x) === JSON.stringify(y);
  const only = (counts: Record<string, number>): Record<string, number> =>
    Object.fromEntries(STATES.map((st) => [st, counts[st] ?? 0]));
  const publishes = (s: Scrape, kind: 'domain' | 'node'): number =>
    value(s, `domainmgr_status_publishes_total{kind="${kind}"}`);
  const failures = (s: Scrape, kind: 'domain' | 'node'): number =>
    value(s, `domainmgr_status_publish_failures_total{kind="${kind}"}`);
  const commands = (s: Scrape, tool: string, sub: string): number =>
    value(s, `domainmgr_command_duration_seconds_count{tool="${tool}",subcommand="${sub}"}`);
  const running = (gen: number) => (st: DomainStatus) =>
    st.state === 'RUNNING' && st.observedGeneration === gen;
  /** Domain statuses the controller received, every uuid. */
  const domainStatusesSeen = (): number => [a, rejected].reduce((n, u) => n + node.ctl.statuses(u).length, 0);

  beforeAll(async () => {
    server = await OwnNatsServer.create();
    await server.start();
    // The NATS outage below lasts longer than the default lease's acting time (11.25 s), after
    // which the agent would rightly stop acting (docs/security.md): a lease long enough to ride it out.
    node = await TestNode.create('xl', { natsUrl: server.url, extraArgs: ['--lease-ttl-ms', '300000'] });
    const dm = await node.start();
    const line = await dm.waitForLog(
      'the metrics address',
      (l) => l.msg === 'serving /metrics, /healthz, /readyz',
    );
    const { host, port } = line.address as { host: string; port: number };
    metricsUrl = `http://${host}:${port}/metrics`;
  });

  afterAll(async () => {
    server.thaw();
    await node.destroy();
    await server.destroy();
  });

  test('at start: connected, holding its lease, its version, every state at 0', async () => {
    await until(
      'connected, build info, no domains',
      (s) =>
        value(s, 'domainmgr_nats_connected') === 1 &&
        value(s, 'domainmgr_lease_held') === 1 &&
        value(s, `domainmgr_build_info{version="${packageVersion}"}`) === 1 &&
        STATES.every((st) => value(s, `domainmgr_domains{state="${st}"}`) === 0),
      'domainmgr_build_info',
      'domainmgr_lease_held',
    );
  });

  test('a create that fails once, then succeeds: commands, failures, operations, configs, statuses', async () => {
    await node.sim.simctl(['fault', 'add', '--tool', 'xl', '--sub', 'create', '--exit', '1', '--times', '1']);
    await node.ctl.apply(a, node.doc(a, 'metrics-a'));
    await node.ctl.waitForStatus(a, running(1), 30_000);
    await until(
      'create commands, one failed',
      (s) =>
        commands(s, 'xl', 'create') >= 2 &&
        commands(s, 'xl', 'unpause') >= 1 &&
        commands(s, 'xl', 'list') >= 1 &&
        // The offload keys go over xenstored's socket: no xenstore-write process.
        !s.has('domainmgr_command_duration_seconds_count{tool="xenstore-write",subcommand="write"}') &&
        value(s, 'domainmgr_command_failures_total{tool="xl",subcommand="create",reason="failed"}') === 1,
      'domainmgr_command_duration_seconds',
      'domainmgr_command_failures_total',
    );
    await until(
      'create operations, one failed',
      (s) =>
        value(s, 'domainmgr_operation_duration_seconds_count{operation="create",outcome="error"}') >= 1 &&
        value(s, 'domainmgr_operation_duration_seconds_count{operation="create",outcome="ok"}') >= 1,
      'domainmgr_operation_duration_seconds',
    );
    await until(
      'one config accepted',
      (s) => value(s, 'domainmgr_config_messages_total{outcome="accepted"}') === 1,
    );
    await until('one domain RUNNING, every other state 0', (s) =>
      sameCounts(domains(s), only({ RUNNING: 1 })),
    );
    // Every status the controller received was counted as one stored publish, and no more.
    await until(
      'publishes counted as the controller received them',
      (s) =>
        publishes(s, 'domain') === domainStatusesSeen() &&
        publishes(s, 'node') === node.ctl.nodeStatuses().length &&
        publishes(s, 'node') >= 1 &&
        failures(s, 'domain') === 0 &&
        failures(s, 'node') === 0,
      'domainmgr_status_publishes_total',
    );
  });

  test('configs by outcome: rejected, accepted, stale; domains by state', async () => {
    await node.ctl.apply(rejected, { ...node.doc(rejected, 'metrics-bad'), memoryMiB: 'lots' });
    await node.ctl.waitForStatus(rejected, (st) => st.state === 'REJECTED');
    await node.ctl.apply(a, node.doc(a, 'metrics-a', { generation: 2, memoryMiB: 384 }));
    await node.ctl.waitForStatus(a, running(2));
    await node.ctl.apply(a, node.doc(a, 'metrics-a', { generation: 1 }));
    await until(
      'rejected 1, accepted 2, stale 1; RUNNING 1, REJECTED 1',
      (s) =>
        value(s, 'domainmgr_config_messages_total{outcome="rejected"}') === 1 &&
        value(s, 'domainmgr_config_messages_total{outcome="accepted"}') === 2 &&
        value(s, 'domainmgr_config_messages_total{outcome="stale"}') === 1 &&
        value(s, 'domainmgr_domains{state="RUNNING"}') === 1 &&
        value(s, 'domainmgr_domains{state="REJECTED"}') === 1,
    );
  });

  test('a hung server: publish attempts fail and are counted; a stopped one: disconnected; back: 1 and stored', async () => {
    expect(value(await scrape(), 'domainmgr_nats_connected')).toBe(1);
    server.freeze();
    // A crash changes the domain's state, so a domain status must go out; node statuses go out
    // on their period. Neither is answered by a frozen server: each attempt times out and counts.
    await node.sim.simctl(['crash', 'metrics-a']);
    await until(
      'failed publishes of both kinds while the server hangs',
      (s) => failures(s, 'domain') >= 1 && failures(s, 'node') >= 1,
      'domainmgr_status_publish_failures_total',
    );
    const readyzUrl = metricsUrl.replace(/\/metrics$/, '/readyz');
    const hung = await fetch(readyzUrl);
    expect(hung.status).toBe(503);
    expect(((await hung.json()) as { reasons: string[] }).reasons).toContainEqual(
      expect.stringMatching(/^nats status publish: .*timeout/i),
    );

    await server.stop();
    await until(
      'disconnected while the server is stopped',
      (s) => value(s, 'domainmgr_nats_connected') === 0,
    );
    // A second crash while disconnected: the domain is restarted on the host, and its statuses
    // wait in the sink, which attempts nothing (so counts no failure) until the connection is back.
    const down = await scrape();
    const domidBefore = (await node.hostDomainsOf(a))[0]?.domid;
    await node.sim.simctl(['crash', 'metrics-a']);
    await eventually(
      'the domain restarted on the host',
      () => node.hostDomainsOf(a),
      (ds) => ds.length === 1 && ds[0]?.domid !== domidBefore && /^[rb]/.test(ds[0]?.state ?? ''),
    );
    const stillDown = await scrape();
    expect(value(stillDown, 'domainmgr_nats_connected')).toBe(0);
    expect(publishes(stillDown, 'domain')).toBe(publishes(down, 'domain'));
    expect(failures(stillDown, 'domain')).toBe(failures(down, 'domain'));

    await server.start();
    await until(
      'connected again, and what waited was stored',
      (s) => value(s, 'domainmgr_nats_connected') === 1 && publishes(s, 'domain') > publishes(down, 'domain'),
    );
    // The test's own client reconnects to the restarted server in its own time (domainmgr's may
    // be back first): a read of it that times out meanwhile is retried; any other error fails.
    await eventually(
      'the twice restarted domain RUNNING in the stream',
      () =>
        node.ctl.storedStatus(a).catch((e: unknown) => {
          if (e instanceof Error && e.name === 'TimeoutError') return undefined;
          throw e;
        }),
      (st) => st?.state === 'RUNNING' && st.restartCount === 2,
      30_000,
    );
    moved.add('domainmgr_nats_connected');
  });

  test('halted and deleted domains', async () => {
    await node.ctl.apply(
      a,
      node.doc(a, 'metrics-a', { generation: 3, memoryMiB: 384, activate: false }),
      10_000,
    );
    await until(
      'one domain HALTED',
      (s) =>
        value(s, 'domainmgr_domains{state="HALTED"}') === 1 &&
        value(s, 'domainmgr_domains{state="RUNNING"}') === 0,
    );
    await node.ctl.apply(a, null, 10_000);
    await node.ctl.apply(rejected, null, 10_000);
    await until(
      'two deletes, nothing HALTED, RUNNING or REJECTED',
      (s) =>
        value(s, 'domainmgr_config_messages_total{outcome="deleted"}') === 2 &&
        value(s, 'domainmgr_domains{state="HALTED"}') === 0 &&
        value(s, 'domainmgr_domains{state="REJECTED"}') === 0,
      'domainmgr_config_messages_total',
      'domainmgr_domains',
    );
  });

  test('the config stream deleted under the node: consumer retries counted and named in /readyz until it is back', async () => {
    const readyzUrl = metricsUrl.replace(/\/metrics$/, '/readyz');
    const { jsm } = node.ctl;
    const stream = (await jsm.streams.info(node.ctl.configStream)).config;
    await jsm.streams.delete(node.ctl.configStream);
    await until(
      'consumer retries, one step waiting',
      (s) =>
        value(s, 'domainmgr_jetstream_retries_total{step="consumer",kind="transient"}') >= 1 &&
        value(s, 'domainmgr_jetstream_waiting_steps') === 1,
    );
    const waiting = await fetch(readyzUrl);
    expect(waiting.status).toBe(503);
    expect(((await waiting.json()) as { reasons: string[] }).reasons).toContainEqual(
      expect.stringMatching(/^nats consumer: .*stream not found/),
    );
    await jsm.streams.add(stream);
    await until(
      'no step waiting once the stream is back',
      (s) => value(s, 'domainmgr_jetstream_waiting_steps') === 0,
      'domainmgr_jetstream_retries_total',
      'domainmgr_jetstream_waiting_steps',
    );
    await eventually(
      '/readyz 200 again',
      async () => (await fetch(readyzUrl)).status,
      (status) => status === 200,
      30_000,
    );
  });

  test('the spawn helper: up; killed: counted, and a new one up', async () => {
    await until('commands from the spawn helper', (s) => value(s, 'domainmgr_spawn_helper_up') === 1);
    const helpers = spawnHelperPids(node.service.pid);
    expect(helpers).toHaveLength(1);
    process.kill(helpers[0] as number, 'SIGKILL');
    await until(
      'one exit counted, a new helper up',
      (s) =>
        value(s, 'domainmgr_spawn_helper_exits_total') === 1 && value(s, 'domainmgr_spawn_helper_up') === 1,
      'domainmgr_spawn_helper_exits_total',
      'domainmgr_spawn_helper_up',
    );
    const again = spawnHelperPids(node.service.pid);
    expect(again).toHaveLength(1);
    expect(again[0]).not.toBe(helpers[0]);
  });

  test("prom-client's process and nodejs metrics", async () => {
    await until(
      'process CPU and memory, event loop lag',
      (s) =>
        value(s, 'process_cpu_seconds_total') > 0 &&
        value(s, 'process_resident_memory_bytes') > 0 &&
        Number.isFinite(value(s, 'nodejs_eventloop_lag_p99_seconds')),
      'process_*',
      'nodejs_*',
    );
  });

  test('every documented metric was moved by a check above, and every exposed one is documented', async () => {
    const documented = documentedMetrics();
    expect(documented.length).toBeGreaterThanOrEqual(9);
    expect(documented.filter((n) => !moved.has(n))).toEqual([]);
    const text = await (await fetch(metricsUrl)).text();
    const exposed = [...text.matchAll(/^# TYPE (domainmgr_\S+)/gm)].map((m) => m[1] as string);
    expect(exposed.filter((n) => !documented.includes(n))).toEqual([]);
  });
});
