import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, defaultNodeId, loadConfig } from '../../pkg/config/load-config.js';
import { OPTIONS } from '../../pkg/config/options.js';
import { projectRoot } from '../../pkg/project-files.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'domainmgr-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('loadConfig', () => {
  test('defaults alone are valid, and the node id comes from the host name', () => {
    const { config } = loadConfig([], {});
    expect(config.backend).toBe('xl');
    expect(config.nats.prefix).toBe('domainmgr');
    expect(config.nodeId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });

  test('file, then environment, then flags: later wins', () => {
    const cfg = file(
      'a.json',
      JSON.stringify({ backend: 'rkt', nodeId: 'from-file', probeIntervalMs: 1000 }),
    );
    const { config, sources } = loadConfig(['--config', cfg, '--node-id', 'from-flag'], {
      DOMAINMGR_NODE_ID: 'from-env',
      DOMAINMGR_BACKEND: 'vmadm',
      DOMAINMGR_NATS_SERVERS: 'nats://a:4222, nats://b:4223',
    });
    expect(config.nodeId).toBe('from-flag');
    expect(config.backend).toBe('vmadm');
    expect(config.probeIntervalMs).toBe(1000);
    expect(config.nats.servers).toEqual(['nats://a:4222', 'nats://b:4223']);
    expect(sources.get('nodeId')).toBe('--node-id');
    expect(sources.get('backend')).toBe('DOMAINMGR_BACKEND');
    expect(sources.get('probeIntervalMs')).toBe(cfg);
  });

  test('DOMAINMGR_CONFIG names the file; nested keys merge with defaults', () => {
    const cfg = file('b.json', JSON.stringify({ nats: { prefix: 'fleet2' }, timeouts: { commandMs: 500 } }));
    const { config } = loadConfig([], { DOMAINMGR_CONFIG: cfg });
    expect(config.nats.prefix).toBe('fleet2');
    expect(config.nats.servers).toEqual(['nats://127.0.0.1:4222']);
    expect(config.timeouts).toEqual({ commandMs: 500, createMs: 120000, killGraceMs: 2000 });
  });

  test('the backend flag swaps backends', () => {
    for (const b of ['xl', 'rkt', 'vmadm', 'lxc'])
      expect(loadConfig(['--backend', b], {}).config.backend).toBe(b);
  });

  test.each([
    [
      ['--backend', 'kvm'],
      {},
      'invalid configuration: backend must be one of "xl", "rkt", "vmadm", "lxc" (from --backend)',
    ],
    [
      [],
      { DOMAINMGR_BACKEND: 'docker' },
      'invalid configuration: backend must be one of "xl", "rkt", "vmadm", "lxc" (from DOMAINMGR_BACKEND)',
    ],
    [
      ['--node-id', 'edge.01'],
      {},
      'invalid configuration: nodeId must match 1-64 characters of A-Z a-z 0-9 _ - (empty: derived from the host name) (from --node-id)',
    ],
    [
      ['--probe-interval-ms', '5s'],
      {},
      'invalid configuration: --probe-interval-ms must be a whole number, not "5s"',
    ],
    [
      ['--probe-interval-ms', '10'],
      {},
      'invalid configuration: probeIntervalMs must be >= 100 (from --probe-interval-ms)',
    ],
    [
      [],
      { DOMAINMGR_NATS_MANAGE_STREAMS: 'maybe' },
      'invalid configuration: DOMAINMGR_NATS_MANAGE_STREAMS must be true or false, not "maybe"',
    ],
    [
      ['--prefix', 'a.b'],
      {},
      'invalid configuration: nats.prefix must match 1-32 characters of A-Z a-z 0-9 _ - (one subject token) (from --prefix)',
    ],
    [['--nats', ''], {}, 'invalid configuration: nats.servers must have at least 1 item (from --nats)'],
    [
      ['--state-dir', 'relative/dir'],
      {},
      'invalid configuration: stateDir must match an absolute path without . or .. segments or control characters (from --state-dir)',
    ],
    [
      ['--orphan-policy', 'ignore'],
      {},
      'invalid configuration: orphanPolicy must be one of "destroy", "keep" (from --orphan-policy)',
    ],
    [
      ['--restart-backoff-initial-ms', '5000', '--restart-backoff-max-ms', '100'],
      {},
      'invalid configuration: restartBackoff.maxMs must be >= restartBackoff.initialMs',
    ],
    [['--bogus'], {}, "invalid command line: Unknown option '--bogus'"],
    [
      ['--config', '/nonexistent/domainmgr.json'],
      {},
      'cannot read configuration file /nonexistent/domainmgr.json: ENOENT',
    ],
  ] as [string[], NodeJS.ProcessEnv, string][])('rejects %j %j with one line', (argv, env, message) => {
    let thrown: unknown;
    try {
      loadConfig(argv, env);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).message).toBe(message);
  });

  test('a file with an unknown key, bad JSON, or a non-object is named', () => {
    const unknown = file('c.json', JSON.stringify({ nats: { prefx: 'x' } }));
    expect(() => loadConfig(['--config', unknown], {})).toThrow(
      `invalid configuration: nats.prefx is not a known field (from ${unknown})`,
    );
    const bad = file('d.json', '{"backend": ');
    expect(() => loadConfig(['--config', bad], {})).toThrow(
      new RegExp(`^configuration file ${bad} is not valid JSON: `),
    );
    const arr = file('e.json', '[]');
    expect(() => loadConfig(['--config', arr], {})).toThrow(
      `configuration file ${arr} must hold a JSON object`,
    );
    const proto = file('f.json', '{"__proto__": {"backend": "rkt"}}');
    expect(() => loadConfig(['--config', proto], {})).toThrow(
      'invalid configuration: __proto__ is not a known key',
    );
  });

  test('every option has a flag, a DOMAINMGR_ variable and a key the schema knows', () => {
    const flags = new Set(OPTIONS.map((o) => o.flag));
    const envs = new Set(OPTIONS.map((o) => o.env));
    expect(flags.size).toBe(OPTIONS.length);
    expect(envs.size).toBe(OPTIONS.length);
    for (const fixed of ['config', 'node-id', 'backend', 'nats', 'prefix', 'state-dir'])
      expect(flags).toContain(fixed);
    for (const o of OPTIONS) expect(o.env).toMatch(/^DOMAINMGR_[A-Z0-9_]+$/);
    const { config } = loadConfig([], {});
    for (const o of OPTIONS.filter((x) => x.key !== '')) {
      const value = o.key.split('.').reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], config);
      expect([o.key, value]).not.toEqual([o.key, undefined]);
    }
  });

  test('the README configuration table names every option, flag and variable', () => {
    const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
    for (const o of OPTIONS) {
      expect(readme).toContain(`| \`--${o.flag}\` | \`${o.env}\` |`);
    }
  });

  test.each([
    ['edge.node-1.example', 'edge-node-1-example'],
    ['héllo', 'h-llo'],
    ['', 'node'],
    ['x'.repeat(80), 'x'.repeat(64)],
  ])('default node id of host %j is %j', (host, id) => expect(defaultNodeId(host)).toBe(id));
});

describe('domainmgr command line', () => {
  const bin = join(projectRoot, 'bin/domainmgr.js');

  test('an invalid configuration exits 2 with one line and no stack trace', async () => {
    const err = await run('node', [bin, '--backend', 'hyperv']).catch(
      (e: { code: number; stderr: string; stdout: string }) => e,
    );
    expect(err).toMatchObject({ code: 2, stdout: '' });
    expect((err as { stderr: string }).stderr).toBe(
      'domainmgr: invalid configuration: backend must be one of "xl", "rkt", "vmadm", "lxc" (from --backend)\n',
    );
  });

  test('an unexpected argument exits 2', async () => {
    const err = await run('node', [bin, 'start']).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({
      code: 2,
      stderr: 'domainmgr: invalid command line: unexpected argument "start"\n',
    });
  });

  test('--print-config prints the effective configuration and exits', async () => {
    const { stdout } = await run('node', [bin, '--print-config', '--backend', 'vmadm'], {
      env: { ...process.env, DOMAINMGR_NODE_ID: 'edge-7' },
    });
    expect(JSON.parse(stdout)).toMatchObject({
      nodeId: 'edge-7',
      backend: 'vmadm',
      nats: { prefix: 'domainmgr' },
    });
  });

  test('--help lists every flag with its variable', async () => {
    const { stdout } = await run('node', [bin, '--help']);
    for (const o of OPTIONS) expect(stdout).toContain(`--${o.flag} `);
    for (const o of OPTIONS) expect(stdout).toContain(`[${o.env}]`);
  });
});
