/**
 * Boots the real-Xen test image (test/xen/build-image.sh) under qemu-system-x86_64 (TCG) and
 * talks to dom0 through the command agent (test/xen/agent.mjs), reached through a QEMU user-net
 * port forward bound to 127.0.0.1. The serial console (Xen, dom0 kernel, dom0 init, domainmgr's
 * log mirrored by dom0's init) is written to a file as it comes.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../bus/support/nats-server.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

export interface BuiltImage {
  dir: string;
  ms: number;
}

/** Runs build-image.sh (cached: seconds when nothing changed) and returns the image folder. */
export function buildImage(cacheDir?: string): BuiltImage {
  const t0 = Date.now();
  const out = execFileSync('bash', [join(HERE, 'build-image.sh'), ...(cacheDir ? [cacheDir] : [])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
  });
  const dir = out.trim().split('\n').pop() ?? '';
  if (!dir) throw new Error('build-image.sh printed no image folder');
  return { dir, ms: Date.now() - t0 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface BootOptions {
  image: string;
  /** domainmgr's arguments; when given, dom0's init starts domainmgr at boot with them. */
  domainmgrArgs?: string[];
  /** Where serial.log goes (created). */
  workDir: string;
  /** Host-side watchdog: QEMU is killed after this long whatever happens (default 20 min). */
  maxLifetimeS?: number;
  /** How long to wait for DOM0-READY (default 240 s). */
  readyTimeoutMs?: number;
  memoryMiB?: number;
  dom0MemoryMiB?: number;
  /** QEMU -cpu (default: $XEN_QEMU_CPU, else QEMU_CPU_DEFAULT). */
  cpu?: string;
}

/**
 * QEMU's `max` CPU without XSAVE. With XSAVE (plain `max`, as the shared xen-in-qemu tool uses),
 * processes in dom0 (node, xl, busybox) died of heap corruption or segfaults a few seconds after a
 * crashed guest was destroyed and a new one started, in every run that got that far; without XSAVE
 * (dom0 and Xen fall back to FXSAVE) the whole scenario passes. Turning off FSGSBASE, PKU or the
 * AVX family alone did not help. See "Heap corruption in dom0" in test/xen/README.md.
 * Xen needs `smap=0` with `max`.
 */
export const QEMU_CPU_DEFAULT = 'max,-xsave';

/** A booted dom0. */
export class Dom0 {
  readonly serialPath: string;
  /** Milliseconds from QEMU start to each DOM0-STAGE marker and to DOM0-READY. */
  readonly timings: Record<string, number> = {};
  #qemu: ChildProcess;
  #port: number;
  #exited: { code: number | null; signal: string | null } | null = null;
  #onExit: () => void;

  private constructor(qemu: ChildProcess, port: number, serialPath: string) {
    this.#qemu = qemu;
    this.#port = port;
    this.serialPath = serialPath;
    qemu.on('exit', (code, signal) => {
      this.#exited = { code, signal };
    });
    this.#onExit = () => {
      if (!this.#exited) this.#killGroup();
    };
    process.on('exit', this.#onExit);
  }

  static async boot(o: BootOptions): Promise<Dom0> {
    mkdirSync(o.workDir, { recursive: true });
    const serialPath = join(o.workDir, 'serial.log');
    writeFileSync(serialPath, '');
    const port = await freePort();
    const dom0Mem = o.dom0MemoryMiB ?? 1024;
    const dmArgs = o.domainmgrArgs
      ? ` dm.args=${Buffer.from(JSON.stringify(o.domainmgrArgs)).toString('base64')}`
      : '';
    const stderrFd = openSync(join(o.workDir, 'qemu-stderr.log'), 'w');
    const argv = [
      '--signal=KILL',
      String(o.maxLifetimeS ?? 1200),
      'qemu-system-x86_64',
      ...['-accel', 'tcg,thread=multi', '-cpu', o.cpu ?? process.env.XEN_QEMU_CPU ?? QEMU_CPU_DEFAULT],
      ...['-smp', '2', '-m', String(o.memoryMiB ?? 2048)],
      ...['-nographic', '-monitor', 'none', '-serial', `file:${serialPath}`, '-no-reboot'],
      ...['-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-10.0.2.15:7000`],
      ...['-device', 'virtio-net-pci,netdev=n0'],
      ...['-kernel', join(o.image, 'xen')],
      '-append',
      `console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all dom0_mem=${dom0Mem}M,max:${dom0Mem}M dom0_max_vcpus=2 smap=0`,
      '-initrd',
      `${join(o.image, 'dom0-kernel')} console=hvc0 earlyprintk=xen rdinit=/init xt.agent=7000${dmArgs},${join(o.image, 'dom0-initrd')}`,
    ];
    const t0 = Date.now();
    // its own process group, so that killing the group takes `timeout` and QEMU together
    const qemu = spawn('timeout', argv, { stdio: ['ignore', 'ignore', stderrFd], detached: true });
    closeSync(stderrFd);
    const d = new Dom0(qemu, port, serialPath);
    try {
      await d.#waitReady(t0, o.readyTimeoutMs ?? 240_000);
    } catch (e) {
      await d.stop();
      throw e;
    }
    return d;
  }

  async #waitReady(t0: number, timeoutMs: number): Promise<void> {
    const deadline = t0 + timeoutMs;
    for (;;) {
      const log = this.serial();
      for (const m of log.matchAll(/^DOM0-STAGE (\S+)/gm)) {
        const name = m[1] ?? '';
        this.timings[name] ??= Date.now() - t0;
      }
      const failed = /^DOM0-FAILED (.*)$/m.exec(log);
      if (failed) throw new Error(`dom0 init failed: ${failed[1]} (serial log: ${this.serialPath})`);
      if (/^DOM0-READY/m.test(log)) {
        this.timings.ready = Date.now() - t0;
        return;
      }
      if (this.#exited) {
        throw new Error(
          `QEMU exited (${JSON.stringify(this.#exited)}) before DOM0-READY (${this.serialPath})`,
        );
      }
      if (Date.now() > deadline) throw new Error(`no DOM0-READY within ${timeoutMs} ms (${this.serialPath})`);
      await sleep(250);
    }
  }

  /** The serial console so far (carriage returns removed). */
  serial(): string {
    return readFileSync(this.serialPath, 'utf8').replaceAll('\r', '');
  }

  /** Runs argv in dom0 (no shell) and returns its exit code and output. */
  async run(argv: string[], opts: { timeoutMs?: number; stdin?: string } = {}): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      const s = connect(this.#port, '127.0.0.1');
      let buf = '';
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`agent: no answer to ${JSON.stringify(argv)} within ${timeoutMs + 10_000} ms`));
      }, timeoutMs + 10_000);
      s.setEncoding('utf8');
      s.on('data', (c: string) => {
        buf += c;
      });
      s.on('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`agent: ${e.message}`));
      });
      s.on('close', () => {
        clearTimeout(timer);
        let res: RunResult & { error?: string };
        try {
          res = JSON.parse(buf);
        } catch {
          reject(
            new Error(`agent: bad answer to ${JSON.stringify(argv)}: ${JSON.stringify(buf.slice(0, 200))}`),
          );
          return;
        }
        if (res.error) reject(new Error(`agent: ${res.error}`));
        else resolve(res);
      });
      s.write(`${JSON.stringify({ argv, timeoutMs, stdin: opts.stdin ?? '' })}\n`);
    });
  }

  /** Runs a busybox sh script in dom0. */
  sh(script: string, opts: { timeoutMs?: number } = {}): Promise<RunResult> {
    return this.run(['sh', '-c', script], opts);
  }

  /** Runs argv and returns stdout; rejects with the output when the exit code is not 0. */
  async ok(argv: string[], opts: { timeoutMs?: number; stdin?: string } = {}): Promise<string> {
    const r = await this.run(argv, opts);
    if (r.code !== 0) {
      throw new Error(`${argv.join(' ')}: exit ${r.code} (signal ${r.signal})\n${r.stderr}${r.stdout}`);
    }
    return r.stdout;
  }

  /** The pid of domainmgr's node process, or null when it is not running. */
  async domainmgrPid(): Promise<number | null> {
    const r = await this.sh(
      'p=$(cat /run/domainmgr.pid 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"',
    );
    const pid = Number.parseInt(r.stdout.trim(), 10);
    return Number.isFinite(pid) ? pid : null;
  }

  /** Starts domainmgr again with the arguments it was booted with; returns its pid. */
  async startDomainmgr(): Promise<number> {
    const out = await this.ok(['/usr/local/sbin/domainmgr-start']);
    return Number.parseInt(out.trim(), 10);
  }

  /** Sends a signal to domainmgr and waits until the process is gone. */
  async killDomainmgr(signal: 'KILL' | 'TERM' = 'KILL', timeoutMs = 60_000): Promise<void> {
    const pid = await this.domainmgrPid();
    if (pid === null) throw new Error('domainmgr is not running');
    await this.ok(['kill', `-${signal}`, String(pid)]);
    const deadline = Date.now() + timeoutMs;
    while ((await this.run(['kill', '-0', String(pid)])).code === 0) {
      if (Date.now() > deadline) throw new Error(`domainmgr (pid ${pid}) still running after SIG${signal}`);
      await sleep(200);
    }
  }

  async domainmgrLog(): Promise<string> {
    return (await this.run(['cat', '/var/log/domainmgr.log'])).stdout;
  }

  /** Copies the serial console, domainmgr's log, xl's and the guests' logs into dir. */
  async saveArtifacts(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'serial.log'), this.serial());
    if (this.#exited) return;
    const grab = async (name: string, script: string) => {
      try {
        const r = await this.sh(script, { timeoutMs: 20_000 });
        writeFileSync(join(dir, name), r.stdout + r.stderr);
      } catch (e) {
        writeFileSync(join(dir, name), `could not read: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    };
    await grab('domainmgr.log', 'cat /var/log/domainmgr.log');
    await grab(
      'xen-logs.txt',
      'for f in /var/log/xen/*.log /var/log/xen/console/*.log; do echo "==== $f"; cat "$f"; done',
    );
    await grab('xl-list.txt', 'xl list -v; echo; xl list -l');
    await grab('xenstore.txt', 'xenstore-ls -fp /local/domain');
    await grab('dmesg.txt', 'dmesg; echo ==== xl dmesg; xl dmesg');
  }

  #killGroup(): void {
    const pid = this.#qemu.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  get exited(): boolean {
    return this.#exited !== null;
  }

  async stop(): Promise<void> {
    process.off('exit', this.#onExit);
    if (this.#exited) return;
    const gone = new Promise<void>((r) => this.#qemu.once('exit', () => r()));
    this.#killGroup();
    await Promise.race([gone, sleep(5000)]);
  }
}

/**
 * Polls fn until it returns a value other than undefined. A rejection of fn is retried (and
 * reported at the timeout), except an Error named 'StopWaiting', which ends the wait at once.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof Error && e.name === 'StopWaiting') throw e;
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}
