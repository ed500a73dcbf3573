import { CommandError, CommandLostError, CommandTimeoutError } from './runner/errors.js';

/**
 * The one way domainmgr and domainctl turn anything thrown into text, for logs, statuses and
 * command-line errors: one line, no stack. A failed command says which command, its exit code and
 * its stderr; anything else gives its message (a thrown non-Error its string). Causes follow after
 * ` <- ` unless the text already says them (a HypervisorError repeats its command's failure), since
 * NATS errors often wrap the useful reason (ECONNREFUSED, an API error code) in their cause.
 */
export function errorText(error: unknown): string {
  let text = oneError(error);
  let cause = error instanceof Error ? error.cause : undefined;
  for (let depth = 0; cause !== undefined && cause !== null && depth < 5; depth++) {
    const causeText = oneError(cause);
    if (!text.includes(causeText)) text += ` <- ${causeText}`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return text;
}

function oneError(error: unknown): string {
  if (error instanceof CommandLostError) return error.message;
  if (error instanceof CommandTimeoutError) return `${error.command} timed out after ${error.timeoutMs} ms`;
  if (error instanceof CommandError) {
    const code = error.exitCode === null ? 'no exit code' : `exit ${error.exitCode}`;
    const stderr = error.stderr === '' ? '' : `: ${error.stderr}`;
    return `${error.command} failed (${code})${stderr}`;
  }
  return error instanceof Error ? error.message : String(error);
}
