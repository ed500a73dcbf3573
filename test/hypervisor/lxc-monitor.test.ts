/**
 * The lxc change feed: the lxc-monitor line parser by a table of real LXC 5.0.2 lines
 * (test/fixtures/lxc/lxc-monitor-lifecycle.txt), and the supervision of the one lxc-monitor
 * process (a change per line, restarts with backoff, logged, a change after each restart, close)
 * on the fake runner and a manual clock.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { LxcBackend } from '../../pkg/hypervisor/lxc.js';
import {
  LXC_MONITOR_SETTLE_MS,
  MONITOR_RESTART_FIRST_MS,
  watchLxcMonitor,
} from '../../pkg/hypervisor/lxc-monitor.js';
import { type LxcMonitorEvent, parseLxcMonitorLine } from '../../pkg/hypervisor/parse/lxc-monitor.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { projectRoot } from '../../pkg/project-files.js';
import { testConfig } from '../support/backend-fixtures.js';
import { FakeRunner } from '../support/fake-runner.js';
import { logSink } from '../support/log-sink.js';
import { ManualClock } from '../support/manual-clock.js';

const U = '3f9c2a4e-8b1d-4c6e-9a57-0d2e6b8f1c34';
const V = '9b0e5d71-2c3a-4f88-b6d4-7e1a0c5f2b96';
const captured = readFileSync(join(projectRoot, 'test/fixtures/lxc/lxc-monitor-lifecycle.txt'), 'utf8')
  .split('\n')
  .filter((l) => l !== '');

describe('lxc-monitor lines', () => {
  test.each<[string, string, LxcMonitorEvent | null]>([
    ['a state change', `'${U}' changed state to [STARTING]`, { kind: 'state', name: U, state: 'STARTING' }],
    ['frozen', `'${U}' changed state to [FROZEN]`, { kind: 'state', name: U, state: 'FROZEN' }],
    ['stopped', `'${U}' changed state to [STOPPED]`, { kind: 'state', name: U, state: 'STOPPED' }],
    [
      'an init killed by a signal exits with status 0',
      `'${U}' exited with status [0]`,
      { kind: 'exit', name: U, status: 0 },
    ],
    ['an init that exited 3', `'${V}' exited with status [3]`, { kind: 'exit', name: V, status: 3 }],
    [
      'a carriage return is dropped',
      `'${U}' changed state to [RUNNING]\r`,
      { kind: 'state', name: U, state: 'RUNNING' },
    ],
    ['a hand-made name', `'t1' changed state to [THAWED]`, { kind: 'state', name: 't1', state: 'THAWED' }],
    ['an unknown state', `'${U}' changed state to [MELTING]`, null],
    ['another wording', `lxc-monitor: ${U}: something else`, null],
    ['an empty line', '', null],
  ])('%s', (_what, line, event) => {
    expect(parseLxcMonitorLine(line)).toEqual(event);
  });

  test('every line captured from the real lxc-monitor parses, in the order LXC printed them', () => {
    const events = captured.map(parseLxcMonitorLine);
    expect(events).not.toContain(null);
    const ofV = events
      .filter((e) => e?.name === V)
      .map((e) => (e?.kind === 'exit' ? `exit ${e.status}` : e?.state));
    expect(ofV).toEqual(['STARTING', 'RUNNING', 'exit 3', 'STOPPING', 'STOPPED']);
    const kinds = new Set(events.map((e) => (e?.kind === 'state' ? e.state : e?.kind)));
    expect([...kinds].sort()).toEqual(
      ['FREEZING', 'FROZEN', 'RUNNING', 'STARTING', 'STOPPED', 'STOPPING', 'THAWED', 'exit'].sort(),
    );
  });
});

/** Lets the promise callbacks of an ended fake process run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('one lxc-monitor, supervised', () => {
  const argv = ['lxc-monitor', '-P', '/state/lxc'];

  test.each([
    [`'${U}' changed state to [STOPPED]`, 1],
    [`'${U}' changed state to [RUNNING]`, 1],
    [`'${U}' changed state to [FROZEN]`, 1],
    [`'${U}' changed state to [THAWED]`, 1],
    [`'${U}' changed state to [ABORTING]`, 1],
    [`'${U}' changed state to [STOPPING]`, 0],
    [`'${U}' changed state to [STARTING]`, 0],
    [`'${U}' changed state to [FREEZING]`, 0],
    [`'${U}' exited with status [0]`, 0],
    ['something LXC has never printed', 1],
  ])('%s: %i change', (line, expected) => {
    const runner = new FakeRunner();
    let changes = 0;
    const watch = watchLxcMonitor(
      { runner, clock: new ManualClock(), logger: silentLogger },
      argv,
      () => changes++,
    );
    expect(runner.streams.map((s) => s.argv)).toEqual([argv]);
    runner.streams[0]?.print(line);
    expect(changes).toBe(expected);
    watch.close();
  });

  test('the real crash sequence (exited, STOPPING, STOPPED) is one change, naming the container', () => {
    const runner = new FakeRunner();
    const named: (string | undefined)[] = [];
    const watch = watchLxcMonitor({ runner, clock: new ManualClock(), logger: silentLogger }, argv, (name) =>
      named.push(name),
    );
    for (const line of captured.filter((l) => l.startsWith(`'${V}'`)).slice(2))
      runner.streams[0]?.print(line);
    expect(named).toEqual([V]);
    // The engine lists once the lines of one change have all come (they are ~10 ms apart).
    expect(watch.settleMs).toBe(LXC_MONITOR_SETTLE_MS);
    watch.close();
  });

  test('a line it does not know is a change naming no container (a full listing decides)', () => {
    const runner = new FakeRunner();
    const named: (string | undefined)[] = [];
    const watch = watchLxcMonitor({ runner, clock: new ManualClock(), logger: silentLogger }, argv, (name) =>
      named.push(name),
    );
    runner.streams[0]?.print(`'${V}' changed state to [SLEEPING]`);
    expect(named).toEqual([undefined]);
    watch.close();
  });

  test('a monitor that ends is started again with backoff, logged, and a change follows each restart', async () => {
    const runner = new FakeRunner();
    const clock = new ManualClock();
    const { lines, logger } = logSink();
    let changes = 0;
    const watch = watchLxcMonitor({ runner, clock, logger }, argv, () => changes++);
    runner.streams[0]?.end({ signal: 'SIGKILL' });
    await settle();
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: expect.stringMatching(/lxc-monitor ended/),
        signal: 'SIGKILL',
        restartInMs: MONITOR_RESTART_FIRST_MS,
      }),
    );
    await clock.advance(MONITOR_RESTART_FIRST_MS - 1);
    expect(runner.streams).toHaveLength(1);
    await clock.advance(1);
    expect(runner.streams).toHaveLength(2);
    expect(runner.streams[1]?.argv).toEqual(argv);
    expect(changes).toBe(1);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'lxc-monitor restarted' }));

    // Ends again at once: the next delay doubles.
    runner.streams[1]?.end({ exitCode: 1, stderr: 'Failed to connect to lxc-monitord\n' });
    await settle();
    expect(lines).toContainEqual(
      expect.objectContaining({
        exitCode: 1,
        stderr: 'Failed to connect to lxc-monitord',
        restartInMs: 2 * MONITOR_RESTART_FIRST_MS,
      }),
    );
    await clock.advance(2 * MONITOR_RESTART_FIRST_MS);
    expect(runner.streams).toHaveLength(3);
    runner.streams[2]?.print(`'${U}' changed state to [STOPPED]`);
    expect(changes).toBe(3);
    watch.close();
  });

  test('close stops the monitor and nothing restarts it or calls back', async () => {
    const runner = new FakeRunner();
    const clock = new ManualClock();
    let changes = 0;
    const watch = watchLxcMonitor({ runner, clock, logger: silentLogger }, argv, () => changes++);
    watch.close();
    await settle();
    expect(runner.streams[0]?.stopped).toBe(true);
    await clock.advance(60_000);
    expect(runner.streams).toHaveLength(1);
    expect(changes).toBe(0);
    expect(clock.pending).toBe(0);
  });

  test('closed while waiting to restart: the restart is cancelled', async () => {
    const runner = new FakeRunner();
    const clock = new ManualClock();
    const watch = watchLxcMonitor({ runner, clock, logger: silentLogger }, argv, () => {});
    runner.streams[0]?.end({ exitCode: 1 });
    await settle();
    expect(clock.pending).toBe(1);
    watch.close();
    expect(clock.pending).toBe(0);
    await clock.advance(60_000);
    expect(runner.streams).toHaveLength(1);
  });

  test('the lxc backend watches its own container path, all containers', () => {
    const runner = new FakeRunner();
    const config = testConfig({ backend: 'lxc', stateDir: '/state' });
    const hv = new LxcBackend({ runner, logger: silentLogger, config, clock: new ManualClock() });
    const watch = hv.watchChanges(() => {});
    expect(runner.streams.map((s) => s.argv)).toEqual([['lxc-monitor', '-P', '/state/lxc']]);
    watch.close();
  });
});
