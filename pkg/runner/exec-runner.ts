import { createInterface } from 'node:readline';
import { execa } from 'execa';
import type { Logger } from '../log/logger.js';
import type {
  CommandObserver,
  CommandResult,
  CommandRunner,
  RunOptions,
  StreamEnd,
  StreamingProcess,
} from './command-runner.js';
import { type Finished, judge } from './judge.js';

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

/** The default cap on each of a command's stdout and stderr. */
export const DEFAULT_MAX_OUTPUT_BYTES = 32 * 1024 * 1024;

/**
 * The real runner: execa with no shell, in this process. (HelperRunner, helper-runner.ts, runs the
 * same spawnCollected in a small helper process instead, where fork() is cheaper.)
 */
export class ExecRunner implements CommandRunner {
  readonly #o: Required<Omit<ExecRunnerOptions, 'observer'>> & { observer?: CommandObserver };

  constructor(options: ExecRunnerOptions) {
    this.#o = { maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES, ...options };
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    if (argv[0] === undefined || argv[0] === '')
      throw new TypeError('CommandRunner.run needs a non-empty argv');
    const timeoutMs = options.timeoutMs ?? this.#o.defaultTimeoutMs;
    const finished = await spawnCollected(argv, {
      timeoutMs,
      killGraceMs: this.#o.killGraceMs,
      maxOutputBytes: this.#o.maxOutputBytes,
      ...(options.input === undefined ? {} : { input: options.input }),
      ...(options.env === undefined ? {} : { env: options.env }),
    }).finished;
    return judge(argv, finished, {
      timeoutMs,
      maxOutputBytes: this.#o.maxOutputBytes,
      acceptExitCodes: options.acceptExitCodes ?? [],
      logger: this.#o.logger,
      ...(this.#o.observer === undefined ? {} : { observer: this.#o.observer }),
    });
  }

  stream(argv: readonly string[], onLine: (line: string) => void): StreamingProcess {
    const [file, ...args] = argv;
    if (file === undefined || file === '') throw new TypeError('CommandRunner.stream needs a non-empty argv');
    const started = performance.now();
    const subprocess = execa(file, args, {
      reject: false,
      shell: false,
      stdin: 'ignore',
      env: process.env,
      extendEnv: false,
      killSignal: 'SIGTERM',
      forceKillAfterDelay: this.#o.killGraceMs,
      buffer: false,
    });
    const stderrTail = keepTail(subprocess.stderr);
    if (subprocess.stdout !== null) {
      createInterface({ input: subprocess.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', onLine);
    }
    this.#o.logger.debug({ argv, pid: subprocess.pid }, 'long-lived command started');
    const ended = subprocess.then((r): StreamEnd => {
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      const code = (r.cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ENOENT' || code === 'EACCES') {
        this.#observe(argv, durationMs, null, 'not-found');
        const why = code === 'ENOENT' ? 'not found' : 'not executable';
        return { argv, exitCode: null, signal: null, stderr: `${file}: ${why}` };
      }
      const exitCode = typeof r.exitCode === 'number' ? r.exitCode : null;
      this.#observe(argv, durationMs, exitCode, exitCode === 0 ? 'ok' : 'failed');
      return { argv, exitCode, signal: r.signal ?? null, stderr: stderrTail() };
    });
    return {
      ended,
      stop: () => {
        subprocess.kill();
      },
    };
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

/** How spawnCollected runs one command. */
export interface CollectOptions {
  timeoutMs: number;
  killGraceMs: number;
  maxOutputBytes: number;
  input?: string;
  env?: Readonly<Record<string, string>>;
}

/** A command started by spawnCollected. */
export interface CollectingProcess {
  /** How it ended; never rejects. */
  readonly finished: Promise<Finished>;
  /** SIGTERM now, SIGKILL after the grace. */
  kill(): void;
}

/**
 * Starts one command (no shell) and collects its output, killing it at its timeout or when either
 * output passes the cap. What it gives is judged by judge() (judge.ts), in this process or, for
 * the helper, in domainmgr's. Options keep the parent's CPU per spawn low (the spawn is most of a
 * create's cost): stdin is 'ignore' unless input is given; `reject: false` lets us build our own
 * errors; and it does itself what execa would do per call with more machinery:
 * - output: `buffer: false`, and stdout and stderr are collected from 'data' events with our own
 *   cap (execa's buffering goes through async iterators, get-stream and an encoding step per
 *   chunk);
 * - timeout: one plain timer that calls the subprocess's kill() (execa's, which sends SIGTERM and
 *   SIGKILL after forceKillAfterDelay), instead of execa's `timeout`, which races an abortable
 *   timers/promises timer that every call then aborts (an AbortError with a stack each time).
 * Together about 0.4 ms less parent CPU per spawn than execa doing both (2.0 -> 1.6 ms at load 3).
 * - `cleanup: false`: execa's default registers, through signal-exit, this process's signal and
 *   exit handlers around subprocesses, to kill them when this process exits. Loaded and unloaded
 *   around each spawn when they come one at a time (idle listings, single creates), that cost
 *   1.3-1.7 ms of parent CPU a spawn on a 2-core PVM machine (9.6-10.0 -> 8.3 ms for `/bin/true`
 *   from a bare node process; nothing when several run at once; docs/performance.md). And it is
 *   not wanted: a command outlives the process that started it, as the spawn helper's
 *   commands outlive domainmgr (spawn-helper-main.ts says why), and each has its own timeout.
 *   Long-lived commands (ExecRunner.stream) keep execa's cleanup: they end with domainmgr.
 */
export function spawnCollected(argv: readonly string[], o: CollectOptions): CollectingProcess {
  const [file, ...args] = argv as [string, ...string[]];
  const started = performance.now();
  const subprocess = execa(file, args, {
    reject: false,
    shell: false,
    stdin: o.input === undefined ? 'ignore' : 'pipe',
    ...(o.input === undefined ? {} : { input: o.input }),
    // Without env of its own the child gets process.env as it is, read once by child_process:
    // extendEnv would first copy the whole environment on every call.
    env: o.env ?? process.env,
    extendEnv: o.env !== undefined,
    killSignal: 'SIGTERM',
    forceKillAfterDelay: o.killGraceMs,
    buffer: false,
    cleanup: false,
  });
  let timedOut = false;
  let overflow = false;
  const out = new Output();
  const err = new Output();
  const collect = (output: Output) => (chunk: Buffer) => {
    if (overflow) return;
    if (output.add(chunk) > o.maxOutputBytes) {
      overflow = true;
      subprocess.kill();
      // Stop reading: a grandchild that holds the pipe (sh -c 'yes') then gets EPIPE instead of
      // keeping the call alive, and us busy, after its parent is gone.
      subprocess.stdout?.destroy();
      subprocess.stderr?.destroy();
    }
  };
  subprocess.stdout?.on('data', collect(out));
  subprocess.stderr?.on('data', collect(err));
  const timer = setTimeout(() => {
    timedOut = true;
    subprocess.kill();
  }, o.timeoutMs);
  const finished = subprocess.then((r): Finished => {
    clearTimeout(timer);
    const code = (r.cause as NodeJS.ErrnoException | undefined)?.code;
    const cause = r.cause instanceof Error ? r.cause : r.failed ? new Error(r.shortMessage) : null;
    return {
      exitCode: typeof r.exitCode === 'number' ? r.exitCode : null,
      signal: r.signal ?? null,
      stdout: out.text(o.maxOutputBytes),
      stderr: err.text(o.maxOutputBytes),
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      timedOut: timedOut && !overflow,
      overflow,
      startError: code === 'ENOENT' || code === 'EACCES' ? code : null,
      cause: cause === null ? null : { name: cause.name, message: cause.message },
    };
  });
  return {
    finished,
    kill: () => {
      subprocess.kill();
    },
  };
}

/** A long-lived node program with an IPC channel to this process: the spawn helper. */
export interface NodeChild {
  readonly pid: number | undefined;
  /**
   * Sends one JSON message. `onFailed` is called (once, later) if it could not be sent: the channel
   * closed under it, so the child never got it.
   */
  send(message: unknown, onFailed: (error: Error) => void): void;
  /** Called with each message from the child. */
  onMessage(listener: (message: unknown) => void): void;
  /** Called once when the channel closes (the child closed it, or is gone). */
  onDisconnect(listener: () => void): void;
  /** Resolves once the child has exited, with how, and the tail of its stderr. */
  readonly exited: Promise<{ exitCode: number | null; signal: string | null; stderr: string }>;
  /** Lets this process exit while the child runs (unref) or keeps it alive (ref). */
  hold(held: boolean): void;
  /** Closes the channel (the child's cue to exit). */
  disconnect(): void;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Starts `node <script> <args>` with this process's node and an IPC channel (JSON messages). Its
 * stdout is ignored; the tail of its stderr is kept for the exit report.
 */
export function startNodeChild(script: string, args: readonly string[]): NodeChild {
  const subprocess = execa(process.execPath, [script, ...args], {
    reject: false,
    shell: false,
    stdin: 'ignore',
    stdout: 'ignore',
    env: process.env,
    extendEnv: false,
    ipc: true,
    serialization: 'json',
    buffer: false,
  });
  const stderr = keepTail(subprocess.stderr);
  const exited = subprocess.then((r) => ({
    exitCode: typeof r.exitCode === 'number' ? r.exitCode : null,
    signal: r.signal ?? null,
    // A child that never started has no stderr: execa's message says why.
    stderr: (r.exitCode === undefined && r.signal === undefined ? r.shortMessage : undefined) ?? stderr(),
  }));
  return {
    pid: subprocess.pid,
    send: (message, onFailed) => {
      if (!subprocess.connected) {
        queueMicrotask(() => onFailed(new Error('the channel is closed')));
        return;
      }
      // With a callback, a failed send is reported there instead of as an 'error' event.
      subprocess.send(message as object, (error: Error | null) => {
        if (error !== null) onFailed(error);
      });
    },
    onMessage: (listener) => {
      subprocess.on('message', listener);
    },
    onDisconnect: (listener) => {
      subprocess.once('disconnect', listener);
    },
    exited,
    hold: (held) => {
      const handles = [subprocess, subprocess.channel, subprocess.stderr] as (
        | { ref?: () => void; unref?: () => void }
        | null
        | undefined
      )[];
      for (const h of handles) (held ? h?.ref : h?.unref)?.call(h);
    },
    disconnect: () => {
      if (subprocess.connected) subprocess.disconnect();
    },
    kill: (signal) => {
      subprocess.kill(signal ?? 'SIGTERM');
    },
  };
}

/** How much of a long-lived command's stderr is kept for its end report. */
const STREAM_STDERR_TAIL = 4096;

/** Keeps the last STREAM_STDERR_TAIL characters a long-lived process writes to `stream`. */
function keepTail(stream: NodeJS.ReadableStream | null): () => string {
  let tail = '';
  stream?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-STREAM_STDERR_TAIL);
  });
  return () => tail;
}

/** One output stream's bytes, kept as the chunks that came (decoded once, at the end). */
class Output {
  readonly #chunks: Buffer[] = [];
  #bytes = 0;

  /** Adds a chunk; returns the bytes so far. */
  add(chunk: Buffer): number {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    return this.#bytes;
  }

  /** The text, at most `cap` bytes of it (UTF-8, decoded across chunk boundaries). */
  text(cap: number): string {
    if (this.#bytes === 0) return '';
    const all = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    return (all.length > cap ? all.subarray(0, cap) : all).toString('utf8');
  }
}
