/**
 * Benchmark-only CommandRunner that starts no process: it sends each command straight to the
 * simulated host's daemon over the shim's wire format (sim/daemon/protocol.ts) and reads the reply,
 * as sim/shim/shim.bash does from inside a spawned tool. With it, domainmgr does everything it does
 * for a create except spawning, which is what `npm run bench` subtracts to show what NATS,
 * validation, reconcile and status cost per domain on their own. Never used outside bench/.
 * Commands run to completion: no timeouts, and none that read stdin (domainmgr's xl path has none).
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { basename } from 'node:path';
import type {
  CommandObserver,
  CommandResult,
  CommandRunner,
  RunOptions,
} from '../../pkg/runner/command-runner.js';
import { CommandFailedError, excerpt, formatArgv } from '../../pkg/runner/errors.js';
import { encodeRequest, parseReply } from '../../sim/daemon/protocol.js';

export class SimDirectRunner implements CommandRunner {
  readonly #simDir: string;
  readonly #observer: CommandObserver | undefined;
  #daemon: { port: number; token: string } | undefined;

  /** `simDir` is the host's DOMAINMGR_SIM_DIR; its daemon must be running (any simctl call starts it). */
  constructor(simDir: string, observer?: CommandObserver) {
    this.#simDir = simDir;
    this.#observer = observer;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const [file, ...args] = argv;
    if (file === undefined || file === '') throw new TypeError('CommandRunner.run needs a non-empty argv');
    if (options.input !== undefined)
      throw new Error('SimDirectRunner: commands with stdin are not supported');
    const started = performance.now();
    const reply = await this.#call(basename(file), args);
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    const { exitCode, stdout, stderr } = reply;
    const accepted = exitCode === 0 || (options.acceptExitCodes ?? []).includes(exitCode);
    this.#observer?.({ argv, durationMs, exitCode, outcome: accepted ? 'ok' : 'failed' });
    if (!accepted) {
      const tail = excerpt(stderr, 300);
      throw new CommandFailedError(
        `${formatArgv(argv)} exited with ${exitCode}${tail === '' ? '' : `: ${tail}`}`,
        {
          argv,
          exitCode,
          stdout,
          stderr,
          durationMs,
        },
      );
    }
    return { argv, exitCode, stdout, stderr, durationMs };
  }

  #call(
    tool: string,
    args: readonly string[],
  ): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    if (this.#daemon === undefined) {
      const [port, token] = readFileSync(`${this.#simDir}/daemon.port`, 'utf8').trim().split(' ');
      this.#daemon = { port: Number(port), token: token ?? '' };
    }
    const { port, token } = this.#daemon;
    const request = encodeRequest({ token, tool, cwd: process.cwd(), env: {}, args: [...args], stdin: null });
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = connect(port, '127.0.0.1', () => socket.write(request));
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('end', () => {
        const all = Buffer.concat(chunks);
        const reply = parseReply(all);
        if (reply === null)
          reject(
            new Error(
              `SimDirectRunner: bad reply from the simulator daemon: ${all.toString('utf8', 0, 200)}`,
            ),
          );
        else resolve(reply);
      });
    });
  }
}
