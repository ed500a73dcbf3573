import { register as globalRegistry } from 'prom-client';
import { silentLogger } from '../../pkg/log/logger.js';
import { Metrics } from '../../pkg/observe/metrics.js';
import { ExecRunner } from '../../pkg/runner/exec-runner.js';
import { FixedConnection } from '../support/memory-ports.js';
import { family, samples } from './exposition.js';

async function scrape(m: Metrics): Promise<Map<string, number>> {
  return samples(await m.registry.metrics());
}

describe('Metrics', () => {
  test('command observer: duration by tool and subcommand, failures by reason, from real processes', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const runner = new ExecRunner({
      logger: silentLogger,
      defaultTimeoutMs: 10_000,
      killGraceMs: 100,
      observer: m.commandObserver,
    });
    await runner.run(['true', 'list']);
    await runner.run(['true', 'list', '-v']);
    await expect(runner.run(['false', 'create', '/tmp/x.cfg'])).rejects.toThrow();
    await expect(runner.run(['/nonexistent/bin/xl', 'create'])).rejects.toThrow();
    // Killed at its timeout (else it would outlast the test): its duration is recorded all the same.
    await expect(runner.run(['sleep', '300'], { timeoutMs: 100 })).rejects.toThrow();

    const s = await scrape(m);
    expect(s.get('domainmgr_command_duration_seconds_count{tool="true",subcommand="list"}')).toBe(2);
    expect(s.get('domainmgr_command_duration_seconds_count{tool="false",subcommand="create"}')).toBe(1);
    expect(s.get('domainmgr_command_duration_seconds_count{tool="xl",subcommand="create"}')).toBe(1);
    // `sleep 300`: "300" is no subcommand word, so it is counted as other.
    expect(s.get('domainmgr_command_duration_seconds_count{tool="sleep",subcommand="other"}')).toBe(1);
    // The timed-out sleep ran at least its 100 ms timeout (a lower bound: load only lengthens it).
    const sleepSum = s.get('domainmgr_command_duration_seconds_sum{tool="sleep",subcommand="other"}') ?? 0;
    expect(sleepSum).toBeGreaterThanOrEqual(0.1);
    expect(
      s.get('domainmgr_command_duration_seconds_bucket{le="0.05",tool="sleep",subcommand="other"}'),
    ).toBe(0);
    expect(
      s.get('domainmgr_command_duration_seconds_bucket{le="+Inf",tool="sleep",subcommand="other"}'),
    ).toBe(1);

    expect(family(s, 'domainmgr_command_failures_total')).toEqual({
      'domainmgr_command_failures_total{tool="false",subcommand="create",reason="failed"}': 1,
      'domainmgr_command_failures_total{tool="xl",subcommand="create",reason="not-found"}': 1,
      'domainmgr_command_failures_total{tool="sleep",subcommand="other",reason="timeout"}': 1,
    });
  });

  test('command observer: exact buckets and sum of given durations', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.commandObserver({ argv: ['xl', 'create', '-p', '/c.cfg'], durationMs: 30, exitCode: 0, outcome: 'ok' });
    m.commandObserver({
      argv: ['xl', 'create', '-p', '/d.cfg'],
      durationMs: 700,
      exitCode: 0,
      outcome: 'ok',
    });
    const s = await scrape(m);
    const xl = family(s, 'domainmgr_command_duration_seconds');
    expect(xl['domainmgr_command_duration_seconds_bucket{le="0.025",tool="xl",subcommand="create"}']).toBe(0);
    expect(xl['domainmgr_command_duration_seconds_bucket{le="0.05",tool="xl",subcommand="create"}']).toBe(1);
    expect(xl['domainmgr_command_duration_seconds_bucket{le="0.5",tool="xl",subcommand="create"}']).toBe(1);
    expect(xl['domainmgr_command_duration_seconds_bucket{le="1",tool="xl",subcommand="create"}']).toBe(2);
    expect(xl['domainmgr_command_duration_seconds_sum{tool="xl",subcommand="create"}']).toBeCloseTo(0.73, 9);
    expect(xl['domainmgr_command_duration_seconds_count{tool="xl",subcommand="create"}']).toBe(2);
    expect(family(s, 'domainmgr_command_failures_total')).toEqual({});
  });

  test('label sets stay bounded whatever argv holds', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const uuid = '0b2c7f3e-58a1-4c2e-9d1a-3f4b5c6d7e8f';
    for (let i = 0; i < 500; i++) {
      m.commandObserver({
        argv: [`/opt/t${i}/tool${i}`, `sub${i}`, uuid],
        durationMs: 1,
        exitCode: 1,
        outcome: 'failed',
      });
      m.observeOperation(`op${i}`, 1, true);
    }
    m.observeOperation('Create web1', 1, false);
    const text = await m.registry.metrics();
    expect(text).not.toContain(uuid);
    expect(text).not.toContain('/opt/');
    const s = samples(text);
    const counts = Object.keys(family(s, 'domainmgr_command_duration_seconds_count'));
    expect(counts).toHaveLength(65); // 64 distinct pairs, then one 'other' pair
    expect(s.get('domainmgr_command_duration_seconds_count{tool="other",subcommand="other"}')).toBe(500 - 64);
    expect(s.get('domainmgr_command_failures_total{tool="other",subcommand="other",reason="failed"}')).toBe(
      436,
    );
    const ops = Object.keys(family(s, 'domainmgr_operation_duration_seconds_count'));
    expect(ops).toHaveLength(34); // 32 names + other/ok + other/error
    expect(s.get('domainmgr_operation_duration_seconds_count{operation="other",outcome="ok"}')).toBe(
      500 - 32,
    );
    expect(s.get('domainmgr_operation_duration_seconds_count{operation="other",outcome="error"}')).toBe(1);
  });

  test('operations by name and outcome', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.observeOperation('create', 1500, true);
    m.observeOperation('create', 200, false);
    m.observeOperation('set-memory', 40, true);
    const s = await scrape(m);
    expect(family(s, 'domainmgr_operation_duration_seconds_count')).toEqual({
      'domainmgr_operation_duration_seconds_count{operation="create",outcome="ok"}': 1,
      'domainmgr_operation_duration_seconds_count{operation="create",outcome="error"}': 1,
      'domainmgr_operation_duration_seconds_count{operation="set-memory",outcome="ok"}': 1,
    });
    expect(s.get('domainmgr_operation_duration_seconds_sum{operation="create",outcome="ok"}')).toBe(1.5);
    expect(s.get('domainmgr_operation_duration_seconds_bucket{le="1",operation="create",outcome="ok"}')).toBe(
      0,
    );
    expect(
      s.get('domainmgr_operation_duration_seconds_bucket{le="2.5",operation="create",outcome="ok"}'),
    ).toBe(1);
    expect(
      s.get('domainmgr_operation_duration_seconds_bucket{le="0.05",operation="set-memory",outcome="ok"}'),
    ).toBe(1);
  });

  test('domains gauge: every state of the contract, set by the service', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.setDomainCounts({ RUNNING: 3, BROKEN: 1 });
    expect(family(await scrape(m), 'domainmgr_domains{')).toEqual({
      'domainmgr_domains{state="PENDING"}': 0,
      'domainmgr_domains{state="CREATING"}': 0,
      'domainmgr_domains{state="BOOTING"}': 0,
      'domainmgr_domains{state="RUNNING"}': 3,
      'domainmgr_domains{state="PAUSED"}': 0,
      'domainmgr_domains{state="HALTING"}': 0,
      'domainmgr_domains{state="HALTED"}': 0,
      'domainmgr_domains{state="BROKEN"}': 1,
      'domainmgr_domains{state="DELETING"}': 0,
      'domainmgr_domains{state="DELETED"}': 0,
      'domainmgr_domains{state="REJECTED"}': 0,
    });
    m.setDomainCounts({ HALTED: 2 });
    const s = await scrape(m);
    expect(s.get('domainmgr_domains{state="RUNNING"}')).toBe(0);
    expect(s.get('domainmgr_domains{state="HALTED"}')).toBe(2);
  });

  test('domains gauge: read from a function at every scrape', async () => {
    let running = 1;
    let calls = 0;
    const m = new Metrics({
      defaultMetrics: false,
      domainCounts: () => {
        calls++;
        return { RUNNING: running };
      },
    });
    expect(calls).toBe(0);
    expect((await scrape(m)).get('domainmgr_domains{state="RUNNING"}')).toBe(1);
    running = 5;
    expect((await scrape(m)).get('domainmgr_domains{state="RUNNING"}')).toBe(5);
    expect(calls).toBe(2);
  });

  test('NATS connection gauge follows a ConnectionState', async () => {
    const m = new Metrics({ defaultMetrics: false });
    expect((await scrape(m)).get('domainmgr_nats_connected')).toBe(0);
    const conn = new FixedConnection();
    const unsubscribe = m.followConnection(conn);
    expect((await scrape(m)).get('domainmgr_nats_connected')).toBe(1);
    conn.set(false);
    expect((await scrape(m)).get('domainmgr_nats_connected')).toBe(0);
    unsubscribe();
    conn.set(true);
    expect((await scrape(m)).get('domainmgr_nats_connected')).toBe(0);
    m.setNatsConnected(true);
    expect((await scrape(m)).get('domainmgr_nats_connected')).toBe(1);
  });

  test('config and status counters start at 0 for every outcome and count', async () => {
    const m = new Metrics({ defaultMetrics: false, version: '1.2.3' });
    m.countConfig('accepted');
    m.countConfig('accepted');
    m.countConfig('stale');
    m.countStatusPublish('domain', true);
    m.countStatusPublish('domain', false);
    m.countStatusPublish('node', true);
    const s = await scrape(m);
    expect(family(s, 'domainmgr_config_messages_total')).toEqual({
      'domainmgr_config_messages_total{outcome="accepted"}': 2,
      'domainmgr_config_messages_total{outcome="rejected"}': 0,
      'domainmgr_config_messages_total{outcome="deleted"}': 0,
      'domainmgr_config_messages_total{outcome="stale"}': 1,
    });
    expect(family(s, 'domainmgr_status_publish')).toEqual({
      'domainmgr_status_publishes_total{kind="domain"}': 1,
      'domainmgr_status_publishes_total{kind="node"}': 1,
      'domainmgr_status_publish_failures_total{kind="domain"}': 1,
      'domainmgr_status_publish_failures_total{kind="node"}': 0,
    });
    expect(s.get('domainmgr_build_info{version="1.2.3"}')).toBe(1);
  });

  test('own registry with process and Node.js default metrics; the global registry stays empty', async () => {
    const a = new Metrics();
    const b = new Metrics();
    const text = await a.registry.metrics();
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('# TYPE process_resident_memory_bytes gauge');
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
    expect(text).toContain('# TYPE nodejs_heap_size_used_bytes gauge');
    const s = samples(text);
    expect(s.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(samples(await b.registry.metrics()).get('domainmgr_nats_connected')).toBe(0);
    expect(globalRegistry.getMetricsAsArray()).toEqual([]);
    expect(a.registry.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
