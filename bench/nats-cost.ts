/**
 * What the NATS client alone costs per message, in a bare process (no domainmgr): a JetStream
 * publish awaiting its ack, and a pull-consumer delivery that is parsed and acked. domainmgr does
 * one delivery and up to four status publishes (PENDING, CREATING, BOOTING, RUNNING; fewer when a
 * newer status replaces one still waiting) per domain in a create burst, so this is about the part
 * of "everything but spawning" that the client itself takes.
 * A diagnostic, not one of bench/run.ts's scenarios. Needs nats-server -js on 127.0.0.1:4222.
 *
 *   npm run build:bench && node dist/bench/nats-cost.js [--messages 3000] [--concurrency 8]
 *
 * Parent CPU is process.cpuUsage() (all threads), measured after 500 warm-up publishes, so it
 * is the client's warm cost; in a burst from a fresh process the optimizing compiler adds to it.
 */

import { parseArgs } from 'node:util';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { check, validateDomainStatusSchema } from '../pkg/schema/validators.js';
import type { DomainStatus } from '../types/generated/domain-status.js';
import { printTable } from './lib/stats.js';

const { values } = parseArgs({
  options: { messages: { type: 'string' }, concurrency: { type: 'string' } },
});
const N = Number(values.messages ?? 3000);
const CONCURRENCY = Number(values.concurrency ?? 8);
if (!Number.isInteger(N) || N < 1 || !Number.isInteger(CONCURRENCY) || CONCURRENCY < 1)
  throw new Error('nats-cost: --messages and --concurrency must be whole numbers above 0');

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const nc = await connect({ servers: '127.0.0.1:4222' });
const jsm = await jetstreamManager(nc);
const stream = `natscost_${process.pid}`;
await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
try {
  const js = jetstream(nc);
  // What domainmgr publishes for a RUNNING benchmark domain (2 vifs): typed as DomainStatus and
  // checked against the schema, so the payload is the real shape and size, not a guess.
  const now = new Date().toISOString();
  const status: DomainStatus = {
    uuid: '2b9c8a61-0000-4000-8000-000000000000',
    name: 'bench-1',
    nodeId: 'node1',
    backend: 'xl',
    state: 'RUNNING',
    observedGeneration: 1,
    domainName: 'bench-1',
    domainId: 12,
    activated: true,
    bootTime: now,
    lastTransitionTime: now,
    updatedAt: now,
    restartCount: 0,
    vifs: [
      { vifName: 'vif12.0', mac: '00:16:3e:00:00:01', bridge: 'xenbr0' },
      { vifName: 'vif12.1', mac: '00:16:3e:00:00:02', bridge: 'xenbr1' },
    ],
    pciDevices: [],
    pendingChanges: [],
    error: null,
  };
  const valid = check(validateDomainStatusSchema, status);
  if (!valid.ok) throw new Error(`nats-cost: its DomainStatus breaks the schema: ${valid.errors.join('; ')}`);
  const payload = new TextEncoder().encode(JSON.stringify(status));
  for (let i = 0; i < 500; i++) await js.publish(`${stream}.warm.${i % 50}`, payload);

  let next = 0;
  let c0 = cpuMs();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) await js.publish(`${stream}.status.${next++}`, payload);
    }),
  );
  const publishMs = (cpuMs() - c0) / N;

  await jsm.consumers.add(stream, {
    durable_name: 'cost',
    ack_policy: AckPolicy.Explicit,
    filter_subject: `${stream}.status.>`,
  });
  const consumer = await js.consumers.get(stream, 'cost');
  c0 = cpuMs();
  const messages = await consumer.consume();
  let seen = 0;
  for await (const m of messages) {
    JSON.parse(new TextDecoder().decode(m.data));
    m.ack();
    if (++seen === N) break;
  }
  const consumeMs = (cpuMs() - c0) / N;

  printTable(
    `NATS client CPU per message, bare process, warm (${N} messages, publishes ${CONCURRENCY} at a time)`,
    ['operation', 'CPU ms'],
    [
      ['JetStream publish, awaiting its ack', publishMs.toFixed(3)],
      ['pull-consumer delivery, parsed and acked', consumeMs.toFixed(3)],
      [
        "1 delivery + 4 publishes (domainmgr's most per created domain)",
        (consumeMs + 4 * publishMs).toFixed(3),
      ],
    ],
  );
} finally {
  await jsm.streams.delete(stream);
  await nc.close();
}
