import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hubStatusStream, siteConfigMirror } from '../../pkg/bus/site-streams.js';
import { contractStreamConfig } from '../../pkg/bus/streams.js';
import { loadConfig } from '../../pkg/config/load-config.js';
import { projectRoot } from '../../pkg/project-files.js';

/**
 * The ready-to-use NATS files of deploy/nats (docs/fleet.md): every server configuration passes
 * nats-server's own check, the stream definitions are what domainmgr's code says the topology
 * needs, and the site node's domainmgr configuration loads.
 */
const run = promisify(execFile);
const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const DIR = join(projectRoot, 'deploy', 'nats');
const json = (name: string): unknown => JSON.parse(readFileSync(join(DIR, name), 'utf8'));

describe('deploy/nats', () => {
  const confs = readdirSync(DIR).filter((f) => f.endsWith('.conf'));

  test('holds a 3-server hub and a site leaf', () => {
    expect(confs.sort()).toEqual(['hub-1.conf', 'hub-2.conf', 'hub-3.conf', 'leaf-site1.conf']);
  });

  test.each(confs)('%s is a valid nats-server configuration', async (f) => {
    const { stderr } = await run(NATS_SERVER, ['-t', '-c', join(DIR, f)]);
    expect(stderr).toContain('is valid');
  });

  test('the hub is JetStream domain hub; the leaf has its own domain and keeps the prefix off the uplink', () => {
    const hub = readFileSync(join(DIR, 'hub-1.conf'), 'utf8');
    expect(hub).toMatch(/^\s*domain: hub$/m);
    const leaf = readFileSync(join(DIR, 'leaf-site1.conf'), 'utf8');
    expect(leaf).toMatch(/^\s*domain: site1$/m);
    expect(leaf).toContain('deny_imports: ["domainmgr.>"]');
    expect(leaf).toContain('deny_exports: ["domainmgr.>"]');
  });

  test("the hub's status stream sources the sites' status streams, R3", () => {
    const status = contractStreamConfig('domainmgr', 'status');
    expect(json('hub-status-stream.json')).toEqual({
      ...hubStatusStream('domainmgr', status, ['site1', 'site2']),
      num_replicas: 3,
    });
  });

  test("the leaf's config stream is the mirror domainmgr --hub-domain hub creates", () => {
    const config = contractStreamConfig('domainmgr', 'config');
    expect(json('leaf-config-stream.json')).toEqual(
      siteConfigMirror('domainmgr', config, { hubDomain: 'hub', nodeId: 'site1-n1' }),
    );
  });

  test("the site node's configuration loads: its leaf, the hub's domain", () => {
    const { config } = loadConfig(['--config', join(DIR, 'site-node.json')], {});
    expect(config.nodeId).toBe('site1-n1');
    expect(config.nats.servers).toEqual(['nats://127.0.0.1:4222']);
    expect(config.nats.hubDomain).toBe('hub');
  });
});
