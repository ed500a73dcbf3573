import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { natsAuthProblems } from '../../pkg/bus/auth.js';
import { type BusConnection, connectBus, NatsAuthRefusedError } from '../../pkg/bus/connect.js';
import { type FleetClient, NatsUnreachableError, openFleetClient } from '../../pkg/bus/fleet-client.js';
import { ConfigError, loadConfig } from '../../pkg/config/load-config.js';
import { projectRoot } from '../../pkg/project-files.js';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import { captureLogger, natsConfig, randomPrefix, waitFor } from '../bus/support/fixtures.js';
import { makeTestPki, type TestPki } from '../bus/support/tls.js';
import { assertBuilt, cleanEnv } from '../domainctl/support.js';
import { runProcess } from '../support/sim-host.js';
import { AuthServer, JwtOperator, nkeyUser } from './support/auth-server.js';

// Signing nonces with nkeys is slow on a loaded machine (pure JavaScript ed25519).
jest.setTimeout(90_000);

type Nats = DomainmgrConfig['nats'];
const FAST = { initialMs: 50, maxMs: 200, jitter: 0.2 };

function nats(url: string, over: Partial<Nats>): Nats {
  return { ...natsConfig(url, randomPrefix()), ...over };
}

describe('natsAuthProblems: which combinations of keys are usable', () => {
  const base = { servers: ['nats://127.0.0.1:4222'] };
  test.each<[string, Record<string, unknown>, RegExp | null]>([
    ['nothing', {}, null],
    ['user and password', { user: 'u', password: 'p' }, null],
    ['user and password file', { user: 'u', passwordFile: '/p' }, null],
    ['token', { token: 't' }, null],
    ['token file', { tokenFile: '/t' }, null],
    ['nkey seed file', { nkeySeedFile: '/s' }, null],
    ['creds', { credentials: '/c' }, null],
    [
      'creds with mutual TLS',
      { credentials: '/c', tls: { caFile: '/ca', certFile: '/c', keyFile: '/k' } },
      null,
    ],
    ['user without password', { user: 'u' }, /^nats\.user needs nats\.password or nats\.passwordFile$/],
    ['password without user', { password: 'p' }, /^nats\.password needs nats\.user$/],
    ['password file without user', { passwordFile: '/p' }, /^nats\.passwordFile needs nats\.user$/],
    [
      'password and password file',
      { user: 'u', password: 'p', passwordFile: '/p' },
      /nats\.password or nats\.passwordFile, not both/,
    ],
    ['token and token file', { token: 't', tokenFile: '/t' }, /nats\.token or nats\.tokenFile, not both/],
    [
      'user and token',
      { user: 'u', password: 'p', token: 't' },
      /nats\.user and nats\.token are different authentication methods/,
    ],
    ['seed and creds', { nkeySeedFile: '/s', credentials: '/c' }, /nats\.nkeySeedFile and nats\.credentials/],
    ['cert without key', { tls: { certFile: '/c' } }, /nats\.tls\.certFile needs nats\.tls\.keyFile/],
    ['key without cert', { tls: { keyFile: '/k' } }, /nats\.tls\.keyFile needs nats\.tls\.certFile/],
  ])('%s', (_, over, problem) => {
    const problems = natsAuthProblems({ ...base, ...over } as Nats);
    if (problem === null) expect(problems).toEqual([]);
    else expect(problems[0]).toMatch(problem);
  });

  test.each([
    'nats://alice:secret@host:4222',
    'alice:secret@host',
    'tls://tok@host:4222',
  ])('a server URL with credentials (%s) is refused, naming the keys to use instead', (url) => {
    const problems = natsAuthProblems({ servers: [url] } as unknown as Nats);
    expect(problems[0]).toMatch(/^nats\.servers: a server URL must not carry credentials .* use nats\.user/);
    // The message never repeats the URL, so the secret in it goes nowhere.
    expect(problems.join(' ')).not.toContain('secret');
  });
});

describe('loadConfig checks the secret files once at start', () => {
  let dir: string;
  beforeAll(() => {
    dir = makeTestPki().dir;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each<[string, string[], (d: string) => RegExp]>([
    [
      'a missing password file',
      ['--nats-user', 'u', '--nats-password-file', '/nonexistent/pw'],
      () =>
        /^invalid configuration: nats\.passwordFile: cannot read \/nonexistent\/pw: no such file \(from --nats-password-file\)$/,
    ],
    [
      'an empty token file',
      ['--nats-token-file', 'EMPTY'],
      (d) =>
        new RegExp(
          `^invalid configuration: nats\\.tokenFile: ${d}/empty is empty \\(from --nats-token-file\\)$`,
        ),
    ],
    [
      'a seed file that holds no seed',
      ['--nats-nkey-seed-file', 'GARBAGE'],
      (d) =>
        new RegExp(`^invalid configuration: nats\\.nkeySeedFile: ${d}/garbage does not hold an nkey seed`),
    ],
    [
      'a creds file that holds no creds',
      ['--nats-credentials', 'GARBAGE'],
      (d) =>
        new RegExp(`^invalid configuration: nats\\.credentials: ${d}/garbage does not hold a \\.creds file`),
    ],
    [
      'a missing CA file',
      ['--nats-tls-ca-file', '/nonexistent/ca.pem'],
      () =>
        /^invalid configuration: nats\.tls\.caFile: cannot read \/nonexistent\/ca\.pem: no such file \(from --nats-tls-ca-file\)$/,
    ],
    [
      'credentials in the server URL',
      ['--nats', 'nats://u:hunter2@127.0.0.1:4222'],
      () => /^invalid configuration: nats\.servers: a server URL must not carry credentials/,
    ],
  ])('%s is one line naming the key and the problem', (_, args, expected) => {
    writeFileSync(join(dir, 'empty'), '\n');
    writeFileSync(join(dir, 'garbage'), 'not a key\n');
    const argv = args.map((a) =>
      a === 'EMPTY' ? join(dir, 'empty') : a === 'GARBAGE' ? join(dir, 'garbage') : a,
    );
    let error: unknown;
    try {
      loadConfig(argv, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(expected(dir));
    expect(message).not.toContain('\n');
    expect(message).not.toContain('hunter2');
  });

  test('each key is set by its flag or its DOMAINMGR_ variable', () => {
    const pw = join(dir, 'pw');
    writeFileSync(pw, 'secret\n');
    const fromFlags = loadConfig(['--nats-user', 'alice', '--nats-password-file', pw], {}).config.nats;
    expect(fromFlags).toMatchObject({ user: 'alice', passwordFile: pw, password: null });
    const fromEnv = loadConfig([], {
      DOMAINMGR_NATS_TOKEN: 'tok',
      DOMAINMGR_NATS_TLS_CA_FILE: join(dir, 'ca.pem'),
      DOMAINMGR_NATS_TLS_CERT_FILE: join(dir, 'client.pem'),
      DOMAINMGR_NATS_TLS_KEY_FILE: join(dir, 'client.key'),
    }).config.nats;
    expect(fromEnv).toMatchObject({
      token: 'tok',
      tls: {
        caFile: join(dir, 'ca.pem'),
        certFile: join(dir, 'client.pem'),
        keyFile: join(dir, 'client.key'),
      },
    });
  });
});

describe('every authentication method against a real nats-server', () => {
  let pki: TestPki;
  let server: AuthServer | undefined;
  let abort: AbortController;
  const open: (BusConnection | FleetClient)[] = [];

  beforeAll(() => {
    pki = makeTestPki();
  });
  afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));
  beforeEach(() => {
    abort = new AbortController();
  });
  afterEach(async () => {
    abort.abort();
    for (const c of open.splice(0)) await c.close().catch(() => undefined);
    await server?.destroy();
    server = undefined;
  });

  function bus(s: AuthServer, over: Partial<Nats>, logger = captureLogger().logger): Promise<BusConnection> {
    return connectBus({
      nats: nats(s.url, over),
      nodeId: 'n1',
      logger,
      backoff: FAST,
      signal: abort.signal,
      timeoutMs: 3_000,
    });
  }

  /** domainmgr's and domainctl's connections both get in with `good`; `bad` is refused at once. */
  async function provesMethod(s: AuthServer, good: Partial<Nats>, bad: Partial<Nats>): Promise<void> {
    const { logger, lines } = captureLogger();
    const conn = await bus(s, good, logger);
    open.push(conn);
    await conn.nc.flush();
    const fleet = await openFleetClient({ nats: nats(s.url, good), connectTimeoutMs: 5_000 });
    open.push(fleet);
    expect(lines.some((l) => l.msg === 'connected to NATS')).toBe(true);

    const refused = await bus(s, bad).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(NatsAuthRefusedError);
    expect((refused as Error).message).toMatch(
      /^NATS refused the credentials \(nats\.[a-zA-Z]+.*\): .*authorization violation/i,
    );
    const ctlRefused = await openFleetClient({ nats: nats(s.url, bad), connectTimeoutMs: 5_000 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(ctlRefused).toBeInstanceOf(NatsUnreachableError);
    expect((ctlRefused as Error).message).toMatch(/authorization failed/i);
  }

  const users = (entries: string) => `authorization { users: [ ${entries} ] }\n`;

  test('user and password, given inline', async () => {
    server = await AuthServer.start(users('{ user: alice, password: "inline-pw-1" }'));
    await provesMethod(
      server,
      { user: 'alice', password: 'inline-pw-1' },
      { user: 'alice', password: 'wrong' },
    );
  });

  test('user and password file', async () => {
    server = await AuthServer.start(users('{ user: alice, password: "file-pw-1" }'));
    const good = server.file('pw', 'file-pw-1\n');
    const bad = server.file('bad-pw', 'not-it\n');
    await provesMethod(server, { user: 'alice', passwordFile: good }, { user: 'alice', passwordFile: bad });
  });

  test('token, inline and from a file', async () => {
    server = await AuthServer.start('authorization { token: "tok-123" }\n');
    const file = server.file('token', 'tok-123\n');
    await provesMethod(server, { tokenFile: file }, { token: 'tok-999' });
    const conn = await bus(server, { token: 'tok-123' });
    open.push(conn);
    await conn.nc.flush();
  });

  test('nkey seed file', async () => {
    const alice = nkeyUser();
    const mallory = nkeyUser();
    server = await AuthServer.start(users(`{ nkey: ${alice.publicKey} }`));
    await provesMethod(
      server,
      { nkeySeedFile: server.file('alice.nk', `${alice.seed}\n`) },
      { nkeySeedFile: server.file('mallory.nk', `${mallory.seed}\n`) },
    );
  });

  test('.creds file (JWT operator mode)', async () => {
    const operator = await JwtOperator.create();
    const stranger = await JwtOperator.create();
    server = await AuthServer.start(operator.conf);
    await provesMethod(
      server,
      { credentials: server.file('alice.creds', await operator.userCreds('alice')) },
      // A user of an account this server does not know.
      { credentials: server.file('stranger.creds', await stranger.userCreds('eve')) },
    );
  });

  test('TLS with a CA: the server is verified against nats.tls.caFile', async () => {
    server = await AuthServer.start(
      `tls { cert_file: "${pki.serverCert}", key_file: "${pki.serverKey}" }\n${users('{ user: alice, password: "tls-pw" }')}`,
    );
    await provesMethod(
      server,
      { user: 'alice', password: 'tls-pw', tls: { caFile: pki.caFile } },
      { user: 'alice', password: 'nope', tls: { caFile: pki.caFile } },
    );
    // Without the CA the server's certificate is not trusted.
    const untrusted = await openFleetClient({
      nats: nats(server.url, { user: 'alice', password: 'tls-pw' }),
      connectTimeoutMs: 3_000,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(untrusted).toBeInstanceOf(NatsUnreachableError);
    expect(String((untrusted as Error).message)).toMatch(/certificate|self.signed|tls/i);
  });

  test('mutual TLS: the client certificate is the credential', async () => {
    server = await AuthServer.start(
      `tls { cert_file: "${pki.serverCert}", key_file: "${pki.serverKey}", ca_file: "${pki.caFile}", verify: true }\n`,
    );
    const conn = await bus(server, {
      tls: { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey },
    });
    open.push(conn);
    await conn.nc.flush();
    const fleet = await openFleetClient({
      nats: nats(server.url, {
        tls: { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey },
      }),
      connectTimeoutMs: 5_000,
    });
    open.push(fleet);
    const noCert = await openFleetClient({
      nats: nats(server.url, { tls: { caFile: pki.caFile } }),
      connectTimeoutMs: 3_000,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(noCert).toBeInstanceOf(NatsUnreachableError);
  });

  test('a rotated password file is read at the next reconnect; refusals meanwhile are logged without the secret', async () => {
    const conf = (pw: string) => users(`{ user: alice, password: "${pw}" }`);
    server = await AuthServer.start(conf('rotation-secret-one'));
    const pwFile = server.file('pw', 'rotation-secret-one\n');
    const { logger, lines } = captureLogger();
    const conn = await bus(server, { user: 'alice', passwordFile: pwFile }, logger);
    open.push(conn);

    // The server's password changes first; the node still holds the old one.
    server.rewrite(conf('rotation-secret-two'));
    await server.restart();
    await waitFor(
      'a refused reconnect',
      () => lines.some((l) => l.msg === 'NATS refused the credentials, still trying'),
      20_000,
    );
    expect(conn.connected).toBe(false);
    const refusal = lines.find((l) => l.msg === 'NATS refused the credentials, still trying');
    expect(refusal?.auth).toBe(`nats.user alice with nats.passwordFile ${pwFile}`);
    expect(String(refusal?.err)).toMatch(/authorization violation/i);

    // The operator rotates the file: the next attempt uses it, no restart.
    writeFileSync(pwFile, 'rotation-secret-two\n');
    await waitFor('reconnected with the new password', () => conn.connected, 20_000);
    await conn.nc.flush();
    const all = JSON.stringify(lines);
    expect(all).not.toContain('rotation-secret-one');
    expect(all).not.toContain('rotation-secret-two');
  });

  test('a secret file missing at a reconnect is logged by key and picked up again once it is back', async () => {
    server = await AuthServer.start(users('{ user: alice, password: "kept-secret" }'));
    const pwFile = server.file('pw', 'kept-secret\n');
    const { logger, lines } = captureLogger();
    const conn = await bus(server, { user: 'alice', passwordFile: pwFile }, logger);
    open.push(conn);
    rmSync(pwFile);
    await server.restart();
    await waitFor(
      'the unreadable file logged',
      () => lines.some((l) => l.msg === 'cannot read a NATS secret file'),
      20_000,
    );
    const line = lines.find((l) => l.msg === 'cannot read a NATS secret file');
    expect(line?.key).toBe('nats.passwordFile');
    expect(line?.err).toBe(`nats.passwordFile: cannot read ${pwFile}: no such file`);
    writeFileSync(pwFile, 'kept-secret\n');
    await waitFor('reconnected once the file is back', () => conn.connected, 20_000);
    await conn.nc.flush();
    expect(JSON.stringify(lines)).not.toContain('kept-secret');
  });

  test('domainmgr with a wrong password exits 2 with one line naming the key and the reason of the server', async () => {
    assertBuilt();
    server = await AuthServer.start(users('{ user: alice, password: "right-one" }'));
    const pwFile = server.file('pw', 'wrong-one\n');
    const r = await runProcess(
      [
        process.execPath,
        join(projectRoot, 'bin', 'domainmgr.js'),
        '--nats',
        server.url,
        '--nats-user',
        'alice',
        '--nats-password-file',
        pwFile,
        '--state-dir',
        join(server.dir, 'state'),
        '--http-listen',
        '',
      ],
      cleanEnv(),
      { timeoutMs: 60_000 },
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `domainmgr: NATS refused the credentials (nats.user alice with nats.passwordFile ${pwFile}): Authorization Violation`,
    );
    expect(`${r.stdout}${r.stderr}`).not.toContain('wrong-one');
  });
});
