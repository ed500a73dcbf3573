import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './manager.js';

/** A nats-server of the bench's own: a configuration text, a loopback port, a temporary store. */
export interface NatsProcess {
  url: string;
  /** A monitoring document (`leafz`, `varz`, ...). */
  monitor(path: string): Promise<unknown>;
  /** Stops the server and removes its store and configuration. */
  stop(): Promise<void>;
}

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export async function startNatsServer(name: string, conf: string): Promise<NatsProcess> {
  const dir = mkdtempSync(join(tmpdir(), `domainmgr-bench-nats-${name}-`));
  writeFileSync(join(dir, 'server.conf'), conf);
  const [port, monitorPort] = [await freePort(), await freePort()];
  const args = ['-c', join(dir, 'server.conf'), '-n', name, '-a', '127.0.0.1', '-p', String(port)];
  const proc: ChildProcess = spawn(
    NATS_SERVER,
    [...args, '-m', String(monitorPort), '-js', '-sd', join(dir, 'store')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  await new Promise<void>((resolve, reject) => {
    proc.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`nats-server ${name} exited (${code}):\n${log}`)));
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    monitor: async (path) => (await fetch(`http://127.0.0.1:${monitorPort}/${path}`)).json(),
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
