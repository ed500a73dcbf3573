import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../pkg/project-files.js';
import type { SimHostHandle } from './sim-host.js';

/**
 * domainmgr as a real child process (`node bin/domainmgr.js ...`, which runs dist/), on a
 * simulated host: the sim's bin directory first on PATH and DOMAINMGR_SIM_DIR set, so every tool
 * call is a real spawn of the sim's shims; or, without `sim` (lxc), on this host's real tools.
 * Its stdout (pino JSON lines) is kept as data.
 */

/** The backends the simulated host stands in for. */
export type Backend = 'xl' | 'rkt' | 'vmadm';

export interface LogLine {
  level: string;
  msg: string;
  time?: string;
  component?: string;
  uuid?: string;
  [key: string]: unknown;
}

export interface DomainmgrProcessOptions {
  /** lxc runs on the real tools (no `sim`). */
  backend: Backend | 'lxc';
  nodeId: string;
  prefix: string;
  stateDir: string;
  natsUrl: string;
  /** The simulated host; absent: the host's real tools on the inherited PATH. */
  sim?: SimHostHandle;
  allowedRoots?: readonly string[];
  /** Required by the rkt backend's verify: a readable stage1 image file. */
  rktStage1?: string;
  probeIntervalMs?: number;
  shutdownGraceMs?: number;
  restartBackoffInitialMs?: number;
  /** More flags, appended last (they win). */
  extraArgs?: readonly string[];
}

export interface Readiness {
  status: number;
  reasons: string[];
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const ENTRY = join(projectRoot, 'bin', 'domainmgr.js');

export class DomainmgrProcess {
  readonly logs: LogLine[] = [];
  /** stdout lines that are not JSON (there should be none; kept to show in failures). */
  readonly otherOutput: string[] = [];
  stderr = '';
  readonly argv: string[];
  readonly #child: ChildProcess;
  readonly #exit: Promise<Exit>;
  #exited: Exit | null = null;
  #partial = '';
  readonly #waiters = new Set<() => void>();

  private constructor(argv: string[], env: NodeJS.ProcessEnv) {
    this.argv = argv;
    const child = spawn(process.execPath, [ENTRY, ...argv], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => this.#take(d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    this.#exit = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        if (this.#partial !== '') this.#line(this.#partial);
        this.#partial = '';
        this.#exited = { code, signal };
        this.#notify();
        resolve(this.#exited);
      });
    });
  }

  static start(o: DomainmgrProcessOptions): DomainmgrProcess {
    const argv = [
      '--backend',
      o.backend,
      '--node-id',
      o.nodeId,
      '--prefix',
      o.prefix,
      '--state-dir',
      o.stateDir,
      '--nats',
      o.natsUrl,
      '--allowed-roots',
      (o.allowedRoots ?? ['/nonexistent-root']).join(','),
      '--probe-interval-ms',
      String(o.probeIntervalMs ?? 500),
      '--probe-jitter',
      '0.1',
      '--shutdown-grace-ms',
      String(o.shutdownGraceMs ?? 3000),
      '--restart-backoff-initial-ms',
      String(o.restartBackoffInitialMs ?? 200),
      '--restart-backoff-max-ms',
      '5000',
      '--node-status-interval-ms',
      '2000',
      '--command-timeout-ms',
      '20000',
      '--create-timeout-ms',
      '30000',
      '--http-listen',
      '127.0.0.1:0',
      '--log-level',
      'debug',
      ...(o.rktStage1 === undefined ? [] : ['--rkt-stage1', o.rktStage1]),
      ...(o.extraArgs ?? []),
    ];
    const env: NodeJS.ProcessEnv =
      o.sim === undefined
        ? { ...process.env }
        : {
            ...o.sim.env,
            PATH: `${o.sim.binDir}:${process.env.PATH ?? ''}`,
            DOMAINMGR_SIM_DIR: o.sim.dir,
          };
    // Nothing of the test runner's own environment may configure the service behind the flags.
    for (const k of Object.keys(env))
      if (k.startsWith('DOMAINMGR_') && (o.sim === undefined || !k.startsWith('DOMAINMGR_SIM_')))
        delete env[k];
    return new DomainmgrProcess(argv, env);
  }

  get pid(): number {
    const pid = this.#child.pid;
    if (pid === undefined) throw new Error('domainmgr did not start');
    return pid;
  }

  get exited(): Exit | null {
    return this.#exited;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.#exited === null) this.#child.kill(signal);
  }

  /** Resolves with the exit; rejects (after SIGKILL) when it takes longer than timeoutMs. */
  async waitExit(timeoutMs = 20_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill('SIGKILL');
        reject(new Error(`domainmgr did not exit within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.#exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Log lines matching `pred`, in order. */
  logsWhere(pred: (l: LogLine) => boolean): LogLine[] {
    return this.logs.filter(pred);
  }

  /** Waits for a log line matching `pred` (also one already logged) and returns it. */
  async waitForLog(what: string, pred: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(pred);
      if (found !== undefined) return found;
      if (this.#exited !== null) {
        throw new Error(`domainmgr exited (${JSON.stringify(this.#exited)}) before ${what}\n${this.tail()}`);
      }
      const left = until - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.#waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 500));
        this.#waiters.add(done);
      });
    }
  }

  /** Waits for the service's `ready` line: connected, streams checked, backlog taken in. */
  waitReady(timeoutMs = 20_000): Promise<LogLine> {
    return this.waitForLog('ready', (l) => l.msg === 'ready', timeoutMs);
  }

  /** Its metrics and health listener (`--http-listen 127.0.0.1:0`), as it logged the address. */
  async httpBase(): Promise<string> {
    const line = await this.waitForLog(
      'the metrics and health address',
      (l) => l.msg === 'serving /metrics, /healthz, /readyz',
    );
    const { host, port } = line.address as { host: string; port: number };
    return `http://${host}:${port}`;
  }

  /** GET /readyz: the status code and the reasons it gives. */
  async readyz(): Promise<Readiness> {
    const res = await fetch(`${await this.httpBase()}/readyz`);
    const body = (await res.json()) as { reasons?: string[] };
    return { status: res.status, reasons: body.reasons ?? [] };
  }

  /** The value of one series of /metrics (`name` or `name{labels}`), NaN when absent. */
  async metric(series: string): Promise<number> {
    const text = await (await fetch(`${await this.httpBase()}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
  }

  /** The last lines of the log and stderr, for failure messages. */
  tail(n = 40): string {
    const lines = this.logs.slice(-n).map((l) => JSON.stringify(l));
    return [...lines, ...this.otherOutput.slice(-5), this.stderr.slice(-2000)].join('\n');
  }

  #take(chunk: string): void {
    const text = this.#partial + chunk;
    const parts = text.split('\n');
    this.#partial = parts.pop() ?? '';
    for (const p of parts) this.#line(p);
    this.#notify();
  }

  #line(line: string): void {
    if (line.trim() === '') return;
    try {
      const parsed = JSON.parse(line) as LogLine;
      if (typeof parsed.msg === 'string' && typeof parsed.level === 'string') this.logs.push(parsed);
      else this.otherOutput.push(line);
    } catch {
      this.otherOutput.push(line);
    }
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}
