import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { hubStatusStream } from '../../pkg/bus/site-streams.js';
import { contractStreamConfig, ensureStreams } from '../../pkg/bus/streams.js';
import { silentLogger } from '../../pkg/log/logger.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import { cleanEnv, ctl } from '../domainctl/support.js';
import { eventually, type HostDomain, newUuid, TestNode } from '../service/support/node.js';
import { Controller } from '../support/controller.js';
import { type SiteTopology, startSite, waitForLeafConnection } from '../support/nats-site.js';

/**
 * The offline-edge topology (docs/fleet.md): a hub (JetStream domain `hub`, one server here), a
 * site leaf server with its own domain, and domainmgr on the site talking only to the leaf with
 * `--hub-domain hub`. The uplink is cut and restored while the node works on.
 */

jest.setTimeout(120_000);

/** The mirror and the source retry a lost upstream every 10-20 s (nats-fleet facts); generous. */
const CATCH_UP_MS = 75_000;

describe('a site behind a leaf node, uplink cut and restored', () => {
  const prefix = `t${randomBytes(5).toString('hex')}`;
  const nodeId = `edge-${randomBytes(3).toString('hex')}`;
  let site: SiteTopology;
  let node: TestNode;
  /** A controller and operator at the hub: publishes configs, reads the hub's status stream. */
  let hub: Controller;
  let hubNc: NatsConnection;
  const [a, b, c, d] = [newUuid(), newUuid(), newUuid(), newUuid()];

  beforeAll(async () => {
    site = await startSite(prefix);
    hubNc = await connect({ servers: site.hub.url, name: 'test-hub-admin' });
    const jsm = await jetstreamManager(hubNc);
    await ensureStreams(jsm, { prefix, manageStreams: true, logger: silentLogger });
    // The hub's status stream gathers the site's status stream (deploy/nats/hub-status-stream.json).
    await jsm.streams.update(
      contractStreamConfig(prefix, 'status').name,
      hubStatusStream(prefix, contractStreamConfig(prefix, 'status'), [site.siteDomain]),
    );
    hub = await Controller.connect(site.hub.url, prefix, nodeId);
    node = await TestNode.create('xl', {
      natsUrl: site.leaf.url,
      extraArgs: ['--hub-domain', site.hubDomain],
      identity: { prefix, nodeId },
    });
  });

  afterAll(async () => {
    expect(node?.ctl.violations).toEqual([]);
    await node?.destroy();
    await hub?.close();
    await hubNc?.close();
    await site?.destroy();
  });

  const running = (gen: number) => (s: DomainStatus) => s.state === 'RUNNING' && s.observedGeneration === gen;

  test('link up: configs published at the hub run on the site node, the hub gathers the statuses', async () => {
    const dm = await node.start();
    // The leaf's config stream was made by domainmgr, as a mirror of the hub's.
    const created = dm.logsWhere((l) => l.msg === 'created stream' && l.mirror !== undefined);
    expect(created.map((l) => l.stream)).toEqual([`${prefix.toUpperCase()}_CONFIG`]);
    for (const [i, u] of [a, b, c].entries()) await hub.apply(u, node.doc(u, `site-${i}`));
    for (const u of [a, b, c]) await node.ctl.waitForStatus(u, running(1), 30_000);
    for (const u of [a, b, c]) await hub.waitForStatus(u, running(1), CATCH_UP_MS);
  });

  test('uplink cut: the domains keep running and their statuses are stored on the leaf', async () => {
    site.uplink.cut();
    await waitForLeafConnection(site, false);
    // A crash while offline: the node restarts the domain and the leaf stores every status of it.
    const before = await node.ctl.storedStatus(a);
    await node.sim.simctl(['crash', before?.domainName ?? a]);
    const restarted = await node.ctl.waitForStatus(
      a,
      (s) => s.state === 'RUNNING' && s.restartCount === 1,
      30_000,
    );
    expect(restarted.domainId).not.toBe(before?.domainId);
    for (const u of [b, c]) expect((await node.ctl.storedStatus(u))?.state).toBe('RUNNING');
    expect((await node.hostDomains()).map((x) => x.uuid).sort()).toEqual([a, b, c].sort());
    // The hub has not heard of it.
    expect((await hub.storedStatus(a))?.restartCount).toBe(0);
  });

  test('domainmgr restarted while the uplink is down gets its desired state from the mirror and adopts its domains', async () => {
    const onHost = await node.hostDomains();
    const stoppedAt = Date.now();
    expect(await node.stopService()).toEqual({ code: 0, signal: null });
    const dm = await node.start();
    for (const u of [a, b, c])
      await node.ctl.waitForStatus(
        u,
        (s) => s.state === 'RUNNING' && Date.parse(s.updatedAt) > stoppedAt,
        30_000,
      );
    const backlog = dm.logsWhere((l) => l.msg === 'config feed started').at(-1);
    expect(backlog?.backlog).toBe(3);
    // Adopted: no create, no stop, the very same domains on the host.
    const commands = dm.logsWhere((l) => l.msg === 'command done').map((l) => (l.argv as string[]).join(' '));
    expect(commands.filter((x) => / (create|unpause|shutdown|destroy)\b/.test(x))).toEqual([]);
    const identity = (l: HostDomain[]) => l.map((x) => ({ uuid: x.uuid, domid: x.domid, name: x.name }));
    expect(identity(await node.hostDomains())).toEqual(identity(onHost));
    expect(((await site.hub.monitor('leafz')) as { leafnodes?: number }).leafnodes ?? 0).toBe(0);
  });

  test('configs published at the hub during the outage reach the node when the link returns, in order, a delete too', async () => {
    const dm = node.service;
    const feedBefore = dm.logsWhere((l) => l.msg === 'config delivered').length;
    // Published at the hub while the site is cut off: a delete, a create, a halt.
    const published = [
      { uuid: b, seq: await hub.apply(b, null) },
      { uuid: d, seq: await hub.apply(d, node.doc(d, 'site-3')) },
      { uuid: c, seq: await hub.apply(c, node.doc(c, 'site-2', { generation: 2, activate: false })) },
    ];
    // What the hub's status stream stores from now on, in order, to show no status goes back in time.
    const hubJs = jetstream(hubNc);
    const follower = await hubJs.consumers.get(contractStreamConfig(prefix, 'status').name, {
      filter_subjects: `${prefix}.${nodeId}.status.*`,
      deliver_policy: DeliverPolicy.New,
    });
    const stored: { subject: string; status: DomainStatus }[] = [];
    const messages = await follower.consume();
    const following = (async () => {
      for await (const m of messages) stored.push({ subject: m.subject, status: m.json<DomainStatus>() });
    })();
    // None of them has reached the site yet.
    const mirrored = await node.ctl.jsm.streams.info(node.ctl.configStream);
    expect(mirrored.state.last_seq).toBeLessThan(published[0]?.seq ?? 0);
    expect(dm.logsWhere((l) => l.msg === 'config delivered')).toHaveLength(feedBefore);

    site.uplink.restore();
    await node.ctl.waitForStatus(b, (s) => s.state === 'DELETED', CATCH_UP_MS);
    await node.ctl.waitForStatus(d, running(1), CATCH_UP_MS);
    await node.ctl.waitForStatus(c, (s) => s.state === 'HALTED' && s.observedGeneration === 2, CATCH_UP_MS);

    const delivered = dm
      .logsWhere((l) => l.msg === 'config delivered')
      .slice(feedBefore)
      .map((l) => ({ subject: l.subject, seq: l.seq }));
    expect(delivered).toEqual(
      published.map((p) => ({ subject: `${prefix}.${nodeId}.config.${p.uuid}`, seq: p.seq })),
    );
    // Halted (c) is no domain on an xl host; deleted (b) neither.
    expect((await node.hostDomains()).map((x) => x.uuid).sort()).toEqual([a, d].sort());

    // The hub ends with the leaf's newest status of every domain...
    const leafNewest = async () =>
      Promise.all([a, b, c, d].map(async (u) => JSON.stringify(await node.ctl.storedStatus(u))));
    await eventually(
      'the hub holding the newest status of every domain of the site',
      async () => [
        await leafNewest(),
        await Promise.all([a, b, c, d].map(async (u) => JSON.stringify(await hub.storedStatus(u)))),
      ],
      ([leaf, atHub]) => JSON.stringify(leaf) === JSON.stringify(atHub),
      CATCH_UP_MS,
    );
    await messages.close();
    await following;
    // ...and never stored an older status over a newer one.
    const last = new Map<string, number>();
    const backwards: string[] = [];
    for (const { subject, status } of stored) {
      const t = Date.parse(status.updatedAt);
      if (t < (last.get(subject) ?? t)) backwards.push(`${subject} went back to ${status.updatedAt}`);
      last.set(subject, t);
    }
    expect(backwards).toEqual([]);
    expect(stored.length).toBeGreaterThan(0);
    expect((await hub.storedStatus(a))?.restartCount).toBe(1);

    // domainctl at the hub shows the site's domains as the node last reported them.
    const got = await ctl(['get', '--nats', site.hub.url, '--prefix', prefix, '--deleted', '-o', 'json'], {
      env: cleanEnv(),
    });
    expect(got.stderr).toBe('');
    const listed = (JSON.parse(got.stdout) as DomainStatus[]).map((s) => [s.uuid, s.state]);
    expect(listed.sort()).toEqual(
      [
        [a, 'RUNNING'],
        [b, 'DELETED'],
        [c, 'HALTED'],
        [d, 'RUNNING'],
      ].sort(),
    );
  });

  test('the hub stopped and started again: the site works on, the hub then gathers what it missed', async () => {
    await site.hub.stop();
    const before = await node.ctl.storedStatus(d);
    await node.sim.simctl(['crash', before?.domainName ?? d]);
    await node.ctl.waitForStatus(d, (s) => s.state === 'RUNNING' && s.restartCount === 1, 30_000);
    await site.hub.start();
    await waitForLeafConnection(site, true);
    const newest = await node.ctl.storedStatus(d);
    await eventually(
      "the hub holding the site's newest status of the restarted domain",
      async () => JSON.stringify(await hub.storedStatus(d).catch(() => null)),
      (atHub) => atHub === JSON.stringify(newest),
      CATCH_UP_MS,
    );
  });
});
