import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { projectRoot } from '../../pkg/project-files.js';
import { type SimHostHandle, startSimHost } from '../support/sim-host.js';
import {
  elf64Header,
  expectExact,
  listRow,
  pvhCfg,
  removeTempDirs,
  sleep,
  tempDir,
  until,
  writeCfg,
  xl,
} from './helpers.js';

const SAMPLES = join(projectRoot, 'test', 'fixtures', 'samples');
const SAMPLE_UUID = 'd127f00a-d647-49bb-a39e-509c20832409';

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
  await h.simctl([
    'config',
    'shutdownDelayMs=300',
    'bootBusyMs=200',
    'rebootDestroyMs=100',
    'rebootRestartDelayMs=200',
  ]);
});

describe('xl list', () => {
  test('header has TABs before State and Time(s); Domain-0 is always listed', async () => {
    const r = await xl(h, 'list');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    const sample = readFileSync(join(SAMPLES, 'xl-list.txt'), 'utf8').split('\n');
    expect(lines[0]).toBe(sample[0]);
    expect(lines[0]).toContain('VCPUs\tState\tTime(s)');
    // Domain-0 shows its memory exactly (real capture xl-list.txt: 1024 with dom0_mem=1024M).
    expect(lines[1]).toMatch(/^Domain-0 {32} {5}0 {2}4096 {5}4 {5}r----- +\d+\.\d$/);
    expect(lines).toHaveLength(3);
  });

  test('rows have the printf layout of the real sample', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('vm1', 'memory = 512\nvcpus = 2\n')));
    await sleep(250); // past the boot-busy phase: an idle guest shows b
    const r = await xl(h, 'list');
    const row = r.stdout.split('\n').find((l) => l.startsWith('vm1 '));
    const sampleRow = readFileSync(join(SAMPLES, 'xl-list.txt'), 'utf8').split('\n')[2] as string;
    // Same columns as the sample's vm1 row (domid and time differ).
    expect(row?.slice(0, 40)).toBe(sampleRow.slice(0, 40));
    expect(row?.slice(46, 66)).toBe(sampleRow.slice(46, 66));
    expect(row).toMatch(/^vm1 {38} {4}1 {3}511 {5}2 {5}-b---- {2}[ \d]{6}\.\d$/);
  });

  test('unknown name: invalid domain identifier; unknown numeric domid: does not exist', async () => {
    expectExact(await xl(h, 'list', 'nope'), 1, '', 'nope is an invalid domain identifier (rc=-6)\n');
    expectExact(await xl(h, 'list', '42'), 1, '', "Error: Domain '42' does not exist.\n");
  });

  test('-l prints libxl JSON in the shape of the real sample', async () => {
    const cfg = join(SAMPLES, 'vm1.cfg');
    const r0 = await xl(h, 'pci-assignable-add', '0000:03:00.0');
    expect(r0.code).toBe(0);
    const c = await h.run(['xl', 'create', cfg, `uuid="${SAMPLE_UUID}"`], { cwd: dirname(cfg) });
    expect(c.code).toBe(0);
    const r = await xl(h, 'list', '-l');
    expect(r.code).toBe(0);
    // 4-space indent, empty objects span lines, booleans are strings
    expect(r.stdout).toContain('\n    {\n        "domid": 0,');
    expect(r.stdout).toContain('"sched_params": {\n\n');
    const got = JSON.parse(r.stdout) as { domid: number; config: unknown }[];
    const sample = JSON.parse(readFileSync(join(SAMPLES, 'xl-list-l.json'), 'utf8')) as typeof got;
    expect(got[0]).toEqual(sample[0]);
    expect(got[1]?.config).toEqual(sample[1]?.config);
    expect(got[1]?.domid).toBe(1);
    // one domain by name
    const one = JSON.parse((await xl(h, 'list', '-l', 'vm1')).stdout) as typeof got;
    expect(one.map((d) => d.domid)).toEqual([1]);
  });

  test('bad option exits 2', async () => {
    expectExact(await xl(h, 'list', '-z'), 2, '', "option `z' not supported.\n");
  });
});

describe('xl create', () => {
  test('success prints only "Parsing config from" on stderr; -p leaves it paused', async () => {
    const cfg = writeCfg(pvhCfg('a'));
    expectExact(await xl(h, 'create', cfg, '-p'), 0, '', `Parsing config from ${cfg}\n`);
    expect((await listRow(h, 'a'))?.state).toBe('--p---');
    expectExact(await xl(h, 'unpause', 'a'), 0, '', '');
    expect((await listRow(h, 'a'))?.state).toBe('r-----');
    await sleep(250);
    expect((await listRow(h, 'a'))?.state).toBe('-b----');
  });

  test('relative cfg path resolves against the caller cwd; -q is quiet; key=value lines win', async () => {
    const cfg = writeCfg(pvhCfg('orig'));
    const r = await h.run(['xl', 'create', '-q', 'guest.cfg', 'name="renamed"', 'memory=300'], {
      cwd: dirname(cfg),
    });
    expectExact(r, 0, '', '');
    const row = await listRow(h, 'renamed');
    expect(row?.mem).toBe(299);
    expect(await listRow(h, 'orig')).toBeNull();
  });

  test('name already in use: libxl lines, exit 3, no second domain', async () => {
    const cfg = writeCfg(pvhCfg('dup'));
    await xl(h, 'create', cfg);
    const r = await xl(h, 'create', cfg);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      // as real xl 4.17 prints it (test/fixtures/real-xen/xl-create-name-in-use.txt)
      /^Parsing config from .*\nlibxl: error: libxl_domain\.c:81:libxl__domain_rename: Domain 2:Domain with name "dup" already exists\.\nlibxl: error: libxl_create\.c:1296:initiate_domain_create: Domain 2:cannot make domain: -6\nlibxl: error: libxl_domain\.c:1183:libxl__destroy_domid: Domain 2:Non-existant domain\nlibxl: error: libxl_domain\.c:1137:domain_destroy_callback: Domain 2:Unable to destroy guest\nlibxl: error: libxl_domain\.c:1064:domain_destroy_cb: Domain 2:Destruction of domain failed\n$/,
    );
    const names = (await xl(h, 'list')).stdout.split('\n').filter((l) => l.startsWith('dup '));
    expect(names).toHaveLength(1);
  });

  test('unreadable file exits 3; no file exits 6; parse errors exit 1', async () => {
    expectExact(
      await xl(h, 'create', '/nonexistent/x.cfg'),
      3,
      '',
      'Failed to read config file: /nonexistent/x.cfg: No such file or directory\n',
    );
    expectExact(await xl(h, 'create'), 6, '', 'Config file not specified and none in save file\n');
    const noKernel = writeCfg('name = "k"\nmemory = 64\n');
    expectExact(
      await xl(h, 'create', noKernel),
      1,
      '',
      `Parsing config from ${noKernel}\nNeither kernel nor bootloader specified\n`,
    );
    expectExact(await xl(h, 'create', noKernel, '-x'), 2, '', "option `x' not supported.\n");
  });

  test('a PV guest whose memory cannot hold its ELF kernel fails in libxc; others are not checked', async () => {
    // 32 MiB of kernel loaded at 16 MiB: a PV guest needs 48 MiB
    const dir = tempDir();
    writeFileSync(
      join(dir, 'vmlinux'),
      elf64Header([{ flags: 5, vaddr: 0xffffffff81000000n, paddr: 0x1000000n, memsz: 0x2000000n }]),
    );
    writeFileSync(join(dir, 'dummy'), 'not a kernel\n');
    const pv = (name: string, kernel: string, memory: number) =>
      `name = "${name}"\ntype = "pv"\nmemory = ${memory}\nkernel = "${kernel}"\n`;
    const small = writeCfg(pv('small', join(dir, 'vmlinux'), 47));
    expectExact(
      await xl(h, 'create', small),
      3,
      '',
      `Parsing config from ${small}\n` +
        'xc: error: panic: xg_dom_core.c:536: xc_dom_chk_alloc_pages: segment kernel too large (0x2000 > 0x2f00 - 0x1000 pages): Out of memory\n' +
        'libxl: error: libxl_dom.c:594:libxl__build_dom: xc_dom_build_image failed: No such file or directory\n' +
        'libxl: error: libxl_create.c:1640:domcreate_rebuild_done: Domain 1:cannot (re-)build domain: -3\n' +
        'libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain 1:Non-existant domain\n' +
        'libxl: error: libxl_domain.c:1137:domain_destroy_callback: Domain 1:Unable to destroy guest\n' +
        'libxl: error: libxl_domain.c:1064:domain_destroy_cb: Domain 1:Destruction of domain failed\n',
    );
    expect(await listRow(h, 'small')).toBeNull();
    // a relative kernel path is opened from the caller's cwd, as xl does
    const rel = await h.run(['xl', 'create', '-q', writeCfg(pv('rel', 'vmlinux', 47))], { cwd: dir });
    expect({ code: rel.code, panic: rel.stderr.split('\n')[0] }).toEqual({
      code: 3,
      panic: expect.stringContaining('segment kernel too large (0x2000 > 0x2f00 - 0x1000 pages)'),
    });
    expect((await xl(h, 'create', '-q', writeCfg(pv('fits', join(dir, 'vmlinux'), 48)))).code).toBe(0);
    // not checked: a file that is not ELF64 (its size is unknown without decompressing), a
    // kernel that is not there, and PVH guests (libxc places their kernel differently)
    expect((await xl(h, 'create', '-q', writeCfg(pv('dummy', join(dir, 'dummy'), 16)))).code).toBe(0);
    expect((await xl(h, 'create', '-q', writeCfg(pv('nofile', join(dir, 'nosuch'), 16)))).code).toBe(0);
    const pvh = writeCfg(`name = "pvh"\ntype = "pvh"\nmemory = 16\nkernel = "${join(dir, 'vmlinux')}"\n`);
    expect((await xl(h, 'create', '-q', pvh)).code).toBe(0);
    expect((await xl(h, 'domid', 'pvh')).stdout).toBe('6\n');
  });

  test('-N (dry run) prints the libxl config and creates nothing', async () => {
    const cfg = writeCfg(pvhCfg('dry'));
    const r = await xl(h, '-N', 'create', cfg);
    expect(r.code).toBe(0);
    const conf = JSON.parse(r.stdout) as { c_info: { name: string } };
    expect(conf.c_info.name).toBe('dry');
    expect(await listRow(h, 'dry')).toBeNull();
  });
});

describe('domid, pause, unpause, destroy', () => {
  test('domid takes names only', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('n1')));
    expectExact(await xl(h, 'domid', 'n1'), 0, '1\n', '');
    expectExact(await xl(h, 'domid', 'Domain-0'), 0, '0\n', '');
    expectExact(
      await xl(h, 'domid', '1'),
      1,
      '',
      "Can't get domid of domain name '1', maybe this domain does not exist.\n",
    );
    const r = await xl(h, 'domid');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("'xl domid' requires at least 1 argument.\n\n");
    expect(r.stdout).toMatch(/^Usage: xl \[-vtT\] domid <DomainName>\n/);
  });

  test('missing names: invalid domain identifier (rc=-6), exit 1', async () => {
    for (const cmd of ['destroy', 'shutdown', 'pause', 'unpause']) {
      expectExact(await xl(h, cmd, 'ghost'), 1, '', 'ghost is an invalid domain identifier (rc=-6)\n');
    }
  });

  test('pause/unpause exit 0 even when libxl fails', async () => {
    const p = await xl(h, 'pause', '77');
    expect(p.code).toBe(0);
    expect(p.stderr).toMatch(
      /^libxl: error: libxl_domain\.c:\d+:libxl_domain_pause: Domain 77:Pausing domain: No such process\n$/,
    );
    const u = await xl(h, 'unpause', '77');
    expect(u.code).toBe(0);
    expect(u.stderr).toMatch(
      /^libxl: error: libxl_dom\.c:\d+:libxl__domain_type: unable to get domain type for domid=77\n$/,
    );
  });

  test('destroy of a missing domid: three libxl lines then rc=-21; domain 0 refused', async () => {
    const r = await xl(h, 'destroy', '99');
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/Domain 99:Destruction of domain failed$/);
    expect(lines[3]).toBe('destroy failed (rc=-21)');
    const z = await xl(h, 'destroy', '0');
    expect(z.code).toBe(1);
    expect(z.stderr).toMatch(/^Not destroying domain 0; use -f to force\./);
  });

  test('destroy removes the domain, frees its memory', async () => {
    const free0 = Number((await xl(h, 'info', 'free_memory')).stdout);
    await xl(h, 'create', writeCfg(pvhCfg('d1')));
    expect(Number((await xl(h, 'info', 'free_memory')).stdout)).toBe(free0 - 257);
    expectExact(await xl(h, 'destroy', 'd1'), 0, '', '');
    expect(await listRow(h, 'd1')).toBeNull();
    expect(Number((await xl(h, 'info', 'free_memory')).stdout)).toBe(free0);
  });
});

describe('shutdown and guest behaviour over time', () => {
  test('shutdown returns before the domain leaves; it leaves after the delay', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('s1')));
    const r = await xl(h, 'shutdown', 's1');
    expectExact(r, 0, '', 'Shutting down domain 1\n');
    expect(await listRow(h, 's1')).not.toBeNull();
    await until(async () => (await listRow(h, 's1')) === null, 3000, 's1 to leave');
  });

  test('shutdown -w waits and reports the shutdown', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('s2')));
    const r = await xl(h, 'shutdown', '-w', 's2');
    expectExact(
      r,
      0,
      '',
      'Shutting down domain 1\nWaiting for 1 domains\nDomain 1 has been shut down, reason code 0\n',
    );
    expect(r.durationMs).toBeGreaterThanOrEqual(250);
    expect(await listRow(h, 's2')).toBeNull();
  });

  test('a hung guest never leaves (shutdown -w outlives its caller)', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('hung')));
    await h.simctl(['hang-guest', 'hung']);
    expect((await xl(h, 'shutdown', 'hung')).code).toBe(0);
    const w = await h.run(['xl', 'shutdown', '-w', 'hung'], { timeoutMs: 800 });
    expect(w.code).toBeNull(); // killed by the caller's timeout
    expect(await listRow(h, 'hung')).not.toBeNull();
    expectExact(await xl(h, 'destroy', 'hung'), 0, '', '');
  });

  test('HVM guest without PV drivers refuses graceful shutdown unless -F', async () => {
    await xl(h, 'create', writeCfg('name = "w"\ntype = "hvm"\nmemory = 256\n'));
    await h.simctl(['pv-drivers', 'w', 'off']);
    expectExact(
      await xl(h, 'shutdown', 'w'),
      1,
      '',
      'Shutting down domain 1\nPV control interface not available: external graceful shutdown not possible.\nUse "-F" to fallback to ACPI power event.\nshutdown failed (rc=-10)\n',
    );
    expectExact(
      await xl(h, 'shutdown', '-F', 'w'),
      0,
      '',
      'Shutting down domain 1\nPV control interface not available: sending ACPI power button event.\n',
    );
    await until(async () => (await listRow(h, 'w')) === null, 3000, 'w to leave');
  });

  test('on_crash = "preserve" keeps a crashed domain with reason c; default destroys', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('cp', 'on_crash = "preserve"\n')));
    await xl(h, 'create', writeCfg(pvhCfg('cd')));
    await h.simctl(['crash', 'cp']);
    await h.simctl(['crash', 'cd']);
    expect((await listRow(h, 'cp'))?.state).toBe('---sc-');
    expect(await listRow(h, 'cd')).toBeNull();
  });

  test('on_poweroff = "preserve" shows s with reason -', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('pp', 'on_poweroff = "preserve"\n')));
    await xl(h, 'shutdown', '-w', 'pp');
    expect((await listRow(h, 'pp'))?.state).toBe('---s--');
  });

  test('reboot (on_reboot restart) brings the guest back under a new domid', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('rb')));
    expectExact(
      await xl(h, 'reboot', '-w', 'rb'),
      0,
      '',
      'Rebooting domain 1\nWaiting for 1 domains\nDomain 1 has been shut down, reason code 1\n',
    );
    await until(async () => (await listRow(h, 'rb'))?.domid === 2, 2000, 'rb to come back');
  });

  test('a rebooting guest: shut down (reason r), in no listing, built paused, then unpaused', async () => {
    await xl(h, 'create', '-p', writeCfg(pvhCfg('rg')));
    await xl(h, 'unpause', 'rg');
    await h.simctl(['config', 'rebootDestroyMs=300', 'rebootRestartDelayMs=400', 'rebootBuildMs=2000']);
    try {
      await h.simctl(['reboot', 'rg']);
      expect((await listRow(h, 'rg'))?.state).toBe('---sr-');
      // The monitor destroys it, sleeps, builds the domain again paused (not named at first), and
      // unpauses it.
      await until(async () => (await listRow(h, 'rg')) === null, 3000, 'rg destroyed by the monitor');
      await until(async () => (await listRow(h, '(null)')) !== null, 3000, 'rg built again, not named yet');
      expect(await listRow(h, '(null)')).toMatchObject({ domid: 2, state: '--p---' });
      expectExact(await xl(h, 'unpause', 'rg'), 1, '', 'rg is an invalid domain identifier (rc=-6)\n');
      await until(async () => (await listRow(h, 'rg')) !== null, 3000, 'rg named');
      await until(
        async () => !(await listRow(h, 'rg'))?.state.includes('p'),
        3000,
        'rg unpaused by the monitor',
      );
      expect((await listRow(h, 'rg'))?.domid).toBe(2);
    } finally {
      await h.simctl(['config', 'rebootDestroyMs=100', 'rebootRestartDelayMs=200', 'rebootBuildMs=100']);
    }
  });

  test('the monitor cannot create a rebooting guest again when its name was taken meanwhile', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('rt')));
    await h.simctl(['config', 'rebootRestartDelayMs=400']);
    try {
      await h.simctl(['reboot', 'rt']);
      await until(async () => (await listRow(h, 'rt')) === null, 3000, 'rt destroyed by the monitor');
      expect((await xl(h, 'create', '-p', writeCfg(pvhCfg('rt')))).code).toBe(0);
      const taken = await listRow(h, 'rt');
      await until(
        async () => (JSON.parse(await h.simctl(['state'])).xen.restarts as unknown[]).length === 0,
        3000,
        'the monitor to give up',
      );
      // Still the domain that took the name, paused: the monitor's create failed.
      expect(await listRow(h, 'rt')).toEqual(taken);
    } finally {
      await h.simctl(['config', 'rebootRestartDelayMs=200']);
    }
  });

  test('a shutdown request to a paused guest waits until it runs', async () => {
    await xl(h, 'create', '-p', writeCfg(pvhCfg('pz')));
    await xl(h, 'shutdown', 'pz');
    await sleep(500);
    expect((await listRow(h, 'pz'))?.state).toBe('--p---');
    await xl(h, 'unpause', 'pz');
    await until(async () => (await listRow(h, 'pz')) === null, 2000, 'pz to leave');
  });

  test('cpu time grows while running', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('cpu', 'vcpus = 4\n')));
    await sleep(1200);
    expect((await listRow(h, 'cpu'))?.time).toBeGreaterThan(0);
  });
});

describe('memory', () => {
  test('free_memory falls as domains start; creating beyond it fails as libxl does', async () => {
    await h.simctl(['config', 'totalMemoryMiB=6000', 'dom0MemoryMiB=4096', 'xenReservedMiB=100']);
    expectExact(await xl(h, 'info', 'free_memory'), 0, '1804\n', '');
    await xl(h, 'create', writeCfg(pvhCfg('m1', 'memory = 1000\n')));
    expectExact(await xl(h, 'info', 'free_memory'), 0, '803\n', '');
    const r = await xl(h, 'create', writeCfg(pvhCfg('m2', 'memory = 1000\n')));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      "xc: error: panic: xg_dom_boot.c:119: xc_dom_boot_mem_init: can't allocate low memory for domain: Out of memory\n",
    );
    expect(r.stderr).toMatch(/libxl__build_dom: xc_dom_boot_mem_init failed: Cannot allocate memory\n/);
    expect(r.stderr).toMatch(/Domain 2:cannot \(re-\)build domain: -3\n/);
    expect(await listRow(h, 'm2')).toBeNull();
  });

  test('xl info layout: keys padded to 23 columns in xl order', async () => {
    const r = await xl(h, 'info');
    const keys = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => l.slice(0, 23).trimEnd());
    expect(keys.slice(0, 4)).toEqual(['host', 'release', 'version', 'machine']);
    expect(keys.at(-1)).toBe('xend_config_format');
    expect(keys.indexOf('total_memory') + 1).toBe(keys.indexOf('free_memory'));
    for (const l of r.stdout.trimEnd().split('\n')) expect(l.slice(23, 25)).toBe(': ');
    expectExact(await xl(h, 'info', 'no_such_key'), 0, '', '');
  });

  test('mem-set: a bare number is MiB; suffixes; 2gb is invalid; above maxmem fails', async () => {
    await xl(h, 'create', writeCfg(pvhCfg('ms', 'maxmem = 1024\n')));
    expectExact(await xl(h, 'mem-set', 'ms', '512'), 0, '', '');
    expect((await listRow(h, 'ms'))?.mem).toBe(511);
    expectExact(await xl(h, 'mem-set', 'ms', '1g'), 0, '', '');
    expect((await listRow(h, 'ms'))?.mem).toBe(1023);
    expectExact(await xl(h, 'mem-set', 'ms', '2gb'), 1, '', 'invalid memory size: 2gb\n');
    const over = await xl(h, 'mem-set', 'ms', '2048');
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(
      /memory_dynamic_max must be less than or equal to memory_static_max\n\ncannot set domid 1 dynamic max memory to : 2048\n$/,
    );
    expect((await listRow(h, 'ms'))?.mem).toBe(1023);
  });
});

describe('PCI passthrough', () => {
  test('assignable add/list/remove, assigned at create, released at destroy', async () => {
    expectExact(await xl(h, 'pci-assignable-list'), 0, '', '');
    expectExact(await xl(h, 'pci-assignable-add', '03:00.0'), 0, '', '');
    const again = await xl(h, 'pci-assignable-add', '0000:03:00.0');
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/^libxl: warning: .*0000:03:00\.0 already assigned to pciback\n$/);
    expectExact(await xl(h, 'pci-assignable-list'), 0, '0000:03:00.0 \n', '');
    await xl(h, 'create', writeCfg(pvhCfg('p1', "pci = [ '0000:03:00.0' ]\n")));
    expectExact(await xl(h, 'pci-assignable-list'), 0, '', '');
    // a device in use can be neither given to a second guest nor removed
    const second = await xl(h, 'create', writeCfg(pvhCfg('p2', "pci = [ '0000:03:00.0' ]\n")));
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(/PCI device 0:3:0\.0 is not assignable\n/);
    expect((await xl(h, 'pci-assignable-remove', '0000:03:00.0')).code).toBe(1);
    await xl(h, 'destroy', 'p1');
    expectExact(await xl(h, 'pci-assignable-list'), 0, '0000:03:00.0 \n', '');
    expectExact(await xl(h, 'pci-assignable-remove', '-r', '0000:03:00.0'), 0, '', '');
    expectExact(await xl(h, 'pci-assignable-list'), 0, '', '');
  });

  test('unknown devices fail; malformed BDF exits 2', async () => {
    const r = await xl(h, 'pci-assignable-add', '0000:09:00.0');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "libxl: error: libxl_pci.c:792:libxl__device_pci_assignable_add: Couldn't lstat /sys/bus/pci/devices/0000:09:00.0: No such file or directory\n",
    );
    expectExact(
      await xl(h, 'pci-assignable-add', '0000:zz'),
      2,
      '',
      'pci-assignable-add: malformed BDF "0000:zz"\n',
    );
    expectExact(
      await xl(h, 'pci-assignable-remove', 'x:y'),
      2,
      '',
      'pci-assignable-remove: malformed BDF "x:y"\n',
    );
  });
});

describe('xl generic rules', () => {
  test('unknown subcommand / global option; missing arguments', async () => {
    expectExact(await xl(h, 'frobnicate'), 1, '', 'command not implemented\n');
    expectExact(await xl(h, '-z', 'list'), 1, '', "xl: invalid option -- 'z'\nunknown global option\n");
    const r = await xl(h, 'mem-set', 'a');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("'xl mem-set' requires at least 2 arguments.\n\n");
    expect(r.stdout.startsWith('Usage: xl [-vtTf] mem-set <Domain>')).toBe(true);
    expectExact(await xl(h, 'shutdown'), 1, '', 'You must specify -a or a domain id.\n\n');
  });
});
