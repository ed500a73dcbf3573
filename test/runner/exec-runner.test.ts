import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandObserver } from '../../pkg/runner/command-runner.js';
import {
  CommandFailedError,
  CommandNotFoundError,
  CommandTimeoutError,
  formatArgv,
} from '../../pkg/runner/errors.js';
import { ExecRunner, type ExecRunnerOptions } from '../../pkg/runner/exec-runner.js';
import { HelperRunner } from '../../pkg/runner/helper-runner.js';
import { logSink } from '../support/log-sink.js';

type Kind = 'ExecRunner' | 'HelperRunner';
const helpers: HelperRunner[] = [];
afterAll(async () => {
  await Promise.all(helpers.map((h) => h.close()));
});

/** Runner options with a log the test reads and the observer's events. */
function observed(extra: Partial<ExecRunnerOptions>) {
  const sink = logSink();
  const events: Parameters<CommandObserver>[0][] = [];
  const options: ExecRunnerOptions = {
    logger: sink.logger,
    defaultTimeoutMs: 10_000,
    killGraceMs: 200,
    observer: (e) => events.push(e),
    ...extra,
  };
  return { options, logs: sink.lines, events };
}

function runner(extra: Partial<ExecRunnerOptions> = {}) {
  const { options, logs, events } = observed(extra);
  return { r: new ExecRunner(options), logs, events };
}

/**
 * A runner of either kind; a HelperRunner once its helper is ready, so that every command of the
 * test goes through the helper (HelperRunner runs commands itself until then).
 */
async function runnerOf(kind: Kind, extra: Partial<ExecRunnerOptions> = {}) {
  if (kind === 'ExecRunner') return runner(extra);
  const { options, logs, events } = observed(extra);
  const r = new HelperRunner(options);
  helpers.push(r);
  while (!r.helperReady) await new Promise((res) => setTimeout(res, 5));
  logs.length = 0;
  return { r, logs, events };
}

const dir = mkdtempSync(join(tmpdir(), 'domainmgr-runner-'));

describe('ExecRunner.stream: a long-lived process line by line', () => {
  test('each stdout line as it comes; the end with its exit code and the tail of stderr', async () => {
    const { r, events } = runner();
    const lines: string[] = [];
    const p = r.stream(['sh', '-c', 'echo one; printf "two\\r\\nthree"; echo oops >&2; exit 4'], (l) =>
      lines.push(l),
    );
    const end = await p.ended;
    expect(lines).toEqual(['one', 'two', 'three']);
    expect(end).toEqual({ argv: expect.any(Array), exitCode: 4, signal: null, stderr: 'oops\n' });
    expect(events).toEqual([expect.objectContaining({ exitCode: 4, outcome: 'failed' })]);
  });

  test('stop ends it with SIGTERM; lines printed before are delivered', async () => {
    const { r } = runner();
    const lines: string[] = [];
    const p = r.stream(['sh', '-c', 'echo ready; exec sleep 30'], (l) => lines.push(l));
    while (lines.length === 0) await new Promise((res) => setImmediate(res));
    p.stop();
    p.stop();
    expect(await p.ended).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
    expect(lines).toEqual(['ready']);
  });

  test('a command that does not exist ends at once, saying so', async () => {
    const { r, events } = runner();
    const end = await r.stream(['/nonexistent/lxc-monitor'], () => {}).ended;
    expect(end).toMatchObject({ exitCode: null, stderr: '/nonexistent/lxc-monitor: not found' });
    expect(events).toEqual([expect.objectContaining({ outcome: 'not-found' })]);
  });
});

describe.each<Kind>(['ExecRunner', 'HelperRunner'])('%s against real processes', (kind) => {
  test('returns exit code, stdout, stderr and duration; logs the command with its duration', async () => {
    const { r, logs, events } = await runnerOf(kind);
    const res = await r.run(['sh', '-c', 'echo out; echo err >&2']);
    expect(res).toMatchObject({
      argv: ['sh', '-c', 'echo out; echo err >&2'],
      exitCode: 0,
      stdout: 'out\n',
      stderr: 'err\n',
    });
    expect(res.durationMs).toBeGreaterThan(0);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 'debug', msg: 'command done', exitCode: 0, argv: res.argv }),
    );
    expect(typeof logs[0]?.durationMs).toBe('number');
    expect(events).toEqual([expect.objectContaining({ outcome: 'ok', exitCode: 0 })]);
  });

  test('never uses a shell: metacharacters reach the program literally', async () => {
    const { r } = await runnerOf(kind);
    const args = ['a;b', '$(id)', '`x`', "it's", 'new\nline', '*'];
    const res = await r.run(['printf', '%s|', ...args]);
    expect(res.stdout).toBe(`${args.join('|')}|`);
  });

  test('a non-zero exit is a CommandFailedError carrying argv, exit code and a stderr excerpt', async () => {
    const { r, logs, events } = await runnerOf(kind);
    const err = await r
      .run(['sh', '-c', 'echo partial; echo "libxl: error: no memory" >&2; exit 3'])
      .catch((e) => e);
    expect(err).toBeInstanceOf(CommandFailedError);
    expect(err).toMatchObject({ exitCode: 3, stderr: 'libxl: error: no memory', stdout: 'partial\n' });
    expect(err.argv).toEqual(['sh', '-c', 'echo partial; echo "libxl: error: no memory" >&2; exit 3']);
    expect(err.message).toBe(`${formatArgv(err.argv)} exited with 3: libxl: error: no memory`);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: 'command failed', exitCode: 3 }),
    );
    expect(events[0]).toMatchObject({ outcome: 'failed', exitCode: 3 });
  });

  test('accepted exit codes are answers, not failures', async () => {
    const { r } = await runnerOf(kind);
    const res = await r.run(['sh', '-c', 'echo missing >&2; exit 1'], { acceptExitCodes: [1] });
    expect(res).toMatchObject({ exitCode: 1, stderr: 'missing\n' });
  });

  test('the stderr excerpt keeps the tail of a long stderr', async () => {
    const { r } = await runnerOf(kind);
    const err = await r
      .run(['sh', '-c', 'i=0; while [ $i -lt 500 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 1'])
      .catch((e) => e);
    expect(err).toBeInstanceOf(CommandFailedError);
    expect(err.stderr.length).toBeLessThanOrEqual(2003);
    expect(err.stderr.startsWith('...')).toBe(true);
    expect(err.stderr.endsWith('line 499')).toBe(true);
  });

  /** A script in `dir` that prints "started", runs `onTerm` on SIGTERM, and loops forever. */
  function looper(name: string, onTerm: string): string {
    const script = join(dir, name);
    writeFileSync(script, `#!/bin/sh\ntrap "${onTerm}" TERM\necho started\nwhile :; do sleep 0.05; done\n`);
    chmodSync(script, 0o755);
    return script;
  }

  test('a timeout sends SIGTERM and is a CommandTimeoutError', async () => {
    const { r, events } = await runnerOf(kind);
    // Without the kill, `sleep 300` would outlast the test's own timeout.
    const err = await r.run(['sleep', '300'], { timeoutMs: 150 }).catch((e) => e);
    expect(err).toBeInstanceOf(CommandTimeoutError);
    expect(err).toMatchObject({ timeoutMs: 150, exitCode: null, argv: ['sleep', '300'] });
    expect(err.message).toBe('sleep 300 timed out after 150 ms');
    expect(events[0]).toMatchObject({ outcome: 'timeout' });
    // A TERM handler sees the signal the runner sends first.
    const termed = await r
      .run([looper('term.sh', 'echo got-term; exit 143')], { timeoutMs: 200 })
      .catch((e) => e);
    expect(termed).toBeInstanceOf(CommandTimeoutError);
    expect(termed.stdout).toBe('started\ngot-term\n');
  });

  test('a command that ignores SIGTERM is killed with SIGKILL after the grace', async () => {
    const { r } = await runnerOf(kind, { killGraceMs: 300 });
    // It notes the SIGTERM and goes on: only a SIGKILL can end it, and it did end.
    const err = await r.run([looper('stubborn.sh', 'echo got-term')], { timeoutMs: 200 }).catch((e) => e);
    expect(err).toBeInstanceOf(CommandTimeoutError);
    expect(err.stdout).toBe('started\ngot-term\n');
  });

  test('a missing program is a CommandNotFoundError', async () => {
    const { r, events } = await runnerOf(kind);
    const err = await r.run(['/nonexistent/xl', 'list']).catch((e) => e);
    expect(err).toBeInstanceOf(CommandNotFoundError);
    expect(err).toMatchObject({ message: '/nonexistent/xl: not found', exitCode: null });
    expect(events[0]).toMatchObject({ outcome: 'not-found' });
    const onPath = await r.run(['no-such-tool-domainmgr']).catch((e) => e);
    expect(onPath).toBeInstanceOf(CommandNotFoundError);
  });

  test('a file that is not executable is a CommandNotFoundError', async () => {
    const { r } = await runnerOf(kind);
    const f = join(dir, 'not-exec');
    writeFileSync(f, '#!/bin/sh\necho hi\n');
    chmodSync(f, 0o644);
    const err = await r.run([f]).catch((e) => e);
    expect(err).toBeInstanceOf(CommandNotFoundError);
    expect(err.message).toBe(`${f}: not executable`);
  });

  test('input goes to stdin; without input stdin is closed', async () => {
    const { r } = await runnerOf(kind);
    expect((await r.run(['cat'], { input: '{"autoboot": false}\n' })).stdout).toBe('{"autoboot": false}\n');
    expect((await r.run(['cat'])).stdout).toBe('');
  });

  test('env is added to the inherited environment', async () => {
    const { r } = await runnerOf(kind);
    const res = await r.run(['sh', '-c', 'echo "$STAGE1_XL_OPTS:$HOME"'], { env: { STAGE1_XL_OPTS: '-p' } });
    expect(res.stdout).toBe(`-p:${process.env.HOME}\n`);
  });

  test('output over the cap fails the command instead of growing memory', async () => {
    const { r } = await runnerOf(kind, { maxOutputBytes: 1000 });
    const err = await r.run(['sh', '-c', 'yes | head -c 100000']).catch((e) => e);
    expect(err).toBeInstanceOf(CommandFailedError);
    expect(err.message).toContain('printed more than 1000 bytes');
  });

  test('output in many chunks is decoded whole: a multi-byte character split between chunks stays intact', async () => {
    const { r } = await runnerOf(kind);
    // 300,000 bytes of 3-byte characters arrive in pipe-sized chunks (65,536 bytes is no multiple of 3).
    const res = await r.run([process.execPath, '-e', "process.stdout.write('€'.repeat(100000))"]);
    expect(res.stdout.length).toBe(100000);
    expect(res.stdout).toBe('€'.repeat(100000));
  });

  test('a command printing over the cap on stderr is killed and fails too', async () => {
    const { r } = await runnerOf(kind, { maxOutputBytes: 1000 });
    // `yes` never ends by itself: the run returning at all shows it was killed.
    const err = await r.run(['sh', '-c', 'yes >&2']).catch((e) => e);
    expect(err).toBeInstanceOf(CommandFailedError);
    expect(err.message).toContain('printed more than 1000 bytes');
  });

  test('an argument holding a NUL byte is refused before anything starts, and the runner goes on', async () => {
    const { r } = await runnerOf(kind);
    await expect(r.run(['echo', 'a\0b'])).rejects.toThrow('Arguments cannot contain null bytes');
    expect((await r.run(['echo', 'next'])).stdout).toBe('next\n');
  });

  test('an empty argv is a programming error', async () => {
    const { r } = await runnerOf(kind);
    await expect(r.run([])).rejects.toThrow('CommandRunner.run needs a non-empty argv');
  });
});

describe('formatArgv', () => {
  test.each([
    [['xl', 'create', '-p', '/var/lib/x.cfg'], 'xl create -p /var/lib/x.cfg'],
    [['xl', 'create', 'name="a b"'], `xl create 'name="a b"'`],
    [['sh', '-c', "it's"], `sh -c 'it'\\''s'`],
  ])('%j reads as %s', (argv, text) => expect(formatArgv(argv)).toBe(text));
});
