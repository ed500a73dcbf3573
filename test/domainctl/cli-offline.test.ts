import { decodeConfigMessage } from '../../pkg/schema/domain-config-message.js';
import {
  assertBuilt,
  cleanEnv,
  closedPort,
  ctl,
  expectNoStack,
  removeTempDirs,
  uuidN,
  vmDoc,
  writeTemp,
} from './support.js';

/** domainctl as a process, for everything that needs no NATS (or finds none). */

beforeAll(() => assertBuilt());
afterAll(() => removeTempDirs());

const KERNEL = '/persist/vmlinuz';

describe('help and usage', () => {
  test('--help lists every command and the exit codes; exit 0', async () => {
    const r = await ctl(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['apply', 'delete', 'get', 'watch', 'nodes', 'validate', 'plan'])
      expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    expect(r.stdout).toContain('3 NATS unreachable');
    expect(r.stderr).toBe('');
  });

  test.each([
    ['apply', ['--wait', '--force', '--node', '-f']],
    ['delete', ['--wait', '--node', 'UUID|NAME']],
    ['get', ['-o, --output', '--deleted', '--node']],
    ['watch', ['--current', '-o, --output']],
    ['nodes', ['--stale-after', '-o, --output']],
    ['validate', ['--backend', '--allowed-roots']],
    ['plan', ['--backend', '--state-dir', '--rkt-stage1']],
  ])('%s --help documents its options', async (command, words) => {
    const r = await ctl([command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`usage: domainctl ${command}`);
    for (const w of words) expect(r.stdout).toContain(w);
    expect(r.stdout).toContain('--nats URL[,URL]');
  });

  test.each([
    [[], 'domainctl: missing command (try domainctl --help)'],
    [['frobnicate'], 'domainctl: unknown command "frobnicate" (try domainctl --help)'],
    [['get', '--bogus'], "domainctl: domainctl get: Unknown option '--bogus'"],
    [['apply'], 'domainctl: missing -f FILE'],
    [['delete'], 'domainctl: delete: missing UUID|NAME'],
    [['get', 'a', 'b'], 'domainctl: get: unexpected argument "b"'],
    [['get', '-o', 'xml'], 'domainctl: -o must be one of table, json, yaml, not "xml"'],
    [
      ['get', '--timeout', 'soon'],
      'domainctl: --timeout must be a duration like 30s, 5m or 1m30s, not "soon"',
    ],
    [['get', '--node', 'a.b'], 'domainctl: --node "a.b" is not a node id ([A-Za-z0-9_-]{1,64})'],
    [['plan', '-f', '/dev/null'], 'domainctl: plan: missing --backend xl|rkt|vmadm|lxc'],
    [['validate', '-f', '/nonexistent/x.yaml'], 'domainctl: cannot read /nonexistent/x.yaml: ENOENT'],
    [
      ['get', '--prefix', 'a..b'],
      'domainctl: invalid configuration: nats.prefix must match 1-32 characters of A-Z a-z 0-9 _ - (one subject token) (from --prefix)',
    ],
    [
      ['plan', '--backend', 'hyperv', '-f', 'x'],
      'domainctl: invalid configuration: backend must be one of "xl", "rkt", "vmadm", "lxc" (from --backend)',
    ],
  ])('%j exits 2 with one line', async (args, line) => {
    const r = await ctl(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`${line}\n`);
  });

  test('a DOMAINMGR_* variable with a bad value is named, like domainmgr does', async () => {
    const r = await ctl(['get'], {
      env: cleanEnv({ DOMAINMGR_NATS_SERVERS: '', DOMAINMGR_BACKEND: 'nope' }),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^domainctl: invalid configuration: .*\(from DOMAINMGR_/);
  });
});

describe('validate', () => {
  test('a valid YAML list: one "valid" line per domain, exit 0, a note on what was not checked', async () => {
    const file = writeTemp(
      'two.yaml',
      `- uuid: ${uuidN(1)}\n  name: a\n  generation: 1\n  activate: true\n  type: vm\n  memoryMiB: 64\n  kernel: ${KERNEL}\n` +
        `- node: edge-1\n  domain:\n    uuid: ${uuidN(2)}\n    name: b\n    generation: 1\n    activate: false\n    type: container\n    memoryMiB: 64\n    image: sha512-00\n`,
    );
    const r = await ctl(['validate', '-f', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${file}[0]: a (${uuidN(1)}): valid\n${file}[1]: b (${uuidN(2)}): valid\n`);
    expect(r.stderr).toBe(
      'domainctl: note: not checked: storage roots, backend checks (see domainctl validate --help)\n',
    );
  });

  test('prints exactly the errors the service decodes from the same bytes; exit 1', async () => {
    const doc = vmDoc(3, '/elsewhere/vmlinuz', {
      memoryMiB: 8,
      maxMemoryMiB: 4,
      vifs: [{ bridge: 'br0', mac: '01:00:00:00:00:01' }],
      colour: 'blue',
    });
    const file = writeTemp('bad.json', JSON.stringify(doc));
    const r = await ctl(['validate', '-f', file, '--allowed-roots', '/persist']);
    const service = decodeConfigMessage(new TextEncoder().encode(JSON.stringify(doc)), uuidN(3), [
      '/persist',
    ]);
    expect(service.kind).toBe('invalid');
    const errors = service.kind === 'invalid' ? service.errors : [];
    expect(errors.length).toBeGreaterThan(0);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${file}: vm3 (${uuidN(3)}): invalid\n${errors.map((e) => `  - ${e}\n`).join('')}`);
    expect(r.stdout).toContain('/colour is not a known field');
  });

  test('cross-field and storage-root rules come out once the schema passes', async () => {
    const file = writeTemp(
      'roots.json',
      JSON.stringify(vmDoc(4, '/elsewhere/vmlinuz', { maxMemoryMiB: 64 })),
    );
    const r = await ctl(['validate', '-f', file, '--allowed-roots', '/persist,/srv']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('  - /maxMemoryMiB must be >= memoryMiB (128)\n');
    expect(r.stdout).toContain('  - /kernel must lie under an allowed storage root: /persist, /srv\n');
  });

  test("--backend adds the checks the node's backend makes before accepting", async () => {
    const file = writeTemp('vm.json', JSON.stringify(vmDoc(5, KERNEL)));
    const ok = await ctl(['validate', '-f', file, '--backend', 'xl']);
    expect(ok.code).toBe(0);
    const r = await ctl(['validate', '-f', file, '--backend', 'rkt']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('/type "vm" needs the xl or vmadm backend');
  });

  test('unparsable input exits 2 with the position; stdin works with -f -', async () => {
    const yamlFile = writeTemp('broken.yaml', 'uuid: x\n  name: [\n');
    const y = await ctl(['validate', '-f', yamlFile]);
    expect(y.code).toBe(2);
    expect(y.stderr).toBe(
      `domainctl: ${yamlFile}:1:7 is not valid YAML: Nested mappings are not allowed in compact mappings\n`,
    );
    const j = await ctl(['validate', '-f', writeTemp('broken.json', '{"uuid": ')]);
    expect(j.code).toBe(2);
    expect(j.stderr).toMatch(/is not valid JSON: /);
    const dup = await ctl(['validate', '-f', writeTemp('dup.yaml', 'name: a\nname: b\n')]);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/Map keys must be unique/);
    const stdin = await ctl(['validate', '-f', '-'], { input: JSON.stringify(vmDoc(6, KERNEL)) });
    expect(stdin.code).toBe(0);
    expect(stdin.stdout).toBe(`(stdin): vm6 (${uuidN(6)}): valid\n`);
    for (const r of [y, j, dup, stdin]) expectNoStack(r);
  });

  test('an envelope with other keys, or a file with nothing in it, is a usage error', async () => {
    const env = await ctl(['validate', '-f', writeTemp('e.yaml', 'node: a\ndomain: {}\nextra: 1\n')]);
    expect(env.code).toBe(2);
    expect(env.stderr).toBe(
      `domainctl: ${env.stderr.split(': ')[1]}: an envelope holds only "node" and "domain", not "extra"\n`,
    );
    const empty = await ctl(['validate', '-f', writeTemp('empty.yaml', '')]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/holds no domain\n$/);
  });
});

describe('NATS unreachable', () => {
  test.each(['get', 'nodes', 'watch'])('%s against a closed port: exit 3, one line', async (cmd) => {
    const port = await closedPort();
    const r = await ctl([cmd, '--nats', `nats://127.0.0.1:${port}`]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`domainctl: cannot reach NATS at nats://127.0.0.1:${port}: connection refused\n`);
    expectNoStack(r);
  });

  test('apply and delete too; every server is named', async () => {
    const p1 = await closedPort();
    const p2 = await closedPort();
    const servers = `nats://127.0.0.1:${p1},nats://127.0.0.1:${p2}`;
    const file = writeTemp('a.json', JSON.stringify(vmDoc(7, KERNEL)));
    const a = await ctl(['apply', '-f', file, '--node', 'n1', '--nats', servers]);
    expect(a.code).toBe(3);
    expect(a.stderr).toBe(`domainctl: cannot reach NATS at ${servers}: connection refused\n`);
    const d = await ctl(['delete', uuidN(7), '--node', 'n1'], {
      env: cleanEnv({ DOMAINMGR_NATS_SERVERS: `nats://127.0.0.1:${p1}` }),
    });
    expect(d.code).toBe(3);
    expect(d.stderr).toBe(`domainctl: cannot reach NATS at nats://127.0.0.1:${p1}: connection refused\n`);
  });

  test('a server URL with credentials is refused in one line that does not repeat them', async () => {
    const port = await closedPort();
    const secret = 'ctl-s3cret';
    const r = await ctl([
      'get',
      '--nats',
      `nats://ops:${secret}@127.0.0.1:${port},nats://${secret}@127.0.0.1:${port}`,
    ]);
    expect(r.code).toBe(2);
    expect(`${r.stdout}${r.stderr}`).not.toContain(secret);
    expect(r.stderr).toBe(
      'domainctl: invalid configuration: nats.servers: a server URL must not carry credentials (user:password@ ' +
        'or token@, which the NATS client ignores); use nats.user with nats.password or nats.passwordFile, or ' +
        'nats.token / nats.tokenFile\n',
    );
  });

  test('an unknown host is said so', async () => {
    const r = await ctl(['get', '--nats', 'nats://no-such-host.invalid:4222']);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      'domainctl: cannot reach NATS at nats://no-such-host.invalid:4222: host not found (no-such-host.invalid)\n',
    );
  });

  test('an invalid document is refused before any connection is tried (exit 1, not 3)', async () => {
    const port = await closedPort();
    const file = writeTemp('inv.json', JSON.stringify(vmDoc(8, KERNEL, { memoryMiB: 1 })));
    const r = await ctl(['apply', '-f', file, '--node', 'n1', '--nats', `nats://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/memoryMiB must be >= 16');
    expect(r.stderr).toMatch(/nothing published: 1 invalid document\(s\) \(--force publishes anyway\)\n$/);
  });
});
