import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { describeViolations } from '../../campaign/checks.js';
import { converge } from '../../campaign/kill-driver.js';
import { CampaignNode } from '../../campaign/node.js';
import { Rng, Workload } from '../../campaign/workload.js';
import { OwnNatsServer } from '../bus/support/nats-server.js';

/**
 * NATS faults during churn (issue 20 item 4): the node's own nats-server SIGKILLed and started
 * again three times while a controller keeps changing configs; a status consumer that stalls (a
 * durable that takes one message and never acks) and one that reads slowly, both on the status
 * stream. After the restarts the config consumer's unacknowledged messages are delivered again,
 * in whatever order the server has them, next to newer ones. Then: every stored config is acted
 * on (0 lost), the stored status of every domain is its newest, and domainmgr ran no more creates
 * than the configs asked for (no duplicate actions).
 */

jest.setTimeout(10 * 60_000);

let nats: OwnNatsServer;
let node: CampaignNode;

beforeAll(async () => {
  nats = await OwnNatsServer.create();
  await nats.start();
  node = await CampaignNode.create(nats.url);
});

afterAll(async () => {
  await node?.destroy();
  await nats?.destroy();
});

test('nats-server killed three times during churn, stalled and slow status consumers: nothing lost, nothing twice', async () => {
  const rng = new Rng(4_2020);
  const w = new Workload(rng, { kernel: node.kernel, disk: node.disk });
  node.spawn();
  await node.dm?.waitReady(60_000);

  // Two consumers of the status stream that do not keep up: one stalls with a message unacked,
  // one pulls a message now and then.
  const jsm = node.ctl.jsm;
  for (const name of ['stalled', 'slow'])
    await jsm.consumers.add(node.ctl.statusStream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 1,
    });
  const stalled = await node.ctl.js.consumers.get(node.ctl.statusStream, 'stalled');
  await stalled.next({ expires: 2_000 });
  let slowReads = 0;
  let churning = true;
  const slowReader = (async () => {
    while (churning) {
      const c = await node.ctl.js.consumers.get(node.ctl.statusStream, 'slow').catch(() => null);
      const m = await c?.next({ expires: 1_000 }).catch(() => null);
      if (m) {
        slowReads++;
        m.ack();
      }
      await sleep(500);
    }
  })();

  let ops = 0;
  const churn = (async () => {
    while (churning) {
      const op = w.next();
      await node.publish(op.uuid, op.doc);
      ops++;
      await sleep(rng.int(20, 250));
    }
  })();
  for (let kill = 0; kill < 3; kill++) {
    const before = ops;
    // A few configs go out (and are taken in) before each kill.
    while (ops < before + 4) await sleep(50);
    await nats.kill();
    await sleep(rng.int(200, 1500));
    await nats.start();
  }
  const after = ops;
  while (ops < after + 4) await sleep(50);
  churning = false;
  await Promise.all([churn, slowReader]);

  const report = await converge(node, w, 120_000);
  expect(describeViolations(report.violations)).toBe('');
  expect(node.dm?.exited).toBeNull();
  const calls = JSON.parse(await node.sim.simctl(['calls'])) as Record<string, number>;
  expect(calls['xl create'] ?? 0).toBeLessThanOrEqual(w.createsAsked);
  expect(slowReads).toBeGreaterThan(0);
  expect(node.ctl.violations).toEqual([]);
});
