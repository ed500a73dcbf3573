import { readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError } from '../../pkg/hypervisor/hypervisor.js';
import { XlBackend } from '../../pkg/hypervisor/xl.js';
import { renderXlConfig } from '../../pkg/hypervisor/xl-config.js';
import { projectRoot } from '../../pkg/project-files.js';
import { CommandFailedError } from '../../pkg/runner/errors.js';
import { testConfig, testDeps, vifs, vmSpec } from '../support/backend-fixtures.js';
import { FakeRunner } from '../support/fake-runner.js';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** A FakeRunner answering a successful xl create path; tests override single steps. */
function happyXen(domid = 7): FakeRunner {
  return new FakeRunner()
    .on(['xl', 'create'], (argv) => ({ stderr: `Parsing config from ${argv[3]}\n` }))
    .on(['xl', 'domid'], { stdout: `${domid}\n` })
    .on(['xenstore-write'], {})
    .on(['xl', 'unpause'], {})
    .on(['xl', 'destroy'], {});
}

function backend(runner: FakeRunner) {
  const deps = testDeps(runner, testConfig());
  return { xl: new XlBackend(deps), config: deps.config };
}

/** What the engine does for a create: createPaused, disableVifOffload, unpause. */
async function build(xl: XlBackend, spec: ReturnType<typeof vmSpec>) {
  const created = await xl.createPaused(spec);
  await xl.disableVifOffload(created);
  await xl.unpause(created);
  return created;
}

async function rejection(p: Promise<unknown>): Promise<HypervisorError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(HypervisorError);
    return error as HypervisorError;
  }
  throw new Error('expected a rejection');
}

describe('xl backend: create', () => {
  test('exact argv of create -p, domid, one xenstore-write, unpause; the cfg written first', async () => {
    const runner = happyXen(7);
    const { xl } = backend(runner);
    const spec = vmSpec({ name: 'web', vifs: vifs(2) });
    const created = await build(xl, spec);

    const cfg = xl.cfgPath(spec.uuid);
    const keys = ['feature-sg', 'feature-gso-tcpv4', 'feature-gso-tcpv6', 'feature-ipv6-csum-offload'];
    expect(runner.argvs).toEqual([
      ['xl', 'create', '-p', cfg],
      ['xl', 'domid', 'web'],
      [
        'xenstore-write',
        ...[0, 1].flatMap((devid) =>
          keys.flatMap((k) => [`/local/domain/0/backend/vif/7/${devid}/${k}`, '0']),
        ),
      ],
      ['xl', 'unpause', 'web'],
    ]);
    expect(readFileSync(cfg, 'utf8')).toBe(renderXlConfig(spec));
    expect(created).toEqual({
      uuid: spec.uuid,
      domainName: 'web',
      domainId: 7,
      vifs: spec.vifs.map((v, i) => ({ vifName: `vif7.${i}`, mac: v.mac, bridge: 'xenbr0' })),
    });
  });

  test('create uses the create timeout, the others the command timeout', async () => {
    const runner = happyXen();
    const { xl, config } = backend(runner);
    await build(xl, vmSpec({ vifs: vifs(1) }));
    expect(runner.calls.map((c) => c.options.timeoutMs)).toEqual([
      config.timeouts.createMs,
      config.timeouts.commandMs,
      config.timeouts.commandMs,
      config.timeouts.commandMs,
    ]);
  });

  test.each([
    [0, 3],
    [1, 4],
    [2, 4],
    [10, 4],
    [64, 4],
  ])('a create with %i vifs costs %i spawns', async (n, spawns) => {
    const runner = happyXen();
    const { xl } = backend(runner);
    await build(xl, vmSpec({ vifs: vifs(n) }));
    expect(runner.calls).toHaveLength(spawns);
    expect(runner.calls.length).toBeLessThanOrEqual(4);
    const writes = runner.argvs.filter((a) => a[0] === 'xenstore-write');
    expect(writes).toHaveLength(n === 0 ? 0 : 1);
    if (n > 0) expect(writes[0]).toHaveLength(1 + n * 4 * 2);
  });

  test('a name clash: xl create fails, nothing is destroyed (the other domain stays), cfg removed', async () => {
    const runner = happyXen().on(['xl', 'create'], {
      exitCode: 3,
      stderr:
        'Parsing config from x\nlibxl: error: libxl_create.c:700:libxl__domain_make: Domain with name "web" already exists.\ncannot make domain: -6\n',
    });
    const { xl } = backend(runner);
    const spec = vmSpec({ name: 'web' });
    const error = await rejection(xl.createPaused(spec));
    expect(runner.argvs).toEqual([['xl', 'create', '-p', xl.cfgPath(spec.uuid)]]);
    expect(error.operation).toBe('create');
    expect(error.cause).toBeInstanceOf(CommandFailedError);
    expect(error.message).toContain(`xl create -p ${xl.cfgPath(spec.uuid)} failed (exit 3)`);
    expect(error.message).toContain('already exists');
    expect(await exists(xl.cfgPath(spec.uuid))).toBe(false);
  });

  test('a killed create: our domain (same name and uuid) left behind is destroyed', async () => {
    const spec = vmSpec({ name: 'slow' });
    const listing = [
      'Name                                        ID   Mem VCPUs\tState\tTime(s)   UUID                            Reason-Code\tSecurity Label',
      `${'slow'.padEnd(40)}     9   512     1     --p---       0.0 ${spec.uuid}        -                -`,
    ].join('\n');
    const runner = happyXen()
      .on(['xl', 'create'], { timeout: true })
      .on(['xl', 'list', '-v'], { stdout: `${listing}\n` });
    const { xl } = backend(runner);
    const error = await rejection(xl.createPaused(spec));
    expect(error.message).toMatch(/timed out/);
    expect(runner.argvs.slice(1)).toEqual([
      ['xl', 'list', '-v'],
      ['xl', 'destroy', 'slow'],
    ]);
  });

  test('a killed create: a domain with our name but another uuid is left alone', async () => {
    const spec = vmSpec({ name: 'slow' });
    const listing = [
      'Name                                        ID   Mem VCPUs\tState\tTime(s)   UUID                            Reason-Code\tSecurity Label',
      `${'slow'.padEnd(40)}     9   512     1     -b----       5.0 99999999-9999-4999-8999-999999999999        -                -`,
    ].join('\n');
    const runner = happyXen()
      .on(['xl', 'create'], { timeout: true })
      .on(['xl', 'list', '-v'], { stdout: `${listing}\n` });
    const { xl } = backend(runner);
    await rejection(xl.createPaused(spec));
    expect(runner.argvs.map((a) => a[1])).toEqual(['create', 'list']);
  });

  test('domid fails after create: the domain is destroyed, the error names xl domid', async () => {
    const runner = happyXen().on(['xl', 'domid'], {
      exitCode: 1,
      stderr: "Can't get domid of domain name 'web', maybe this domain does not exist.\n",
    });
    const { xl } = backend(runner);
    const spec = vmSpec({ name: 'web' });
    const error = await rejection(xl.createPaused(spec));
    expect(runner.argvs.slice(1)).toEqual([
      ['xl', 'domid', 'web'],
      ['xl', 'destroy', 'web'],
    ]);
    expect(error.message).toContain('xl domid web failed (exit 1)');
    expect(await exists(xl.cfgPath(spec.uuid))).toBe(false);
  });

  test('domid prints garbage: treated as a failure, domain destroyed', async () => {
    const runner = happyXen().on(['xl', 'domid'], { stdout: 'banana\n' });
    const { xl } = backend(runner);
    const error = await rejection(xl.createPaused(vmSpec({ name: 'web' })));
    expect(runner.argvs.at(-1)).toEqual(['xl', 'destroy', 'web']);
    expect(error.message).toMatch(/not a domid/);
  });

  test('when the cleanup fails too, both failures are in the error', async () => {
    const runner = happyXen()
      .on(['xl', 'domid'], { exitCode: 1, stderr: 'no domid\n' })
      .on(['xl', 'destroy'], { exitCode: 3, stderr: 'libxl: error: stuck\n' });
    const { xl } = backend(runner);
    const error = await rejection(xl.createPaused(vmSpec({ name: 'web' })));
    expect(error.message).toMatch(
      /xl domid web failed .*cleaning up failed too: .*xl destroy web failed \(exit 3\).*stuck/s,
    );
  });

  test('xenstore-write fails: the paused domain is destroyed', async () => {
    const runner = happyXen().on(['xenstore-write'], {
      exitCode: 1,
      stderr: 'could not write path /local/domain/0/backend/vif/7/0/feature-sg\n',
    });
    const { xl } = backend(runner);
    const spec = vmSpec({ name: 'web', vifs: vifs(1) });
    const created = await xl.createPaused(spec);
    const error = await rejection(xl.disableVifOffload(created));
    expect(error.operation).toBe('disableVifOffload');
    expect(error.message).toContain('could not write path');
    expect(runner.argvs.map((a) => a.slice(0, 2))).toEqual([
      ['xl', 'create'],
      ['xl', 'domid'],
      ['xenstore-write', '/local/domain/0/backend/vif/7/0/feature-sg'],
      ['xl', 'destroy'],
    ]);
    expect(runner.argvs.at(-1)).toEqual(['xl', 'destroy', 'web']);
  });

  test('unpause failing is reported and destroys nothing (unpause is also a resume)', async () => {
    const runner = happyXen().on(['xl', 'unpause'], {
      exitCode: 1,
      stderr: 'web is an invalid domain identifier (rc=-6)\n',
    });
    const { xl } = backend(runner);
    await rejection(xl.unpause({ uuid: 'u', domainName: 'web', domainId: 7 }));
    expect(runner.argvs).toEqual([['xl', 'unpause', 'web']]);
  });

  test('a spec the xl backend cannot run is refused before any process', async () => {
    const runner = new FakeRunner();
    const { xl } = backend(runner);
    expect(xl.checkSpec(vmSpec({ virtualizationMode: 'pv', kernel: undefined }))).toEqual([
      '/kernel is required for a pv guest',
    ]);
    expect(xl.checkSpec(vmSpec({ name: '42' }))).toEqual([
      '/name must not be all digits: xl would read it as a domid',
    ]);
    expect(xl.checkSpec(vmSpec({ cmdline: 'a\x02' }))).toEqual([
      'control character U+0002 cannot be written into an xl.cfg string',
    ]);
    const error = await rejection(xl.createPaused(vmSpec({ name: '42' })));
    expect(error.message).toMatch(/all digits/);
    expect(runner.calls).toHaveLength(0);
  });
});

describe('xl backend: other operations', () => {
  const ref = { uuid: 'd127f00a-d647-49bb-a39e-509c20832409', domainName: 'web', domainId: 7 };

  test('shutdown is `xl shutdown -F <name>` with or without force', async () => {
    const runner = new FakeRunner().on(['xl', 'shutdown'], { stderr: 'Shutting down domain 7\n' });
    const { xl } = backend(runner);
    await xl.shutdown(ref, { force: false });
    await xl.shutdown(ref, { force: true });
    expect(runner.argvs).toEqual([
      ['xl', 'shutdown', '-F', 'web'],
      ['xl', 'shutdown', '-F', 'web'],
    ]);
  });

  test('shutdown of a missing domain resolves; another failure rejects with the stderr', async () => {
    const runner = new FakeRunner().on(['xl', 'shutdown'], {
      exitCode: 1,
      stderr: 'web is an invalid domain identifier (rc=-6)\n',
    });
    const { xl } = backend(runner);
    await expect(xl.shutdown(ref, { force: false })).resolves.toBeUndefined();
    runner.on(['xl', 'shutdown'], { exitCode: 1, stderr: 'shutdown failed (rc=-3)\n' });
    const error = await rejection(xl.shutdown(ref, { force: false }));
    expect(error.message).toContain('shutdown failed (rc=-3)');
    expect((error.cause as CommandFailedError).exitCode).toBe(1);
  });

  test('destroy: `xl destroy <name>`, then the cfg file goes', async () => {
    const runner = happyXen();
    const { xl } = backend(runner);
    const spec = vmSpec({ name: 'web' });
    const created = await xl.createPaused(spec);
    expect(await exists(xl.cfgPath(spec.uuid))).toBe(true);
    await xl.destroy(created);
    expect(runner.argvs.at(-1)).toEqual(['xl', 'destroy', 'web']);
    expect(await exists(xl.cfgPath(spec.uuid))).toBe(false);
  });

  test.each([
    ['a missing name', 'web is an invalid domain identifier (rc=-6)\n'],
    ['a missing domid', 'libxl: error: ...: Destruction of domain failed\ndestroy failed (rc=-21)\n'],
  ])('destroy of %s resolves', async (_what, stderr) => {
    const runner = new FakeRunner().on(['xl', 'destroy'], { exitCode: 1, stderr });
    const { xl } = backend(runner);
    await expect(xl.destroy(ref)).resolves.toBeUndefined();
    await expect(xl.destroy(ref)).resolves.toBeUndefined();
  });

  test('destroy that fails for another reason rejects', async () => {
    const runner = new FakeRunner().on(['xl', 'destroy'], {
      exitCode: 1,
      stderr: 'libxl: error: device model still busy\n',
    });
    const { xl } = backend(runner);
    const error = await rejection(xl.destroy(ref));
    expect(error.message).toContain('xl destroy web failed (exit 1): libxl: error: device model still busy');
  });

  test('an all-digit domain name is never given to xl', async () => {
    const runner = new FakeRunner();
    const { xl } = backend(runner);
    const error = await rejection(xl.destroy({ ...ref, domainName: '7' }));
    expect(error.message).toMatch(/would read it as a domid/);
    expect(runner.calls).toHaveLength(0);
  });

  test('pause, reboot, mem-set argv', async () => {
    const runner = new FakeRunner().on(['xl'], {});
    const { xl } = backend(runner);
    await xl.pause(ref);
    await xl.reboot(ref);
    await xl.setMemory(ref, 768);
    expect(runner.argvs).toEqual([
      ['xl', 'pause', 'web'],
      ['xl', 'reboot', '-F', 'web'],
      ['xl', 'mem-set', 'web', '768m'],
    ]);
  });

  test('pciPrepare adds each device; pciRelease removes only the assignable ones, then checks', async () => {
    const assignable = new Map([
      ['0000:03:00.0', '0000:03:00.0 '],
      ['0000:04:00.1', '0000:04:00.1 nic'],
    ]);
    const runner = new FakeRunner()
      .on(['xl', 'pci-assignable-add'], {
        stderr: 'libxl: warning: 0000:03:00.0 already assigned to pciback\n',
      })
      .on(['xl', 'pci-assignable-list'], () => ({
        stdout: [...assignable.values()].map((l) => `${l}\n`).join(''),
      }))
      .on(['xl', 'pci-assignable-remove'], (argv) => {
        assignable.delete(argv[3] ?? '');
        return {};
      });
    const { xl } = backend(runner);
    await xl.pciPrepare(['0000:03:00.0', '0000:05:00.0']);
    await xl.pciRelease(['0000:03:00.0', '0000:04:00.1', '0000:05:00.0']);
    await xl.pciRelease([]);
    expect(runner.argvs).toEqual([
      ['xl', 'pci-assignable-add', '0000:03:00.0'],
      ['xl', 'pci-assignable-add', '0000:05:00.0'],
      ['xl', 'pci-assignable-list'],
      ['xl', 'pci-assignable-remove', '-r', '0000:03:00.0'],
      ['xl', 'pci-assignable-remove', '-r', '0000:04:00.1'],
      ['xl', 'pci-assignable-list'],
    ]);
  });

  test('pciRelease: a remove that exits 0 and leaves the device assignable is a failure', async () => {
    const runner = new FakeRunner()
      .on(['xl', 'pci-assignable-list'], { stdout: '0000:03:00.0 \n' })
      .on(['xl', 'pci-assignable-remove'], { stderr: 'libxl: error: cannot de-quarantine\n' });
    const { xl } = backend(runner);
    const error = await rejection(xl.pciRelease(['0000:03:00.0']));
    expect(error.operation).toBe('pciRelease');
    expect(error.message).toBe(
      'xl pci-assignable-remove -r 0000:03:00.0 exited 0 but the device is still assignable',
    );
  });

  test('pciPrepare with a malformed BDF rejects with xl usage error', async () => {
    const runner = new FakeRunner().on(['xl', 'pci-assignable-add'], {
      exitCode: 2,
      stderr: 'pci-assignable-add: malformed BDF "x"\n',
    });
    const { xl } = backend(runner);
    const error = await rejection(xl.pciPrepare(['x']));
    expect(error.operation).toBe('pciPrepare');
    expect(error.message).toContain('malformed BDF');
  });

  test('list is one `xl list -v` with uuids, states and the clock time', async () => {
    const text = readFileSync(join(projectRoot, 'test/fixtures/xl-list-v.txt'), 'utf8');
    const runner = new FakeRunner().on(['xl', 'list', '-v'], { stdout: text });
    const { xl } = backend(runner);
    const listing = await xl.list();
    expect(runner.argvs).toEqual([['xl', 'list', '-v']]);
    expect(listing.takenAt).toBe(Date.UTC(2026, 0, 1));
    expect(listing.domains.slice(0, 6)).toEqual([
      {
        uuid: '00000000-0000-0000-0000-000000000000',
        name: 'Domain-0',
        domainId: 0,
        state: 'running',
        memoryMiB: 4095,
      },
      {
        uuid: 'd127f00a-d647-49bb-a39e-509c20832409',
        name: 'vm1',
        domainId: 7,
        state: 'running',
        memoryMiB: 511,
      },
      {
        uuid: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
        name: 'paused-vm',
        domainId: 8,
        state: 'paused',
        memoryMiB: 1024,
      },
      {
        uuid: '11111111-2222-4333-8444-555555555555',
        name: 'crashed.vm',
        domainId: 9,
        state: 'crashed',
        memoryMiB: 256,
      },
      {
        uuid: '22222222-3333-4444-8555-666666666666',
        name: 'powered_off',
        domainId: 10,
        state: 'shutdown',
        memoryMiB: 256,
      },
      {
        uuid: '33333333-4444-4555-8666-777777777777',
        name: 'dying-vm',
        domainId: 11,
        state: 'transitional',
        memoryMiB: 0,
      },
    ]);
  });

  test('a listing xl garbles is a HypervisorError naming the line', async () => {
    const runner = new FakeRunner().on(['xl', 'list', '-v'], { stdout: 'Name ID\n' });
    const { xl } = backend(runner);
    const error = await rejection(xl.list());
    expect(error.message).toMatch(/cannot parse xl list output line 1/);
  });

  test('hostInfo from `xl info`', async () => {
    const info = ['total_memory', 'free_memory', 'nr_cpus', 'xen_version']
      .map((k, i) => `${k.padEnd(23)}: ${['16000', '9000', '4', '4.17.3'][i]}`)
      .join('\n');
    const runner = new FakeRunner().on(['xl', 'info'], { stdout: `${info}\n` });
    const { xl } = backend(runner);
    expect(await xl.hostInfo()).toEqual({
      totalMemoryMiB: 16000,
      freeMemoryMiB: 9000,
      nrCpus: 4,
      hypervisorVersion: 'Xen 4.17.3',
    });
  });

  test('verify reports missing tools and a hypervisor that does not answer', async () => {
    const runner = new FakeRunner().on(['/nonexistent/xl', 'info'], {
      exitCode: 1,
      stderr:
        'xencall: error: Could not obtain handle on privileged command interface\ncannot init xl context\n',
    });
    const config = testConfig();
    const xl = new XlBackend(
      testDeps(runner, {
        ...config,
        tools: { ...config.tools, xl: '/nonexistent/xl', xenstoreWrite: 'no-such-xenstore-write' },
      }),
    );
    const result = await xl.verify();
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      'xl: /nonexistent/xl is missing or not executable',
      'xenstoreWrite: no-such-xenstore-write is not found on PATH or not executable',
      expect.stringMatching(
        /^xl info does not answer: \/nonexistent\/xl info failed \(exit 1\): .*cannot init xl context$/s,
      ),
    ]);
  });

  test('verify passes with executable tools and xl info answering; no xenstored socket is a note', async () => {
    const runner = new FakeRunner().on(['/bin/true', 'info'], { stdout: 'host : x\n' });
    const config = testConfig();
    const socket = join(config.stateDir, 'no-such-socket');
    const xl = new XlBackend(
      testDeps(runner, {
        ...config,
        tools: { ...config.tools, xl: '/bin/true', xenstoreWrite: 'sh', xenstoredSocket: socket },
      }),
    );
    expect(await xl.verify()).toEqual({
      ok: true,
      problems: [
        `xenstored's socket is not usable (cannot connect to xenstored at ${socket}: ENOENT): creates run xl domid and xenstore-write (4 processes instead of 2), and deaths are noticed at the next listing (probeIntervalMs)`,
      ],
    });
    // No watch without the socket: the engine keeps listing every probeIntervalMs.
    expect(xl.watchChanges(() => undefined).live).toBe(false);
  });

  test('consoleCommand', () => {
    const { xl } = backend(new FakeRunner());
    expect(xl.consoleCommand(ref)).toEqual(['xl', 'console', 'web']);
  });
});
