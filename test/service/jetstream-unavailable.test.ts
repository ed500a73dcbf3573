import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type PermissionSet, rolePermissions, serverPermissionsBlock } from '../../pkg/bus/permissions.js';
import { contractStreamConfig, STREAM_KINDS } from '../../pkg/bus/streams.js';
import { OwnNatsServer } from '../bus/support/nats-server.js';
import { AuthServer } from '../security/support/auth-server.js';
import { NatsCluster } from '../support/nats-cluster.js';
import { eventually, newUuid, TestNode } from './support/node.js';

/**
 * A node agent does not exit because JetStream is not there: started while the streams have no
 * leader (two of three servers just killed), while the server it reaches has JetStream off, or
 * without a permission it needs, it stays up, says why in its log, /readyz and metrics, keeps the
 * domains already running on its host untouched, and acts as soon as JetStream answers.
 */

jest.setTimeout(180_000);

const running = (gen: number) => (s: { state: string; observedGeneration: number }) =>
  s.state === 'RUNNING' && s.observedGeneration === gen;

describe('domainmgr started while JetStream cannot answer', () => {
  let node: TestNode | undefined;
  let server: OwnNatsServer | undefined;
  let cluster: NatsCluster | undefined;
  let auth: AuthServer | undefined;

  afterEach(async () => {
    await node?.destroy();
    node = undefined;
    await server?.destroy();
    server = undefined;
    await cluster?.stop();
    cluster = undefined;
    await auth?.destroy();
    auth = undefined;
  });

  test('JetStream off on its server: a logged refusal, retried, domains left running; acts once it is on', async () => {
    server = await OwnNatsServer.create();
    await server.start();
    node = await TestNode.create('xl', { natsUrl: server.url });
    const a = newUuid();
    await node.start();
    await node.ctl.apply(a, node.doc(a, 'js-off-a'), 10_000);
    await node.ctl.waitForStatus(a, running(1), 30_000);
    // The same guest: uuid, name and domid (xl's run state flips between r and b by itself).
    const guest = async () => (await node?.hostDomainsOf(a))?.map((d) => [d.uuid, d.name, d.domid]);
    const before = await guest();
    expect(before).toHaveLength(1);

    // The agent dies; the server comes back without JetStream (its streams stay on disk).
    node.service.kill('SIGKILL');
    await node.service.waitExit();
    await server.stop();
    server.jetstream = false;
    await server.start();

    const dm = node.spawn();
    await dm.waitForLog(
      'the refusal',
      (l) =>
        l.msg === 'JetStream refused the setup; an operator must fix it; retrying meanwhile' &&
        l.step === 'streams',
      30_000,
    );
    await dm.waitForLog('a second attempt', (l) => l.step === 'streams' && l.attempt === 2, 30_000);
    const waiting = await dm.readyz();
    expect(waiting.status).toBe(503);
    expect(waiting.reasons).toContainEqual(
      expect.stringMatching(/^nats streams: refused: .*jetstream is not enabled/i),
    );
    expect(await dm.metric('domainmgr_jetstream_waiting_steps')).toBe(1);
    expect(
      await dm.metric('domainmgr_jetstream_retries_total{step="streams",kind="refused"}'),
    ).toBeGreaterThanOrEqual(2);
    expect(dm.exited).toBeNull();
    // The domain it ran is untouched meanwhile.
    expect(await guest()).toEqual(before);

    // JetStream on again: the agent takes its desired state in and adopts the domain (same domid).
    await server.stop();
    server.jetstream = true;
    await server.start();
    await dm.waitReady(60_000);
    expect(
      dm.logsWhere((l) => l.msg === 'JetStream step succeeded after retries' && l.step === 'streams'),
    ).toHaveLength(1);
    expect(await guest()).toEqual(before);
    const b = newUuid();
    await node.ctl.apply(b, node.doc(b, 'js-off-b'), 10_000);
    await node.ctl.waitForStatus(b, running(1), 30_000);
    await eventually(
      'ready',
      () => dm.readyz(),
      (h) => h.status === 200,
      30_000,
    );
    expect(await dm.metric('domainmgr_jetstream_waiting_steps')).toBe(0);
    expect(dm.exited).toBeNull();
  });

  test('R3 streams without a leader (two of three servers killed): waits, then acts once a quorum is back', async () => {
    cluster = await NatsCluster.start();
    const urls = cluster.urls;
    node = await TestNode.create('xl', { natsUrl: urls.join(','), extraArgs: ['--manage-streams', 'false'] });
    // An administrator's R3 streams.
    const admin = await connect({ servers: urls });
    try {
      const jsm = await jetstreamManager(admin);
      for (const kind of STREAM_KINDS) await jsm.streams.add(contractStreamConfig(node.prefix, kind, 3));
    } finally {
      await admin.close();
    }
    const configStream = `${node.prefix.toUpperCase()}_CONFIG`;
    await cluster.waitFullReplication(configStream);
    const a = newUuid();
    await node.ctl.apply(a, node.doc(a, 'no-leader-a'), 10_000);

    // Two servers die: no stream (and no JetStream meta group) has a quorum left.
    const survivor = 0;
    await cluster.kill(1);
    await cluster.kill(2);
    // Until the survivor sees its peers gone, it still answers as the leader of the streams it led.
    const prefix = node.prefix;
    await cluster.waitLeaderless(
      survivor,
      STREAM_KINDS.map((kind) => contractStreamConfig(prefix, kind).name),
    );
    const dm = node.spawn();
    await dm.waitForLog(
      'a retried JetStream step',
      (l) => l.msg === 'JetStream not available, retrying' && l.step === 'streams' && l.attempt === 2,
      60_000,
    );
    const waiting = await dm.readyz();
    expect(waiting.status).toBe(503);
    expect(waiting.reasons).toContainEqual(expect.stringMatching(/^nats streams: /));
    expect(dm.exited).toBeNull();
    expect(cluster.isRunning(survivor)).toBe(true);

    // One server back: a quorum, leaders, and the agent acts on the config published before.
    await cluster.restart(1);
    await dm.waitReady(90_000);
    await node.ctl.waitForStatus(a, running(1), 60_000);
    expect(dm.exited).toBeNull();
    expect(dm.logsWhere((l) => l.level === 'fatal')).toEqual([]);
  });

  test('a permission the node lacks (creating its consumer): a logged refusal, retried until an operator grants it', async () => {
    const prefix = `t${newUuid().slice(0, 8)}`;
    const nodeId = 'edge-perm';
    const full = rolePermissions(prefix, 'node', [nodeId]);
    const withoutConsumerCreate: PermissionSet = {
      ...full,
      publish: {
        ...full.publish,
        allow: full.publish.allow.filter((subject) => !subject.includes('.CONSUMER.CREATE.')),
      },
    };
    const conf = (node: PermissionSet) =>
      // Unauthenticated clients (the test's controller) act as the admin.
      `no_auth_user: admin\nauthorization { users: [\n{ user: admin, password: "admin-pw" }\n{ user: node, password: "node-pw",\n${serverPermissionsBlock(node)}\n}\n] }\n`;
    auth = await AuthServer.start(conf(withoutConsumerCreate));
    const admin = await connect({ servers: auth.url, user: 'admin', pass: 'admin-pw' });
    try {
      const jsm = await jetstreamManager(admin);
      for (const kind of STREAM_KINDS) await jsm.streams.add(contractStreamConfig(prefix, kind));
    } finally {
      await admin.close();
    }
    const password = auth.file('node.pw', 'node-pw\n');
    node = await TestNode.create('xl', {
      natsUrl: auth.url,
      identity: { prefix, nodeId },
      extraArgs: ['--manage-streams', 'false', '--nats-user', 'node', '--nats-password-file', password],
    });
    const dm = node.spawn();
    await dm.waitForLog(
      'the refusal',
      (l) =>
        l.msg === 'JetStream refused the setup; an operator must fix it; retrying meanwhile' &&
        l.step === 'consumer' &&
        /permissions violation/i.test(String(l.err)),
      60_000,
    );
    await dm.waitForLog('a second attempt', (l) => l.step === 'consumer' && l.attempt === 2, 30_000);
    const waiting = await dm.readyz();
    expect(waiting.status).toBe(503);
    expect(waiting.reasons).toContainEqual(
      expect.stringMatching(/^nats consumer: refused: .*permissions violation/i),
    );
    expect(dm.exited).toBeNull();

    // The operator grants it; the agent, still the same process, goes on by itself.
    auth.rewrite(conf(full));
    await auth.restart();
    await dm.waitReady(60_000);
    const a = newUuid();
    await node.ctl.apply(a, node.doc(a, 'perm-a'), 10_000);
    await node.ctl.waitForStatus(a, running(1), 30_000);
    expect(dm.exited).toBeNull();
  });
});
