import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { jetstreamManager, type StreamInfo } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { freePort } from '../bus/support/nats-server.js';

/**
 * A JetStream cluster of nats-server processes on loopback (three by default), for tests and
 * benches: each server has its own client, cluster and monitoring port and its own store
 * directory, all kept across kill(i) and restart(i), so a restarted server rejoins with what it
 * had stored. Everything waits for conditions with a deadline; nothing sleeps a fixed time as
 * synchronisation (the short pauses in the polling loops only pace the polls).
 *
 * Imported by benches too (tsconfig.bench.json lists this file), so it uses nothing of jest.
 */

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
/** How long a start or a wait may take before it fails, on a loaded 2-core machine. */
const DEFAULT_DEADLINE_MS = 30_000;
const POLL_MS = 100;
/** The server log kept per server (its tail), to show when something goes wrong. */
const LOG_TAIL_CHARS = 16_384;

export interface NatsClusterOptions {
  /** Number of servers; default 3. */
  size?: number;
  /** Cluster name, also the prefix of the server names (`<name>-s0`, ...); default `c<random>`. */
  name?: string;
  /** JetStream domain of every server (`jetstream { domain }`); none by default. */
  jetstreamDomain?: string;
  /** Configuration text appended to every server's configuration file (e.g. a `leafnodes` block). */
  extraConfig?: string;
  /** Deadline of start(), restart(i) and the waits; default 30 s. */
  deadlineMs?: number;
}

/** One server of the cluster, as started. */
export interface ClusterServer {
  readonly index: number;
  /** The server's name (`server_name`), as stream cluster info reports it. */
  readonly name: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  readonly url: string;
}

/** A stream's replication as its leader reports it. */
export interface StreamReplication {
  /** Index of the server leading the stream. */
  leader: number;
  /** Replicas besides the leader, by server index, with whether each is current. */
  replicas: { index: number; current: boolean; offline: boolean }[];
}

/** The part of a server's `jsz` monitoring document the waits read (streams: with `accounts=true&streams=true`). */
interface Jsz {
  meta_cluster?: { leader?: string };
  account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
}

interface ServerRuntime extends ClusterServer {
  readonly configFile: string;
  proc: ChildProcess | undefined;
  log: string;
}

export class NatsCluster {
  readonly name: string;
  readonly #servers: ServerRuntime[];
  readonly #deadlineMs: number;
  readonly #baseDir: string;
  #client: NatsConnection | undefined;

  private constructor(name: string, servers: ServerRuntime[], baseDir: string, deadlineMs: number) {
    this.name = name;
    this.#servers = servers;
    this.#baseDir = baseDir;
    this.#deadlineMs = deadlineMs;
  }

  /** Starts every server and resolves once the cluster has elected its JetStream meta leader. */
  static async start(options: NatsClusterOptions = {}): Promise<NatsCluster> {
    const size = options.size ?? 3;
    if (!Number.isInteger(size) || size < 1) throw new Error(`cluster size ${size}: must be >= 1`);
    const name = options.name ?? `c${Math.random().toString(36).slice(2, 8)}`;
    const baseDir = mkdtempSync(join(tmpdir(), 'domainmgr-nats-cluster-'));
    const ports = await distinctFreePorts(size * 3);
    const servers: ServerRuntime[] = [];
    for (let index = 0; index < size; index++) {
      const [port, clusterPort, monitorPort] = ports.slice(index * 3, index * 3 + 3) as [
        number,
        number,
        number,
      ];
      const storeDir = join(baseDir, `s${index}`);
      servers.push({
        index,
        name: `${name}-s${index}`,
        port,
        clusterPort,
        monitorPort,
        storeDir,
        url: `nats://127.0.0.1:${port}`,
        configFile: join(baseDir, `s${index}.conf`),
        proc: undefined,
        log: '',
      });
    }
    for (const server of servers) {
      const routes = servers
        .filter((other) => other !== server)
        .map((other) => `"nats-route://127.0.0.1:${other.clusterPort}"`);
      const domain = options.jetstreamDomain ? `, domain: "${options.jetstreamDomain}"` : '';
      writeFileSync(
        server.configFile,
        [
          `server_name: "${server.name}"`,
          `listen: "127.0.0.1:${server.port}"`,
          `http: "127.0.0.1:${server.monitorPort}"`,
          `jetstream { store_dir: "${server.storeDir}" ${domain} }`,
          `cluster { name: "${name}", listen: "127.0.0.1:${server.clusterPort}", routes: [${routes.join(', ')}] }`,
          options.extraConfig ?? '',
          '',
        ].join('\n'),
      );
    }
    const cluster = new NatsCluster(name, servers, baseDir, options.deadlineMs ?? DEFAULT_DEADLINE_MS);
    try {
      await Promise.all(servers.map((server) => cluster.#spawn(server)));
      await cluster.waitReady();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** The servers, by index. */
  get servers(): readonly ClusterServer[] {
    return this.#servers;
  }

  /** Every server's client URL, for a client that should fail over between them. */
  get urls(): string[] {
    return this.#servers.map((server) => server.url);
  }

  url(index: number): string {
    return this.#server(index).url;
  }

  isRunning(index: number): boolean {
    const proc = this.#server(index).proc;
    return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
  }

  /** A running server's process id (benches read its CPU and memory from /proc); undefined when not running. */
  pid(index: number): number | undefined {
    return this.isRunning(index) ? this.#server(index).proc?.pid : undefined;
  }

  /** The tail of a server's log (stderr), for failure messages. */
  log(index: number): string {
    return this.#server(index).log;
  }

  /** Kills a server with SIGKILL (no shutdown, no goodbye to its peers) and waits for it to exit. */
  async kill(index: number): Promise<void> {
    const server = this.#server(index);
    const proc = server.proc;
    server.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  }

  /**
   * Starts a killed (or stopped) server again on the same ports and store directory and resolves
   * once it accepts clients and sees the cluster's meta leader.
   */
  async restart(index: number): Promise<void> {
    const server = this.#server(index);
    if (this.isRunning(index)) throw new Error(`${server.name} is already running`);
    await this.#spawn(server);
    await this.waitReady();
  }

  /**
   * Waits until every running server reports the same JetStream meta leader (the cluster can
   * create streams) and that leader is one of the servers.
   */
  async waitReady(): Promise<void> {
    await this.#until('the JetStream meta leader to be elected', async () => {
      const leaders = new Set<string>();
      for (const server of this.#servers) {
        if (!this.isRunning(server.index)) continue;
        const leader = (await this.#jsz(server.index, 'jsz'))?.meta_cluster?.leader;
        if (!leader) return false;
        leaders.add(leader);
      }
      return leaders.size === 1 && this.#servers.some((s) => leaders.has(s.name));
    });
  }

  /** A running server's monitoring document at `path` (e.g. `jsz`, `connz`). */
  async monitor(index: number, path: string): Promise<unknown> {
    const res = await fetch(`http://127.0.0.1:${this.#server(index).monitorPort}/${path}`);
    return res.json();
  }

  /** The index of the server leading `stream`, waiting (until the deadline) for one to be elected. */
  async leaderOf(stream: string): Promise<number> {
    return (await this.replicationOf(stream)).leader;
  }

  /** The stream's leader and replicas, waiting (until the deadline) for a leader to answer. */
  async replicationOf(stream: string): Promise<StreamReplication> {
    let found: StreamReplication | undefined;
    await this.#until(`a leader of stream ${stream}`, async () => {
      const info = await this.#streamInfo(stream);
      found = info ? this.#replication(info) : undefined;
      return found !== undefined;
    });
    return found as StreamReplication;
  }

  /**
   * Waits until `stream` has a leader and all its replicas (its configured replica count) are
   * current and online: the state after a killed server has come back and caught up.
   */
  async waitFullReplication(stream: string): Promise<StreamReplication> {
    let found: StreamReplication | undefined;
    await this.#until(`stream ${stream} to be back at full replication`, async () => {
      const info = await this.#streamInfo(stream);
      if (!info) return false;
      const replication = this.#replication(info);
      if (!replication) return false;
      const wanted = info.config.num_replicas ?? 1;
      found = replication;
      return (
        replication.replicas.length === wanted - 1 &&
        replication.replicas.every((replica) => replica.current && !replica.offline)
      );
    });
    return found as StreamReplication;
  }

  /**
   * Waits until server `index` itself reports that neither the JetStream meta group nor any of
   * `streams` has a leader, as its monitoring (`jsz`) tells: after the other servers were killed,
   * a stream leader that survived goes on answering (stream info included) until it sees it has
   * lost its quorum, which nats-server 2.9 takes up to about 15 s to notice. A stream the server
   * does not hold never satisfies the wait, so a wrong name fails at the deadline.
   */
  async waitLeaderless(index: number, streams: readonly string[]): Promise<void> {
    await this.#until(
      `server ${index} to see no leader of the meta group nor of ${streams.join(', ')}`,
      async () => {
        const jsz = await this.#jsz(index, 'jsz?accounts=true&streams=true');
        if (!jsz || jsz.meta_cluster?.leader) return false;
        const leaders = new Map<string, string | undefined>();
        for (const account of jsz.account_details ?? [])
          for (const detail of account.stream_detail ?? []) leaders.set(detail.name, detail.cluster?.leader);
        return streams.every((name) => leaders.has(name) && !leaders.get(name));
      },
    );
  }

  /** Server `index`'s `jsz` document at `path`; undefined while it does not answer. */
  async #jsz(index: number, path: string): Promise<Jsz | undefined> {
    return (await this.monitor(index, path).catch(() => undefined)) as Jsz | undefined;
  }

  /** Stops every server (SIGKILL: a test's cluster holds nothing worth a shutdown) and removes the stores. */
  async stop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.close().catch(() => undefined);
    await Promise.all(this.#servers.map((server) => this.kill(server.index)));
    rmSync(this.#baseDir, { recursive: true, force: true });
  }

  #server(index: number): ServerRuntime {
    const server = this.#servers[index];
    if (!server) throw new Error(`no server ${index} in a cluster of ${this.#servers.length}`);
    return server;
  }

  #replication(info: StreamInfo): StreamReplication | undefined {
    const leader = this.#servers.findIndex((server) => server.name === info.cluster?.leader);
    if (leader < 0) return undefined;
    const replicas = (info.cluster?.replicas ?? []).map((replica) => ({
      index: this.#servers.findIndex((server) => server.name === replica.name),
      current: replica.current,
      offline: replica.offline === true,
    }));
    return { leader, replicas };
  }

  /** Stream info from whichever server answers; undefined while no leader answers. */
  async #streamInfo(stream: string): Promise<StreamInfo | undefined> {
    try {
      this.#client ??= await connect({
        servers: this.urls,
        name: `${this.name}-harness`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 100,
      });
      const jsm = await jetstreamManager(this.#client, { timeout: 2_000 });
      return await jsm.streams.info(stream);
    } catch {
      return undefined;
    }
  }

  async #until(what: string, condition: () => Promise<boolean>): Promise<void> {
    const deadline = performance.now() + this.#deadlineMs;
    while (!(await condition())) {
      if (performance.now() > deadline)
        throw new Error(`cluster ${this.name}: timed out waiting for ${what}`);
      await delay(POLL_MS);
    }
  }

  /** Spawns a server and resolves once it accepts clients. */
  async #spawn(server: ServerRuntime): Promise<void> {
    server.log = '';
    const proc = spawn(NATS_SERVER, ['-c', server.configFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    server.proc = proc;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${server.name} did not start:\n${server.log}`)),
        this.#deadlineMs,
      );
      let ready = false;
      proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        server.log = (server.log + chunk).slice(-LOG_TAIL_CHARS);
        if (!ready && server.log.includes('Server is ready')) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${server.name} exited (${code ?? signal}):\n${server.log}`));
      });
    });
  }
}

/** `count` free loopback ports, all different. */
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
