import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsCluster } from '../support/nats-cluster.js';

// The harness itself: a 3-server JetStream cluster that loses the leader of an R3 stream, keeps
// taking acknowledged writes on the two survivors, and heals once the killed server restarts.
describe('NatsCluster (test harness)', () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;

  beforeAll(async () => {
    cluster = await NatsCluster.start();
    nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  });
  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  test('an R3 stream survives a SIGKILLed leader and is back at full replication after a restart', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: 'HARNESS',
      subjects: ['harness.>'],
      num_replicas: 3,
      storage: StorageType.File,
    });
    const before = await cluster.waitFullReplication('HARNESS');
    expect(before.replicas).toHaveLength(2);

    await cluster.kill(before.leader);
    expect(cluster.isRunning(before.leader)).toBe(false);
    const after = await cluster.leaderOf('HARNESS');
    expect(after).not.toBe(before.leader);

    const js = jetstream(nc, { timeout: 5_000 });
    const ack = await publishUntilAcked(() => js.publish('harness.a', 'x'));
    expect(ack.stream).toBe('HARNESS');

    await cluster.restart(before.leader);
    const healed = await cluster.waitFullReplication('HARNESS');
    expect(
      healed.replicas
        .map((r) => r.index)
        .concat(healed.leader)
        .sort(),
    ).toEqual([0, 1, 2]);
    expect((await jsm.streams.info('HARNESS')).state.messages).toBe(1);
  });
});

/** A publish retried while the stream elects its new leader (the client may time out meanwhile). */
async function publishUntilAcked<T>(publish: () => Promise<T>): Promise<T> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      return await publish();
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}
