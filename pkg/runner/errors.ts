/** The longest stderr excerpt an error carries (the tail: tools put the reason last). */
export const STDERR_EXCERPT_CHARS = 2000;

export function excerpt(text: string, max = STDERR_EXCERPT_CHARS): string {
  const t = text.trimEnd();
  return t.length <= max ? t : `...${t.slice(t.length - max)}`;
}

/** argv shell-quoted for reading in logs and statuses (never executed). */
export function formatArgv(argv: readonly string[]): string {
  return argv
    .map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

/** Base of the runner's errors: which command, how it ended, what it said on stderr. */
export class CommandError extends Error {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;

  constructor(
    message: string,
    details: {
      argv: readonly string[];
      exitCode: number | null;
      stdout?: string;
      stderr?: string;
      durationMs: number;
    },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.argv = details.argv;
    this.exitCode = details.exitCode;
    this.stdout = details.stdout ?? '';
    this.stderr = excerpt(details.stderr ?? '');
    this.durationMs = details.durationMs;
  }

  /** The command as one readable string. */
  get command(): string {
    return formatArgv(this.argv);
  }
}

/** The command ran and exited with a code that is not accepted, or was killed by a signal. */
export class CommandFailedError extends CommandError {}

/** The command did not finish within its timeout and was killed. */
export class CommandTimeoutError extends CommandError {
  readonly timeoutMs: number;
  constructor(
    details: {
      argv: readonly string[];
      stdout?: string;
      stderr?: string;
      durationMs: number;
      timeoutMs: number;
    },
    options?: { cause?: unknown },
  ) {
    super(
      `${formatArgv(details.argv)} timed out after ${details.timeoutMs} ms`,
      { ...details, exitCode: null },
      options,
    );
    this.timeoutMs = details.timeoutMs;
  }
}

/** The program could not be started: not found on PATH, or not executable. */
export class CommandNotFoundError extends CommandError {}

/**
 * The command was handed to the spawn helper, which ended before saying how the command ended
 * (helper-runner.ts): it may have done its work, or may still be running. Like a timeout, its
 * outcome is unknown, so it is one: every caller that cleans up after a timed-out create or stop
 * does so here too.
 */
export class CommandLostError extends CommandTimeoutError {
  constructor(
    details: { argv: readonly string[]; durationMs: number; timeoutMs: number; why: string },
    options?: { cause?: unknown },
  ) {
    super(details, options);
    this.message = `${formatArgv(details.argv)}: outcome unknown, ${details.why}`;
  }
}
