import type {
  CommandResult,
  CommandRunner,
  RunOptions,
  StreamEnd,
  StreamingProcess,
} from '../../pkg/runner/command-runner.js';
import {
  CommandFailedError,
  CommandNotFoundError,
  CommandTimeoutError,
  formatArgv,
} from '../../pkg/runner/errors.js';

/** A scripted answer of the fake runner. */
export type FakeAnswer =
  | { exitCode?: number; stdout?: string; stderr?: string }
  | { timeout: true }
  | { notFound: true };

type Rule = {
  match: (argv: readonly string[]) => boolean;
  answer: FakeAnswer | ((argv: readonly string[], o: RunOptions) => FakeAnswer);
};

/**
 * A CommandRunner for unit tests: answers from rules (first match wins, later `on` calls take
 * precedence), applies the same accept/fail rules as the real runner, and records every call.
 * An unmatched command fails the test loudly rather than passing silently.
 */
export class FakeRunner implements CommandRunner {
  readonly calls: { argv: readonly string[]; options: RunOptions }[] = [];
  /** Every long-lived process started with stream(), in order; the test feeds and ends them. */
  readonly streams: FakeStream[] = [];
  #rules: Rule[] = [];

  stream(argv: readonly string[], onLine: (line: string) => void): StreamingProcess {
    const s = new FakeStream(argv, onLine);
    this.streams.push(s);
    return s;
  }

  /** Answer commands whose argv starts with `prefix`. */
  on(prefix: readonly string[], answer: Rule['answer']): this {
    this.#rules.unshift({ match: (argv) => prefix.every((p, i) => argv[i] === p), answer });
    return this;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.calls.push({ argv, options });
    const rule = this.#rules.find((r) => r.match(argv));
    if (rule === undefined) throw new Error(`FakeRunner: no answer scripted for ${formatArgv(argv)}`);
    const a = typeof rule.answer === 'function' ? rule.answer(argv, options) : rule.answer;
    if ('timeout' in a) {
      throw new CommandTimeoutError({
        argv,
        durationMs: options.timeoutMs ?? 0,
        timeoutMs: options.timeoutMs ?? 0,
      });
    }
    if ('notFound' in a) {
      throw new CommandNotFoundError(`${argv[0]}: not found`, { argv, exitCode: null, durationMs: 0 });
    }
    const exitCode = a.exitCode ?? 0;
    const stdout = a.stdout ?? '';
    const stderr = a.stderr ?? '';
    if (exitCode !== 0 && !(options.acceptExitCodes ?? []).includes(exitCode)) {
      throw new CommandFailedError(`${formatArgv(argv)} exited with ${exitCode}: ${stderr.trim()}`, {
        argv,
        exitCode,
        stdout,
        stderr,
        durationMs: 0,
      });
    }
    return { argv, exitCode, stdout, stderr, durationMs: 0 };
  }

  /** The argv of every call so far, for asserting the exact command sequence. */
  get argvs(): string[][] {
    return this.calls.map((c) => [...c.argv]);
  }
}

/** A long-lived process of the fake runner: the test prints its lines and ends it. */
export class FakeStream implements StreamingProcess {
  readonly argv: readonly string[];
  readonly ended: Promise<StreamEnd>;
  /** stop() was called. */
  stopped = false;
  readonly #onLine: (line: string) => void;
  #resolve: (end: StreamEnd) => void = () => {};
  #done = false;

  constructor(argv: readonly string[], onLine: (line: string) => void) {
    this.argv = argv;
    this.#onLine = onLine;
    this.ended = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** The process prints a line on stdout. */
  print(line: string): void {
    if (this.#done) throw new Error('FakeStream: the process has ended');
    this.#onLine(line);
  }

  /** The process ends (by itself, or killed from outside). */
  end(how: Partial<Omit<StreamEnd, 'argv'>> = {}): void {
    if (this.#done) return;
    this.#done = true;
    this.#resolve({ argv: this.argv, exitCode: null, signal: null, stderr: '', ...how });
  }

  stop(): void {
    this.stopped = true;
    this.end({ signal: 'SIGTERM' });
  }
}
