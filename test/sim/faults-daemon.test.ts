import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMAND_LOG_LIMIT, SimHost } from '../../sim/core/host.js';
import { runProcess, SIM_BIN_DIR, type SimHostHandle, startSimHost } from '../support/sim-host.js';
import { expectExact, listRow, pvhCfg, removeTempDirs, tempDir, until, writeCfg, xl } from './helpers.js';

let h: SimHostHandle;

beforeAll(() => {
  h = startSimHost();
});
afterAll(async () => {
  await h.stop();
  removeTempDirs();
});
beforeEach(async () => {
  await h.simctl(['reset']);
});

describe('fault injection', () => {
  test('fail a subcommand once with a given exit code and stderr, then behave', async () => {
    const id = await h.simctl([
      'fault',
      'add',
      '--tool',
      'xl',
      '--sub',
      'create',
      '--exit',
      '3',
      '--stderr',
      'libxl: error: boom',
      '--times',
      '1',
    ]);
    expect(id).toBe('1\n');
    const cfg = writeCfg(pvhCfg('f1'));
    expectExact(await xl(h, 'create', cfg), 3, '', 'libxl: error: boom\n');
    expect(await listRow(h, 'f1')).toBeNull();
    expect((await xl(h, 'create', cfg)).code).toBe(0);
    expect(JSON.parse(await h.simctl(['fault', 'list']))).toEqual([]);
  });

  test('unpause failing inside libxl: exit 0, domain stays paused', async () => {
    await xl(h, 'create', '-p', writeCfg(pvhCfg('f2')));
    await h.simctl([
      'fault',
      'add',
      '--tool',
      'xl',
      '--sub',
      'unpause',
      '--exit',
      '0',
      '--stderr',
      'libxl: error: unpause failed',
      '--times',
      '1',
    ]);
    expectExact(await xl(h, 'unpause', 'f2'), 0, '', 'libxl: error: unpause failed\n');
    expect((await listRow(h, 'f2'))?.state).toBe('--p---');
  });

  test('succeed only after N tries', async () => {
    await h.simctl([
      'fault',
      'add',
      '--tool',
      'xenstore-write',
      '--exit',
      '1',
      '--stderr',
      'xenstore-write: xs_open: No such file or directory',
      '--times',
      '2',
    ]);
    const codes: (number | null)[] = [];
    for (let i = 0; i < 3; i++) codes.push((await h.run(['xenstore-write', '/a', '1'])).code);
    expect(codes).toEqual([1, 1, 0]);
  });

  test('--skip lets calls through before the fault applies', async () => {
    await h.simctl([
      'fault',
      'add',
      '--tool',
      'vmadm',
      '--sub',
      'list',
      '--exit',
      '1',
      '--skip',
      '1',
      '--times',
      '1',
    ]);
    expect((await h.run(['vmadm', 'list'])).code).toBe(0);
    expect((await h.run(['vmadm', 'list'])).code).toBe(1);
    expect((await h.run(['vmadm', 'list'])).code).toBe(0);
  });

  test('hang forever: the caller times out and the command never happens', async () => {
    await h.simctl(['fault', 'add', '--tool', 'xl', '--sub', 'create', '--hang', 'forever', '--times', '1']);
    const r = await h.run(['xl', 'create', writeCfg(pvhCfg('f3'))], { timeoutMs: 500 });
    expect(r.code).toBeNull();
    expect(await listRow(h, 'f3')).toBeNull();
    // other calls are not held up by the hung one
    expect((await xl(h, 'list')).code).toBe(0);
  });

  test('hang for N ms delays the command', async () => {
    await h.simctl(['fault', 'add', '--tool', 'xl', '--sub', 'list', '--hang', '300', '--times', '1']);
    const r = await xl(h, 'list');
    expect(r.code).toBe(0);
    expect(r.durationMs).toBeGreaterThanOrEqual(290);
  });

  test('garbage output', async () => {
    await h.simctl(['fault', 'add', '--tool', 'rkt', '--sub', 'status', '--garbage', '--times', '1']);
    const r = await h.run(['rkt', 'status', '--format=json', 'x']);
    expect(r.code).toBe(0);
    expect(() => JSON.parse(r.stdout)).toThrow();
  });

  test('latency applies to every call', async () => {
    // A lower bound only: an added latency can only be waited out, whatever the machine's load.
    await h.simctl(['latency', '150']);
    expect((await xl(h, 'list')).durationMs).toBeGreaterThanOrEqual(145);
    await h.simctl(['latency', '0']);
    expect(await h.simctl(['config'])).toMatch(/"latencyMs":\s*0\b/);
  });

  test('vanish removes a domain behind the manager; simctl errors are clear', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('v1')));
    await h.simctl(['vanish', 'v1']);
    expect(await listRow(h, 'v1')).toBeNull();
    const r = await h.run(['simctl', 'crash', 'v1']);
    expectExact(r, 1, '', 'simctl: no such domain: v1\n');
    expect((await h.run(['simctl', 'fault', 'add', '--tool', 'xl'])).code).toBe(2);
  });

  test('--match aims a fault at calls naming one domain; others pass', async () => {
    await xl(h, 'create', '-p', writeCfg(pvhCfg('m1')));
    await xl(h, 'create', '-p', writeCfg(pvhCfg('m2')));
    await h.simctl(['fault', 'add', '--tool', 'xl', '--sub', 'unpause', '--match', 'm2', '--exit', '1']);
    expect((await xl(h, 'unpause', 'm1')).code).toBe(0);
    expect((await xl(h, 'unpause', 'm2')).code).toBe(1);
    expect(await listRow(h, 'm2')).toMatchObject({ state: '--p---' });
  });

  test('--vanish: the command runs, then the domain disappears', async () => {
    await xl(h, 'create', '-p', writeCfg(pvhCfg('w1')));
    await h.simctl(['fault', 'add', '--tool', 'xl', '--sub', 'unpause', '--vanish', 'w1', '--times', '1']);
    expectExact(await xl(h, 'unpause', 'w1'), 0, '', '');
    expect(await listRow(h, 'w1')).toBeNull();
    expect(JSON.parse(await h.simctl(['fault', 'list']))).toEqual([]);
  });
});

describe('daemon and shims', () => {
  test('a missing DOMAINMGR_SIM_DIR is a clear error', async () => {
    const env = { ...h.env };
    delete env.DOMAINMGR_SIM_DIR;
    const r = await runProcess([join(SIM_BIN_DIR, 'xl'), 'list'], env);
    expect(r.code).toBe(70);
    expect(r.stderr).toBe(
      "xl: DOMAINMGR_SIM_DIR is not set; it must name the simulated host's state directory\n",
    );
  });

  test('arguments pass through exactly (newlines, quotes, spaces, empty)', async () => {
    const value = `a'b"c\nd  e\\f\t$HOME`;
    expectExact(await h.run(['xenstore-write', '/x/v', value, '/x/empty', '']), 0, '', '');
    expectExact(await h.run(['xenstore', 'read', '/x/v', '/x/empty']), 0, `${value}\n\n`, '');
  });

  test('50 parallel creates with distinct names all succeed; same name twice: exactly one wins', async () => {
    const cfgs = Array.from({ length: 50 }, (_, i) => writeCfg(pvhCfg(`par${i}`, 'memory = 64\n')));
    const results = await Promise.all(cfgs.map((c) => xl(h, 'create', c)));
    expect(results.map((r) => r.code)).toEqual(Array(50).fill(0));
    const list = (await xl(h, 'list')).stdout.split('\n').filter((l) => l.startsWith('par'));
    expect(list).toHaveLength(50);
    const domids = new Set(list.map((l) => l.slice(40).trim().split(/\s+/)[0]));
    expect(domids.size).toBe(50);
    const same = writeCfg(pvhCfg('twin'));
    const two = await Promise.all([xl(h, 'create', same), xl(h, 'create', same)]);
    expect(two.map((r) => r.code).sort()).toEqual([0, 3]);
  });

  test('daemon killed with SIGKILL mid-run: the next call restarts it with the state intact', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('k1', 'on_crash = "preserve"\n')));
    await xl(h, 'create', '-p', writeCfg(pvhCfg('k2')));
    await h.simctl(['crash', 'k1']);
    await h.run(['xenstore-write', '/persist/me', 'yes']);
    // keep writing while the daemon dies: a call cut off by the death fails with 70 (it is
    // never retried, as it may have happened); every other call succeeds
    const writers = Promise.all(
      Array.from({ length: 20 }, (_, i) => h.run(['xenstore-write', `/w/${i}`, String(i)])),
    );
    const pid = h.daemonPid();
    expect(pid).not.toBeNull();
    process.kill(pid as number, 'SIGKILL');
    for (const r of await writers) expect([0, 70]).toContain(r.code);
    const state = JSON.parse(readFileSync(join(h.dir, 'state.json'), 'utf8')) as { schema: number };
    expect(state.schema).toBe(1);
    expect((await listRow(h, 'k1'))?.state).toBe('---sc-');
    expect((await listRow(h, 'k2'))?.state).toBe('--p---');
    expectExact(await h.run(['xenstore', 'read', '/persist/me']), 0, 'yes\n', '');
    expect(h.daemonPid()).not.toBe(pid);
    // time-based behaviour continues across the restart
    await h.simctl(['config', 'shutdownDelayMs=200']);
    await xl(h, 'unpause', 'k2');
    await xl(h, 'shutdown', 'k2');
    process.kill(h.daemonPid() as number, 'SIGKILL');
    await until(async () => (await listRow(h, 'k2')) === null, 3000, 'k2 to leave after the restart');
  });

  test('simctl stop ends the daemon; the next call starts a new one', async () => {
    await h.run(['xenstore-write', '/a', '1']);
    const pid = h.daemonPid();
    await h.simctl(['stop']);
    await until(async () => spawnSync('kill', ['-0', String(pid)]).status !== 0, 3000, 'daemon exit');
    expectExact(await h.run(['xenstore', 'read', '/a']), 0, '1\n', '');
  });

  test('simctl state dumps the host as JSON', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('st')));
    const s = JSON.parse(await h.simctl(['state'])) as { xen: { domains: { name: string }[] } };
    expect(s.xen.domains.map((d) => d.name)).toEqual(['st']);
  });
});

interface Log {
  dropped: number;
  commands: { tool: string; args: string[] }[];
}

/** `simctl commands`: the argv of every emulated call, what tests read "reached the host" from. */
describe('simctl commands', () => {
  test('lists every call with its arguments, in order; --take empties the log', async () => {
    await h.simctl(['commands', '--take']);
    const cfg = writeCfg(pvhCfg('logged'));
    expect((await xl(h, 'create', '-p', cfg)).code).toBe(0);
    expect((await xl(h, 'list', 'logged')).code).toBe(0);
    const log = JSON.parse(await h.simctl(['commands', '--take'])) as Log;
    expect(log.dropped).toBe(0);
    const shimCalls = log.commands.filter((c) => c.tool !== 'xenstored');
    expect(shimCalls).toEqual([
      { tool: 'xl', args: ['create', '-p', cfg] },
      { tool: 'xl', args: ['list', 'logged'] },
    ]);
    expect((JSON.parse(await h.simctl(['commands'])) as Log).commands).toEqual([]);
  });

  test('refuses an unknown option', async () => {
    await expect(h.simctl(['commands', '--all'])).rejects.toThrow(/commands takes only --take/);
  });

  test('keeps at most COMMAND_LOG_LIMIT calls, dropping and counting the oldest', () => {
    const host = new SimHost(tempDir());
    for (let i = 0; i < COMMAND_LOG_LIMIT + 3; i++) host.logCommand('xl', [String(i)]);
    expect(host.commandLog).toHaveLength(COMMAND_LOG_LIMIT);
    expect(host.commandLogDropped).toBe(3);
    expect(host.commandLog[0]).toEqual({ tool: 'xl', args: ['3'] });
  });
});
