import { describe, expect, test } from '@jest/globals';
import {
  type PermissionSet,
  type Role,
  rolePermissions,
  serverPermissionsBlock,
} from '../../pkg/bus/permissions.js';
import { SubjectError } from '../../pkg/bus/subjects.js';
import { ctl, expectNoStack } from '../domainctl/support.js';

const A = '$JS.API';

describe('rolePermissions: the exact set of each role', () => {
  test.each<[string, Role, string[], PermissionSet]>([
    [
      'node n1',
      'node',
      ['n1'],
      {
        publish: {
          allow: [
            'acme.n1.status.*',
            'acme.n1.node',
            `${A}.INFO`,
            `${A}.STREAM.INFO.ACME_CONFIG`,
            `${A}.STREAM.INFO.ACME_STATUS`,
            'acme.n1.lease',
            `${A}.STREAM.INFO.ACME_LEASE`,
            `${A}.DIRECT.GET.ACME_LEASE.acme.n1.lease`,
            `${A}.CONSUMER.CREATE.ACME_CONFIG.domainmgr-n1.acme.n1.config.*`,
            `${A}.CONSUMER.INFO.ACME_CONFIG.domainmgr-n1`,
            `${A}.CONSUMER.DELETE.ACME_CONFIG.domainmgr-n1`,
            `${A}.CONSUMER.MSG.NEXT.ACME_CONFIG.domainmgr-n1`,
            '$JS.ACK.ACME_CONFIG.domainmgr-n1.>',
          ],
          deny: ['acme.*.config.*'],
        },
        subscribe: { allow: ['_INBOX.acme.node.n1.>', 'acme.n1.lease'], deny: [] },
      },
    ],
    [
      'controller of n1 and n2',
      'controller',
      ['n1', 'n2', 'n1'],
      {
        publish: {
          allow: [
            'acme.n1.config.*',
            'acme.n2.config.*',
            `${A}.INFO`,
            `${A}.STREAM.INFO.ACME_CONFIG`,
            `${A}.CONSUMER.CREATE.ACME_CONFIG.*.acme.n1.config.*`,
            `${A}.CONSUMER.CREATE.ACME_CONFIG.*.acme.n2.config.*`,
            `${A}.CONSUMER.INFO.ACME_CONFIG.*`,
            `${A}.CONSUMER.MSG.NEXT.ACME_CONFIG.*`,
            `${A}.DIRECT.GET.ACME_CONFIG.acme.n1.config.*`,
            `${A}.DIRECT.GET.ACME_CONFIG.acme.n2.config.*`,
            `${A}.STREAM.INFO.ACME_STATUS`,
            `${A}.CONSUMER.CREATE.ACME_STATUS.*.acme.*.status.*`,
            `${A}.CONSUMER.CREATE.ACME_STATUS.*.acme.*.node`,
            `${A}.CONSUMER.INFO.ACME_STATUS.*`,
            `${A}.CONSUMER.MSG.NEXT.ACME_STATUS.*`,
            `${A}.CONSUMER.DELETE.ACME_STATUS.*`,
            `${A}.STREAM.MSG.GET.ACME_STATUS`,
            `${A}.DIRECT.GET.ACME_STATUS`,
            `${A}.DIRECT.GET.ACME_STATUS.acme.*.status.*`,
            `${A}.DIRECT.GET.ACME_STATUS.acme.*.node`,
          ],
          deny: ['acme.*.status.*', 'acme.*.node', `${A}.CONSUMER.DELETE.ACME_CONFIG.*`],
        },
        subscribe: {
          allow: [
            '_INBOX.acme.ctl.>',
            'acme.*.status.*',
            'acme.*.node',
            'acme.n1.config.*',
            'acme.n2.config.*',
          ],
          deny: [],
        },
      },
    ],
  ])('%s', (_, role, nodes, expected) => {
    expect(rolePermissions('acme', role, nodes)).toEqual(expected);
  });

  test('a controller of every node publishes and reads every config, by sequence too', () => {
    const p = rolePermissions('acme', 'controller');
    expect(p.publish.allow.slice(0, 1)).toEqual(['acme.*.config.*']);
    expect(p.publish.allow).toContain(`${A}.STREAM.MSG.GET.ACME_CONFIG`);
    expect(p.publish.allow).toContain(`${A}.CONSUMER.CREATE.ACME_CONFIG.*.acme.*.config.*`);
  });

  test('the operator reads configs and statuses and publishes nothing of the contract', () => {
    const p = rolePermissions('acme', 'operator');
    expect(p.publish.allow.filter((s) => s.startsWith('acme.'))).toEqual([]);
    expect(p.publish.deny).toEqual(['acme.>', `${A}.CONSUMER.DELETE.ACME_CONFIG.*`]);
    expect(p.publish.allow).toContain(`${A}.CONSUMER.CREATE.ACME_CONFIG.*.acme.*.config.*`);
    expect(p.publish.allow).toContain(`${A}.CONSUMER.CREATE.ACME_STATUS.*.acme.*.status.*`);
    expect(p.subscribe.allow).toEqual([
      '_INBOX.acme.ctl.>',
      'acme.*.status.*',
      'acme.*.node',
      'acme.*.config.*',
    ]);
  });

  test('no role may create a consumer without the filter in the subject, or touch a stream', () => {
    for (const [role, nodes] of [
      ['node', ['n1']],
      ['controller', []],
      ['controller', ['n1']],
      ['operator', []],
    ] as [Role, string[]][]) {
      const all = rolePermissions('acme', role, nodes).publish.allow;
      expect(
        all.filter(
          (s) =>
            /DURABLE\.CREATE|CONSUMER\.CREATE\.[A-Z_]+$|STREAM\.(CREATE|UPDATE|DELETE|PURGE)|>$/.test(s) &&
            !s.startsWith('$JS.ACK.'),
        ),
      ).toEqual([]);
    }
  });

  test.each<[Role, string[], RegExp]>([
    ['node', [], /exactly one node id/],
    ['node', ['n1', 'n2'], /exactly one node id/],
    ['operator', ['n1'], /takes no --node/],
    ['controller', ['bad.id'], /invalid node id "bad\.id"/],
  ])('%s with %j is refused', (role, nodes, message) => {
    expect(() => rolePermissions('acme', role, nodes)).toThrow(SubjectError);
    expect(() => rolePermissions('acme', role, nodes)).toThrow(message);
  });

  test('the server block lists allow and (non-empty) deny per direction', () => {
    expect(serverPermissionsBlock(rolePermissions('p', 'node', ['n']))).toBe(
      [
        'permissions {',
        '  publish {',
        `    allow: ["p.n.status.*", "p.n.node", "${A}.INFO", "${A}.STREAM.INFO.P_CONFIG", "${A}.STREAM.INFO.P_STATUS", "p.n.lease", "${A}.STREAM.INFO.P_LEASE", "${A}.DIRECT.GET.P_LEASE.p.n.lease", "${A}.CONSUMER.CREATE.P_CONFIG.domainmgr-n.p.n.config.*", "${A}.CONSUMER.INFO.P_CONFIG.domainmgr-n", "${A}.CONSUMER.DELETE.P_CONFIG.domainmgr-n", "${A}.CONSUMER.MSG.NEXT.P_CONFIG.domainmgr-n", "$JS.ACK.P_CONFIG.domainmgr-n.>"]`,
        '    deny: ["p.*.config.*"]',
        '  }',
        '  subscribe {',
        '    allow: ["_INBOX.p.node.n.>", "p.n.lease"]',
        '  }',
        '}',
      ].join('\n'),
    );
  });
});

describe('domainctl permissions and streams (offline)', () => {
  test('-o json prints exactly the permission set of the configured prefix', async () => {
    const r = await ctl([
      'permissions',
      '--role',
      'controller',
      '--node',
      'a,b',
      '--node',
      'c',
      '--prefix',
      'acme',
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(rolePermissions('acme', 'controller', ['a', 'b', 'c']));
    expect(Object.keys(JSON.parse(r.stdout) as object)).toEqual(['publish', 'subscribe']);
  });

  test.each<[string[], string]>([
    [['permissions'], 'domainctl: --role must be one of node, controller, operator\n'],
    [
      ['permissions', '--role', 'admin'],
      'domainctl: --role must be one of node, controller, operator, not "admin"\n',
    ],
    [['permissions', '--role', 'node'], 'domainctl: the node role needs exactly one node id (--node ID)\n'],
    [
      ['permissions', '--role', 'node', '--node', 'n1', '-o', 'yaml'],
      'domainctl: -o must be json or server, not "yaml"\n',
    ],
  ])('%j is a usage error', async (args, stderr) => {
    const r = await ctl(args);
    expectNoStack(r);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(stderr);
  });

  test('streams prints the three stream configurations of the prefix', async () => {
    const r = await ctl(['streams', '--prefix', 'acme']);
    expect(r.code).toBe(0);
    const streams = JSON.parse(r.stdout) as {
      name: string;
      subjects: string[];
      max_msgs_per_subject: number;
    }[];
    expect(streams.map((s) => [s.name, s.subjects, s.max_msgs_per_subject])).toEqual([
      ['ACME_CONFIG', ['acme.*.config.*'], 1],
      ['ACME_STATUS', ['acme.*.status.*', 'acme.*.node'], 1],
      ['ACME_LEASE', ['acme.*.lease'], 1],
    ]);
  });
});
