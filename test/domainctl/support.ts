import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../pkg/project-files.js';
import { randomPrefix } from '../bus/support/fixtures.js';
import { freePort, SHARED_NATS_URL } from '../bus/support/nats-server.js';
import { type RunResult, runProcess, type SimHostHandle, startSimHost } from '../support/sim-host.js';

export { randomPrefix, SHARED_NATS_URL };

const CTL = join(projectRoot, 'bin', 'domainctl.js');
const DM = join(projectRoot, 'bin', 'domainmgr.js');

function newest(dir: string, ext: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n = Math.max(n, newest(p, ext));
    else if (e.name.endsWith(ext)) n = Math.max(n, statSync(p).mtimeMs);
  }
  return n;
}

/** The CLI tests run the built program: fail loudly when dist/ is missing or older than the sources. */
export function assertBuilt(): void {
  const src = Math.max(newest(join(projectRoot, 'pkg'), '.ts'), newest(join(projectRoot, 'cmd'), '.ts'));
  let built = 0;
  try {
    built = Math.min(
      newest(join(projectRoot, 'dist', 'pkg'), '.js'),
      newest(join(projectRoot, 'dist', 'cmd'), '.js'),
    );
  } catch {
    built = 0;
  }
  if (built === 0 || src > built)
    throw new Error(
      'dist/ is missing or older than pkg/ and cmd/: run `npm run build` before test/domainctl',
    );
}

/** A clean environment: no DOMAINMGR_* from the caller's shell. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DOMAINMGR_')) env[k] = v;
  return { ...env, ...extra };
}

/** Runs `node bin/domainctl.js ARGS` as a process. */
export function ctl(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return runProcess([process.execPath, CTL, ...args], options.env ?? cleanEnv(), {
    ...(options.input === undefined ? {} : { input: options.input }),
    timeoutMs: options.timeoutMs ?? 60_000,
  });
}

/** No output of a run may look like a stack trace. */
export function expectNoStack(r: RunResult): void {
  expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/^\s+at .+[(:]\d+/m);
  expect(r.stderr).not.toMatch(/internal error/);
}

let tempDirs: string[] = [];

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'domainctl-t-'));
  tempDirs.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs = [];
}

export function writeTemp(name: string, text: string): string {
  const p = join(tempDir(), name);
  writeFileSync(p, text);
  return p;
}

/** A domainmgr on a simulated host, as a child process. */
export interface LiveNode {
  nodeId: string;
  prefix: string;
  sim: SimHostHandle;
  /** Folder for kernels and disks, the node's only allowed storage root. */
  images: string;
  kernel: string;
  log(): string;
  stop(): Promise<void>;
}

export async function startNode(
  prefix: string,
  nodeId: string,
  backend: 'xl' | 'rkt' | 'vmadm' = 'xl',
): Promise<LiveNode> {
  const sim = startSimHost();
  const base = tempDir();
  const images = join(base, 'images');
  mkdirSync(images);
  const kernel = join(images, 'vmlinuz');
  writeFileSync(kernel, 'kernel');
  let log = '';
  const child: ChildProcess = spawn(
    process.execPath,
    [
      DM,
      '--backend',
      backend,
      '--node-id',
      nodeId,
      '--prefix',
      prefix,
      '--nats',
      SHARED_NATS_URL,
      '--state-dir',
      join(base, 'state'),
      '--allowed-roots',
      images,
      '--probe-interval-ms',
      '500',
      '--node-status-interval-ms',
      '1000',
      '--http-listen',
      '127.0.0.1:0',
      '--shutdown-grace-ms',
      '2000',
    ],
    {
      env: cleanEnv({ PATH: `${sim.binDir}:${process.env.PATH ?? ''}`, DOMAINMGR_SIM_DIR: sim.dir }),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (log += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  // Ready once its first NodeStatus is out: `nodes` shows it.
  const until = Date.now() + 20_000;
  for (;;) {
    const r = await ctl(['nodes', '--prefix', prefix, '-o', 'json', '--nats', SHARED_NATS_URL]);
    if (r.code === 0 && (JSON.parse(r.stdout) as { nodeId: string }[]).some((n) => n.nodeId === nodeId))
      break;
    if (Date.now() > until || child.exitCode !== null) {
      child.kill('SIGKILL');
      await sim.stop();
      throw new Error(`domainmgr ${nodeId} did not come up:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    nodeId,
    prefix,
    sim,
    images,
    kernel,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      await sim.stop();
    },
  };
}

/** Deletes the streams of a prefix (absent ones are fine), through a connection of the test's own. */
export async function deletePrefixStreams(prefix: string): Promise<void> {
  const { testConnection, deleteStreams } = await import('../bus/support/bus.js');
  const { streamName } = await import('../../pkg/bus/subjects.js');
  const conn = await testConnection(SHARED_NATS_URL, prefix);
  try {
    await deleteStreams(await conn.jsm(), streamName(prefix, 'config'), streamName(prefix, 'status'));
  } finally {
    await conn.close();
  }
}

/** A free TCP port on loopback with nothing listening (freePort binds it and closes it again). */
export const closedPort = freePort;

export function uuidN(n: number): string {
  return `0c7e0000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

export function vmDoc(
  n: number,
  kernel: string,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    uuid: uuidN(n),
    name: `vm${n}`,
    generation: 1,
    activate: true,
    type: 'vm',
    memoryMiB: 128,
    kernel,
    vifs: [{ bridge: 'xenbr0' }],
    ...over,
  };
}
