import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../pkg/project-files.js';

/**
 * A fresh simulated hypervisor host for a test suite: its own state directory, the shims of
 * sim/bin first on PATH, and helpers to run them as real processes. The daemon behind the shims
 * comes from dist/, so `npm run build` must have run (this checks, and says so if not).
 */

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface RunOptions {
  input?: string;
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface SimHostHandle {
  /** The host's state directory (DOMAINMGR_SIM_DIR). */
  dir: string;
  /** sim/bin: put it first on PATH. */
  binDir: string;
  /** The environment a process needs to use this host (PATH and DOMAINMGR_SIM_DIR set). */
  env: NodeJS.ProcessEnv;
  /** Runs one of the simulated tools (or any program) with this host's environment. */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Runs sim/bin/simctl with these arguments; rejects if it fails. */
  simctl(args: readonly string[]): Promise<string>;
  /** The daemon's pid, from its port file (null when not running). */
  daemonPid(): number | null;
  /** Stops the daemon (SIGKILL if it does not go) and removes the directory. */
  stop(): Promise<void>;
}

export const SIM_BIN_DIR = join(projectRoot, 'sim', 'bin');
const DAEMON_MAIN = join(projectRoot, 'dist', 'sim', 'daemon', 'main.js');

function newestMtime(dir: string, ext: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p, ext));
    else if (e.name.endsWith(ext)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Fails loudly when the daemon is not built or older than the sources it is built from. */
export function assertSimBuilt(): void {
  if (!existsSync(DAEMON_MAIN)) {
    throw new Error(`the simulator is not built (${DAEMON_MAIN} missing): run \`npm run build\` first`);
  }
  // The daemon's xenstored speaks through pkg/xenstore's wire module.
  const src = Math.max(
    newestMtime(join(projectRoot, 'sim'), '.ts'),
    newestMtime(join(projectRoot, 'pkg', 'xenstore'), '.ts'),
  );
  const built = Math.min(
    newestMtime(join(projectRoot, 'dist', 'sim'), '.js'),
    newestMtime(join(projectRoot, 'dist', 'pkg', 'xenstore'), '.js'),
  );
  if (src > built)
    throw new Error('dist/ is older than sim/ or pkg/xenstore/: run `npm run build` before the sim tests');
}

export function runProcess(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  options: RunOptions = {},
): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty argv');
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: { ...env, ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer =
      options.timeoutMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, stdout, stderr, durationMs: performance.now() - started });
    });
    if (options.input !== undefined && child.stdin) child.stdin.end(options.input);
  });
}

/**
 * Options: idleMs is the daemon's idle exit; xenstored false leaves XENSTORED_PATH
 * out of the environment (a process then finds no xenstored socket: the fallback commands).
 */
export function startSimHost(options: { idleMs?: number; xenstored?: boolean } = {}): SimHostHandle {
  assertSimBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'domainmgr-sim-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${SIM_BIN_DIR}:${process.env.PATH ?? ''}`,
    DOMAINMGR_SIM_DIR: dir,
    DOMAINMGR_SIM_IDLE_MS: String(options.idleMs ?? 5 * 60 * 1000),
    // Where libxenstore (and domainmgr's xenstore client) looks first: the host's xenstored.
    ...(options.xenstored === false ? {} : { XENSTORED_PATH: join(dir, 'xenstored', 'socket') }),
  };
  const daemonPid = (): number | null => {
    try {
      const pid = Number(readFileSync(join(dir, 'daemon.port'), 'utf8').split(' ')[2]);
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };
  const handle: SimHostHandle = {
    dir,
    binDir: SIM_BIN_DIR,
    env,
    run: (argv, o) => runProcess(argv, env, o),
    async simctl(args) {
      const r = await runProcess([join(SIM_BIN_DIR, 'simctl'), ...args], env);
      if (r.code !== 0) throw new Error(`simctl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return r.stdout;
    },
    daemonPid,
    async stop() {
      const pid = daemonPid();
      spawnSync(join(SIM_BIN_DIR, 'simctl'), ['stop'], { env, timeout: 5000 });
      if (pid !== null) {
        for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** Whether a process of that pid exists (a zombie too). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
