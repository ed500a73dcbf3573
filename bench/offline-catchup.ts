/**
 * Offline catch-up of a site behind a leaf server (docs/fleet.md): `npm run bench:offline`.
 * Needs nats-server (NATS_SERVER_BIN, default /usr/sbin/nats-server); starts its own servers.
 *
 * A hub (JetStream domain hub), a site leaf server whose uplink is a relay the bench cuts, and
 * domainmgr on a simulated xl host talking only to the leaf (--hub-domain hub). It starts
 * DOMAINS domains from the hub, then, ROUNDS times: cuts the uplink, publishes at the hub a batch
 * of deletes, creates and halts (BATCH of each), restores the uplink and measures
 * - mirror: link restored to the leaf's mirror holding every config of the batch,
 * - acted: link restored to the node having acted on every config of the batch (statuses on the leaf),
 * - at hub: link restored to the hub's status stream holding those newest statuses.
 * Prints a table and writes bench/results/offline-catchup-<time>.json.
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { hubStatusStream } from '../pkg/bus/site-streams.js';
import { contractStreamConfig, ensureStreams } from '../pkg/bus/streams.js';
import { silentLogger } from '../pkg/log/logger.js';
import { projectRoot } from '../pkg/project-files.js';
import type { DomainConfig } from '../types/generated/domain-config.js';
import type { DomainStatus } from '../types/generated/domain-status.js';
import { BenchBus } from './lib/bus.js';
import { benchDomain } from './lib/domains.js';
import { freePort, startManager } from './lib/manager.js';
import { type NatsProcess, startNatsServer } from './lib/nats-process.js';
import { freshSimHost } from './lib/sim.js';
import { HUB_DOMAIN, hubConf, leafConf } from './lib/site-confs.js';
import { median, nowMs, printTable, round, sleep } from './lib/stats.js';
import { Uplink } from './lib/uplink.js';

const ROUNDS = 3;
const BATCH = 10;
const DOMAINS = 2 * BATCH * ROUNDS;
const DEADLINE_MS = 120_000;

interface Round {
  round: number;
  configs: number;
  leafReconnectMs: number;
  mirroredMs: number;
  actedMs: number;
  atHubMs: number;
}

async function leafUp(hub: NatsProcess): Promise<boolean> {
  return (((await hub.monitor('leafz')) as { leafnodes?: number }).leafnodes ?? 0) > 0;
}

async function waitFor(what: string, done: () => boolean | Promise<boolean>): Promise<number> {
  const start = nowMs();
  while (!(await done())) {
    if (nowMs() - start > DEADLINE_MS) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
  return nowMs();
}

/** The newest status of every domain a bus's status stream stores from now on. */
async function newest(bus: BenchBus): Promise<Map<string, DomainStatus>> {
  const latest = new Map<string, DomainStatus>();
  bus.onStatus((e) => latest.set(e.uuid, e.status));
  await bus.watch();
  return latest;
}

async function main(): Promise<void> {
  const tag = randomBytes(3).toString('hex');
  const prefix = `bench_offline_${tag}`;
  const nodeId = 'site1-n1';
  const stateDir = join(tmpdir(), `domainmgr-bench-offline-${tag}`);
  const sim = freshSimHost('offline');
  const hubLeafPort = await freePort();
  const uplink = await Uplink.start(hubLeafPort);
  const hub = await startNatsServer('hub-1', hubConf(hubLeafPort, uplink.port));
  const leaf = await startNatsServer('site1-leaf', leafConf('site1', uplink.port, prefix));
  await waitFor('the leaf connection', () => leafUp(hub));

  const admin = await connect({ servers: hub.url });
  const jsm = await jetstreamManager(admin);
  await ensureStreams(jsm, { prefix, manageStreams: true, logger: silentLogger });
  const status = contractStreamConfig(prefix, 'status');
  await jsm.streams.update(status.name, hubStatusStream(prefix, status, ['site1']));

  const leafAdmin = await connect({ servers: leaf.url });
  const leafJsm = await jetstreamManager(leafAdmin);
  const configStream = contractStreamConfig(prefix, 'config').name;
  const atHub = await BenchBus.connect(prefix, nodeId, hub.url);
  const atLeaf = await BenchBus.connect(prefix, nodeId, leaf.url);
  const manager = await startManager({
    sim,
    prefix,
    nodeId,
    stateDir,
    natsServers: [leaf.url],
    extraArgs: ['--hub-domain', HUB_DOMAIN],
  });
  const onLeaf = await newest(atLeaf);
  const onHub = await newest(atHub);
  const is = (m: Map<string, DomainStatus>, d: DomainConfig, state: string) =>
    m.get(d.uuid)?.state === state && m.get(d.uuid)?.observedGeneration === d.generation;

  const running = Array.from({ length: DOMAINS }, (_, i) => benchDomain(i, tag));
  for (const d of running) await atHub.publish(d);
  await waitFor('every domain RUNNING', () => running.every((d) => is(onLeaf, d, 'RUNNING')));

  const rounds: Round[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    uplink.cut();
    await waitFor('the leaf connection down', async () => !(await leafUp(hub)));
    const deleted = running.splice(0, BATCH);
    const halted = running.splice(0, BATCH).map((d) => ({ ...d, generation: 2, activate: false }));
    const created = Array.from({ length: BATCH }, (_, i) => benchDomain(DOMAINS + r * BATCH + i, tag));
    for (const d of deleted) await atHub.publishDelete(d.uuid);
    for (const d of [...created, ...halted]) await atHub.publish(d);
    running.push(...created);
    const lastSeq = (await jsm.streams.info(configStream)).state.last_seq;
    const acted = (m: Map<string, DomainStatus>) =>
      deleted.every((d) => m.get(d.uuid)?.state === 'DELETED') &&
      halted.every((d) => is(m, d, 'HALTED')) &&
      created.every((d) => is(m, d, 'RUNNING'));

    const restored = nowMs();
    uplink.restore();
    const [reconnected, mirrored, leafDone, hubDone] = await Promise.all([
      waitFor('the leaf connection up', () => leafUp(hub)),
      waitFor(
        'the mirror holding the outage configs',
        async () => (await leafJsm.streams.info(configStream)).state.last_seq >= lastSeq,
      ),
      waitFor('the node acting on the outage configs', () => acted(onLeaf)),
      waitFor('the hub holding the newest statuses', () => acted(onHub)),
    ]);
    rounds.push({
      round: r,
      configs: 3 * BATCH,
      leafReconnectMs: round(reconnected - restored, 0),
      mirroredMs: round(mirrored - restored, 0),
      actedMs: round(leafDone - restored, 0),
      atHubMs: round(hubDone - restored, 0),
    });
  }

  const loads = loadavg().map((l) => round(l, 2));
  printTable(
    `Offline catch-up: ${3 * BATCH} configs published at the hub during each outage (load ${loads.join(' ')})`,
    [
      'round',
      'configs',
      'leaf reconnect ms',
      'mirror has configs ms',
      'node acted ms',
      'hub has statuses ms',
    ],
    rounds.map((x) => [x.round, x.configs, x.leafReconnectMs, x.mirroredMs, x.actedMs, x.atHubMs]),
  );
  console.log(
    `median: node acted ${median(rounds.map((x) => x.actedMs))} ms, hub ${median(rounds.map((x) => x.atHubMs))} ms after the link returned`,
  );
  const outDir = join(projectRoot, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `offline-catchup-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), loadavg: loads, rounds }, null, 2)}\n`,
  );
  console.log(`wrote ${file}`);

  await manager.stop();
  await atLeaf.close();
  await atHub.close();
  await admin.close();
  await leafAdmin.close();
  await leaf.stop();
  await hub.stop();
  await uplink.close();
  sim.stop();
  rmSync(stateDir, { recursive: true, force: true });
}

await main();
