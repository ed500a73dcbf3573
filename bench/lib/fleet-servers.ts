import { OwnNatsServer } from '../../test/bus/support/nats-server.js';
import { NatsCluster } from '../../test/support/nats-cluster.js';

/**
 * The NATS servers a fleet benchmark runs against, as the benchmark needs them: client URLs,
 * process ids (CPU and RSS come from /proc), SIGKILL of one, and which one leads a stream.
 */
export interface FleetServers {
  readonly size: number;
  /** Every server's client URL, for clients that fail over between them. */
  readonly urls: string[];
  name(index: number): string;
  /** The process id of a running server; null once it is killed. */
  pid(index: number): number | null;
  /** SIGKILL, no shutdown; resolves once the process is gone. */
  kill(index: number): Promise<void>;
  /** The index of the server leading `stream` (waits for one to be elected). */
  leaderOf(stream: string): Promise<number>;
  /** A running server's monitoring document at `path` (varz, jsz, ...). */
  monitor(index: number, path: string): Promise<unknown>;
  /** Stops every server and removes the stores. */
  stop(): Promise<void>;
}

/** One nats-server with JetStream on its own port and store (no cluster: nothing to fail over to). */
export async function startSingleServer(): Promise<FleetServers> {
  const server = await OwnNatsServer.create();
  await server.start();
  let killed = false;
  return {
    size: 1,
    urls: [server.url],
    name: () => 'single',
    pid: () => (killed ? null : (server.pid ?? null)),
    async kill() {
      throw new Error('a single server cannot be killed in a benchmark: nothing would be left');
    },
    leaderOf: async () => 0,
    monitor: (_, path) => server.monitor(path),
    async stop() {
      killed = true;
      await server.destroy();
    },
  };
}

/** A JetStream cluster of `size` servers (test/support/nats-cluster.ts); `deadlineMs` bounds its waits. */
export async function startCluster(size: number, deadlineMs: number): Promise<FleetServers> {
  const cluster = await NatsCluster.start({ size, deadlineMs });
  return {
    size,
    urls: cluster.urls,
    name: (i) => cluster.servers[i]?.name ?? `server ${i}`,
    pid: (i) => cluster.pid(i) ?? null,
    kill: (i) => cluster.kill(i),
    leaderOf: (stream) => cluster.leaderOf(stream),
    monitor: (i, path) => cluster.monitor(i, path),
    stop: () => cluster.stop(),
  };
}
