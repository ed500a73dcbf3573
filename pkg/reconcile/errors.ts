import type { DomainStatus } from '../../types/generated/domain-status.js';
import { errorText } from '../error-text.js';
import { HypervisorError } from '../hypervisor/hypervisor.js';
import { CommandError, CommandTimeoutError } from '../runner/errors.js';

export type StatusError = NonNullable<DomainStatus['error']>;

/** An operation of the engine that did not finish in time (a hung promise, not a hung process). */
export class OperationTimeoutError extends Error {
  constructor(operation: string, ms: number) {
    super(`${operation} did not finish within ${ms} ms`);
    this.name = 'OperationTimeoutError';
  }
}

/** Rejects with OperationTimeoutError when `p` has not settled within ms. */
export async function withTimeout<T>(
  p: Promise<T>,
  ms: number,
  operation: string,
  schedule: (ms: number, fn: () => void) => () => void,
): Promise<T> {
  let cancel = () => {};
  const timeout = new Promise<never>((_, reject) => {
    cancel = schedule(ms, () => reject(new OperationTimeoutError(operation, ms)));
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    cancel();
  }
}

/**
 * The status `error` for a failed operation: the message, and for a failed command the command,
 * its exit code and a stderr excerpt. A timeout is `source: "timeout"`.
 */
export function statusErrorFrom(e: unknown, time: string): StatusError {
  const command = findCause(e);
  const timedOut = command instanceof CommandTimeoutError || e instanceof OperationTimeoutError;
  const out: StatusError = {
    message: errorText(e),
    source: timedOut ? 'timeout' : 'hypervisor',
    time,
  };
  if (command !== null) {
    out.command = command.command.slice(0, 8192);
    out.exitCode = command.exitCode;
    if (command.stderr !== '') out.stderr = command.stderr.slice(0, 8192);
  }
  out.message = out.message.slice(0, 8192);
  return out;
}

function findCause(e: unknown): CommandError | null {
  for (let c: unknown = e, i = 0; c !== undefined && c !== null && i < 5; i++) {
    if (c instanceof CommandError) return c;
    if (!(c instanceof HypervisorError) && !(c instanceof Error)) return null;
    c = (c as Error).cause;
  }
  return null;
}
