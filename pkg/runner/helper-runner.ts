import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backoffDelay } from '../backoff.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { projectRoot } from '../project-files.js';
import type { CommandResult, CommandRunner, RunOptions, StreamingProcess } from './command-runner.js';
import { CommandLostError } from './errors.js';
import {
  DEFAULT_MAX_OUTPUT_BYTES,
  ExecRunner,
  type ExecRunnerOptions,
  type NodeChild,
  startNodeChild,
} from './exec-runner.js';
import type { HelperReply, HelperRequest } from './helper-protocol.js';
import { judge } from './judge.js';

export interface HelperRunnerOptions extends ExecRunnerOptions {
  /** For the restart backoff and the watchdog (default: the system clock). */
  clock?: Clock;
  /** The helper program (default: spawn-helper-main.js of this build). */
  script?: string;
  /** Backoff between restarts of a helper that ended (default 1 s doubling to 60 s). */
  restartInitialMs?: number;
  restartMaxMs?: number;
  /** Beyond a command's timeout and kill grace, how long the helper may take to answer. */
  watchdogSlackMs?: number;
  /** Told when commands start coming from the helper (true) or from domainmgr again (false). */
  onHelperChange?: (up: boolean, exited: boolean) => void;
}

/**
 * The command runner domainmgr uses by default: each command is started by a small long-lived
 * helper process (spawn-helper-main.ts) instead of by domainmgr itself. Why: fork() copies the
 * parent's page tables, so a spawn costs a parent in proportion to its resident memory, and
 * domainmgr (120-190 MiB in a 1,000-domain burst) paid 3.4 ms of CPU a spawn where a small node
 * process pays 1.5 ms (docs/performance.md). The helper holds only the spawning code; domainmgr
 * pays a JSON message each way, and the helper's spawning runs on the other core.
 *
 * What a command does, says and costs in time is as with ExecRunner: the helper runs the same
 * spawnCollected and domainmgr judges what it sends back with the same judge() (errors, logs,
 * the observer). Long-lived commands (stream) are started by domainmgr itself: they are few.
 *
 * Faults: while the helper is starting, or after it ended and until it is back (restarted with
 * backoff), commands run from domainmgr directly, so no command waits on the helper. A command
 * the helper was running when it ended fails with CommandLostError (a timeout: outcome unknown).
 * A helper that does not answer a command within its timeout, the kill grace and WATCHDOG_SLACK_MS
 * is taken for hung and killed. Its state is in the log and in onHelperChange (the service's
 * metrics: domainmgr_spawn_helper_up, domainmgr_spawn_helper_exits_total).
 */
export class HelperRunner implements CommandRunner {
  readonly #o: HelperRunnerOptions & { maxOutputBytes: number };
  readonly #clock: Clock;
  readonly #direct: ExecRunner;
  readonly #script: string;
  readonly #pending = new Map<number, Pending>();
  #child: NodeChild | null = null;
  #ready = false;
  #startedAt = 0;
  #restarts = 0;
  #restartTimer: TimerHandle | null = null;
  #nextId = 1;
  #closed = false;
  /** Resolves close()'s wait for the commands in flight. */
  #drained: (() => void) | null = null;

  constructor(options: HelperRunnerOptions) {
    this.#o = { maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES, ...options };
    this.#clock = options.clock ?? systemClock;
    this.#direct = new ExecRunner(options);
    this.#script = options.script ?? defaultHelperScript();
    this.#start();
  }

  /** Whether commands go through the helper right now (false while it starts or is down). */
  get helperReady(): boolean {
    return this.#ready;
  }

  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    if (argv[0] === undefined || argv[0] === '')
      return Promise.reject(new TypeError('CommandRunner.run needs a non-empty argv'));
    const child = this.#child;
    if (!this.#ready || child === null) return this.#direct.run(argv, options);
    const id = this.#nextId++;
    const timeoutMs = options.timeoutMs ?? this.#o.defaultTimeoutMs;
    const request: HelperRequest = {
      id,
      argv,
      timeoutMs,
      ...(options.input === undefined ? {} : { input: options.input }),
      ...(options.env === undefined ? {} : { env: options.env }),
    };
    return new Promise<CommandResult>((resolve, reject) => {
      const slack = this.#o.watchdogSlackMs ?? WATCHDOG_SLACK_MS;
      const watchdog = this.#clock.schedule(timeoutMs + this.#o.killGraceMs + slack, () => {
        this.#o.logger.error(
          { argv, timeoutMs, pid: child.pid },
          'spawn helper did not answer within the command timeout; killing it',
        );
        child.kill('SIGKILL');
      });
      this.#pending.set(id, {
        argv,
        options,
        timeoutMs,
        started: this.#clock.monotonic(),
        watchdog,
        resolve,
        reject,
      });
      if (this.#pending.size === 1) child.hold(true);
      child.send(request, () => {
        // Never reached the helper (it is ending): the command was not started, so start it here.
        const p = this.#pending.get(id);
        if (p === undefined) return;
        this.#settled(id, p);
        this.#direct.run(argv, options).then(resolve, reject);
      });
    });
  }

  stream(argv: readonly string[], onLine: (line: string) => void): StreamingProcess {
    return this.#direct.stream(argv, onLine);
  }

  /**
   * Ends the helper: new commands start from domainmgr; once the helper has answered every command
   * it runs, its channel is closed and it exits. Resolves when it has.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#ready) this.#o.onHelperChange?.(false, false);
    this.#ready = false;
    if (this.#restartTimer !== null) this.#clock.cancel(this.#restartTimer);
    this.#restartTimer = null;
    const child = this.#child;
    if (child === null) return;
    if (this.#pending.size > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    // Held until it has exited: a caller that awaits close() must not see node exit under it.
    child.hold(true);
    child.disconnect();
    // An idle helper exits at once when its channel closes; one that does not is killed.
    let timer: TimerHandle | null = null;
    const late = new Promise<'late'>((resolve) => {
      timer = this.#clock.schedule(CLOSE_GRACE_MS, () => resolve('late'));
    });
    if ((await Promise.race([child.exited, late])) === 'late') {
      this.#o.logger.warn({ pid: child.pid }, 'spawn helper did not exit when closed; killing it');
      child.kill('SIGKILL');
      await child.exited;
    }
    if (timer !== null) this.#clock.cancel(timer);
  }

  #start(): void {
    const child = startNodeChild(this.#script, [
      '--kill-grace-ms',
      String(this.#o.killGraceMs),
      '--max-output-bytes',
      String(this.#o.maxOutputBytes),
    ]);
    this.#child = child;
    this.#startedAt = this.#clock.monotonic();
    child.hold(false);
    child.onMessage((m) => this.#onMessage(m as HelperReply));
    // A channel that closed takes no more commands, whether or not the helper has exited yet; those
    // it was given are settled when it exits (or by the watchdog).
    child.onDisconnect(() => {
      if (this.#child === child) this.#ready = false;
    });
    void child.exited.then((how) => this.#onExit(child, how));
  }

  #onMessage(m: HelperReply): void {
    if ('ready' in m) {
      // Closed while it was starting: it is ended, not used.
      if (this.#closed) return;
      this.#ready = true;
      this.#o.logger.info({ pid: this.#child?.pid }, 'spawn helper ready: commands start from it');
      this.#o.onHelperChange?.(true, false);
      return;
    }
    const p = this.#pending.get(m.id);
    if (p === undefined) return;
    this.#settled(m.id, p);
    if ('refused' in m) {
      p.reject(Object.assign(new Error(m.refused.message), { name: m.refused.name }));
      return;
    }
    try {
      p.resolve(
        judge(p.argv, m.finished, {
          timeoutMs: p.timeoutMs,
          maxOutputBytes: this.#o.maxOutputBytes,
          acceptExitCodes: p.options.acceptExitCodes ?? [],
          logger: this.#o.logger,
          ...(this.#o.observer === undefined ? {} : { observer: this.#o.observer }),
        }),
      );
    } catch (error) {
      p.reject(error);
    }
  }

  #onExit(child: NodeChild, how: { exitCode: number | null; signal: string | null; stderr: string }): void {
    if (this.#child !== child) return;
    this.#child = null;
    this.#ready = false;
    if (!this.#closed) this.#o.onHelperChange?.(false, true);
    const why = `the spawn helper ended (${how.signal ?? `exit ${how.exitCode}`}) while it ran`;
    for (const [id, p] of this.#pending) {
      this.#settled(id, p);
      const durationMs = Math.round((this.#clock.monotonic() - p.started) * 1000) / 1000;
      this.#o.observer?.({ argv: p.argv, durationMs, exitCode: null, outcome: 'timeout' });
      p.reject(new CommandLostError({ argv: p.argv, durationMs, timeoutMs: p.timeoutMs, why }));
    }
    if (this.#closed) return;
    // A helper that lived a while is restarted after the first delay; one that keeps dying, after
    // ever longer ones.
    if (this.#clock.monotonic() - this.#startedAt >= HEALTHY_LIFE_MS) this.#restarts = 0;
    const delayMs = backoffDelay(
      this.#restarts++,
      this.#o.restartInitialMs ?? 1_000,
      this.#o.restartMaxMs ?? 60_000,
    );
    this.#o.logger.warn(
      { exitCode: how.exitCode, signal: how.signal, stderr: lastLine(how.stderr), restartInMs: delayMs },
      'spawn helper ended; commands start from domainmgr until it is back',
    );
    this.#restartTimer = this.#clock.schedule(delayMs, () => {
      this.#restartTimer = null;
      if (!this.#closed) this.#start();
    });
  }

  #settled(id: number, p: Pending): void {
    this.#clock.cancel(p.watchdog);
    this.#pending.delete(id);
    if (this.#pending.size > 0) return;
    this.#child?.hold(false);
    this.#drained?.();
    this.#drained = null;
  }
}

interface Pending {
  argv: readonly string[];
  options: RunOptions;
  timeoutMs: number;
  started: number;
  watchdog: TimerHandle;
  resolve: (r: CommandResult) => void;
  reject: (e: unknown) => void;
}

/** Beyond a command's timeout and kill grace, how long the helper may take to answer. */
export const WATCHDOG_SLACK_MS = 10_000;

/** How long a closed helper has to exit before it is killed. */
const CLOSE_GRACE_MS = 5_000;

/** A helper that ran this long before ending is restarted without backoff. */
const HEALTHY_LIFE_MS = 60_000;

/** The built helper next to this module, or, from the TypeScript sources (tests), the build's. */
function defaultHelperScript(): string {
  const sibling = fileURLToPath(new URL('./spawn-helper-main.js', import.meta.url));
  return existsSync(sibling) ? sibling : join(projectRoot, 'dist/pkg/runner/spawn-helper-main.js');
}

function lastLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 300);
}
