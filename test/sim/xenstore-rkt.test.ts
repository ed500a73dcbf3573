import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SimHostHandle, startSimHost } from '../support/sim-host.js';
import { expectExact, listRow, pvhCfg, removeTempDirs, tempDir, writeCfg, xl } from './helpers.js';

let h: SimHostHandle;

beforeAll(() => {
  h = startSimHost();
});
afterAll(async () => {
  await h.stop();
  removeTempDirs();
});
beforeEach(async () => {
  await h.simctl(['reset']);
});

const OFFLOAD = ['feature-sg', 'feature-gso-tcpv4', 'feature-gso-tcpv6', 'feature-ipv6-csum-offload'];

describe('xenstore', () => {
  test('netback feature keys exist at create (1) and go at destroy', async () => {
    await xl(h, 'create', '-p', writeCfg(pvhCfg('x1', "vif = [ 'bridge=xenbr0', 'bridge=xenbr1' ]\n")));
    const base = '/local/domain/0/backend/vif/1';
    for (const devid of [0, 1]) {
      for (const k of [...OFFLOAD, 'feature-rx-copy']) {
        expectExact(await h.run(['xenstore', 'read', `${base}/${devid}/${k}`]), 0, '1\n', '');
      }
    }
    expectExact(
      await h.run(['xenstore', 'read', '/local/domain/1/device/vif/0/backend']),
      0,
      `${base}/0\n`,
      '',
    );
    await xl(h, 'destroy', 'x1');
    const r = await h.run(['xenstore', 'read', `${base}/0/feature-sg`]);
    expectExact(r, 1, '', `xenstore: couldn't read path ${base}/0/feature-sg\n`);
    expect((await h.run(['xenstore', 'ls', '/local/domain/1'])).code).toBe(1);
  });

  test('xenstore-write: several pairs in one call; odd or no arguments: usage, exit 1', async () => {
    await xl(h, 'create', '-p', writeCfg(pvhCfg('x2', "vif = [ 'bridge=xenbr0' ]\n")));
    const base = '/local/domain/0/backend/vif/1/0';
    const pairs = OFFLOAD.flatMap((k) => [`${base}/${k}`, '0']);
    expectExact(await h.run(['xenstore-write', ...pairs]), 0, '', '');
    for (const k of OFFLOAD) expectExact(await h.run(['xenstore', 'read', `${base}/${k}`]), 0, '0\n', '');
    const usage = 'xenstore-write: Usage: xenstore-write [-h] [-s] [-R] key value [...]\n';
    expectExact(await h.run(['xenstore-write', `${base}/feature-sg`]), 1, '', usage);
    expectExact(await h.run(['xenstore-write']), 1, '', usage);
    expectExact(
      await h.run(['xenstore', 'write', 'a']),
      1,
      '',
      'xenstore: Usage: xenstore write [-h] [-s] [-R] key value [...]\n',
    );
  });

  test('a bad path fails the whole transaction', async () => {
    const r = await h.run(['xenstore-write', '/ok/key', '1', '/bad path', '2']);
    expectExact(r, 1, '', 'xenstore-write: could not write path /bad path\n');
    expect((await h.run(['xenstore', 'read', '/ok/key'])).code).toBe(1);
  });

  test('ls prints the tree; values with quotes and newlines pass through exactly', async () => {
    const value = 'say "hi"\nsecond line';
    expectExact(await h.run(['xenstore', 'write', '/t/a/b', value, '/t/c', '3']), 0, '', '');
    expectExact(await h.run(['xenstore', 'read', '/t/a/b']), 0, `${value}\n`, '');
    expectExact(await h.run(['xenstore', 'ls', '/t']), 0, `a = ""\n b = "${value}"\nc = "3"\n`, '');
  });
});

describe('rkt with stage1-xen', () => {
  function tmp(): string {
    return tempDir();
  }

  async function run(extraEnv: Record<string, string> = {}, args: string[] = []) {
    const d = tmp();
    const uuidFile = join(d, 'uuid');
    const r = await h.run(
      [
        'rkt',
        'run',
        '--insecure-options=image',
        '--stage1-path=/opt/stage1-xen.aci',
        `--uuid-file-save=${uuidFile}`,
        ...args,
        '/images/app.aci',
      ],
      { env: extraEnv },
    );
    const uuid = existsSync(uuidFile) ? readFileSync(uuidFile, 'utf8') : '';
    return { r, uuid };
  }

  test('run creates a Xen domain named by the pod uuid, paused with STAGE1_XL_OPTS=-p, seeded config', async () => {
    const seed = writeCfg('memory = 300\nvcpus = 2\ntype = "pvh"\n', 'seed.cfg');
    const { r, uuid } = await run({ STAGE1_XL_OPTS: '-p', STAGE1_SEED_XL_CFG: seed });
    expect(r.code).toBe(0);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    const row = await listRow(h, uuid);
    expect(row).toEqual({ domid: 1, mem: 299, vcpus: 2, state: '--p---', time: 0 });
    const pid = readFileSync(join(h.dir, 'rootfs/var/lib/rkt/pods/run', uuid, 'pid'), 'utf8');
    expect(pid).toBe('1');
    const st = await h.run(['rkt', 'status', '--format=json', uuid]);
    expect(st.code).toBe(0);
    const json = JSON.parse(st.stdout) as Record<string, unknown>;
    expect(json.name).toBe(uuid);
    expect(json.state).toBe('running');
    expect(json).not.toHaveProperty('pid');
    expect(Object.keys(json)).toEqual([
      'name',
      'state',
      'networks',
      'app_names',
      'apps',
      'created_at',
      'started_at',
    ]);
    expect(st.stdout.trimEnd().includes('\n')).toBe(false);
  });

  test('run exits 0 with an empty pid file when xl create fails', async () => {
    await h.simctl(['config', 'totalMemoryMiB=4400']);
    const { r, uuid } = await run();
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("can't allocate low memory for domain");
    expect(readFileSync(join(h.dir, 'rootfs/var/lib/rkt/pods/run', uuid, 'pid'), 'utf8')).toBe('');
    expect(await listRow(h, uuid)).toBeNull();
  });

  test('stop --force exits 0 and the domain keeps running; plain stop destroys it', async () => {
    const { uuid } = await run();
    expectExact(await h.run(['rkt', 'stop', '--force', uuid]), 0, `"${uuid}"\n`, '');
    expect((await listRow(h, uuid))?.domid).toBe(1);
    expectExact(await h.run(['rkt', 'rm', uuid]), 254, '', `rm: pod "${uuid}" is currently running\n`);
    expectExact(await h.run(['rkt', 'stop', uuid]), 0, `"${uuid}"\n`, '');
    expect(await listRow(h, uuid)).toBeNull();
    expectExact(await h.run(['rkt', 'stop', uuid]), 0, '', `pod "${uuid}" is already stopped\n`);
    expect(JSON.parse((await h.run(['rkt', 'status', '--format=json', uuid])).stdout).state).toBe('exited');
    expectExact(await h.run(['rkt', 'rm', uuid]), 0, `"${uuid}"\n`, '');
    expectExact(
      await h.run(['rkt', 'status', uuid]),
      254,
      '',
      `status: problem retrieving pod: no matches found for "${uuid}"\n`,
    );
  });

  test('a pod whose domain crashed has exited', async () => {
    const { uuid } = await run();
    await h.simctl(['crash', uuid]);
    expect(JSON.parse((await h.run(['rkt', 'status', '--format=json', uuid])).stdout).state).toBe('exited');
  });

  test('list: json null when empty, tab-padded columns otherwise', async () => {
    expectExact(await h.run(['rkt', 'list', '--format=json']), 0, 'null\n', '');
    const { uuid } = await run();
    const r = await h.run(['rkt', 'list', '--full', '--no-legend']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith(`${uuid}\t`)).toBe(true);
    expect(r.stdout).toContain('\trunning\t');
    const legend = (await h.run(['rkt', 'list'])).stdout.split('\n')[0];
    expect(legend).toMatch(/^UUID\t+APP\t+IMAGE NAME\t+STATE\t+CREATED\t+STARTED\t+NETWORKS$/);
  });

  test('--dir elsewhere breaks stage1-xen: exit 0, no domain', async () => {
    const dir = tmp();
    const { r, uuid } = await run({}, [`--dir=${dir}`]);
    expect(r.code).toBe(0);
    expect(await listRow(h, uuid)).toBeNull();
    expect(readFileSync(join(dir, 'pods/run', uuid, 'pid'), 'utf8')).toBe('');
    // and that store is separate from the default one
    expect((await h.run(['rkt', 'status', uuid])).code).toBe(254);
    expect((await h.run(['rkt', `--dir=${dir}`, 'status', uuid])).code).toBe(0);
  });

  test('unknown flags and missing image are rkt errors (254)', async () => {
    expectExact(await h.run(['rkt', 'run', '--bogus', 'x.aci']), 254, '', 'run: unknown flag: --bogus\n');
    expectExact(await h.run(['rkt', 'run']), 254, '', 'run: must provide at least one image\n');
  });
});
