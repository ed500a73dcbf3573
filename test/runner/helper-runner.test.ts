import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnHelperPids } from '../../bench/lib/proc.js';
import { projectRoot } from '../../pkg/project-files.js';
import type { CommandObserver } from '../../pkg/runner/command-runner.js';
import { CommandLostError, CommandTimeoutError } from '../../pkg/runner/errors.js';
import { HelperRunner, type HelperRunnerOptions } from '../../pkg/runner/helper-runner.js';
import { logSink } from '../support/log-sink.js';
import { alive } from '../support/sim-host.js';

/** Polls until check() holds, or fails after `ms` (no fixed sleeps: these machines are slow). */
async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'domainmgr-helper-'));
const open: HelperRunner[] = [];
// One test's helpers are gone before the next starts: helperPid() looks for exactly one.
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

function helperRunner(extra: Partial<HelperRunnerOptions> = {}) {
  const sink = logSink();
  const events: Parameters<CommandObserver>[0][] = [];
  const changes: [boolean, boolean][] = [];
  const r = new HelperRunner({
    logger: sink.logger,
    defaultTimeoutMs: 10_000,
    killGraceMs: 200,
    observer: (e) => events.push(e),
    onHelperChange: (up, exited) => changes.push([up, exited]),
    restartInitialMs: 20,
    ...extra,
  });
  open.push(r);
  return { r, logs: sink.lines, events, changes };
}

/** The parent pid of the command that runs: who started it. */
async function parentOfCommand(r: HelperRunner): Promise<number> {
  return Number((await r.run(['sh', '-c', 'echo $PPID'])).stdout.trim());
}

/** The pid of the one spawn helper that is a child of this process. */
function helperPid(): number {
  const helpers = spawnHelperPids(process.pid);
  if (helpers.length !== 1) throw new Error(`expected one spawn helper, found ${helpers.length}`);
  return helpers[0] as number;
}

describe('HelperRunner: who starts the commands', () => {
  test('once the helper is ready, commands are its children, not this process’s', async () => {
    const { r, logs, changes } = helperRunner();
    await until('the helper', () => r.helperReady);
    const helper = helperPid();
    expect(await parentOfCommand(r)).toBe(helper);
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: 'spawn helper ready: commands start from it', pid: helper }),
    );
    expect(changes).toEqual([[true, false]]);
    await r.close();
    expect(alive(helper)).toBe(false);
    expect(changes).toEqual([
      [true, false],
      [false, false],
    ]);
    // After close, commands still run: from this process.
    expect(await parentOfCommand(r)).toBe(process.pid);
  });

  test('a helper that cannot start (a missing program) leaves every command to this process', async () => {
    const { r, logs, changes } = helperRunner({ script: join(dir, 'no-such-helper.js'), restartMaxMs: 20 });
    expect(await parentOfCommand(r)).toBe(process.pid);
    await until('an exit report', () =>
      logs.some((l) => l.msg === 'spawn helper ended; commands start from domainmgr until it is back'),
    );
    expect(await parentOfCommand(r)).toBe(process.pid);
    expect(r.helperReady).toBe(false);
    expect(changes.every(([up, exited]) => !up && exited)).toBe(true);
    await r.close();
  });
});

describe('HelperRunner: faults', () => {
  test('the helper killed mid-command: that command fails as lost (outcome unknown), the next runs here, the helper comes back', async () => {
    const { r, events, logs, changes } = helperRunner();
    await until('the helper', () => r.helperReady);
    const first = helperPid();
    const marker = join(dir, 'lost-started');
    const lost = r.run(['sh', '-c', `echo $$ > ${marker}; exec sleep 30`]).catch((e) => e);
    await until(
      'the command to start',
      () => existsSync(marker) && readFileSync(marker, 'utf8').trim() !== '',
    );
    process.kill(first, 'SIGKILL');
    const err = await lost;
    expect(err).toBeInstanceOf(CommandLostError);
    expect(err).toBeInstanceOf(CommandTimeoutError);
    expect(err.message).toMatch(
      /^sh -c .*: outcome unknown, the spawn helper ended \(SIGKILL\) while it ran$/,
    );
    expect(events.at(-1)).toMatchObject({ outcome: 'timeout', exitCode: null });
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        signal: 'SIGKILL',
        msg: 'spawn helper ended; commands start from domainmgr until it is back',
      }),
    );
    // The helper is gone: commands run from here until it is back, then from the new helper.
    expect(r.helperReady).toBe(false);
    expect(changes).toContainEqual([false, true]);
    await until('the helper to be back', () => r.helperReady);
    const second = helperPid();
    expect(second).not.toBe(first);
    expect(await parentOfCommand(r)).toBe(second);
    // The orphaned sleep is not ours to wait for; end it.
    process.kill(Number(readFileSync(marker, 'utf8')), 'SIGKILL');
  });

  test('a helper that stops answering is killed by the watchdog; its command is lost', async () => {
    // A helper that says it is ready and then never answers.
    const mute = join(dir, 'mute-helper.js');
    writeFileSync(mute, "process.on('message', () => {}); process.send({ ready: true });\n");
    const { r, logs } = helperRunner({ script: mute, watchdogSlackMs: 100, restartInitialMs: 60_000 });
    await until('the mute helper', () => r.helperReady);
    const err = await r.run(['true'], { timeoutMs: 100 }).catch((e) => e);
    expect(err).toBeInstanceOf(CommandLostError);
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'error',
        msg: 'spawn helper did not answer within the command timeout; killing it',
      }),
    );
    // Meanwhile commands run from here.
    expect(await parentOfCommand(r)).toBe(process.pid);
  });

  test('a helper whose channel closed but which lives on: commands start here; close kills it', async () => {
    const deaf = join(dir, 'deaf-spawn-helper-main.js');
    writeFileSync(
      deaf,
      'process.send({ ready: true }, () => process.disconnect());\nsetInterval(() => {}, 1000);\n',
    );
    const { r, logs } = helperRunner({ script: deaf });
    await until(
      'the deaf helper to be ready, then its channel closed',
      () => logs.some((l) => l.msg === 'spawn helper ready: commands start from it') && !r.helperReady,
    );
    const helper = helperPid();
    expect(await parentOfCommand(r)).toBe(process.pid);
    await r.close();
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: 'spawn helper did not exit when closed; killing it' }),
    );
    expect(alive(helper)).toBe(false);
  });

  test('SIGTERM and SIGINT to the helper (a stop signal to the whole group) do not end it', async () => {
    const { r } = helperRunner();
    await until('the helper', () => r.helperReady);
    const helper = helperPid();
    process.kill(helper, 'SIGTERM');
    process.kill(helper, 'SIGINT');
    // It still answers, as itself, after the signals reached it.
    expect(await parentOfCommand(r)).toBe(helper);
    expect(r.helperReady).toBe(true);
  });

  test('close waits for the commands in flight, then ends the helper; new commands meanwhile start here', async () => {
    const { r } = helperRunner();
    await until('the helper', () => r.helperReady);
    const helper = helperPid();
    const marker = join(dir, 'closing-started');
    const running = r.run(['sh', '-c', `echo started > ${marker}; sleep 0.3; echo finished`]);
    await until('the command to start', () => existsSync(marker) && readFileSync(marker, 'utf8') !== '');
    const closed = r.close();
    expect(await parentOfCommand(r)).toBe(process.pid);
    expect((await running).stdout).toBe('finished\n');
    await closed;
    expect(alive(helper)).toBe(false);
  });

  test('domainmgr killed (SIGKILL): the helper lets its commands finish, then exits', async () => {
    // A parent of its own, killed with SIGKILL while its helper runs a command (the helper ignores
    // the SIGTERM that execa's exit hook would send; SIGKILL runs no hook at all).
    const out = join(dir, 'orphan');
    const exit = await runParent(
      'HelperRunner',
      `while (!r.helperReady) await new Promise((res) => setTimeout(res, 5));
void r.run(['sh', '-c', 'echo $PPID > ${out}.helper; sleep 0.5; echo done > ${out}.done']);
while (!existsSync('${out}.helper')) await new Promise((res) => setTimeout(res, 5));
process.kill(process.pid, 'SIGKILL');`,
    );
    expect(exit).toBe('SIGKILL');
    const helper = Number(readFileSync(`${out}.helper`, 'utf8'));
    await until('the orphaned command to finish', () => fileSays(`${out}.done`, 'done\n'));
    await until('the helper to exit', () => !alive(helper));
  });

  test('a process that exits normally leaves the commands it started to finish (no kill on exit)', async () => {
    // spawnCollected asks execa for no exit hook (cleanup: false): a command outlives its parent
    // as the helper's outlive domainmgr, in ExecRunner too.
    const out = join(dir, 'outlives');
    const exit = await runParent(
      'ExecRunner',
      `void r.run(['sh', '-c', 'echo started > ${out}.started; sleep 0.5; echo done > ${out}.done']);
while (!existsSync('${out}.started')) await new Promise((res) => setTimeout(res, 5));
process.exit(0);`,
    );
    expect(exit).toBeNull();
    await until('the command to finish after its parent exited', () => fileSays(`${out}.done`, 'done\n'));
  });
});

/**
 * Runs `body` in a node process of its own that holds `r`, a runner of the given kind from dist/;
 * resolves with how that process ended: null for exit 0, else its signal or exit code.
 */
async function runParent(kind: 'ExecRunner' | 'HelperRunner', body: string): Promise<string | null> {
  const module = kind === 'ExecRunner' ? 'exec-runner' : 'helper-runner';
  const parent = join(dir, `parent-${kind}.mjs`);
  writeFileSync(
    parent,
    `import { existsSync } from 'node:fs';
import { ${kind} } from ${JSON.stringify(join(projectRoot, `dist/pkg/runner/${module}.js`))};
import { silentLogger } from ${JSON.stringify(join(projectRoot, 'dist/pkg/log/logger.js'))};
const r = new ${kind}({ logger: silentLogger, defaultTimeoutMs: 10000, killGraceMs: 200 });
${body}
`,
  );
  return new Promise((resolve) => {
    execFile(process.execPath, [parent], (error) =>
      resolve(error === null ? null : String(error.signal ?? error.code)),
    );
  });
}

function fileSays(path: string, text: string): boolean {
  return existsSync(path) && readFileSync(path, 'utf8') === text;
}
