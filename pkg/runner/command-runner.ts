/**
 * How domainmgr starts processes. The reconcile logic and the backends see only this interface;
 * exec-runner.ts implements it with execa (the only module that imports execa), and
 * helper-runner.ts by handing each command to the spawn helper process, which runs exec-runner.ts's
 * code; unit tests use test/support/fake-runner.ts, which answers from a script.
 */
export interface RunOptions {
  /** Kill the command (SIGTERM, then SIGKILL after the runner's grace) after this long. */
  timeoutMs?: number;
  /** Written to the command's stdin; without it stdin is closed (/dev/null). */
  input?: string;
  /** Added to the inherited environment. */
  env?: Readonly<Record<string, string>>;
  /**
   * Exit codes that are answers, not failures (e.g. 1 from a lookup of a missing domain): the
   * result is returned instead of a CommandFailedError. 0 is always accepted.
   */
  acceptExitCodes?: readonly number[];
}

export interface CommandResult {
  argv: readonly string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface CommandRunner {
  /**
   * Runs argv[0] with argv[1..] as its arguments (never through a shell). Resolves with the
   * result when the exit code is 0 or accepted; rejects with CommandFailedError,
   * CommandTimeoutError or CommandNotFoundError otherwise.
   */
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;

  /**
   * Starts a long-lived process (never through a shell) and calls `onLine` with each line of its
   * stdout as it comes, without the line break; its stderr is kept (the last 4 KiB) for the end
   * report. Never throws for a command that cannot start: `ended` resolves then too. Optional:
   * runners that only answer commands (plans, recordings) have no processes to stream, and a
   * backend without it falls back on the periodic listing.
   */
  stream?(argv: readonly string[], onLine: (line: string) => void): StreamingProcess;

  /** Ends what the runner holds (HelperRunner: its helper process); commands after it still run. */
  close?(): Promise<void>;
}

/** A process started by CommandRunner.stream. */
export interface StreamingProcess {
  /** Resolves once the process has ended, however it ended (also when it could not start). */
  readonly ended: Promise<StreamEnd>;
  /** Asks the process to end (SIGTERM, then SIGKILL after the runner's grace). Idempotent. */
  stop(): void;
}

export interface StreamEnd {
  argv: readonly string[];
  /** null when a signal ended it or it never started. */
  exitCode: number | null;
  signal: string | null;
  /** The tail of its stderr, or why it could not start. */
  stderr: string;
}

/** Called once per finished command, success or not; metrics and benchmarks count spawns here. */
export type CommandObserver = (event: {
  argv: readonly string[];
  durationMs: number;
  exitCode: number | null;
  outcome: 'ok' | 'failed' | 'timeout' | 'not-found';
}) => void;
