import { type JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { BusConnection } from '../../pkg/bus/connect.js';
import { ensureStreams, StreamIncompatibleError, StreamMissingError } from '../../pkg/bus/streams.js';
import { streamName } from '../../pkg/bus/subjects.js';
import { deleteStreams, testConnection } from './support/bus.js';
import { captureLogger, randomPrefix } from './support/fixtures.js';

describe('ensureStreams against the shared nats-server', () => {
  let conn: BusConnection;
  let jsm: JetStreamManager;
  let prefix: string;
  let names: { config: string; status: string; lease: string };

  beforeAll(async () => {
    conn = await testConnection();
    jsm = await conn.jsm();
  });
  afterAll(async () => {
    await conn.close();
  });
  beforeEach(() => {
    prefix = randomPrefix();
    names = {
      config: streamName(prefix, 'config'),
      status: streamName(prefix, 'status'),
      lease: streamName(prefix, 'lease'),
    };
  });
  afterEach(async () => {
    await deleteStreams(jsm, names.config, names.status, names.lease);
  });

  test('creates the three streams as the contract says, and logs it', async () => {
    const { logger, lines } = captureLogger();
    await expect(ensureStreams(jsm, { prefix, manageStreams: true, logger })).resolves.toEqual(names);

    const config = (await jsm.streams.info(names.config)).config;
    expect(config.subjects).toEqual([`${prefix}.*.config.*`]);
    const status = (await jsm.streams.info(names.status)).config;
    expect(status.subjects).toEqual([`${prefix}.*.status.*`, `${prefix}.*.node`]);
    const lease = (await jsm.streams.info(names.lease)).config;
    expect(lease.subjects).toEqual([`${prefix}.*.lease`]);
    for (const c of [config, status, lease]) {
      expect(c.max_msgs_per_subject).toBe(1);
      expect(c.storage).toBe(StorageType.File);
      expect(c.retention).toBe(RetentionPolicy.Limits);
      expect(c.max_age).toBe(0);
      expect(c.allow_direct).toBe(true);
    }
    const created = lines.filter((l) => l.msg === 'created stream');
    expect(created.map((l) => [l.level, l.stream])).toEqual([
      ['info', names.config],
      ['info', names.status],
      ['info', names.lease],
    ]);
  });

  test('accepts streams that already exist and are compatible, without creating anything', async () => {
    await ensureStreams(jsm, { prefix, manageStreams: true, logger: captureLogger().logger });
    const { logger, lines } = captureLogger();
    await ensureStreams(jsm, { prefix, manageStreams: true, logger });
    await ensureStreams(jsm, { prefix, manageStreams: false, logger });
    expect(lines.some((l) => l.msg === 'created stream')).toBe(false);
  });

  test('with manageStreams false a missing stream is a clear error and nothing is created', async () => {
    const { logger } = captureLogger();
    const err = await ensureStreams(jsm, { prefix, manageStreams: false, logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamMissingError);
    expect((err as StreamMissingError).stream).toBe(names.config);
    expect((err as Error).message).toContain(
      `${names.config} does not exist and nats.manageStreams is false`,
    );
    await expect(jsm.streams.info(names.config)).rejects.toThrow(/stream not found/);
  });

  test('an incompatible existing stream fails with every problem listed, and is left as it was', async () => {
    await jsm.streams.add({
      name: names.config,
      subjects: [`${prefix}.*.config.*`],
      storage: StorageType.Memory,
      max_msgs_per_subject: 5,
      max_age: 3_600_000_000_000,
    });
    const { logger } = captureLogger();
    const err = await ensureStreams(jsm, { prefix, manageStreams: true, logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamIncompatibleError);
    const problems = (err as StreamIncompatibleError).problems;
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/storage is memory, must be file/);
    expect(problems.join('\n')).toMatch(/max_msgs_per_subject is 5, must be 1/);
    expect(problems.join('\n')).toMatch(/max_age is 3600000000000 ns, must be 0/);
    expect((err as Error).message).toContain(`stream ${names.config} is incompatible`);
    const after = (await jsm.streams.info(names.config)).config;
    expect(after.storage).toBe(StorageType.Memory);
    expect(after.max_msgs_per_subject).toBe(5);
  });

  test('a status stream that misses the node subject is incompatible, also when not managing', async () => {
    await jsm.streams.add({
      name: names.config,
      subjects: [`${prefix}.*.config.*`],
      max_msgs_per_subject: 1,
    });
    await jsm.streams.add({
      name: names.status,
      subjects: [`${prefix}.*.status.*`],
      max_msgs_per_subject: 1,
      retention: RetentionPolicy.Workqueue,
    });
    const { logger } = captureLogger();
    const err = await ensureStreams(jsm, { prefix, manageStreams: false, logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamIncompatibleError);
    expect((err as StreamIncompatibleError).stream).toBe(names.status);
    expect((err as StreamIncompatibleError).problems).toEqual([
      expect.stringContaining(`does not capture ${prefix}.*.node`),
      expect.stringContaining('retention is workqueue, must be limits'),
    ]);
  });

  test('two nodes ensuring the same missing streams at once both succeed', async () => {
    const { logger, lines } = captureLogger();
    const other = await testConnection();
    try {
      await Promise.all([
        ensureStreams(jsm, { prefix, manageStreams: true, logger }),
        ensureStreams(await other.jsm(), { prefix, manageStreams: true, logger }),
      ]);
    } finally {
      await other.close();
    }
    expect((await jsm.streams.info(names.config)).config.max_msgs_per_subject).toBe(1);
    // The server answers an identical create with success, so both may log it; neither fails.
    expect(lines.filter((l) => l.msg === 'created stream').length).toBeGreaterThanOrEqual(2);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
