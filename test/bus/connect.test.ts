import { rmSync } from 'node:fs';
import { type BusConnection, ConnectAbortedError, connectBus } from '../../pkg/bus/connect.js';
import { captureLogger, natsConfig, randomPrefix, waitFor } from './support/fixtures.js';
import { OwnNatsServer } from './support/nats-server.js';
import { makeTestPki, type TestPki } from './support/tls.js';

const FAST = { initialMs: 50, maxMs: 200, jitter: 0.2 };

// Aborted after each test, so that a failed test leaves no connection retry loop behind.
let testAbort: AbortController;
beforeEach(() => {
  testAbort = new AbortController();
});
afterEach(() => {
  testAbort.abort();
});

describe('connectBus against an own nats-server', () => {
  let server: OwnNatsServer;
  let conn: BusConnection | undefined;

  beforeEach(async () => {
    server = await OwnNatsServer.create();
  });
  afterEach(async () => {
    await conn?.close();
    conn = undefined;
    await server.destroy();
  });

  test('keeps retrying while no server is up, logging each failed attempt, then connects', async () => {
    const { logger, lines } = captureLogger();
    const pending = connectBus({
      nats: natsConfig(server.url, randomPrefix()),
      nodeId: 'n1',
      logger,
      backoff: FAST,
      signal: testAbort.signal,
    });
    await waitFor(
      'three failed attempts',
      () => lines.filter((l) => l.msg.startsWith('cannot connect')).length >= 3,
    );
    await server.start();
    conn = await pending;

    expect(conn.connected).toBe(true);
    const failures = lines.filter((l) => l.msg === 'cannot connect to NATS, retrying');
    expect(failures.length).toBeGreaterThanOrEqual(3);
    // One line per attempt, numbered, each with the reason and the delay before the next.
    expect(failures.map((l) => l.attempt)).toEqual(failures.map((_, i) => i + 1));
    for (const f of failures) {
      expect(f.level).toBe('warn');
      expect(String(f.err)).toMatch(/ECONNREFUSED|refused/i);
      expect(f.retryInMs).toEqual(expect.any(Number));
    }
    expect(lines.some((l) => l.msg === 'connected to NATS')).toBe(true);
    // The server sees the client under the node's name.
    const connz = (await server.monitor('connz')) as { connections: { name?: string }[] };
    expect(connz.connections.map((c) => c.name)).toEqual(['domainmgr-n1']);
  });

  test('an abort stops the first-connection retries', async () => {
    const { logger } = captureLogger();
    const ac = new AbortController();
    const pending = connectBus({
      nats: natsConfig(server.url, randomPrefix()),
      nodeId: 'n1',
      logger,
      backoff: FAST,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 150);
    await expect(pending).rejects.toBeInstanceOf(ConnectAbortedError);
  });

  test('reports disconnect and reconnect across a server restart, and logs both', async () => {
    await server.start();
    const { logger, lines } = captureLogger();
    conn = await connectBus({
      nats: natsConfig(server.url, randomPrefix()),
      nodeId: 'n1',
      logger,
      backoff: FAST,
      signal: testAbort.signal,
    });
    const seen: boolean[] = [];
    const unsubscribe = conn.onChange((c) => seen.push(c));

    await server.stop();
    await waitFor('disconnected', () => conn?.connected === false);
    // Some reconnect attempts fail while the server is down.
    await waitFor(
      'two reconnect attempts',
      () => lines.filter((l) => l.msg === 'reconnecting to NATS').length >= 2,
    );
    await server.start();
    await waitFor('reconnected', () => conn?.connected === true);

    expect(seen).toEqual([false, true]);
    expect(lines.find((l) => l.msg === 'disconnected from NATS')?.level).toBe('warn');
    const back = lines.find((l) => l.msg === 'reconnected to NATS');
    expect(back?.level).toBe('info');
    expect(back?.attempts).toBeGreaterThanOrEqual(1);

    // A round trip works on the new connection.
    await conn.nc.flush();
    unsubscribe();
    await server.stop();
    await waitFor('disconnected again', () => conn?.connected === false);
    expect(seen).toEqual([false, true]);
  });

  test('close() ends the connection and reports it', async () => {
    await server.start();
    const { logger } = captureLogger();
    conn = await connectBus({
      nats: natsConfig(server.url, randomPrefix()),
      nodeId: 'n1',
      logger,
      backoff: FAST,
      signal: testAbort.signal,
    });
    const seen: boolean[] = [];
    conn.onChange((c) => seen.push(c));
    await conn.close();
    expect(conn.nc.isClosed()).toBe(true);
    await waitFor('closed state', () => conn?.connected === false);
    expect(seen).toEqual([false]);
  });
});

describe('connectBus with TLS options from the config', () => {
  let pki: TestPki;
  let server: OwnNatsServer;
  let conn: BusConnection | undefined;

  beforeAll(async () => {
    pki = makeTestPki();
    // Mutual TLS: the server verifies the client's certificate too.
    server = await OwnNatsServer.create([
      '--tlsverify',
      '--tlscert',
      pki.serverCert,
      '--tlskey',
      pki.serverKey,
      '--tlscacert',
      pki.caFile,
    ]);
    await server.start();
  });
  afterAll(async () => {
    await server.destroy();
    rmSync(pki.dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await conn?.close();
    conn = undefined;
  });

  test('connects with caFile, certFile and keyFile', async () => {
    const { logger } = captureLogger();
    const nats = {
      ...natsConfig(server.url, randomPrefix()),
      tls: { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey },
    };
    conn = await connectBus({ nats, nodeId: 'n1', logger, backoff: FAST, signal: testAbort.signal });
    expect(conn.connected).toBe(true);
    await conn.nc.flush();
  });

  test('without the client certificate the server refuses, and the failures are logged', async () => {
    const { logger, lines } = captureLogger();
    const ac = testAbort;
    const nats = { ...natsConfig(server.url, randomPrefix()), tls: { caFile: pki.caFile } };
    const pending = connectBus({
      nats,
      nodeId: 'n1',
      logger,
      backoff: FAST,
      signal: ac.signal,
      timeoutMs: 1_000,
    });
    await waitFor(
      'two failures',
      () => lines.filter((l) => l.msg === 'cannot connect to NATS, retrying').length >= 2,
    );
    ac.abort();
    await expect(pending).rejects.toBeInstanceOf(ConnectAbortedError);
    const failure = lines.find((l) => l.msg === 'cannot connect to NATS, retrying');
    expect(String(failure?.err)).toMatch(/certificate|TLS|SSL|timeout|closed/i);
  });
});
