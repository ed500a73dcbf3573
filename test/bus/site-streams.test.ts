import type { StreamConfig, StreamInfo } from '@nats-io/jetstream';
import {
  hubStatusStream,
  isValidJsDomain,
  jsApiPrefix,
  mirrorProblems,
  siteConfigMirror,
} from '../../pkg/bus/site-streams.js';
import { contractStreamConfig } from '../../pkg/bus/streams.js';
import type { StreamKind } from '../../pkg/bus/subjects.js';

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
});
