/**
 * Failover time of a fleet on a 3-server JetStream cluster (R3 streams): SIGKILL the server that
 * leads a stream and measure, per node, how long until the node works again through the new
 * leader. Not part of the tests; prints a table and writes JSON to bench/results/.
 *
 *   npm run bench:failover -- [--nodes 5] [--rounds 2] [--node-status-ms 1000]
 *
 * Each round kills two servers one after the other (restarting each and waiting for full
 * replication before the next):
 * - `status`: the leader of the status stream. Per node: from the kill to the first NodeStatus
 *   stored by the stream that the node wrote after the kill (nodes publish one every
 *   --node-status-ms, so that much is resolution, not failover).
 * - `config`: the leader of the config stream. Right after the kill one new domain per node is
 *   published (retried until acknowledged); per node: from the kill to that domain's RUNNING
 *   status stored. This includes the config consumer noticing that its pull died with the old
 *   leader (two missed 5 s heartbeats) and the create on the simulated host.
 * "every node" is the slowest node of the round.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { contractStreamConfig, STREAM_KINDS } from '../pkg/bus/streams.js';
import { streamName } from '../pkg/bus/subjects.js';
import { projectRoot } from '../pkg/project-files.js';
import { DomainmgrProcess } from '../test/support/domainmgr-process.js';
import { NatsCluster } from '../test/support/nats-cluster.js';
import { type SimHostHandle, startSimHost } from '../test/support/sim-host.js';
import { median, percentile, printTable, round, sleep } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string' },
    rounds: { type: 'string' },
    'node-status-ms': { type: 'string' },
  },
});
const NODES = Number(values.nodes ?? 5);
const ROUNDS = Number(values.rounds ?? 2);
const NODE_STATUS_MS = Number(values['node-status-ms'] ?? 1000);
for (const [flag, v] of [
  ['--nodes', NODES],
  ['--rounds', ROUNDS],
  ['--node-status-ms', NODE_STATUS_MS],
] as const)
  if (!Number.isInteger(v) || v < 1) throw new Error(`nats-failover: ${flag} must be a whole number above 0`);
/** Polling pace of the reads below; part of each figure's resolution. */
const POLL_MS = 50;
const DEADLINE_MS = 120_000;

const prefix = `fo${randomBytes(4).toString('hex')}`;
const names = {
  config: streamName(prefix, 'config'),
  status: streamName(prefix, 'status'),
  lease: streamName(prefix, 'lease'),
};
const root = mkdtempSync(join(tmpdir(), 'domainmgr-bench-failover-'));
const cluster = await NatsCluster.start();
const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
const jsm = await jetstreamManager(nc, { timeout: 2_000 });
const js = jetstream(nc, { timeout: 2_000 });
const sims: SimHostHandle[] = [];
const nodes: { id: string; dm: DomainmgrProcess; images: string }[] = [];

interface Round {
  kind: 'status' | 'config';
  server: number;
  /** Per node, ms from the kill until it worked again. */
  perNodeMs: number[];
}
const rounds: Round[] = [];

try {
  for (const kind of STREAM_KINDS) await jsm.streams.add(contractStreamConfig(prefix, kind, 3));
  for (let i = 0; i < NODES; i++) {
    const sim = startSimHost();
    sims.push(sim);
    const dir = join(root, `n${i}`);
    const images = join(dir, 'images');
    mkdirSync(images, { recursive: true });
    writeFileSync(join(images, 'vmlinuz'), 'not really a kernel\n');
    const dm = DomainmgrProcess.start({
      backend: 'xl',
      nodeId: `n${i}`,
      prefix,
      stateDir: join(dir, 'state'),
      natsUrl: cluster.urls.join(','),
      sim,
      allowedRoots: [images],
      extraArgs: [
        '--manage-streams',
        'false',
        '--node-status-interval-ms',
        String(NODE_STATUS_MS),
        '--log-level',
        'info',
      ],
    });
    nodes.push({ id: `n${i}`, dm, images });
  }
  for (const n of nodes) await n.dm.waitReady(DEADLINE_MS);
  for (const stream of Object.values(names)) await cluster.waitFullReplication(stream);

  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of ['status', 'config'] as const) {
      const server = await cluster.leaderOf(names[kind]);
      const killedAt = performance.now();
      const killedWall = Date.now();
      await cluster.kill(server);
      const perNodeMs =
        kind === 'status'
          ? await Promise.all(nodes.map((n) => untilNodeStatusAfter(n.id, killedWall, killedAt)))
          : await Promise.all(nodes.map((n) => untilNewDomainRunning(n.id, n.images, killedAt)));
      rounds.push({ kind, server, perNodeMs });
      await cluster.restart(server);
      for (const stream of Object.values(names)) await cluster.waitFullReplication(stream);
    }
  }
} finally {
  for (const n of nodes) n.dm.kill('SIGKILL');
  for (const n of nodes) await n.dm.waitExit(10_000).catch(() => undefined);
  for (const sim of sims) await sim.stop();
  await nc.close().catch(() => undefined);
  await cluster.stop();
  rmSync(root, { recursive: true, force: true });
}

const exits = nodes.filter((n) => n.dm.exited?.signal !== 'SIGKILL').map((n) => n.id);
const load = loadavg().map((x) => round(x, 2));
printTable(
  `Failover of ${NODES} domainmgr on a 3-server JetStream cluster (R3), per SIGKILLed stream leader, ms (load ${load.join(' ')})`,
  ['killed leader of', 'server', 'every node', 'median node', 'fastest node'],
  rounds.map((r) => [
    r.kind,
    r.server,
    round(Math.max(...r.perNodeMs), 0),
    round(median(r.perNodeMs), 0),
    round(Math.min(...r.perNodeMs), 0),
  ]),
);
for (const kind of ['status', 'config'] as const) {
  const all = rounds.filter((r) => r.kind === kind).flatMap((r) => r.perNodeMs);
  console.log(
    `${kind}: every node within ${round(Math.max(...all), 0)} ms (worst round); per node p50 ${round(median(all), 0)} ms, p90 ${round(percentile(all, 90), 0)} ms`,
  );
}
if (exits.length > 0) console.log(`domainmgr that exited on their own: ${exits.join(', ')}`);
const resultsDir = join(projectRoot, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `nats-failover-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ nodes: NODES, nodeStatusMs: NODE_STATUS_MS, pollMs: POLL_MS, loadavg: load, rounds, exitedOnTheirOwn: exits }, null, 2)}\n`,
);
console.log(`JSON: ${file}`);

/** ms from the kill until the stream stored a NodeStatus of `nodeId` written after the kill. */
async function untilNodeStatusAfter(nodeId: string, afterWall: number, killedAt: number): Promise<number> {
  const subject = `${prefix}.${nodeId}.node`;
  return poll(`a NodeStatus of ${nodeId} stored after the kill`, killedAt, async () => {
    const m = await jsm.direct.getMessage(names.status, { last_by_subj: subject });
    const updatedAt = m === null ? 0 : Date.parse((m.json() as { updatedAt: string }).updatedAt);
    return updatedAt > afterWall;
  });
}

/** Publishes a new domain for `nodeId` (retried until acked); ms from the kill until it is stored RUNNING. */
async function untilNewDomainRunning(nodeId: string, images: string, killedAt: number): Promise<number> {
  const uuid = randomUUID();
  const config = {
    uuid,
    name: `fo-${uuid.slice(0, 8)}`,
    generation: 1,
    activate: true,
    type: 'vm',
    virtualizationMode: 'pvh',
    memoryMiB: 64,
    kernel: join(images, 'vmlinuz'),
  };
  for (;;) {
    try {
      await js.publish(`${prefix}.${nodeId}.config.${uuid}`, JSON.stringify(config));
      break;
    } catch {
      if (performance.now() - killedAt > DEADLINE_MS)
        throw new Error(`config for ${nodeId} never acknowledged`);
    }
  }
  const subject = `${prefix}.${nodeId}.status.${uuid}`;
  return poll(`domain ${uuid} of ${nodeId} RUNNING`, killedAt, async () => {
    const m = await jsm.direct.getMessage(names.status, { last_by_subj: subject });
    return m !== null && (m.json() as { state: string }).state === 'RUNNING';
  });
}

async function poll(what: string, since: number, done: () => Promise<boolean>): Promise<number> {
  for (;;) {
    const ok = await done().catch(() => false);
    if (ok) return performance.now() - since;
    if (performance.now() - since > DEADLINE_MS)
      throw new Error(`nats-failover: timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}
