import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, loadConfig } from '../../pkg/config/load-config.js';
import { createLogger } from '../../pkg/log/logger.js';
import { redactSecrets } from '../../pkg/log/redact.js';
import { projectRoot } from '../../pkg/project-files.js';
import { freePort } from '../bus/support/nats-server.js';

const run = promisify(execFile);
const SECRET = 's3cret-Pa55';

describe('redactSecrets', () => {
  test.each([
    ['nats://ops:s3cret@h:4222', 'nats://ops:***@h:4222'],
    ['nats://tok3n@h:4222', 'nats://***@h:4222'],
    ['tls://ops:s3cret@h', 'tls://ops:***@h'],
    ['nats://a:x@h1,nats://b:y@h2', 'nats://a:***@h1,nats://b:***@h2'],
    ['nats://h1:4222,nats://b:y@h2', 'nats://h1:4222,nats://b:***@h2'],
    // Unencoded '@', ':' and ',' in a password belong to it, as a URL parser reads them.
    ['nats://ops:p@ss@h/x', 'nats://ops:***@h/x'],
    ['nats://ops:p:a,ss@h', 'nats://ops:***@h'],
    // A quote escaped inside a JSON string stays within the user information.
    ['{"s":"nats://ops:p\\"q@h"}', '{"s":"nats://ops:***@h"}'],
    [
      'cannot reach NATS at nats://ops:s3cret@127.0.0.1:1: refused',
      'cannot reach NATS at nats://ops:***@127.0.0.1:1: refused',
    ],
    // Nothing else is touched.
    ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4222'],
    ['mail ops@example.com about /a/b@c', 'mail ops@example.com about /a/b@c'],
    ['', ''],
  ])('%s -> %s', (text, shown) => {
    expect(redactSecrets(text)).toBe(shown);
  });
});

describe('secrets never reach a log line', () => {
  test('a logger hides them in fields, messages and errors, whoever logs them', () => {
    const out: string[] = [];
    const log = createLogger('debug', { write: (s: string) => void out.push(s) });
    log.info({ nats: [`nats://ops:${SECRET}@h:4222`] }, 'starting');
    log.child({ component: 'bus' }).warn({ err: `Error: failed nats://ops:${SECRET}@h` }, 'failed');
    log.error(`tried nats://${SECRET}@h`);
    expect(out).toHaveLength(3);
    const text = out.join('');
    expect(text).not.toContain(SECRET);
    expect(text).toContain('nats://ops:***@h:4222');
    expect(text).toContain('nats://***@h');
  });

  test('a configuration error does not repeat the secret', () => {
    // The value of a boolean is quoted in the message; a URL's secret in it is hidden.
    expect(() => loadConfig([], { DOMAINMGR_NATS_MANAGE_STREAMS: `nats://ops:${SECRET}@h` })).toThrow(
      new ConfigError(
        'invalid configuration: DOMAINMGR_NATS_MANAGE_STREAMS must be true or false, not "nats://ops:***@h"',
      ),
    );
  });
});

describe('domainmgr, the process', () => {
  const bin = join(projectRoot, 'bin', 'domainmgr.js');
  let dir: string;
  let child: ChildProcess | null = null;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'redact-'));
  });
  afterEach(() => {
    if (child !== null && child.exitCode === null) child.kill('SIGKILL');
    child = null;
    rmSync(dir, { recursive: true, force: true });
  });

  test('a server URL with credentials is refused at start without repeating the secret', async () => {
    // nats.js ignores credentials in a URL; domainmgr refuses them (exit 2) and says so without them.
    const failure = await run(
      'node',
      [bin, '--print-config', '--nats', `nats://ops:${SECRET}@h:4222,nats://h2:4222`],
      {
        env: cleanEnv(),
      },
    ).then(
      () => null,
      (e: { code?: number; stdout?: string; stderr?: string }) => e,
    );
    expect(failure?.code).toBe(2);
    expect(`${failure?.stdout}${failure?.stderr}`).not.toContain(SECRET);
    expect(failure?.stderr).toContain('nats.servers: a server URL must not carry credentials');
  });

  test('--print-config, the start line and every failed connect never show a password', async () => {
    const port = await freePort(); // nothing listens: every attempt fails
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, SECRET, { mode: 0o600 });
    const args = [
      bin,
      '--nats',
      `nats://127.0.0.1:${port}`,
      '--nats-user',
      'ops',
      '--nats-password-file',
      passwordFile,
      '--state-dir',
      join(dir, 'state'),
      '--http-listen',
      '',
      '--node-id',
      'redact',
    ];
    const printed = await run('node', [...args, '--print-config'], { env: cleanEnv() });
    expect(printed.stdout).not.toContain(SECRET);
    expect(JSON.parse(printed.stdout).nats.passwordFile).toBe(passwordFile);
    const given = await run(
      'node',
      [bin, '--print-config', '--nats-user', 'ops', '--nats-password', SECRET],
      {
        env: cleanEnv(),
      },
    );
    expect(given.stdout).not.toContain(SECRET);
    expect(JSON.parse(given.stdout).nats.password).toBe('***');
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
    child = proc;
    let out = '';
    const failedConnects = () => out.split('\n').filter((l) => l.includes('cannot connect to NATS')).length;
    await new Promise<void>((resolve, reject) => {
      proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (failedConnects() >= 2) resolve();
      });
      proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      proc.once('exit', (code) => reject(new Error(`domainmgr exited (${code}) early:\n${out}`)));
    });
    proc.kill('SIGTERM');
    await new Promise((resolve) => proc.once('close', resolve));
    expect(out).not.toContain(SECRET);
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; nats?: string[]; servers?: string[] });
    expect(lines.find((l) => l.msg === 'starting')?.nats).toEqual([`nats://127.0.0.1:${port}`]);
    const failed = lines.filter((l) => l.msg === 'cannot connect to NATS, retrying');
    expect(failed.length).toBeGreaterThanOrEqual(2);
  });
});

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DOMAINMGR_')) env[k] = v;
  return env;
}
