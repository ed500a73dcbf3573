import { randomUUID } from 'node:crypto';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { BusConnection } from '../../pkg/bus/connect.js';
import { JetStreamStatusSink } from '../../pkg/bus/status-sink.js';
import { ensureStreams } from '../../pkg/bus/streams.js';
import { nodeSubjects, streamName } from '../../pkg/bus/subjects.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { check, validateDomainStatusSchema, validateNodeStatusSchema } from '../../pkg/schema/validators.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { NodeStatus } from '../../types/generated/node-status.js';
import { deleteStreams, testConnection } from './support/bus.js';
import { captureLogger, randomPrefix, waitFor } from './support/fixtures.js';
import { OwnNatsServer } from './support/nats-server.js';

const NODE = 'edge-1';
const FAST_RETRY = { initialMs: 50, maxMs: 500, jitter: 0.2 };

function domainStatus(
  uuid: string,
  generation: number,
  state: DomainStatus['state'] = 'RUNNING',
): DomainStatus {
  const t = new Date(Date.UTC(2026, 0, 1, 0, 0, generation)).toISOString();
  return {
    uuid,
    name: 'web-1',
    nodeId: NODE,
    backend: 'xl',
    state,
    observedGeneration: generation,
    domainName: 'web-1',
    domainId: state === 'RUNNING' ? 7 : null,
    activated: state === 'RUNNING',
    bootTime: state === 'RUNNING' ? t : null,
    lastTransitionTime: t,
    updatedAt: t,
    restartCount: 0,
    vifs: [],
    pciDevices: [],
    pendingChanges: [],
    error: null,
  };
}

function nodeStatus(n: number): NodeStatus {
  const t = new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();
  return {
    nodeId: NODE,
    backend: 'xl',
    version: '0.1.0',
    startedAt: t,
    updatedAt: t,
    ready: true,
    verify: { ok: true, problems: [] },
    host: { totalMemoryMiB: 16384, freeMemoryMiB: 8192, nrCpus: 4, hypervisorVersion: '4.17' },
    domains: { RUNNING: n },
  };
}

/** Reads the stored value of a subject with a direct get, and checks it against its schema. */
async function storedDomainStatus(
  jsm: JetStreamManager,
  prefix: string,
  uuid: string,
): Promise<DomainStatus> {
  const m = await jsm.direct.getMessage(streamName(prefix, 'status'), {
    last_by_subj: nodeSubjects(prefix, NODE).status(uuid),
  });
  if (!m) throw new Error(`no status stored for ${uuid}`);
  const v = check(validateDomainStatusSchema, m.json());
  if (!v.ok) throw new Error(`stored status invalid: ${v.errors.join('; ')}`);
  return v.value;
}

async function storedNodeStatus(jsm: JetStreamManager, prefix: string): Promise<NodeStatus> {
  const m = await jsm.direct.getMessage(streamName(prefix, 'status'), {
    last_by_subj: nodeSubjects(prefix, NODE).node,
  });
  if (!m) throw new Error('no node status stored');
  const v = check(validateNodeStatusSchema, m.json());
  if (!v.ok) throw new Error(`stored node status invalid: ${v.errors.join('; ')}`);
  return v.value;
}

/** The same connection, with a JetStream client that counts publishes in flight. */
function countingConnection(conn: BusConnection): {
  conn: BusConnection;
  maxInFlight: () => number;
  total: () => number;
} {
  let inFlight = 0;
  let max = 0;
  let total = 0;
  const js = new Proxy(conn.js, {
    get(target, prop, receiver) {
      if (prop !== 'publish') return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<JetStreamClient['publish']>) => {
        inFlight++;
        total++;
        max = Math.max(max, inFlight);
        try {
          return await target.publish(...args);
        } finally {
          inFlight--;
        }
      };
    },
  });
  return { conn: withJs(conn, js), maxInFlight: () => max, total: () => total };
}

/** The same connection and connection state, with another JetStream client. */
function withJs(conn: BusConnection, js: JetStreamClient): BusConnection {
  return {
    nc: conn.nc,
    js,
    jsm: () => conn.jsm(),
    close: () => conn.close(),
    get connected() {
      return conn.connected;
    },
    onChange: (fn) => conn.onChange(fn),
  };
}

describe('JetStreamStatusSink against the shared nats-server', () => {
  let conn: BusConnection;
  let jsm: JetStreamManager;
  let prefix: string;
  let sinks: JetStreamStatusSink[];

  beforeAll(async () => {
    conn = await testConnection();
    jsm = await conn.jsm();
  });
  afterAll(async () => {
    await conn.close();
  });
  beforeEach(async () => {
    prefix = randomPrefix();
    sinks = [];
    await ensureStreams(jsm, { prefix, manageStreams: true, logger: silentLogger });
  });
  afterEach(async () => {
    for (const s of sinks) s.close();
    await deleteStreams(jsm, streamName(prefix, 'config'), streamName(prefix, 'status'));
  });

  function newSink(extra: Partial<ConstructorParameters<typeof JetStreamStatusSink>[0]> = {}) {
    const sink = new JetStreamStatusSink({
      conn,
      prefix,
      nodeId: NODE,
      logger: silentLogger,
      retryBackoff: FAST_RETRY,
      ...extra,
    });
    sinks.push(sink);
    return sink;
  }

  test('stores domain and node statuses on their subjects', async () => {
    const { logger, lines } = captureLogger();
    const sink = newSink({ logger });
    const a = randomUUID();
    sink.publishDomainStatus(domainStatus(a, 3));
    sink.publishNodeStatus(nodeStatus(1));
    expect(sink.pending).toBe(2);
    await expect(sink.flush(5_000)).resolves.toBe(true);
    expect(sink.pending).toBe(0);
    expect(await storedDomainStatus(jsm, prefix, a)).toEqual(domainStatus(a, 3));
    expect(await storedNodeStatus(jsm, prefix)).toEqual(nodeStatus(1));
    expect(lines.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
  });

  test('newest wins per subject: a burst of one domain is coalesced, the last one is stored', async () => {
    const counting = countingConnection(conn);
    const sink = newSink({ conn: counting.conn });
    const a = randomUUID();
    for (let g = 1; g <= 50; g++) sink.publishDomainStatus(domainStatus(a, g));
    expect(sink.pending).toBe(1);
    await expect(sink.flush(5_000)).resolves.toBe(true);
    expect((await storedDomainStatus(jsm, prefix, a)).observedGeneration).toBe(50);
    // The first went out at once; the 49 others replaced each other while it was in flight.
    expect(counting.total()).toBe(2);
    expect((await jsm.streams.info(streamName(prefix, 'status'))).state.last_seq).toBe(2);
  });

  test('publishes concurrently across subjects, never more than the bound at once', async () => {
    const counting = countingConnection(conn);
    const sink = newSink({ conn: counting.conn, concurrency: 4 });
    const uuids = Array.from({ length: 100 }, () => randomUUID());
    for (const u of uuids) sink.publishDomainStatus(domainStatus(u, 1));
    await expect(sink.flush(10_000)).resolves.toBe(true);
    expect(counting.maxInFlight()).toBe(4);
    expect(counting.total()).toBe(100);
    for (const u of uuids.slice(0, 5)) expect((await storedDomainStatus(jsm, prefix, u)).uuid).toBe(u);
    expect((await jsm.streams.info(streamName(prefix, 'status'))).state.messages).toBe(100);
  });

  test('flush waits only for what was queued before it', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    // b's publishes are held back until the test lets them go.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const gated = new Proxy(conn.js, {
      get(target, prop, receiver) {
        if (prop !== 'publish') return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<JetStreamClient['publish']>) => {
          if (args[0].endsWith(b)) await held;
          return target.publish(...args);
        };
      },
    });
    const sink = newSink({ conn: withJs(conn, gated) });
    sink.publishDomainStatus(domainStatus(a, 1));
    const flushed = sink.flush(5_000);
    sink.publishDomainStatus(domainStatus(b, 1));
    await expect(flushed).resolves.toBe(true);
    expect(sink.pending).toBe(1);
    await expect(storedDomainStatus(jsm, prefix, a)).resolves.toMatchObject({ uuid: a });
    // Waiting for b now times out while it is held, and succeeds once it is let go.
    await expect(sink.flush(100)).resolves.toBe(false);
    release();
    await expect(sink.flush(5_000)).resolves.toBe(true);
    await expect(storedDomainStatus(jsm, prefix, b)).resolves.toMatchObject({ uuid: b });
  });

  test('a missing stream is retried until it exists; flush times out meanwhile', async () => {
    await deleteStreams(jsm, streamName(prefix, 'status'));
    const { logger, lines } = captureLogger();
    const attempts: string[] = [];
    const sink = newSink({ logger, onAttempt: (kind, ok) => attempts.push(`${kind} ${ok}`) });
    const a = randomUUID();
    sink.publishDomainStatus(domainStatus(a, 1));
    await expect(sink.flush(300)).resolves.toBe(false);
    expect(attempts.length).toBeGreaterThan(1);
    expect(new Set(attempts)).toEqual(new Set(['domain false']));
    const warn = lines.find((l) => l.msg === 'cannot publish status, retrying');
    expect(warn?.level).toBe('warn');
    expect(String(warn?.err)).toMatch(/no responders|503/i);
    // The outage is logged once at warn, further attempts at debug.
    expect(
      lines.filter((l) => l.msg === 'cannot publish status, retrying' && l.level === 'warn'),
    ).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'cannot publish status, retrying').length).toBeGreaterThan(1);

    await ensureStreams(jsm, { prefix, manageStreams: true, logger: silentLogger });
    sink.publishNodeStatus(nodeStatus(1));
    await expect(sink.flush(5_000)).resolves.toBe(true);
    expect((await storedDomainStatus(jsm, prefix, a)).uuid).toBe(a);
    // Each attempt is reported once: failures until the stream exists, then one stored per kind.
    expect(attempts.filter((x) => x.endsWith('true')).sort()).toEqual(['domain true', 'node true']);
    expect(lines.some((l) => l.msg === 'status publishing recovered')).toBe(true);
  });

  test('a status that breaks its schema is logged as an error, and still stored', async () => {
    const { logger, lines } = captureLogger();
    const sink = newSink({ logger });
    const a = randomUUID();
    const bad = { ...domainStatus(a, 1), state: 'EXPLODED' } as unknown as DomainStatus;
    sink.publishDomainStatus(bad);
    await expect(sink.flush(5_000)).resolves.toBe(true);
    const err = lines.find((l) => l.msg === 'outgoing status violates its schema');
    expect(err?.level).toBe('error');
    expect(JSON.stringify(err?.errors)).toContain('state');
    const m = await jsm.direct.getMessage(streamName(prefix, 'status'), {
      last_by_subj: nodeSubjects(prefix, NODE).status(a),
    });
    expect(m?.json<{ state: string }>().state).toBe('EXPLODED');
  });

  test('a uuid that is no subject token is refused without throwing', () => {
    const { logger, lines } = captureLogger();
    const sink = newSink({ logger });
    expect(() => sink.publishDomainStatus(domainStatus('a.b', 1))).not.toThrow();
    expect(sink.pending).toBe(0);
    expect(lines.some((l) => l.level === 'error' && l.uuid === 'a.b')).toBe(true);
  });

  test('one status at a time, 200 times: each flush resolves once that status is stored', async () => {
    const sink = newSink();
    const a = randomUUID();
    for (let g = 1; g <= 200; g++) {
      sink.publishDomainStatus(domainStatus(a, g));
      expect(await sink.flush(5_000)).toBe(true);
      if (g % 50 === 0) expect((await storedDomainStatus(jsm, prefix, a)).observedGeneration).toBe(g);
    }
  });
});

describe('JetStreamStatusSink across a nats-server restart', () => {
  let server: OwnNatsServer;
  let conns: BusConnection[] = [];

  beforeEach(async () => {
    server = await OwnNatsServer.create();
    await server.start();
  });
  afterEach(async () => {
    for (const c of conns) await c.close();
    conns = [];
    await server.destroy();
  });

  test('statuses published while the server is down are stored once it is back, newest wins', async () => {
    const prefix = randomPrefix();
    const conn = await testConnection(server.url);
    conns.push(conn);
    await ensureStreams(await conn.jsm(), { prefix, manageStreams: true, logger: silentLogger });
    const { logger, lines } = captureLogger();
    const sink = new JetStreamStatusSink({ conn, prefix, nodeId: NODE, logger, retryBackoff: FAST_RETRY });
    const [a, b] = [randomUUID(), randomUUID()];
    sink.publishDomainStatus(domainStatus(a, 1, 'BOOTING'));
    expect(await sink.flush(5_000)).toBe(true);

    await server.stop();
    await waitFor('disconnected', () => !conn.connected);
    sink.publishDomainStatus(domainStatus(a, 2, 'RUNNING'));
    sink.publishDomainStatus(domainStatus(b, 1, 'PENDING'));
    sink.publishNodeStatus(nodeStatus(1));
    sink.publishDomainStatus(domainStatus(b, 2, 'CREATING'));
    sink.publishNodeStatus(nodeStatus(2));
    expect(sink.pending).toBe(3);
    expect(await sink.flush(300)).toBe(false);

    await server.start();
    expect(await sink.flush(30_000)).toBe(true);

    // A fresh connection reads back what the stream holds after the restart.
    const reader = await testConnection(server.url);
    conns.push(reader);
    const jsm = await reader.jsm();
    expect(await storedDomainStatus(jsm, prefix, a)).toEqual(domainStatus(a, 2, 'RUNNING'));
    expect(await storedDomainStatus(jsm, prefix, b)).toEqual(domainStatus(b, 2, 'CREATING'));
    expect(await storedNodeStatus(jsm, prefix)).toEqual(nodeStatus(2));
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    sink.close();
  }, 60_000);
});
