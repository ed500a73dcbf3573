import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { type BusConnection, connectBus } from '../../pkg/bus/connect.js';
import { JetStreamStatusSink } from '../../pkg/bus/status-sink.js';
import { ensureStreams } from '../../pkg/bus/streams.js';
import { systemClock } from '../../pkg/clock.js';
import { loadConfig } from '../../pkg/config/load-config.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { type HttpServer, startHttpServer } from '../../pkg/observe/http-server.js';
import { Metrics } from '../../pkg/observe/metrics.js';
import { Engine } from '../../pkg/reconcile/engine.js';
import { FileLedger } from '../../pkg/reconcile/ledger.js';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import { natsConfig, randomPrefix, waitFor } from '../bus/support/fixtures.js';
import { SHARED_NATS_URL } from '../bus/support/nats-server.js';
import { Controller } from '../support/controller.js';
import { FakeHypervisor } from '../support/fake-hypervisor.js';
import { HeldLedgerFs } from '../support/held-ledger-fs.js';
import { newUuid } from './support/node.js';

/**
 * While the ledger's journal rewrite waits for an fsync (an SD card taking its time), the service
 * goes on serving: its timers fire, another domain is created and its statuses reach NATS, and
 * /healthz answers. The service is wired as run-service wires it (engine, file ledger, JetStream
 * status sink on the real nats-server, HTTP server), on the in-memory hypervisor; the fsync is
 * held by the injected filesystem layer until the test lets it go. Nothing here waits a fixed
 * time: every wait is for a condition.
 */

jest.setTimeout(60_000);

const held = new HeldLedgerFs();
const stateDir = mkdtempSync(join(tmpdir(), 'held-fsync-'));
const prefix = randomPrefix();
const nodeId = 'held-fsync';
const config: DomainmgrConfig = {
  ...loadConfig([], {}).config,
  nodeId,
  stateDir,
  nats: natsConfig(SHARED_NATS_URL, prefix),
  probeIntervalMs: 100,
  probeJitter: 0,
  storage: { allowedRoots: ['/persist'] },
};
const hypervisor = new FakeHypervisor(systemClock);
// Rewritten past 4 lines, or 4 per live entry: a handful of puts make the journal outgrow it.
const ledger = new FileLedger(stateDir, { fs: held, compactMinLines: 4 });
let conn: BusConnection;
let sink: JetStreamStatusSink;
let engine: Engine;
let http: HttpServer;
let ctl: Controller;

const vm = (uuid: string, name: string) => ({
  uuid,
  name,
  generation: 1,
  activate: true,
  type: 'vm',
  memoryMiB: 64,
  kernel: '/persist/vmlinuz',
});
let seq = 0;
const send = (uuid: string, name: string) =>
  engine.handleConfig({
    uuid,
    seq: ++seq,
    payload: new TextEncoder().encode(JSON.stringify(vm(uuid, name))),
  });

beforeAll(async () => {
  conn = await connectBus({ nats: config.nats, nodeId, logger: silentLogger });
  await ensureStreams(await conn.jsm(), { prefix, manageStreams: true, logger: silentLogger });
  sink = new JetStreamStatusSink({ conn, prefix, nodeId, logger: silentLogger });
  engine = new Engine({
    config,
    hypervisor,
    clock: systemClock,
    logger: silentLogger,
    ledger,
    status: sink,
    connection: conn,
    version: '0.0.0-test',
  });
  http = await startHttpServer({
    listen: '127.0.0.1:0',
    metrics: new Metrics({ version: '0.0.0-test', domainCounts: () => engine.nodeStatus().domains }),
    logger: silentLogger,
    health: () => {
      const reasons = engine.readiness();
      return { live: true, ready: reasons.length === 0, reasons };
    },
  });
  ctl = await Controller.connect(SHARED_NATS_URL, prefix, nodeId);
  await engine.start();
  engine.markSynced();
});

afterAll(async () => {
  held.release();
  await engine.stop();
  await ledger.settled();
  ledger.close();
  await sink.flush(5_000);
  sink.close();
  await conn.close();
  await http.close();
  await ctl.deleteStreams();
  await ctl.close();
  rmSync(stateDir, { recursive: true, force: true });
});

test('a held fsync of the ledger stalls nothing: timers fire, another domain gets created and published, /healthz answers', async () => {
  const first = newUuid();
  await send(first, 'first');
  await ctl.waitForStatus(first, (s) => s.state === 'RUNNING');

  // The journal outgrows its entries (as a long history of restarts would) and is rewritten;
  // the rewrite's fsync is held.
  held.holding = true;
  const history = newUuid();
  for (let i = 0; i < 8; i++) {
    await ledger.put({
      uuid: history,
      name: 'gone',
      phase: 'stopped',
      restartCounter: 0,
      purgeCounter: 0,
      restartCount: i,
      runningSpec: null,
      currentMemoryMiB: null,
    });
  }
  await held.whenParked();

  // Timers: the engine's periodic listing runs again, twice.
  const listings = () => hypervisor.calls.filter((c) => c === 'list').length;
  const before = listings();
  await waitFor('two more periodic listings', () => listings() >= before + 2);

  // Another domain: created (its ledger entries appended meanwhile), published, stored in NATS.
  const second = newUuid();
  await send(second, 'second');
  const running = await ctl.waitForStatus(second, (s) => s.state === 'RUNNING');
  expect(running).toMatchObject({ uuid: second, nodeId, observedGeneration: 1 });

  // The health endpoint answers, ready.
  const res = await fetch(`http://127.0.0.1:${http.address.port}/healthz`);
  expect(res.status).toBe(200);

  // All of it while the fsync was still held.
  expect(held.parked).toBe(1);

  held.release();
  await ledger.settled();
  const reread = await new FileLedger(stateDir).load();
  expect(reread.get(first)?.phase).toBe('created');
  expect(reread.get(second)?.phase).toBe('created');
  expect(reread.get(history)?.restartCount).toBe(7);
});
