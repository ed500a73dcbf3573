import type { JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream';
import type { BusConnection } from '../../pkg/bus/connect.js';
import {
  hubStatusStream,
  isValidJsDomain,
  jsApiPrefix,
  mirrorProblems,
  siteConfigMirror,
} from '../../pkg/bus/site-streams.js';
import {
  contractStreamConfig,
  ensureStreams,
  StreamIncompatibleError,
  StreamMissingError,
} from '../../pkg/bus/streams.js';
import { type StreamKind, streamName } from '../../pkg/bus/subjects.js';
import { deleteStreams, testConnection } from './support/bus.js';
import { captureLogger, randomPrefix } from './support/fixtures.js';

const site = { hubDomain: 'hub', nodeId: 'n1' };

function info(config: Partial<StreamConfig>): StreamInfo {
  return { config } as StreamInfo;
}

const mirrorOf = (filter: string, api = '$JS.hub.API', name = 'DM_CONFIG') => ({
  mirror: { name, external: { api, deliver: '' }, filter_subject: filter },
});

describe('site streams', () => {
  test('the leaf config stream: the contract settings, no subjects, a mirror of the hub filtered on the node', () => {
    const s = siteConfigMirror('dm', contractStreamConfig('dm', 'config'), site);
    expect(s.subjects).toBeUndefined();
    expect(s.max_msgs_per_subject).toBe(1);
    expect(s.mirror).toEqual({
      name: 'DM_CONFIG',
      external: { api: '$JS.hub.API', deliver: '' },
      filter_subject: 'dm.n1.config.*',
    });
  });

  test("the hub's status stream keeps its own subjects and sources every site's status stream", () => {
    const s = hubStatusStream('dm', contractStreamConfig('dm', 'status'), ['site1', 'site2']);
    expect(s.subjects).toEqual(['dm.*.status.*', 'dm.*.node']);
    expect(s.sources?.map((x) => [x.name, x.external?.api])).toEqual([
      ['DM_STATUS', '$JS.site1.API'],
      ['DM_STATUS', '$JS.site2.API'],
    ]);
  });

  test.each([
    ['hub', true],
    ['site_1-a', true],
    ['', false],
    ['a.b', false],
    ['a*', false],
    ['x'.repeat(65), false],
  ])('JetStream domain %j valid: %s', (domain, ok) => {
    expect(isValidJsDomain(domain)).toBe(ok);
    if (!ok) expect(() => jsApiPrefix(domain)).toThrow(/invalid JetStream domain/);
  });

  const cases: [string, StreamKind, Partial<StreamConfig>, typeof site | undefined, string[]][] = [
    ['site: the mirror domainmgr creates', 'config', mirrorOf('dm.n1.config.*'), site, []],
    ['site: an unfiltered mirror', 'config', mirrorOf(''), site, []],
    ['site: a mirror of every node', 'config', mirrorOf('dm.*.config.*'), site, []],
    [
      'site: a mirror of another node',
      'config',
      mirrorOf('dm.n2.config.*'),
      site,
      ["mirror filter dm.n2.config.* leaves out node n1's configs (dm.n1.config.*)"],
    ],
    [
      'site: a mirror through another domain',
      'config',
      mirrorOf('dm.n1.config.*', '$JS.other.API'),
      site,
      ['mirrors through $JS.other.API, must mirror through $JS.hub.API (the hub)'],
    ],
    [
      'site: a mirror of another stream',
      'config',
      mirrorOf('dm.n1.config.*', '$JS.hub.API', 'OTHER'),
      site,
      ['mirrors OTHER, must mirror DM_CONFIG'],
    ],
    [
      'site: a plain config stream',
      'config',
      { subjects: ['dm.*.config.*'] },
      site,
      [
        "is not a mirror of the hub's DM_CONFIG ($JS.hub.API): configs published at the hub would never reach this node",
      ],
    ],
    ['no site: a plain config stream', 'config', { subjects: ['dm.*.config.*'] }, undefined, []],
    [
      'no site: a mirror holding the node',
      'config',
      mirrorOf('dm.n1.config.*', '$JS.any.API'),
      undefined,
      [],
    ],
    [
      'a mirrored status stream',
      'status',
      mirrorOf('', '$JS.hub.API', 'DM_STATUS'),
      site,
      ['is a mirror of DM_STATUS, but domainmgr publishes to it (a mirror takes no publishes)'],
    ],
    ['the site status stream', 'status', { subjects: ['dm.*.status.*', 'dm.*.node'] }, site, []],
  ];
  test.each(cases)('%s', (_what, kind, config, where, problems) => {
    expect(mirrorProblems('dm', kind, info(config), where, 'n1')).toEqual(problems);
  });

  test.each([
    ['dm.n2.config.*', []],
    ['dm.*.config.*', []],
    ['dm.n2.status.*', ['mirror filter dm.n2.status.* leaves out the configs (dm.<node>.config.*)']],
    ['other.n2.config.*', ['mirror filter other.n2.config.* leaves out the configs (dm.<node>.config.*)']],
  ])('domainctl (no node) and a mirror filtered on %s', (filter, problems) => {
    expect(mirrorProblems('dm', 'config', info(mirrorOf(filter)), undefined, undefined)).toEqual(problems);
  });
});

describe('ensureStreams of a node behind a site leaf, against the shared nats-server', () => {
  let conn: BusConnection;
  let jsm: JetStreamManager;
  let prefix: string;
  const kinds = ['config', 'status', 'lease'] as const;

  beforeAll(async () => {
    conn = await testConnection();
    jsm = await conn.jsm();
  });
  afterAll(async () => {
    await conn.close();
  });
  beforeEach(() => {
    prefix = randomPrefix();
  });
  afterEach(async () => {
    await deleteStreams(jsm, ...kinds.map((k) => streamName(prefix, k)));
  });

  test('creates the config stream as a mirror of the hub filtered on the node, the others as usual', async () => {
    const { logger, lines } = captureLogger();
    await ensureStreams(jsm, { prefix, manageStreams: true, logger, site });
    const config = (await jsm.streams.info(streamName(prefix, 'config'))).config;
    expect(config.subjects ?? []).toEqual([]);
    expect(config.mirror?.filter_subject).toBe(`${prefix}.n1.config.*`);
    expect(config.mirror?.external?.api).toBe('$JS.hub.API');
    expect(config.max_msgs_per_subject).toBe(1);
    const status = (await jsm.streams.info(streamName(prefix, 'status'))).config;
    expect(status.subjects).toEqual([`${prefix}.*.status.*`, `${prefix}.*.node`]);
    expect(lines.filter((l) => l.msg === 'created stream')).toHaveLength(3);
    // Started again, it accepts what it made; so do a node not told about the site, and
    // domainctl streams (no node).
    await ensureStreams(jsm, { prefix, manageStreams: false, logger, site });
    await ensureStreams(jsm, { prefix, manageStreams: false, logger, nodeId: 'n1' });
    await ensureStreams(jsm, { prefix, manageStreams: false, logger });
  });

  test('a plain config stream is refused, naming why', async () => {
    await ensureStreams(jsm, { prefix, manageStreams: true, logger: captureLogger().logger });
    const refused = ensureStreams(jsm, { prefix, manageStreams: true, logger: captureLogger().logger, site });
    await expect(refused).rejects.toThrow(StreamIncompatibleError);
    await expect(refused).rejects.toThrow(/is not a mirror of the hub's .*_CONFIG \(\$JS\.hub\.API\)/);
  });

  test('with manageStreams false a missing mirror is a clear error naming the mirror to create', async () => {
    const missing = ensureStreams(jsm, {
      prefix,
      manageStreams: false,
      logger: captureLogger().logger,
      site,
    });
    await expect(missing).rejects.toThrow(StreamMissingError);
    await expect(missing).rejects.toThrow(/create it with mirror .*"filter_subject":"[^"]+\.n1\.config\.\*"/);
  });
});
