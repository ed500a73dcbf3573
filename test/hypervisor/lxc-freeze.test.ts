/**
 * The lxc backend's bounded freeze, on a scripted runner: a freeze that never finishes (seen in
 * CI right after lxc-start) is killed, thawed and made again, within the operation's budget.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, test } from '@jest/globals';
import { systemClock } from '../../pkg/clock.js';
import { LxcBackend } from '../../pkg/hypervisor/lxc.js';
import { CommandTimeoutError } from '../../pkg/runner/errors.js';
import { testConfig } from '../support/backend-fixtures.js';
import { FakeRunner } from '../support/fake-runner.js';
import { logSink } from '../support/log-sink.js';

const uuid = '7a000000-0000-4000-8000-000000000001';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A backend whose lxc-freeze times out `hangs` times (each hang moves the clock by its timeout). */
function rig(hangs: number, budget: { commandMs: number }) {
  const config = testConfig({
    backend: 'lxc',
    timeouts: { commandMs: budget.commandMs, createMs: 30_000, killGraceMs: 500 },
  });
  dirs.push(config.stateDir);
  // Only the backend's deadline reads the clock here; a hang moves it at once.
  let mono = 0;
  const clock = Object.assign(Object.create(systemClock), { monotonic: () => mono });
  const runner = new FakeRunner();
  let left = hangs;
  runner.on(['lxc-unfreeze'], {});
  runner.on(['lxc-freeze'], (_argv, options) => {
    if (left === 0) return { exitCode: 0 };
    left--;
    mono += options.timeoutMs ?? 0;
    return { timeout: true };
  });
  const { lines, logger } = logSink();
  const hv = new LxcBackend({ runner, logger, config, clock });
  return { hv, runner, lines };
}

const tools = (runner: FakeRunner) => runner.argvs.map((a) => a[0]);
const ref = { uuid, domainName: uuid, domainId: null };

describe('pause: lxc-freeze bounded per try, thawed and tried again', () => {
  test('a freeze that hangs twice: two 5 s tries killed, each thawed, the third freezes', async () => {
    const { hv, runner, lines } = rig(2, { commandMs: 30_000 });
    await hv.pause(ref);
    expect(tools(runner)).toEqual(['lxc-freeze', 'lxc-unfreeze', 'lxc-freeze', 'lxc-unfreeze', 'lxc-freeze']);
    expect(runner.calls.filter((c) => c.argv[0] === 'lxc-freeze').map((c) => c.options.timeoutMs)).toEqual([
      5000, 5000, 5000,
    ]);
    expect(runner.calls.find((c) => c.argv[0] === 'lxc-unfreeze')?.options.acceptExitCodes).toEqual([1]);
    const warnings = lines.filter((l) => l.msg === 'lxc-freeze did not finish; thawing and freezing again');
    expect(warnings.map((l) => l.attempt)).toEqual([1, 2]);
  });

  test('a freeze that never finishes fails with the timeout once the budget is spent, the last try cut to what is left', async () => {
    const { hv, runner } = rig(Number.POSITIVE_INFINITY, { commandMs: 12_000 });
    const failure = await hv.pause(ref).then(
      () => null,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(String((failure as Error).message)).toMatch(/lxc-freeze/);
    expect(
      (failure as Error & { cause?: unknown }).cause instanceof CommandTimeoutError ||
        failure instanceof CommandTimeoutError,
    ).toBe(true);
    expect(runner.calls.filter((c) => c.argv[0] === 'lxc-freeze').map((c) => c.options.timeoutMs)).toEqual([
      5000, 5000, 2000,
    ]);
  });

  test('a freeze that finishes is one command', async () => {
    const { hv, runner } = rig(0, { commandMs: 30_000 });
    await hv.pause(ref);
    expect(tools(runner)).toEqual(['lxc-freeze']);
  });
});
