import {
  changeKey,
  domainCounts,
  domainTable,
  formatAge,
  formatMiB,
  nodeTable,
  oneLine,
  readiness,
  renderTable,
  statusLine,
} from '../../pkg/ctl/format.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { NodeStatus } from '../../types/generated/node-status.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();

function status(over: Partial<DomainStatus> = {}): DomainStatus {
  return {
    uuid: '11111111-2222-4333-8444-555555555555',
    name: 'web',
    nodeId: 'edge-1',
    backend: 'xl',
    state: 'RUNNING',
    observedGeneration: 3,
    domainName: 'web',
    domainId: 7,
    activated: true,
    bootTime: ago(3_600_000),
    lastTransitionTime: ago(125_000),
    updatedAt: ago(1000),
    restartCount: 0,
    vifs: [],
    pciDevices: [],
    pendingChanges: [],
    error: null,
    ...over,
  };
}

function nodeStatus(over: Partial<NodeStatus> = {}): NodeStatus {
  return {
    nodeId: 'edge-1',
    backend: 'xl',
    version: '0.1.0',
    startedAt: ago(3 * 86_400_000 + 4 * 3_600_000),
    updatedAt: ago(5000),
    ready: true,
    verify: { ok: true, problems: [] },
    host: { totalMemoryMiB: 16384, freeMemoryMiB: 12083, nrCpus: 4, hypervisorVersion: '4.17' },
    domains: { RUNNING: 3, BROKEN: 1 },
    ...over,
  };
}

describe('formatAge (kubectl style)', () => {
  test.each([
    [0, '0s'],
    [-5000, '0s'],
    [59_999, '59s'],
    [60_000, '1m'],
    [192_000, '3m12s'],
    [600_000, '10m'],
    [42 * 60_000 + 59_000, '42m'],
    [3_600_000, '1h'],
    [5 * 3_600_000 + 3 * 60_000, '5h3m'],
    [17 * 3_600_000 + 59 * 60_000, '17h'],
    [86_400_000, '1d'],
    [3 * 86_400_000 + 4 * 3_600_000, '3d4h'],
    [12 * 86_400_000 + 5 * 3_600_000, '12d'],
    [365 * 86_400_000, '1y'],
    [(2 * 365 + 45) * 86_400_000, '2y45d'],
    [Number.NaN, '<unknown>'],
  ])('%d ms -> %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });
});

describe('formatMiB', () => {
  test.each([
    [0, '0Mi'],
    [512, '512Mi'],
    [1023, '1023Mi'],
    [1024, '1Gi'],
    [1536, '1.5Gi'],
    [12083, '11.8Gi'],
    [200 * 1024, '200Gi'],
    [4 * 1024 * 1024, '4Ti'],
  ])('%d -> %s', (mib, text) => {
    expect(formatMiB(mib)).toBe(text);
  });
});

describe('small helpers', () => {
  test('oneLine folds whitespace and cuts with an ellipsis', () => {
    expect(oneLine('a\n  b\tc', 10)).toBe('a b c');
    expect(oneLine('0123456789abc', 10)).toBe('0123456...');
  });

  test.each([
    [{ RUNNING: 3, BROKEN: 1 }, '3 RUNNING, 1 BROKEN'],
    [{ BROKEN: 1, PAUSED: 2, RUNNING: 0 }, '2 PAUSED, 1 BROKEN'],
    [{ DELETED: 4 }, '-'],
    [{}, '-'],
    [{ HALTED: 1, FUTURE: 2 }, '1 HALTED, 2 FUTURE'],
  ])('domainCounts(%j) = %s', (domains, text) => {
    expect(domainCounts(domains)).toBe(text);
  });

  test('renderTable pads every column but the last, three spaces apart', () => {
    expect(
      renderTable(
        ['A', 'BB', 'C'],
        [
          ['xxx', 'y', ''],
          ['x', 'yyyy', 'z'],
        ],
      ),
    ).toBe('A     BB     C\nxxx   y\nx     yyyy   z');
  });
});

describe('domainTable', () => {
  test('the columns of get, with AGE since the last transition and the error on one line', () => {
    const rows = [
      status(),
      status({
        uuid: '22222222-2222-4222-8222-222222222222',
        name: 'db',
        nodeId: 'edge-22',
        state: 'BROKEN',
        observedGeneration: 12,
        domainId: null,
        restartCount: 4,
        lastTransitionTime: ago(5 * 86_400_000),
        error: {
          message: 'xl create failed:\nlibxl: error: out of memory',
          source: 'hypervisor',
          time: ago(1),
        },
      }),
    ];
    expect(domainTable(rows, NOW)).toBe(
      [
        'NODE      NAME   UUID                                   STATE     GEN   DOMID   RESTARTS   AGE    ERROR',
        'edge-1    web    11111111-2222-4333-8444-555555555555   RUNNING   3     7       0          2m5s',
        'edge-22   db     22222222-2222-4222-8222-222222222222   BROKEN    12    -       4          5d     xl create failed: libxl: error: out of memory',
      ].join('\n'),
    );
  });

  test('a long error is cut to the width', () => {
    const t = domainTable(
      [status({ error: { message: 'x'.repeat(100), source: 'host', time: ago(0) } })],
      NOW,
      20,
    );
    expect(t.split('\n')[1]?.endsWith(`${'x'.repeat(17)}...`)).toBe(true);
  });
});

describe('nodeTable and readiness', () => {
  test('the columns of nodes', () => {
    const t = nodeTable(
      [
        nodeStatus(),
        nodeStatus({
          nodeId: 'edge-2',
          backend: 'vmadm',
          ready: false,
          domains: {},
          host: { totalMemoryMiB: 1, freeMemoryMiB: 900, nrCpus: 1, hypervisorVersion: 'x' },
          startedAt: ago(30_000),
        }),
      ],
      NOW,
      90_000,
    );
    expect(t).toBe(
      [
        'NODE     BACKEND   READY      DOMAINS               FREE MEM   VERSION   AGE',
        'edge-1   xl        Ready      3 RUNNING, 1 BROKEN   11.8Gi     0.1.0     3d4h',
        'edge-2   vmadm     NotReady   -                     900Mi      0.1.0     30s',
      ].join('\n'),
    );
  });

  test.each([
    [true, 5000, 'Ready'],
    [false, 5000, 'NotReady'],
    [true, 90_000, 'Ready'],
    [true, 90_001, 'Unknown (1m30s)'],
    [false, 3_600_000, 'Unknown (1h)'],
  ])('ready %s, last update %d ms ago -> %s', (ready, age, text) => {
    expect(readiness(nodeStatus({ ready, updatedAt: ago(age) }), NOW, 90_000)).toBe(text);
  });
});

describe('statusLine and changeKey (watch)', () => {
  test.each([
    [status(), 'edge-1/web  RUNNING   gen 3  domid 7'],
    [status({ state: 'PENDING', domainId: null, observedGeneration: 1 }), 'edge-1/web  PENDING   gen 1'],
    [
      status({ restartCount: 2, pendingChanges: ['vcpus', 'disks'] }),
      'edge-1/web  RUNNING   gen 3  domid 7  restarts 2  pending: vcpus,disks',
    ],
    [
      status({
        state: 'BROKEN',
        domainId: null,
        error: { message: 'boom\nbang', source: 'hypervisor', time: ago(0), retryAt: '2026-03-01T12:00:04Z' },
      }),
      'edge-1/web  BROKEN    gen 3  error (hypervisor): boom bang (retry at 2026-03-01T12:00:04Z)',
    ],
  ])('%#: %s', (s, line) => {
    expect(statusLine(s)).toBe(line);
  });

  test('with the stored time and without the node', () => {
    expect(statusLine(status(), { time: new Date('2026-03-01T12:00:00.123Z'), withNode: false })).toBe(
      '2026-03-01T12:00:00Z  web  RUNNING   gen 3  domid 7',
    );
  });

  test('changeKey ignores timestamps and sees what a line shows', () => {
    const a = status();
    expect(changeKey(status({ updatedAt: ago(0), lastTransitionTime: ago(0) }))).toBe(changeKey(a));
    expect(changeKey(status({ state: 'PAUSED' }))).not.toBe(changeKey(a));
    expect(changeKey(status({ restartCount: 1 }))).not.toBe(changeKey(a));
    expect(changeKey(status({ error: { message: 'x', source: 'host', time: ago(0) } }))).not.toBe(
      changeKey(a),
    );
  });
});
