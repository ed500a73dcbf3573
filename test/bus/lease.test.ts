/**
 * The node lease on the shared nats-server: a renewal of ours that was stored but whose ack never
 * came (a timeout, a stream leader that died) does not make the holder give the lease up.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, test } from '@jest/globals';
import type { BusConnection } from '../../pkg/bus/connect.js';
import { NodeLease } from '../../pkg/bus/lease.js';
import { ensureStreams } from '../../pkg/bus/streams.js';
import { leaseSubject, streamName } from '../../pkg/bus/subjects.js';
import { systemClock } from '../../pkg/clock.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { logSink } from '../support/log-sink.js';
import { deleteStreams, testConnection } from './support/bus.js';

const TTL_MS = 3000;
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function holder(): Promise<{
  lease: NodeLease;
  conn: BusConnection;
  prefix: string;
  lines: Record<string, unknown>[];
  acting: boolean[];
}> {
  const prefix = `lease${randomUUID().slice(0, 8)}`;
  const conn = await testConnection(undefined, prefix);
  await ensureStreams(await conn.jsm(), { prefix, manageStreams: true, logger: silentLogger });
  const { lines, logger } = logSink();
  const acting: boolean[] = [];
  const self = { instance: randomUUID(), host: 'test', pid: process.pid };
  const lease = new NodeLease({
    conn,
    prefix,
    nodeId: 'n1',
    self,
    ttlMs: TTL_MS,
    clock: systemClock,
    logger,
    onActingChange: (a) => acting.push(a),
  });
  cleanup.push(async () => {
    await lease.stop();
    await deleteStreams(
      await conn.jsm(),
      ...(['config', 'status', 'lease'] as const).map((k) => streamName(prefix, k)),
    );
    await conn.close();
  });
  lease.start();
  await until('the lease held', () => lease.acting);
  return { lease, conn, prefix, lines, acting };
}

describe('node lease: a renewal stored without its ack', () => {
  test('the holder finds its own record, keeps acting, and renews on it', async () => {
    const { lease, conn, prefix, lines, acting } = await holder();
    const jsm = await conn.jsm();
    const subject = leaseSubject(prefix, 'n1');
    const ours = await jsm.direct.getMessage(streamName(prefix, 'lease'), { last_by_subj: subject });
    if (ours === null) throw new Error('no lease record');
    // What a renewal whose ack was lost leaves behind: our record, one sequence later, that the
    // holder never heard was stored.
    const stored = await conn.js.publish(subject, ours.data);
    await until('a renewal on the stored record', async () => {
      const last = await jsm.direct.getMessage(streamName(prefix, 'lease'), { last_by_subj: subject });
      return last !== null && last.seq > stored.seq;
    });
    expect(lines.some((l) => l.msg === 'lease record is our own unacknowledged renewal: still held')).toBe(
      true,
    );
    expect(lines.filter((l) => String(l.msg).startsWith('lease lost'))).toEqual([]);
    expect(acting).toEqual([true]);
    expect(lease.acting).toBe(true);
  });

  test("another agent's record is still a lost lease", async () => {
    const { conn, prefix, lines, acting } = await holder();
    const subject = leaseSubject(prefix, 'n1');
    await conn.js.publish(
      subject,
      JSON.stringify({ instance: 'other', host: 'elsewhere', pid: 1, ttlMs: TTL_MS }),
    );
    await until('the lease lost', () => acting.includes(false));
    expect(lines.some((l) => l.msg === 'lease lost: the record was written by another agent')).toBe(true);
  });
});
