import { jest } from '@jest/globals';
import { stringify } from 'yaml';
import { streamName } from '../../pkg/bus/subjects.js';
import { check, validateDomainStatusSchema, validateNodeStatusSchema } from '../../pkg/schema/validators.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import { testConnection } from '../bus/support/bus.js';
import {
  assertBuilt,
  ctl,
  deletePrefixStreams,
  expectNoStack,
  type LiveNode,
  randomPrefix,
  removeTempDirs,
  SHARED_NATS_URL,
  startNode,
  uuidN,
  vmDoc,
  writeTemp,
} from './support.js';

/**
 * domainctl as a process against the real nats-server and a live domainmgr (a child process on
 * the simulated Xen host), on a prefix of this suite's own.
 */

jest.setTimeout(120_000);

let node: LiveNode;
let prefix: string;
const g = (): string[] => ['--nats', SHARED_NATS_URL, '--prefix', prefix];

beforeAll(async () => {
  assertBuilt();
  prefix = randomPrefix();
  node = await startNode(prefix, 'edge-1');
});

afterAll(async () => {
  await node?.stop();
  await deletePrefixStreams(prefix);
  removeTempDirs();
});

/** The last stored config message of a subject, or null. */
async function storedConfig(nodeId: string, uuid: string): Promise<Uint8Array | null> {
  const conn = await testConnection(SHARED_NATS_URL, prefix);
  try {
    const jsm = await conn.jsm();
    const m = await jsm.streams
      .getMessage(streamName(prefix, 'config'), { last_by_subj: `${prefix}.${nodeId}.config.${uuid}` })
      .catch(() => null);
    return m === null ? null : m.data;
  } finally {
    await conn.close();
  }
}

/** Consumers on this prefix's status stream now. */
async function statusConsumers(): Promise<number> {
  const conn = await testConnection(SHARED_NATS_URL, prefix);
  try {
    const jsm = await conn.jsm();
    return (await jsm.streams.info(streamName(prefix, 'status'))).state.consumer_count;
  } finally {
    await conn.close();
  }
}

/** Polls until the status stream has `n` consumers (bounded). */
async function waitForStatusConsumers(n: number, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let seen = await statusConsumers();
  while (seen < n) {
    if (Date.now() > until) throw new Error(`status stream has ${seen} consumers, waited for ${n}`);
    await new Promise((r) => setTimeout(r, 50));
    seen = await statusConsumers();
  }
}

function parseStatus(text: string): DomainStatus {
  const doc = JSON.parse(text) as unknown;
  const r = check(validateDomainStatusSchema, doc);
  if (!r.ok) throw new Error(`not a DomainStatus: ${r.errors.join('; ')}`);
  return r.value;
}

describe('nodes', () => {
  test('the live node is listed Ready with its backend; -o json gives the NodeStatus as published', async () => {
    const t = await ctl(['nodes', ...g()]);
    expect(t.code).toBe(0);
    const [header, row, ...rest] = t.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^NODE\s+BACKEND\s+READY\s+DOMAINS\s+FREE MEM\s+VERSION\s+AGE$/);
    expect(rest).toEqual([]);
    expect(row).toMatch(/^edge-1\s+xl\s+Ready\s+\S.*\s+\d+(\.\d)?[MG]i\s+0\.1\.0\s+\d+[smh]/);
    const j = await ctl(['nodes', ...g(), '-o', 'json']);
    const list = JSON.parse(j.stdout) as unknown[];
    expect(list).toHaveLength(1);
    expect(check(validateNodeStatusSchema, list[0]).ok).toBe(true);
    expect(list[0]).toMatchObject({ nodeId: 'edge-1', backend: 'xl', ready: true });
  });
});

describe('apply, get, watch, delete on a live node', () => {
  test('apply --wait (YAML envelope) reports the stored sequence, the states on the way, and RUNNING', async () => {
    const file = writeTemp(
      'web.yaml',
      stringify({ node: 'edge-1', domain: vmDoc(1, node.kernel, { name: 'web' }) }),
    );
    const r = await ctl(['apply', '-f', file, '--wait', '--timeout', '30s', ...g()]);
    expectNoStack(r);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^web \\(${uuidN(1)}\\) -> node edge-1: stored in ${streamName(prefix, 'config')} at seq \\d+$`,
      ),
    );
    expect(lines.at(-1)).toBe(`web (${uuidN(1)}): RUNNING at generation 1`);
    const progress = lines.slice(1, -1);
    expect(progress.length).toBeGreaterThan(0);
    for (const l of progress) expect(l).toMatch(/^ {2}edge-1\/web {2}[A-Z]+ +gen \d/);
    expect(progress.at(-1)).toMatch(/^ {2}edge-1\/web {2}RUNNING +gen 1 {2}domid \d+$/);
    // What is stored is the document's domain, byte for byte the JSON of it.
    const stored = await storedConfig('edge-1', uuidN(1));
    expect(JSON.parse(new TextDecoder().decode(stored ?? new Uint8Array()))).toEqual(
      vmDoc(1, node.kernel, { name: 'web' }),
    );
  });

  test('get: the table row, and -o json/yaml of one domain by name', async () => {
    const t = await ctl(['get', ...g()]);
    expect(t.code).toBe(0);
    const [header, ...rows] = t.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^NODE\s+NAME\s+UUID\s+STATE\s+GEN\s+DOMID\s+RESTARTS\s+AGE\s+ERROR$/);
    const row = rows.find((l) => l.includes(uuidN(1)));
    expect(row).toMatch(
      new RegExp(`^edge-1\\s+web\\s+${uuidN(1)}\\s+RUNNING\\s+1\\s+\\d+\\s+0\\s+\\d+[sm]\\S*$`),
    );
    const j = await ctl(['get', 'web', '-o', 'json', ...g()]);
    expect(j.code).toBe(0);
    const s = parseStatus(j.stdout);
    expect(s).toMatchObject({
      uuid: uuidN(1),
      name: 'web',
      nodeId: 'edge-1',
      state: 'RUNNING',
      observedGeneration: 1,
    });
    const y = await ctl(['get', uuidN(1), '-o', 'yaml', '--node', 'edge-1', ...g()]);
    expect(y.stdout).toContain(`uuid: ${uuidN(1)}\nname: web\nnodeId: edge-1\nbackend: xl\nstate: RUNNING\n`);
    const missing = await ctl(['get', 'nope', ...g()]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`domainctl: no domain named "nope" on prefix ${prefix}\n`);
  });

  test('watch prints each change while apply --wait pauses the domain at generation 2', async () => {
    const before = await statusConsumers();
    const watchJson = ctl(['watch', '-o', 'json', '--timeout', '12s', ...g()]);
    const watchText = ctl(['watch', '--node', 'edge-1', '--timeout', '12s', ...g()]);
    // Each watch follows through a consumer of its own on the status stream: once both exist,
    // every later status reaches them.
    await waitForStatusConsumers(before + 2);
    const file = writeTemp(
      'web2.json',
      JSON.stringify(vmDoc(1, node.kernel, { name: 'web', generation: 2, paused: true })),
    );
    const a = await ctl(['apply', '-f', file, '--node', 'edge-1', '--wait', ...g()]);
    expect(a.code).toBe(0);
    expect(a.stdout.trimEnd().split('\n').at(-1)).toBe(`web (${uuidN(1)}): PAUSED at generation 2`);
    const [j, t] = await Promise.all([watchJson, watchText]);
    expect(j.code).toBe(0);
    const statuses = j.stdout.trimEnd().split('\n').map(parseStatus);
    expect(statuses.some((s) => s.state === 'PAUSED' && s.observedGeneration === 2)).toBe(true);
    // Only changes from the start of the watch on: nothing of generation 1 came before it.
    expect(statuses.every((s) => s.observedGeneration === 2)).toBe(true);
    expect(t.code).toBe(0);
    const lines = t.stdout.trimEnd().split('\n');
    for (const l of lines)
      expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}edge-1\/web {2}[A-Z]+ +gen 2/);
    expect(lines.at(-1)).toMatch(/ PAUSED +gen 2 {2}domid \d+$/);
    expect(new Set(lines).size).toBe(lines.length);
  });

  test('watch --current starts with the stored status of every domain', async () => {
    const r = await ctl(['watch', '--current', '--timeout', '3s', ...g()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/edge-1\/web {2}PAUSED +gen 2/);
  });

  test('an invalid document is not published; with --force it is, and --wait reports REJECTED', async () => {
    const doc = vmDoc(2, node.kernel, { memoryMiB: 1 });
    const file = writeTemp('bad.json', JSON.stringify(doc));
    const refused = await ctl(['apply', '-f', file, '--node', 'edge-1', ...g()]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${file}: vm2 (${uuidN(2)}): invalid\n  - /memoryMiB must be >= 16\n`);
    expect(await storedConfig('edge-1', uuidN(2))).toBeNull();
    const forced = await ctl([
      'apply',
      '-f',
      file,
      '--node',
      'edge-1',
      '--force',
      '--wait',
      '--timeout',
      '20s',
      ...g(),
    ]);
    expectNoStack(forced);
    expect(forced.code).toBe(1);
    expect(forced.stdout).toMatch(/stored in .* at seq \d+\n/);
    expect(forced.stderr).toMatch(
      new RegExp(
        `domainctl: vm2 \\(${uuidN(2)}\\) failed: REJECTED: invalid config: /memoryMiB must be >= 16\\n$`,
      ),
    );
    const row = (await ctl(['get', uuidN(2), ...g()])).stdout;
    expect(row).toMatch(/REJECTED .*invalid config: \/memoryMiB must be >= 16/);
  });

  test("the node's backend checks apply before publishing: a container on an xl node is refused", async () => {
    const doc = {
      uuid: uuidN(3),
      name: 'ct',
      generation: 1,
      activate: true,
      type: 'container',
      memoryMiB: 64,
      image: 'sha512-1',
    };
    const file = writeTemp('ct.json', JSON.stringify(doc));
    const r = await ctl(['apply', '-f', file, '--node', 'edge-1', ...g()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `${file}: ct (${uuidN(3)}) (backend xl of node edge-1): invalid\n  - /type "container" needs the rkt or vmadm backend`,
    );
    expect(await storedConfig('edge-1', uuidN(3))).toBeNull();
  });

  test('a create that fails on the host: --wait reports BROKEN with the error and exits 1', async () => {
    await node.sim.simctl([
      'fault',
      'add',
      '--tool',
      'xl',
      '--sub',
      'create',
      '--exit',
      '3',
      '--stderr',
      'libxl: error: out of cheese',
    ]);
    try {
      const file = writeTemp('broken.json', JSON.stringify(vmDoc(4, node.kernel)));
      const r = await ctl(['apply', '-f', file, '--node', 'edge-1', '--wait', '--timeout', '30s', ...g()]);
      expectNoStack(r);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`^domainctl: vm4 \\(${uuidN(4)}\\) failed: BROKEN: .*out of cheese`, 'm'),
      );
    } finally {
      await node.sim.simctl(['fault', 'clear']);
    }
  });

  test('a node that never reported: warned, stored, and --wait times out with exit 4', async () => {
    const file = writeTemp('ghost.json', JSON.stringify(vmDoc(5, node.kernel)));
    const r = await ctl(['apply', '-f', file, '--node', 'ghost', '--wait', '--timeout', '2s', ...g()]);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe(
      `domainctl: warning: node ghost has never reported on prefix ${prefix}: vm5 (${uuidN(5)}) is stored and waits for it\n` +
        `domainctl: timed out after 2s waiting for vm5 (${uuidN(5)}) (no status yet)\n`,
    );
    expect(await storedConfig('ghost', uuidN(5))).not.toBeNull();
    // delete by uuid finds the node through the config stream, as nothing has a status yet.
    const d = await ctl(['delete', uuidN(5), ...g()]);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(new RegExp(`^${uuidN(5)} -> node ghost: delete stored in .* at seq \\d+\\n$`));
    expect(await storedConfig('ghost', uuidN(5))).toEqual(new Uint8Array());
  });

  test('delete NAME --wait: DELETED; then hidden from get unless --deleted', async () => {
    const r = await ctl(['delete', 'web', '--wait', '--timeout', '30s', ...g()]);
    expectNoStack(r);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(
      new RegExp(`^web \\(${uuidN(1)}\\) -> node edge-1: delete stored in .* at seq \\d+$`),
    );
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`web (${uuidN(1)}): DELETED`);
    const list = await ctl(['get', '-o', 'json', ...g()]);
    expect((JSON.parse(list.stdout) as DomainStatus[]).map((s) => s.uuid)).not.toContain(uuidN(1));
    const all = await ctl(['get', '--deleted', '-o', 'json', ...g()]);
    const gone = (JSON.parse(all.stdout) as DomainStatus[]).find((s) => s.uuid === uuidN(1));
    expect(gone?.state).toBe('DELETED');
    const unknown = await ctl(['delete', 'no-such-domain', ...g()]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(`domainctl: no domain named "no-such-domain" on prefix ${prefix}\n`);
  });

  test.each([
    ['not RFC 4122 (variant digit 0)', '0c7e0000-0000-4000-0000-000000000009'],
    ['not RFC 4122 (version digit 0)', '0c7e0000-0000-0000-8000-000000000009'],
    ['upper case', uuidN(9).toUpperCase()],
  ])('delete --wait of a uuid the engine would ignore (%s) is refused at once, nothing published', async (_why, bad) => {
    // With the 5-minute --wait budget, a domainctl that published and waited would outlive the test.
    const r = await ctl(['delete', bad, '--node', 'edge-1', '--wait', '--timeout', '5m', ...g()]);
    expectNoStack(r);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `domainctl: "${bad}" is not a lower-case RFC 4122 uuid and names no domain (nodes ignore configs on such a subject)\n`,
    );
    expect(await storedConfig('edge-1', bad)).toBeNull();
    const get = await ctl(['get', bad, ...g()]);
    expect(get.code).toBe(2);
    expect(get.stderr).toContain('is not a lower-case RFC 4122 uuid');
  });

  test('a name on two nodes is ambiguous (exit 2) until --node says which', async () => {
    // A second node with a domain of the same name.
    const other = await startNode(prefix, 'edge-2');
    try {
      const a = writeTemp('dup-a.json', JSON.stringify(vmDoc(6, node.kernel, { name: 'twin' })));
      const b = writeTemp('dup-b.json', JSON.stringify(vmDoc(7, other.kernel, { name: 'twin' })));
      expect((await ctl(['apply', '-f', a, '--node', 'edge-1', '--wait', ...g()])).code).toBe(0);
      expect((await ctl(['apply', '-f', b, '--node', 'edge-2', '--wait', ...g()])).code).toBe(0);
      const amb = await ctl(['delete', 'twin', ...g()]);
      expect(amb.code).toBe(2);
      expect(amb.stderr).toMatch(
        /^domainctl: "twin" names 2 domains \(edge-1\/.*, edge-2\/.*\): give the uuid or --node\n$/,
      );
      const t = await ctl(['get', 'twin', ...g()]);
      expect(t.code).toBe(0);
      expect(t.stdout.trimEnd().split('\n')).toHaveLength(3);
      const n = await ctl(['nodes', ...g()]);
      expect(n.stdout).toMatch(/^edge-2\s+xl\s+Ready\s+1 RUNNING\s/m);
      const d = await ctl(['delete', 'twin', '--node', 'edge-2', '--wait', ...g()]);
      expect(d.code).toBe(0);
      expect(d.stdout).toContain(`twin (${uuidN(7)}) -> node edge-2: delete stored`);
    } finally {
      await other.stop();
    }
  });
});

describe('streams and nodes that are not there', () => {
  test('a prefix no domainmgr ever used: exit 1 naming the stream', async () => {
    const p = randomPrefix();
    const r = await ctl(['get', '--nats', SHARED_NATS_URL, '--prefix', p]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `domainctl: stream ${streamName(p, 'status')} does not exist: no domainmgr has started with prefix "${p}" on this NATS (check --prefix)\n`,
    );
  });

  test('apply needs a node: --node, or the envelope; both and different is an error', async () => {
    const plain = writeTemp('plain.json', JSON.stringify(vmDoc(8, '/persist/k')));
    const none = await ctl(['apply', '-f', plain, ...g()]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(
      `domainctl: ${plain}: no node for vm8 (${uuidN(8)}): give --node N or use {node: N, domain: {...}}\n`,
    );
    const env = writeTemp('env.yaml', stringify({ node: 'edge-1', domain: vmDoc(8, '/persist/k') }));
    const clash = await ctl(['apply', '-f', env, '--node', 'edge-2', ...g()]);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toBe(`domainctl: ${env}: the file says node edge-1, --node says edge-2\n`);
  });
});
