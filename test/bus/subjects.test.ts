import {
  nodeSubjects,
  parseSubject,
  SubjectError,
  streamName,
  streamSubjects,
} from '../../pkg/bus/subjects.js';

const UUID = '0b5c6a4e-7d1f-4c1e-9a53-2f0e8c1d9b7a';

describe('stream names', () => {
  test.each([
    ['domainmgr', 'config', 'DOMAINMGR_CONFIG'],
    ['domainmgr', 'status', 'DOMAINMGR_STATUS'],
    ['acme.edge', 'config', 'ACME_EDGE_CONFIG'],
    ['fleet-7', 'status', 'FLEET_7_STATUS'],
    ['dm_x9', 'config', 'DM_X9_CONFIG'],
  ] as const)('prefix %s, %s -> %s', (prefix, kind, name) => {
    expect(streamName(prefix, kind)).toBe(name);
  });

  test.each([
    ['domainmgr', 'config', ['domainmgr.*.config.*']],
    ['domainmgr', 'status', ['domainmgr.*.status.*', 'domainmgr.*.node']],
    ['acme.edge', 'status', ['acme.edge.*.status.*', 'acme.edge.*.node']],
  ] as const)('prefix %s captures for %s: %j', (prefix, kind, subjects) => {
    expect(streamSubjects(prefix, kind)).toEqual(subjects);
  });

  test.each(['', 'a..b', '.a', 'a.', 'a.*', 'a.>', 'a b', 'a\tb'])('prefix %j is refused', (prefix) => {
    expect(() => streamName(prefix, 'config')).toThrow(SubjectError);
    expect(() => nodeSubjects(prefix, 'n1')).toThrow(SubjectError);
  });
});

describe('node subjects', () => {
  test('builds every subject of one node', () => {
    const s = nodeSubjects('domainmgr', 'edge-01');
    expect(s.config(UUID)).toBe(`domainmgr.edge-01.config.${UUID}`);
    expect(s.status(UUID)).toBe(`domainmgr.edge-01.status.${UUID}`);
    expect(s.node).toBe('domainmgr.edge-01.node');
    expect(s.configFilter).toBe('domainmgr.edge-01.config.*');
  });

  test('a multi-token prefix', () => {
    expect(nodeSubjects('acme.edge', 'n_1').status(UUID)).toBe(`acme.edge.n_1.status.${UUID}`);
  });

  test.each(['', 'a.b', 'a*', 'a b', 'x'.repeat(65), 'ü'])('node id %j is refused', (nodeId) => {
    expect(() => nodeSubjects('domainmgr', nodeId)).toThrow(SubjectError);
  });

  test.each([
    ['not-a-uuid', true],
    ['UPPER', true],
    ['', false],
    ['a.b', false],
    ['*', false],
    ['>', false],
    ['a b', false],
  ])('uuid token %j accepted: %s', (uuid, ok) => {
    const s = nodeSubjects('domainmgr', 'n1');
    if (ok) expect(s.status(uuid)).toBe(`domainmgr.n1.status.${uuid}`);
    else expect(() => s.status(uuid)).toThrow(SubjectError);
  });
});

describe('parseSubject', () => {
  test.each([
    [`domainmgr.n1.config.${UUID}`, { kind: 'config', nodeId: 'n1', uuid: UUID, validUuid: true }],
    [`domainmgr.n1.status.${UUID}`, { kind: 'status', nodeId: 'n1', uuid: UUID, validUuid: true }],
    ['domainmgr.n1.config.bogus', { kind: 'config', nodeId: 'n1', uuid: 'bogus', validUuid: false }],
    [
      `domainmgr.n1.config.${UUID.toUpperCase()}`,
      { kind: 'config', nodeId: 'n1', uuid: UUID.toUpperCase(), validUuid: false },
    ],
    ['domainmgr.n1.node', { kind: 'node', nodeId: 'n1' }],
    ['domainmgr.n1.node.x', null],
    ['domainmgr.n1.config', null],
    [`domainmgr.n1.other.${UUID}`, null],
    [`domainmgr.n1.config.${UUID}.x`, null],
    [`other.n1.config.${UUID}`, null],
    [`domainmgrx.n1.config.${UUID}`, null],
    ['domainmgr.bad!id.node', null],
  ])('%s -> %j', (subject, parsed) => {
    expect(parseSubject('domainmgr', subject)).toEqual(parsed);
  });

  test('with a multi-token prefix', () => {
    expect(parseSubject('acme.edge', `acme.edge.n1.status.${UUID}`)).toEqual({
      kind: 'status',
      nodeId: 'n1',
      uuid: UUID,
      validUuid: true,
    });
    expect(parseSubject('acme', `acme.edge.n1.status.${UUID}`)).toBeNull();
  });

  test('round-trips what nodeSubjects builds', () => {
    const s = nodeSubjects('p.q', 'node-9');
    expect(parseSubject('p.q', s.config(UUID))).toMatchObject({
      kind: 'config',
      nodeId: 'node-9',
      uuid: UUID,
    });
    expect(parseSubject('p.q', s.node)).toEqual({ kind: 'node', nodeId: 'node-9' });
  });
});
