import { errorText } from '../error-text.js';
import type { CommandResult } from '../runner/command-runner.js';
import { CommandFailedError, excerpt, formatArgv } from '../runner/errors.js';
import { HypervisorError } from './hypervisor.js';

/**
 * Turns whatever a runner call threw into a HypervisorError for `operation`. A CommandError
 * (failed, timed out, not found) becomes the `cause`, and its command, exit code and stderr are
 * repeated in the message so a status line alone tells what happened. Anything else (a bug, an
 * fs error) is wrapped the same way with its own message.
 */
export function commandFailure(operation: string, error: unknown, what?: string): HypervisorError {
  if (error instanceof HypervisorError) return error;
  const prefix = what === undefined ? operation : `${operation}: ${what}`;
  return new HypervisorError(operation, `${prefix}: ${errorText(error)}`, { cause: error });
}

/** Runs `fn`, rethrowing any failure as a HypervisorError for `operation`. */
export async function asHypervisorError<T>(
  operation: string,
  fn: () => Promise<T>,
  what?: string,
): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw commandFailure(operation, error, what);
  }
}

/**
 * A command whose exit code was accepted (to read a "not found" answer) but whose stderr says
 * something else: the same CommandFailedError the runner would have thrown.
 */
export function failedAfterAll(r: CommandResult): CommandFailedError {
  const tail = excerpt(r.stderr, 300);
  return new CommandFailedError(
    `${formatArgv(r.argv)} exited with ${r.exitCode}${tail === '' ? '' : `: ${tail}`}`,
    {
      argv: r.argv,
      exitCode: r.exitCode,
      stdout: r.stdout,
      stderr: r.stderr,
      durationMs: r.durationMs,
    },
  );
}

/** Adds a failed cleanup to the error the caller is about to throw, so neither is lost. */
export function withCleanup(error: HypervisorError, cleanupFailure: unknown): HypervisorError {
  if (cleanupFailure === null || cleanupFailure === undefined) return error;
  const why = errorText(cleanupFailure);
  return new HypervisorError(error.operation, `${error.message}; cleaning up failed too: ${why}`, {
    cause: error.cause,
  });
}
