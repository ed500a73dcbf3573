import { execa } from 'execa';
import type { Logger } from '../log/logger.js';
import type { CommandObserver, CommandResult, CommandRunner, RunOptions } from './command-runner.js';
import {
  CommandFailedError,
  CommandNotFoundError,
  CommandTimeoutError,
  excerpt,
  formatArgv,
} from './errors.js';

export interface ExecRunnerOptions {
  logger: Logger;
  /** Timeout of a call that names none. */
  defaultTimeoutMs: number;
  /** After a timeout's SIGTERM, SIGKILL follows after this long. */
  killGraceMs: number;
  /** Cap on each of stdout and stderr; a command printing more is killed and fails. */
  maxOutputBytes?: number;
  observer?: CommandObserver;
}

/**
 * The real runner: execa with no shell. Options are tuned for cost per spawn (see bench/): stdin
 * is 'ignore' unless input is given and `reject: false` lets us build our own errors, which is
 * measurably cheaper in parent CPU than execa's defaults.
 */
export class ExecRunner implements CommandRunner {
  readonly #o: Required<Omit<ExecRunnerOptions, 'observer'>> & { observer?: CommandObserver };

  constructor(options: ExecRunnerOptions) {
    this.#o = { maxOutputBytes: 32 * 1024 * 1024, ...options };
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const [file, ...args] = argv;
    if (file === undefined || file === '') throw new TypeError('CommandRunner.run needs a non-empty argv');
    const timeoutMs = options.timeoutMs ?? this.#o.defaultTimeoutMs;
    const started = performance.now();
    const r = await execa(file, args, {
      reject: false,
      shell: false,
      stdin: options.input === undefined ? 'ignore' : 'pipe',
      ...(options.input === undefined ? {} : { input: options.input }),
      // Without env of its own the child gets process.env as it is, read once by child_process:
      // extendEnv would first copy it on every call (execa's getEnv, 2% of domainmgr's CPU in a
      // 1,000-domain create).
      env: options.env ?? process.env,
      extendEnv: options.env !== undefined,
      timeout: timeoutMs,
      killSignal: 'SIGTERM',
      forceKillAfterDelay: this.#o.killGraceMs,
      maxBuffer: this.#o.maxOutputBytes,
      stripFinalNewline: false,
      encoding: 'utf8',
    });
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    const stdout = typeof r.stdout === 'string' ? r.stdout : '';
    const stderr = typeof r.stderr === 'string' ? r.stderr : '';
    const exitCode = typeof r.exitCode === 'number' ? r.exitCode : null;
    const log = this.#o.logger;

    if (r.timedOut) {
      this.#observe(argv, durationMs, exitCode, 'timeout');
      log.warn({ argv, durationMs, timeoutMs }, 'command timed out');
      throw new CommandTimeoutError({ argv, stdout, stderr, durationMs, timeoutMs }, { cause: r.cause ?? r });
    }
    const code = (r.cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'EACCES') {
      this.#observe(argv, durationMs, null, 'not-found');
      log.warn({ argv, durationMs, code }, 'command not found');
      const why = code === 'ENOENT' ? 'not found' : 'not executable';
      throw new CommandNotFoundError(
        `${file}: ${why}`,
        { argv, exitCode: null, durationMs },
        { cause: r.cause },
      );
    }
    const accepted =
      exitCode === 0 || (exitCode !== null && (options.acceptExitCodes ?? []).includes(exitCode));
    if (!accepted || r.isMaxBuffer) {
      this.#observe(argv, durationMs, exitCode, 'failed');
      const how = r.isMaxBuffer
        ? `printed more than ${this.#o.maxOutputBytes} bytes`
        : exitCode === null
          ? `was killed by ${r.signal ?? 'a signal'}`
          : `exited with ${exitCode}`;
      log.warn({ argv, durationMs, exitCode, stderr: excerpt(stderr, 500) }, 'command failed');
      const tail = excerpt(stderr, 300);
      throw new CommandFailedError(
        `${formatArgv(argv)} ${how}${tail === '' ? '' : `: ${tail}`}`,
        { argv, exitCode, stdout, stderr, durationMs },
        { cause: r.cause },
      );
    }
    this.#observe(argv, durationMs, exitCode, 'ok');
    log.debug({ argv, durationMs, exitCode }, 'command done');
    return { argv, exitCode: exitCode ?? 0, stdout, stderr, durationMs };
  }

  #observe(
    argv: readonly string[],
    durationMs: number,
    exitCode: number | null,
    outcome: 'ok' | 'failed' | 'timeout' | 'not-found',
  ): void {
    this.#o.observer?.({ argv, durationMs, exitCode, outcome });
  }
}
