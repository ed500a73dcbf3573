import type { JetStreamManager } from '@nats-io/jetstream';
import { type BusConnection, connectBus } from '../../../pkg/bus/connect.js';
import { silentLogger } from '../../../pkg/log/logger.js';
import { natsConfig } from './fixtures.js';
import { SHARED_NATS_URL } from './nats-server.js';

/** A connection for a test's own use (setting up, reading back), quiet in the logs. */
export function testConnection(url = SHARED_NATS_URL, prefix = 'unused'): Promise<BusConnection> {
  return connectBus({
    nats: natsConfig(url, prefix),
    nodeId: 'test-observer',
    logger: silentLogger,
    backoff: { initialMs: 50, maxMs: 200, jitter: 0.2 },
  });
}

/** Deletes the streams a test made; absent ones are fine. */
export async function deleteStreams(jsm: JetStreamManager, ...names: string[]): Promise<void> {
  for (const name of names) await jsm.streams.delete(name).catch(() => false);
}
