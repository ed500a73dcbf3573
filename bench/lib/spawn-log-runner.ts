import { createWriteStream, type WriteStream } from 'node:fs';
import type { CommandResult, CommandRunner, RunOptions } from '../../pkg/runner/command-runner.js';

/**
 * A CommandRunner that writes a line for every command it is given, then hands the command to
 * `inner`: "<start, ms since the epoch with sub-ms digits> <argv...>". The idle scenario of
 * bench/run.ts reads it to time a config's publish to its first command.
 */
export class SpawnLogRunner implements CommandRunner {
  readonly #inner: CommandRunner;
  readonly #out: WriteStream;
  /** The inner runner's long-lived processes, logged the same way when they start. */
  readonly stream?: CommandRunner['stream'];

  constructor(inner: CommandRunner, file: string) {
    this.#inner = inner;
    this.#out = createWriteStream(file, { flags: 'a' });
    const stream = inner.stream?.bind(inner);
    if (stream !== undefined) {
      this.stream = (argv, onLine) => {
        this.#out.write(`${(performance.timeOrigin + performance.now()).toFixed(3)} ${argv.join(' ')}\n`);
        return stream(argv, onLine);
      };
    }
  }

  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult> {
    const start = performance.timeOrigin + performance.now();
    this.#out.write(`${start.toFixed(3)} ${argv.join(' ')}\n`);
    return this.#inner.run(argv, options);
  }

  /** Closes the inner runner, then resolves once every line is written. */
  async close(): Promise<void> {
    await this.#inner.close?.();
    if (!this.#out.writableEnded) await new Promise<void>((resolve) => this.#out.end(resolve));
  }
}
