import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { SimHost } from '../core/host.js';
import { tickXen } from '../xen/model.js';
import { SimXenstored } from '../xenstore/xenstored.js';
import { dispatch } from './dispatch.js';
import { encodeReply, ProtocolError, parseRequest, WRONG_DAEMON } from './protocol.js';

export const PORT_FILE = 'daemon.port';
/** xenstored's socket on this host, relative to the host directory. */
export const XENSTORED_SOCKET = join('xenstored', 'socket');
/** sun_path holds 108 bytes including the NUL. */
const UNIX_PATH_MAX = 107;

export interface DaemonOptions {
  dir: string;
  /** Exit after this long without any call (and no call in progress). */
  idleMs: number;
  log: (line: string) => void;
  /** Coalescing window of state.json writes (see SimHost); 0 writes after every command. */
  persistDelayMs?: number;
}

/**
 * The long-lived simulator: one SimHost, a TCP listener on 127.0.0.1 for the shims, and the
 * port file (`<port> <token> <pid>`) through which they find it. The token tells the shims that
 * whoever answers on the port is this directory's daemon.
 */
export class SimDaemon {
  readonly host: SimHost;
  private readonly opts: DaemonOptions;
  private readonly token = randomBytes(12).toString('hex');
  private server: Server | null = null;
  private xenstored: SimXenstored | null = null;
  private active = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private stopping = false;

  constructor(opts: DaemonOptions) {
    this.opts = opts;
    this.host = new SimHost(opts.dir, Date.now, opts.persistDelayMs ?? 0);
    this.host.addTicker(tickXen);
    // A stop that was in progress when the previous daemon died has completed since.
    for (const vm of this.host.state.smartos.vms) {
      if (vm.state === 'stopping') {
        vm.state = 'stopped';
        vm.bootedAt = null;
        this.host.touch();
      }
    }
    this.host.settle();
  }

  async listen(): Promise<number> {
    const server = createServer((s) => this.onConnection(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
    // Before the port file: once a shim call returns, the socket is there.
    await this.listenXenstored();
    const file = join(this.opts.dir, PORT_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${addr.port} ${this.token} ${process.pid}\n`, { mode: 0o600 });
    renameSync(tmp, file);
    this.opts.log(`listening on 127.0.0.1:${addr.port} for ${this.opts.dir}`);
    this.armIdle();
    return addr.port;
  }

  /**
   * xenstored's socket (sim/xenstore/xenstored.ts). An open connection counts as activity: the
   * daemon does not exit idle under a client holding a watch. A host directory too deep for a
   * unix socket path runs without one (logged).
   */
  private async listenXenstored(): Promise<void> {
    const path = join(this.opts.dir, XENSTORED_SOCKET);
    if (Buffer.byteLength(path) > UNIX_PATH_MAX) {
      this.opts.log(`no xenstored socket: ${path} is longer than a unix socket path may be`);
      return;
    }
    const xs = new SimXenstored(this.host, this.opts.log, (delta) => {
      this.active += delta;
      if (delta > 0 && this.idleTimer) clearTimeout(this.idleTimer);
      if (delta < 0) this.armIdle();
    });
    await xs.listen(path);
    this.xenstored = xs;
    this.opts.log(`xenstored listening on ${path}`);
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.active > 0 || this.opts.idleMs <= 0) return;
    this.idleTimer = setTimeout(() => {
      this.opts.log(`idle for ${this.opts.idleMs} ms, exiting`);
      this.stop();
    }, this.opts.idleMs);
  }

  private onConnection(socket: Socket): void {
    this.active++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const ac = new AbortController();
    let buf = Buffer.alloc(0);
    let handled = false;
    let replied = false;
    const finish = (): void => {
      if (replied) return;
      replied = true;
      this.active--;
      this.armIdle();
    };
    socket.on('error', () => undefined);
    socket.on('close', () => {
      ac.abort();
      finish();
    });
    socket.on('data', (chunk) => {
      if (handled) return;
      buf = Buffer.concat([buf, chunk]);
      let req: ReturnType<typeof parseRequest>;
      try {
        req = parseRequest(buf);
      } catch (e) {
        handled = true;
        socket.end(
          encodeReply(70, '', `domainmgr simulator: ${e instanceof ProtocolError ? e.message : String(e)}\n`),
        );
        return;
      }
      if (!req) return;
      handled = true;
      if (req.token !== this.token) {
        socket.end(WRONG_DAEMON);
        return;
      }
      dispatch(this.host, {
        tool: req.tool,
        args: req.args,
        cwd: req.cwd,
        env: req.env,
        stdin: req.stdin,
        signal: ac.signal,
      }).then(
        (answer) => {
          if (socket.destroyed) return;
          const { exitCode, stdout, stderr } = answer.result;
          socket.end(encodeReply(exitCode, stdout, stderr), () => {
            if (answer.stopDaemon) this.stop();
          });
        },
        (e: unknown) => {
          // The caller went away (or the command failed in a way that has no reply).
          if (!ac.signal.aborted)
            this.opts.log(`request failed: ${e instanceof Error ? e.stack : String(e)}`);
          socket.destroy();
        },
      );
    });
  }

  /** Persists, removes the port file if it is still ours, and exits. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.xenstored?.close();
    this.host.close();
    const file = join(this.opts.dir, PORT_FILE);
    try {
      if (existsSync(file) && readFileSync(file, 'utf8').split(' ')[1] === this.token)
        rmSync(file, { force: true });
    } catch {
      // the directory may be gone already (a test removed it)
    }
    this.server?.close();
    this.opts.log('stopped');
    process.exit(0);
  }
}
