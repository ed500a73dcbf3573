import { randomUUID } from 'node:crypto';
import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import { ConfigFeed } from '../../pkg/bus/config-feed.js';
import type { BusConnection } from '../../pkg/bus/connect.js';
import { JetStreamRetry } from '../../pkg/bus/jetstream-retry.js';
import { ensureStreams } from '../../pkg/bus/streams.js';
import { nodeSubjects, streamName } from '../../pkg/bus/subjects.js';
import { silentLogger } from '../../pkg/log/logger.js';
import type { ConfigDelivery } from '../../pkg/reconcile/ports.js';
import { deleteStreams, testConnection } from './support/bus.js';
import { captureLogger, randomPrefix, waitFor } from './support/fixtures.js';
import { OwnNatsServer } from './support/nats-server.js';

const NODE = 'edge-1';
const FAST_NAK = { initialMs: 100, maxMs: 400, jitter: 0 };

interface Seen {
  uuid: string;
  seq: number;
  text: string;
}

function config(uuid: string, generation: number): string {
  return JSON.stringify({ uuid, name: `d-${uuid.slice(0, 8)}`, generation });
}

/** A handler that records every delivery; `gate` lets a test hold a delivery in the handler. */
function recorder() {
  const seen: Seen[] = [];
  let gate: ((d: ConfigDelivery) => Promise<void>) | undefined;
  const handler = async (d: ConfigDelivery): Promise<void> => {
    seen.push({ uuid: d.uuid, seq: d.seq, text: new TextDecoder().decode(d.payload) });
    await gate?.(d);
  };
  return {
    seen,
    handler,
    setGate: (g: typeof gate) => {
      gate = g;
    },
  };
}

/** Polls the feed's consumer info until `cond` holds (acks reach the server asynchronously). */
async function waitForConsumer(jsm: JetStreamManager, feed: ConfigFeed, cond: (i: ConsumerInfo) => boolean) {
  let last: ConsumerInfo | undefined;
  const until = Date.now() + 5_000;
  while (Date.now() < until) {
    last = await jsm.consumers.info(feed.stream, feed.consumerName);
    if (cond(last)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`consumer never reached the expected state: ${JSON.stringify(last)}`);
}

describe('ConfigFeed against the shared nats-server', () => {
  let conn: BusConnection;
  let jsm: JetStreamManager;
  let prefix: string;
  let feeds: ConfigFeed[];
  let extraConns: BusConnection[];

  beforeAll(async () => {
    conn = await testConnection();
    jsm = await conn.jsm();
  });
  afterAll(async () => {
    await conn.close();
  });
  beforeEach(async () => {
    prefix = randomPrefix();
    feeds = [];
    extraConns = [];
    await ensureStreams(jsm, { prefix, manageStreams: true, logger: silentLogger });
  });
  afterEach(async () => {
    for (const f of feeds) await f.stop();
    for (const c of extraConns) await c.close();
    await deleteStreams(jsm, streamName(prefix, 'config'), streamName(prefix, 'status'));
  });

  async function newFeed(
    extra: Partial<ConstructorParameters<typeof ConfigFeed>[0]> = {},
  ): Promise<ConfigFeed> {
    const c = await testConnection();
    extraConns.push(c);
    const feed = new ConfigFeed({
      conn: c,
      prefix,
      nodeId: NODE,
      logger: silentLogger,
      nakBackoff: FAST_NAK,
      ...extra,
    });
    feeds.push(feed);
    return feed;
  }

  const subjects = () => nodeSubjects(prefix, NODE);
  const publish = (uuid: string, payload: string, node = NODE) =>
    conn.js.publish(nodeSubjects(prefix, node).config(uuid), payload);

  test('delivers the latest config of each domain at start, then live changes, and again after a restart', async () => {
    const [a, b, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await publish(a, config(a, 1));
    await publish(b, config(b, 1));
    await publish(a, config(a, 2));
    await publish(c, config(c, 1));
    await publish(a, config(a, 3));
    // Another node's config is not ours.
    await publish(d, config(d, 1), 'edge-2');

    const r = recorder();
    const feed = await newFeed();
    await feed.start(r.handler);
    // start() resolved: the backlog was handled, exactly once per domain, latest payloads, in
    // stream order.
    expect(r.seen.map((s) => s.text)).toEqual([config(b, 1), config(c, 1), config(a, 3)]);
    expect(r.seen.map((s) => s.uuid)).toEqual([b, c, a]);

    await publish(a, config(a, 4));
    await publish(d, config(d, 1));
    await waitFor('two live changes', () => r.seen.length === 5);
    expect(r.seen.slice(3).map((s) => s.text)).toEqual([config(a, 4), config(d, 1)]);

    // Everything handled gets acked (the acks travel on the feed's own connection).
    await waitForConsumer(jsm, feed, (i) => i.num_ack_pending === 0 && i.ack_floor.stream_seq === 8);
    expect((await jsm.consumers.info(feed.stream, feed.consumerName)).num_pending).toBe(0);

    // A restarted feed (new process, same node) gets the latest of every domain again.
    await feed.stop();
    const r2 = recorder();
    const again = await newFeed();
    await again.start(r2.handler);
    expect(r2.seen.map((s) => s.text)).toEqual([config(b, 1), config(c, 1), config(a, 4), config(d, 1)]);
    await new Promise((res) => setTimeout(res, 200));
    expect(r2.seen).toHaveLength(4);
  });

  test('start() with nothing stored resolves at once and live messages follow', async () => {
    const r = recorder();
    const feed = await newFeed();
    await feed.start(r.handler);
    expect(r.seen).toEqual([]);
    const a = randomUUID();
    await publish(a, config(a, 1));
    await waitFor('live message', () => r.seen.length === 1);
    expect(r.seen[0]?.uuid).toBe(a);
  });

  test('nothing is acked before the handler resolves; a killed feed gets the message again', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await publish(a, config(a, 1));
    await publish(b, config(b, 1));
    const r = recorder();
    let release: (() => void) | undefined;
    r.setGate(async (d) => {
      if (d.uuid === b) await new Promise<void>((res) => (release = res));
    });
    const feed = await newFeed();
    const started = feed.start(r.handler);
    await waitFor('b in the handler', () => release !== undefined);

    // a is acked, b is not while its handler runs.
    const held = await jsm.consumers.info(feed.stream, feed.consumerName);
    expect(held.ack_floor.stream_seq).toBe(1);
    expect(held.num_ack_pending).toBe(1);
    expect(held.delivered.stream_seq).toBe(2);

    // Kill the feed mid-handler: its connection goes away without a word.
    const killed = extraConns.pop();
    await killed?.close();
    feeds.pop();
    release?.();
    await started.catch(() => undefined);
    const after = await jsm.consumers.info(feed.stream, feed.consumerName);
    expect(after.ack_floor.stream_seq).toBe(1);

    // A new feed gets b again (and a, since every start delivers the latest of everything).
    const r2 = recorder();
    const next = await newFeed();
    await next.start(r2.handler);
    expect(r2.seen.map((s) => s.uuid)).toEqual([a, b]);
  });

  test('stop() lets the message in hand finish and acks it, and takes nothing more', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await publish(a, config(a, 1));
    const r = recorder();
    let release: (() => void) | undefined;
    r.setGate(async () => {
      await new Promise<void>((res) => (release = res));
    });
    const feed = await newFeed();
    const started = feed.start(r.handler);
    await waitFor('a in the handler', () => release !== undefined);
    let stopped = false;
    const stopping = feed.stop().then(() => (stopped = true));
    await new Promise((res) => setTimeout(res, 100));
    expect(stopped).toBe(false);
    release?.();
    await stopping;
    await started;
    await waitForConsumer(jsm, feed, (i) => i.ack_floor.stream_seq === 1 && i.num_ack_pending === 0);
    await publish(b, config(b, 1));
    await new Promise((res) => setTimeout(res, 200));
    expect(r.seen.map((s) => s.uuid)).toEqual([a]);
  });

  test('a handler that throws gets the message again after a delay; start() waits for it', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await publish(a, config(a, 1));
    await publish(b, config(b, 1));
    const r = recorder();
    let failures = 0;
    r.setGate(async (d) => {
      if (d.uuid === a && failures < 2) {
        failures++;
        throw new Error('engine not ready');
      }
    });
    const { logger, lines } = captureLogger();
    const feed = await newFeed({ logger });
    const t0 = Date.now();
    await feed.start(r.handler);
    const elapsed = Date.now() - t0;

    // a failed twice, b went on meanwhile, a was then handled; nothing is pending.
    expect(r.seen.map((s) => s.uuid)).toEqual([a, b, a, a]);
    expect(elapsed).toBeGreaterThanOrEqual(100 + 200 - 50);
    const errors = lines.filter((l) => l.msg === 'config handler failed, message will be redelivered');
    expect(errors.map((l) => [l.level, l.deliveryCount, l.retryInMs])).toEqual([
      ['error', 1, 100],
      ['error', 2, 200],
    ]);
    expect(String(errors[0]?.err)).toContain('engine not ready');
    await waitForConsumer(jsm, feed, (i) => i.num_ack_pending === 0 && i.ack_floor.stream_seq === 2);
  });

  test('an empty payload is delivered as a delete, and a bad uuid token is delivered too', async () => {
    const a = randomUUID();
    const r = recorder();
    const feed = await newFeed();
    await feed.start(r.handler);
    await publish(a, config(a, 1));
    await publish(a, '');
    await conn.js.publish(subjects().config('not-a-uuid'), '{}');
    await waitFor('three deliveries', () => r.seen.length === 3);
    expect(r.seen.map((s) => [s.uuid, s.text])).toEqual([
      [a, config(a, 1)],
      [a, ''],
      ['not-a-uuid', '{}'],
    ]);
  });

  test('per subject, deliveries never go back in time, also under a burst with a slow handler', async () => {
    const a = randomUUID();
    const r = recorder();
    r.setGate(() => new Promise((res) => setTimeout(res, 5)));
    const feed = await newFeed();
    await feed.start(r.handler);
    for (let g = 1; g <= 50; g++) await publish(a, config(a, g));
    await waitFor('the last generation', () => r.seen.at(-1)?.text === config(a, 50));
    const gens = r.seen.map((s) => (JSON.parse(s.text) as { generation: number }).generation);
    for (let i = 1; i < gens.length; i++) expect(gens[i]).toBeGreaterThan(gens[i - 1] ?? 0);
    const seqs = r.seen.map((s) => s.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
  });

  test('a consumer deleted under the feed is recreated and delivery goes on', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await publish(a, config(a, 1));
    const r = recorder();
    const { logger, lines } = captureLogger();
    const feed = await newFeed({ logger });
    await feed.start(r.handler);
    expect(r.seen.map((s) => s.uuid)).toEqual([a]);

    await jsm.consumers.delete(feed.stream, feed.consumerName);
    await waitFor('recreated', () => lines.some((l) => l.msg === 'config consumer recreated'), 20_000);
    await publish(b, config(b, 1));
    // The recreated consumer starts from the latest of every domain again: a, then b.
    await waitFor('b', () => r.seen.some((s) => s.uuid === b));
    expect(r.seen.map((s) => s.uuid)).toEqual([a, a, b]);
  }, 30_000);

  test('a deleted stream: the feed keeps trying, resumes once it is back, and stops promptly', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await publish(a, config(a, 1));
    const r = recorder();
    const { logger, lines } = captureLogger();
    const retry = new JetStreamRetry({ logger, backoff: { initialMs: 100, maxMs: 300, jitter: 0 } });
    const feed = await newFeed({ logger, retry });
    await feed.start(r.handler);

    await jsm.streams.delete(feed.stream);
    await waitFor(
      'failed recreations',
      () => lines.filter((l) => l.msg === 'JetStream not available, retrying').length >= 2,
      20_000,
    );
    await ensureStreams(jsm, { prefix, manageStreams: true, logger: silentLogger });
    await publish(b, config(b, 1));
    await waitFor('b after the stream came back', () => r.seen.some((s) => s.uuid === b), 20_000);
    expect(r.seen.map((s) => s.uuid)).toEqual([a, b]);

    // Delete it again and stop while the feed is between two attempts.
    await jsm.streams.delete(feed.stream);
    const n = lines.filter((l) => l.msg === 'JetStream not available, retrying').length;
    await waitFor(
      'failing again',
      () => lines.filter((l) => l.msg === 'JetStream not available, retrying').length > n,
      20_000,
    );
    await feed.stop();
    const after = lines.length;
    await new Promise((res) => setTimeout(res, 500));
    expect(lines.slice(after).filter((l) => l.msg === 'JetStream not available, retrying')).toEqual([]);
  }, 60_000);

  test('a backlog of 1,000 domains: all handled by start(), in stream order', async () => {
    const uuids = Array.from({ length: 1000 }, () => randomUUID());
    await Promise.all(uuids.map((u) => publish(u, config(u, 1))));
    const r = recorder();
    const feed = await newFeed();
    await feed.start(r.handler);
    expect(r.seen).toHaveLength(1000);
    expect(new Set(r.seen.map((s) => s.uuid))).toEqual(new Set(uuids));
    const seqs = r.seen.map((s) => s.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
  });
});

describe('ConfigFeed across a nats-server restart', () => {
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

  test('the durable consumer comes back after the restart and no config is lost', async () => {
    const prefix = randomPrefix();
    const admin = await testConnection(server.url);
    const feedConn = await testConnection(server.url);
    conns.push(admin, feedConn);
    await ensureStreams(await admin.jsm(), { prefix, manageStreams: true, logger: silentLogger });
    const s = nodeSubjects(prefix, NODE);
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await admin.js.publish(s.config(a), config(a, 1));

    const r = recorder();
    const { logger, lines } = captureLogger();
    const feed = new ConfigFeed({ conn: feedConn, prefix, nodeId: NODE, logger });
    await feed.start(r.handler);
    expect(r.seen.map((x) => x.text)).toEqual([config(a, 1)]);

    await server.stop();
    await waitFor('feed disconnected', () => !feedConn.connected);
    await server.start();
    await waitFor('both reconnected', () => feedConn.connected && admin.connected);
    await admin.js.publish(s.config(b), config(b, 1));
    await admin.js.publish(s.config(a), config(a, 2));
    await admin.js.publish(s.config(c), config(c, 1));
    await waitFor('changes after the restart', () => r.seen.length >= 4, 60_000);

    expect(r.seen.map((x) => x.text)).toEqual([config(a, 1), config(b, 1), config(a, 2), config(c, 1)]);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    await feed.stop();
  }, 90_000);
});
