import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The shared server of this machine, for tests that do not restart it. */
export const SHARED_NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

/**
 * A nats-server of the test's own, with JetStream on a temporary store directory, on a free
 * loopback port that stays the same across stop() and start(), so that a client sees a server
 * restart and finds its stored streams again.
 */
export class OwnNatsServer {
  readonly storeDir: string;
  /** Whether start() enables JetStream (-js); false: a server without it, as a misconfigured one. */
  jetstream = true;
  #proc: ChildProcess | undefined;
  #stderr = '';

  private constructor(
    readonly port: number,
    /** HTTP monitoring port (connz, jsz), for tests that check what the server sees. */
    readonly monitorPort: number,
    private readonly extraArgs: string[],
  ) {
    this.storeDir = mkdtempSync(join(tmpdir(), 'domainmgr-nats-'));
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The running server's process id (for /proc figures); undefined when not running. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** A server on a free port, not started yet. */
  static async create(extraArgs: string[] = []): Promise<OwnNatsServer> {
    return new OwnNatsServer(await freePort(), await freePort(), extraArgs);
  }

  /** Starts the server and resolves once it accepts clients. */
  async start(): Promise<void> {
    if (this.#proc) throw new Error('nats-server already running');
    this.#stderr = '';
    const proc = spawn(
      NATS_SERVER,
      [
        '-a',
        '127.0.0.1',
        '-p',
        String(this.port),
        '-m',
        String(this.monitorPort),
        ...(this.jetstream ? ['-js', '-sd', this.storeDir] : []),
        ...this.extraArgs,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    this.#proc = proc;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`nats-server did not start:\n${this.#stderr}`)),
        10_000,
      );
      proc.stderr?.on('data', (chunk: Buffer) => {
        this.#stderr += chunk.toString();
        if (this.#stderr.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}:\n${this.#stderr}`));
      });
    });
  }

  /** The server's monitoring document at `path` (e.g. `connz`). */
  async monitor(path: string): Promise<unknown> {
    const res = await fetch(`http://127.0.0.1:${this.monitorPort}/${path}`);
    return res.json();
  }

  /**
   * Freezes the server (SIGSTOP): its sockets stay open, so clients still count themselves
   * connected, but nothing they send is answered until thaw(). A hung server, as a client sees one.
   */
  freeze(): void {
    this.#running('freeze').kill('SIGSTOP');
  }

  /** Lets a frozen server run again (SIGCONT). */
  thaw(): void {
    this.#running('thaw').kill('SIGCONT');
  }

  #running(what: string): ChildProcess {
    const proc = this.#proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`cannot ${what}: nats-server is not running`);
    return proc;
  }

  /** Stops the server (SIGTERM, as an operator's restart would) and waits for it to exit. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    proc.kill('SIGCONT'); // a frozen server takes its SIGTERM only once it runs again
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** Kills the server (SIGKILL: no flush, no goodbye, as a power loss) and waits for it to exit. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  }

  /** Stops the server and removes its store. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
