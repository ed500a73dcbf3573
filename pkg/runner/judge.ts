import type { Logger } from '../log/logger.js';
import type { CommandObserver, CommandResult } from './command-runner.js';
import {
  CommandFailedError,
  CommandNotFoundError,
  CommandTimeoutError,
  excerpt,
  formatArgv,
} from './errors.js';

/**
 * How one command ended, as spawnCollected (exec-runner.ts) saw it: plain data, so that the spawn
 * helper can send it over its channel and domainmgr judge it as if it had spawned the command.
 */
export interface Finished {
  /** null when a signal ended it or it never started. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Killed at its timeout. */
  timedOut: boolean;
  /** Killed because stdout or stderr passed the cap. */
  overflow: boolean;
  /** Why it could not be started, if it could not. */
  startError: 'ENOENT' | 'EACCES' | null;
  /** What the process library reported as the cause of a failure, if anything. */
  cause: { name: string; message: string } | null;
}

export interface JudgeOptions {
  timeoutMs: number;
  maxOutputBytes: number;
  acceptExitCodes: readonly number[];
  logger: Logger;
  observer?: CommandObserver;
}

/**
 * The result of a finished command, or the runner's error for it (CommandTimeoutError,
 * CommandNotFoundError, CommandFailedError); logs it and tells the observer, once. One function
 * for both runners, so a command says the same whether domainmgr or its helper started it.
 */
export function judge(argv: readonly string[], f: Finished, o: JudgeOptions): CommandResult {
  const { durationMs, exitCode, stdout, stderr } = f;
  const observe = (outcome: 'ok' | 'failed' | 'timeout' | 'not-found', code: number | null) =>
    o.observer?.({ argv, durationMs, exitCode: code, outcome });
  const cause =
    f.cause === null ? undefined : Object.assign(new Error(f.cause.message), { name: f.cause.name });
  const log = o.logger;

  if (f.timedOut) {
    observe('timeout', exitCode);
    log.warn({ argv, durationMs, timeoutMs: o.timeoutMs }, 'command timed out');
    throw new CommandTimeoutError({ argv, stdout, stderr, durationMs, timeoutMs: o.timeoutMs }, { cause });
  }
  if (f.startError !== null) {
    observe('not-found', null);
    log.warn({ argv, durationMs, code: f.startError }, 'command not found');
    const why = f.startError === 'ENOENT' ? 'not found' : 'not executable';
    throw new CommandNotFoundError(`${argv[0]}: ${why}`, { argv, exitCode: null, durationMs }, { cause });
  }
  const accepted = exitCode === 0 || (exitCode !== null && o.acceptExitCodes.includes(exitCode));
  if (!accepted || f.overflow) {
    observe('failed', exitCode);
    const how = f.overflow
      ? `printed more than ${o.maxOutputBytes} bytes`
      : exitCode === null
        ? `was killed by ${f.signal ?? 'a signal'}`
        : `exited with ${exitCode}`;
    log.warn({ argv, durationMs, exitCode, stderr: excerpt(stderr, 500) }, 'command failed');
    const tail = excerpt(stderr, 300);
    throw new CommandFailedError(
      `${formatArgv(argv)} ${how}${tail === '' ? '' : `: ${tail}`}`,
      { argv, exitCode, stdout, stderr, durationMs },
      { cause },
    );
  }
  observe('ok', exitCode);
  log.debug({ argv, durationMs, exitCode }, 'command done');
  return { argv, exitCode: exitCode ?? 0, stdout, stderr, durationMs };
}
