import { check, validateDomainStatusSchema, validateNodeStatusSchema } from '../../pkg/schema/validators.js';

const T = '2026-11-21T12:00:00.000Z';

function status(): Record<string, unknown> {
  return {
    uuid: '6f1c2a9e-3b4d-4c5e-8f60-718293a4b5c6',
    name: 'web-1',
    nodeId: 'edge-01',
    backend: 'xl',
    state: 'RUNNING',
    observedGeneration: 3,
    domainName: 'web-1',
    domainId: 7,
    activated: true,
    bootTime: T,
    lastTransitionTime: T,
    updatedAt: T,
    restartCount: 0,
    vifs: [{ vifName: 'vif7.0', mac: '00:16:3e:00:00:01', bridge: 'xenbr0', ip: '10.0.0.2' }],
    pciDevices: [{ bdf: '0000:03:00.0' }],
    pendingChanges: ['vcpus'],
    error: null,
  };
}

function node(): Record<string, unknown> {
  return {
    nodeId: 'edge-01',
    backend: 'vmadm',
    version: '0.1.0',
    startedAt: T,
    updatedAt: T,
    ready: true,
    verify: { ok: true, problems: [] },
    host: { totalMemoryMiB: 16384, freeMemoryMiB: 8000, nrCpus: 8, hypervisorVersion: '4.17.3' },
    domains: { RUNNING: 3, HALTED: 1 },
  };
}

type Case = [string, (d: Record<string, unknown>) => void];
const err = (over: Record<string, unknown>) => (d: Record<string, unknown>) => {
  d.error = { message: 'xl create failed', source: 'hypervisor', time: T, ...over };
};

const statusAccepted: Case[] = [
  [
    'uuid',
    (d) => {
      d.uuid = 'a8098c1a-f86e-11da-bd1a-00112444be1e';
    },
  ],
  [
    'name empty (REJECTED, no readable name)',
    (d) => {
      d.name = '';
    },
  ],
  [
    'nodeId with underscore',
    (d) => {
      d.nodeId = 'edge_01';
    },
  ],
  [
    'backend rkt',
    (d) => {
      d.backend = 'rkt';
    },
  ],
  [
    'state REJECTED',
    (d) => {
      d.state = 'REJECTED';
    },
  ],
  [
    'observedGeneration 0',
    (d) => {
      d.observedGeneration = 0;
    },
  ],
  [
    'domainName null',
    (d) => {
      d.domainName = null;
    },
  ],
  [
    'domainId null',
    (d) => {
      d.domainId = null;
    },
  ],
  [
    'activated false',
    (d) => {
      d.activated = false;
    },
  ],
  [
    'bootTime null',
    (d) => {
      d.bootTime = null;
    },
  ],
  [
    'lastTransitionTime with offset',
    (d) => {
      d.lastTransitionTime = '2026-11-21T13:00:00+01:00';
    },
  ],
  [
    'updatedAt',
    (d) => {
      d.updatedAt = '2026-11-21T12:00:01Z';
    },
  ],
  [
    'restartCount 5',
    (d) => {
      d.restartCount = 5;
    },
  ],
  [
    'vifs without ip',
    (d) => {
      d.vifs = [{ vifName: 'vif7.0', mac: '00:16:3e:00:00:01', bridge: 'xenbr0' }];
    },
  ],
  [
    'pciDevices empty',
    (d) => {
      d.pciDevices = [];
    },
  ],
  [
    'pendingChanges empty',
    (d) => {
      d.pendingChanges = [];
    },
  ],
  [
    'error with command, exitCode, stderr, retryAt',
    err({ command: 'xl create -p /x.cfg', exitCode: 3, stderr: 'libxl: error', retryAt: T }),
  ],
  ['error from config', err({ source: 'config' })],
  ['error exitCode null (timeout)', err({ source: 'timeout', exitCode: null })],
];

const statusRejected: [string, (d: Record<string, unknown>) => void, string][] = [
  [
    'uuid',
    (d) => {
      d.uuid = 'nope';
    },
    '/uuid must match',
  ],
  [
    'name too long',
    (d) => {
      d.name = 'x'.repeat(65);
    },
    '/name must be at most 64',
  ],
  [
    'nodeId with a dot',
    (d) => {
      d.nodeId = 'edge.01';
    },
    '/nodeId must match',
  ],
  [
    'backend',
    (d) => {
      d.backend = 'kvm';
    },
    '/backend must be one of',
  ],
  [
    'state',
    (d) => {
      d.state = 'running';
    },
    '/state must be one of',
  ],
  [
    'observedGeneration negative',
    (d) => {
      d.observedGeneration = -1;
    },
    '/observedGeneration must be >= 0',
  ],
  [
    'domainName number',
    (d) => {
      d.domainName = 7;
    },
    '/domainName must be a string or null',
  ],
  [
    'domainId negative',
    (d) => {
      d.domainId = -1;
    },
    '/domainId must be >= 0',
  ],
  [
    'activated string',
    (d) => {
      d.activated = 'yes';
    },
    '/activated must be a boolean',
  ],
  [
    'bootTime not a date',
    (d) => {
      d.bootTime = 'yesterday';
    },
    '/bootTime must be an RFC 3339 date-time',
  ],
  [
    'lastTransitionTime missing',
    (d) => {
      delete d.lastTransitionTime;
    },
    '/lastTransitionTime is required',
  ],
  [
    'updatedAt not a date',
    (d) => {
      d.updatedAt = 1700000000;
    },
    '/updatedAt must be a string',
  ],
  [
    'restartCount fractional',
    (d) => {
      d.restartCount = 0.5;
    },
    '/restartCount must be an integer',
  ],
  [
    'vifs bad mac',
    (d) => {
      d.vifs = [{ vifName: 'v', mac: 'zz', bridge: 'b' }];
    },
    '/vifs/0/mac must match xx:xx:xx:xx:xx:xx',
  ],
  [
    'pciDevices bad bdf',
    (d) => {
      d.pciDevices = [{ bdf: '3:0.0' }];
    },
    '/pciDevices/0/bdf must match',
  ],
  [
    'pendingChanges not strings',
    (d) => {
      d.pendingChanges = [1];
    },
    '/pendingChanges/0 must be a string',
  ],
  [
    'error without message',
    (d) => {
      d.error = { source: 'host', time: T };
    },
    '/error/message is required',
  ],
  [
    'error source unknown',
    err({ source: 'nats' }),
    '/error/source must be one of "config", "hypervisor", "timeout", "host"',
  ],
  ['error retryAt not a date', err({ retryAt: 'soon' }), '/error/retryAt must be an RFC 3339 date-time'],
  ['error unknown field', err({ stack: 'at x' }), '/error/stack is not a known field'],
  [
    'unknown field',
    (d) => {
      d.extra = 1;
    },
    '/extra is not a known field',
  ],
];

const nodeAccepted: Case[] = [
  [
    'nodeId',
    (d) => {
      d.nodeId = 'n';
    },
  ],
  [
    'backend xl',
    (d) => {
      d.backend = 'xl';
    },
  ],
  [
    'version',
    (d) => {
      d.version = '1.2.3-rc.1';
    },
  ],
  [
    'startedAt',
    (d) => {
      d.startedAt = '2026-01-01T00:00:00Z';
    },
  ],
  [
    'updatedAt',
    (d) => {
      d.updatedAt = '2026-01-01T00:00:00Z';
    },
  ],
  [
    'ready false',
    (d) => {
      d.ready = false;
    },
  ],
  [
    'verify with problems',
    (d) => {
      d.verify = { ok: false, problems: ['xl: not found'] };
    },
  ],
  [
    'host zero',
    (d) => {
      d.host = { totalMemoryMiB: 0, freeMemoryMiB: 0, nrCpus: 0, hypervisorVersion: '' };
    },
  ],
  [
    'domains empty',
    (d) => {
      d.domains = {};
    },
  ],
];

const nodeRejected: [string, (d: Record<string, unknown>) => void, string][] = [
  [
    'nodeId too long',
    (d) => {
      d.nodeId = 'n'.repeat(65);
    },
    '/nodeId must match',
  ],
  [
    'backend',
    (d) => {
      d.backend = 'docker';
    },
    '/backend must be one of',
  ],
  [
    'version missing',
    (d) => {
      delete d.version;
    },
    '/version is required',
  ],
  [
    'startedAt',
    (d) => {
      d.startedAt = 'now';
    },
    '/startedAt must be an RFC 3339 date-time',
  ],
  [
    'updatedAt',
    (d) => {
      d.updatedAt = null;
    },
    '/updatedAt must be a string',
  ],
  [
    'ready',
    (d) => {
      d.ready = 1;
    },
    '/ready must be a boolean',
  ],
  [
    'verify problems not strings',
    (d) => {
      d.verify = { ok: false, problems: [false] };
    },
    '/verify/problems/0 must be a string',
  ],
  [
    'host negative memory',
    (d) => {
      (d.host as Record<string, unknown>).freeMemoryMiB = -1;
    },
    '/host/freeMemoryMiB must be >= 0',
  ],
  [
    'domains unknown state',
    (d) => {
      d.domains = { SLEEPING: 1 };
    },
    '/domains has a key that is not allowed (SLEEPING)',
  ],
  [
    'domains negative count',
    (d) => {
      d.domains = { RUNNING: -1 };
    },
    '/domains/RUNNING must be >= 0',
  ],
];

function coverage(base: Record<string, unknown>, accepted: Case[], rejected: [string, unknown, string][]) {
  const touched = new Set<string>();
  for (const [, edit] of accepted) {
    const d = structuredClone(base);
    edit(d);
    for (const f of Object.keys(base)) if (JSON.stringify(d[f]) !== JSON.stringify(base[f])) touched.add(f);
  }
  const missingAccept = Object.keys(base).filter((f) => !touched.has(f));
  const sentences = rejected.map((r) => r[2]).join('\n');
  const missingReject = Object.keys(base).filter((f) => !sentences.includes(`/${f}`));
  return { missingAccept, missingReject };
}

describe('DomainStatus schema', () => {
  test('the example is valid', () =>
    expect(check(validateDomainStatusSchema, status())).toEqual({ ok: true, value: status() }));
  test.each(statusAccepted)('accepts %s', (_n, edit) => {
    const d = status();
    edit(d);
    expect(check(validateDomainStatusSchema, d)).toMatchObject({ ok: true });
  });
  test.each(statusRejected)('rejects %s', (_n, edit, sentence) => {
    const d = status();
    edit(d);
    const r = check(validateDomainStatusSchema, d);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join('\n')).toContain(sentence);
  });
  test('every field is covered', () => {
    expect(coverage(status(), statusAccepted, statusRejected)).toEqual({
      missingAccept: [],
      missingReject: [],
    });
  });
});

describe('NodeStatus schema', () => {
  test('the example is valid', () =>
    expect(check(validateNodeStatusSchema, node())).toMatchObject({ ok: true }));
  test.each(nodeAccepted)('accepts %s', (_n, edit) => {
    const d = node();
    edit(d);
    expect(check(validateNodeStatusSchema, d)).toMatchObject({ ok: true });
  });
  test.each(nodeRejected)('rejects %s', (_n, edit, sentence) => {
    const d = node();
    edit(d);
    const r = check(validateNodeStatusSchema, d);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join('\n')).toContain(sentence);
  });
  test('every field is covered', () => {
    expect(coverage(node(), nodeAccepted, nodeRejected)).toEqual({ missingAccept: [], missingReject: [] });
  });
});
