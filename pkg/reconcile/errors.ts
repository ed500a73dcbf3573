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
 * errno codes of the node's own storage failing (a full or read-only state directory, a dying SD
 * card): the host is at fault, not the hypervisor, and the failure heals when the disk does.
 */
const HOST_STORAGE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO']);

/**
 * The status `error` for a failed operation: the message, and for a failed command the command,
 * its exit code and a stderr excerpt. A timeout is `source: "timeout"`; a failure of the node's
 * own storage (HOST_STORAGE_CODES anywhere in the causes) is `source: "host"`.
 */
export function statusErrorFrom(e: unknown, time: string): StatusError {
  const command = findCause(e);
  const timedOut = command instanceof CommandTimeoutError || e instanceof OperationTimeoutError;
  const out: StatusError = {
    message: errorText(e),
    source: timedOut ? 'timeout' : hostStorageCode(e) !== null ? 'host' : 'hypervisor',
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

/** The errno code of a storage failure of the node anywhere in `e`'s causes, else null. */
export function hostStorageCode(e: unknown): string | null {
  for (let c: unknown = e, i = 0; c instanceof Error && i < 6; i++) {
    const code = (c as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && HOST_STORAGE_CODES.has(code)) return code;
    c = c.cause;
  }
  return null;
}

function findCause(e: unknown): CommandError | null {
  for (let c: unknown = e, i = 0; c !== undefined && c !== null && i < 5; i++) {
    if (c instanceof CommandError) return c;
    if (!(c instanceof HypervisorError) && !(c instanceof Error)) return null;
    c = (c as Error).cause;
  }
  return null;
}
