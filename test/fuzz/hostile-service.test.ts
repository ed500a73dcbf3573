import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { TestNode } from '../service/support/node.js';
import { campaignMessages, formatReport, runFuzzCampaign } from './campaign.js';

/**
 * 1,000 hostile config messages (test/fuzz/hostile-messages.ts) through domainmgr as a real
 * process on the simulated xl host and the machine's nats-server (see campaign.ts for every
 * property checked). The seed is random per run and printed; `FUZZ_SEED=<n>` replays one and
 * `FUZZ_MESSAGES=<n>` changes the count (`npm run campaign:fuzz` runs 10,000) and `FUZZ_WINDOW=<n>`
 * how many are in flight at once (8).
 */

/** Hostile messages published while domainmgr is down (the invalid ones among them are checked). */
const BACKLOG = 200;
const COUNT = Number(process.env.FUZZ_MESSAGES ?? 1000);
const SEED =
  process.env.FUZZ_SEED === undefined
    ? (Date.now() ^ (process.pid << 8)) >>> 0
    : Number(process.env.FUZZ_SEED);

/** Messages in flight at once (`FUZZ_WINDOW`). */
const WINDOW = Number(process.env.FUZZ_WINDOW ?? 8);

// Generous: 1,000 messages take about a minute here; the campaign scales with its count.
jest.setTimeout(Math.max(300_000, COUNT * 300));

describe('hostile config messages through the real service', () => {
  let node: TestNode;

  beforeAll(async () => {
    process.stdout.write(`fuzz seed ${SEED} (replay: FUZZ_SEED=${SEED} FUZZ_MESSAGES=${COUNT})\n`);
    node = await TestNode.create('xl');
  });

  afterAll(async () => {
    await node?.destroy();
  });

  test(`a backlog of ${BACKLOG} hostile messages waiting at start: taken in, each rejected, nothing run`, async () => {
    // The streams exist once domainmgr has run: start it once, stop it, then fill the backlog.
    await node.start();
    expect(await node.stopService()).toEqual({ code: 0, signal: null });
    const messages = campaignMessages(SEED ^ 0xbac, BACKLOG, node.images).filter(
      (m) => m.expect.kind === 'invalid' && m.before === undefined,
    );
    for (const m of messages) await node.ctl.js.publish(node.ctl.configSubject(m.token), m.payload);
    await node.sim.simctl(['commands', '--take']);
    await node.start();
    for (const m of messages) {
      const s = await node.ctl.waitForStatus(m.token, (st) => st.state === 'REJECTED', 30_000);
      expect(s.error?.source).toBe('config');
      if (m.expect.kind === 'invalid' && m.expect.names !== null)
        expect(s.error?.message).toContain(m.expect.names);
    }
    const ran = (await node.sim.simctl(['commands', '--take'])).toLowerCase();
    expect(messages.flatMap((m) => m.forbidden).filter((u) => ran.includes(u))).toEqual([]);
    for (const m of messages) await node.ctl.apply(m.token, null);
    for (const m of messages) await node.ctl.waitForStatus(m.token, (st) => st.state === 'DELETED', 30_000);
  });

  test(`${COUNT} messages: no crash, every uuid subject answered, nothing invalid reaches the host`, async () => {
    const report = await runFuzzCampaign({
      node,
      count: COUNT,
      seed: SEED,
      window: WINDOW,
      progress: (line) => process.stdout.write(`${line}\n`),
    });
    process.stdout.write(`${formatReport(report)}\n`);
    expect(report.failures).toEqual([]);
    expect(report.crashes).toBe(0);
    expect(report.answered).toBeGreaterThan(COUNT * 0.9);
    // Bounded memory: the node keeps only the domains in flight, so RSS must not grow with the
    // number of messages. The heap grows to its working size over the first messages (about
    // +45 MiB here); after the first tenth, growth would be a leak (a 10 KiB leak per message is
    // +88 MiB over 10,000). Both allowances are generous: GC timing moves RSS by a few MiB.
    expect(report.rssAfterMiB - report.rssBeforeMiB).toBeLessThan(96);
    expect(report.rssAfterMiB - report.rssWarmMiB).toBeLessThan(48);
  });
});
