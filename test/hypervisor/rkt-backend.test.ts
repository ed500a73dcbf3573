import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HypervisorError } from '../../pkg/hypervisor/hypervisor.js';
import { RKT_SEED, RktBackend } from '../../pkg/hypervisor/rkt.js';
import { renderXlConfig } from '../../pkg/hypervisor/xl-config.js';
import type { RunOptions } from '../../pkg/runner/command-runner.js';
import { containerSpec, testConfig, testDeps, vifs } from '../support/backend-fixtures.js';
import { FakeRunner } from '../support/fake-runner.js';

const POD = '6f1c8f2e-9a8b-4c1d-8e2f-3a4b5c6d7e8f';
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** `rkt run` that writes `pod` into the --uuid-file-save file, as rkt does before stage1 starts. */
function rktRun(pod: string | null, answer: { exitCode?: number; stderr?: string } = {}) {
  return (argv: readonly string[], _o: RunOptions) => {
    const flag = argv.find((a) => a.startsWith('--uuid-file-save='));
    if (flag !== undefined && pod !== null) writeFileSync(flag.slice('--uuid-file-save='.length), `${pod}\n`);
    return answer;
  };
}

function happyRkt(domid = 12): FakeRunner {
  return new FakeRunner()
    .on(['rkt', 'run'], rktRun(POD))
    .on(['xl', 'domid'], { stdout: `${domid}\n` })
    .on(['xenstore-write'], {})
    .on(['xl', 'unpause'], {})
    .on(['rkt', 'stop'], { stdout: `"${POD}"\n` })
    .on(['xl', 'destroy'], { exitCode: 1, stderr: `${POD} is an invalid domain identifier (rc=-6)\n` })
    .on(['rkt', 'rm'], { stdout: `"${POD}"\n` });
}

/** A node that chose to run unsigned images (`rkt.insecureOptions: "image"`), as the tests' images are. */
function backend(runner: FakeRunner) {
  const deps = testDeps(runner, testConfig({ rkt: { ...testConfig().rkt, insecureOptions: 'image' } }));
  return { rkt: new RktBackend(deps), config: deps.config };
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

const podsJson = (config: { stateDir: string }) =>
  JSON.parse(readFileSync(`${config.stateDir}/rkt/pods.json`, 'utf8')) as Record<string, string>;

describe('rkt backend: create', () => {
  test('exact argv and env of rkt run, then the Xen tail on the pod-named domain; 4 spawns', async () => {
    const runner = happyRkt(12);
    const { rkt, config } = backend(runner);
    const spec = containerSpec({ vifs: vifs(2), image: 'sha512-abc' });
    const created = await rkt.createPaused(spec);
    await rkt.disableVifOffload(created);
    await rkt.unpause(created);

    expect(runner.argvs.map((a) => a.slice(0, 2))).toEqual([
      ['rkt', 'run'],
      ['xl', 'domid'],
      ['xenstore-write', '/local/domain/0/backend/vif/12/0/feature-sg'],
      ['xl', 'unpause'],
    ]);
    expect(runner.calls[0]?.argv).toEqual([
      'rkt',
      'run',
      `--stage1-path=${config.rkt.stage1Path}`,
      `--uuid-file-save=${rkt.podUuidPath(spec.uuid)}`,
      '--insecure-options=image',
      'sha512-abc',
    ]);
    expect(runner.calls[0]?.options).toEqual({
      timeoutMs: config.timeouts.createMs,
      env: { STAGE1_XL_OPTS: '-p', STAGE1_SEED_XL_CFG: rkt.cfgPath(spec.uuid) },
    });
    expect(runner.argvs[1]).toEqual(['xl', 'domid', POD]);
    expect(runner.argvs[2]).toHaveLength(1 + 2 * 4 * 2);
    expect(runner.argvs[3]).toEqual(['xl', 'unpause', POD]);
    expect(readFileSync(rkt.cfgPath(spec.uuid), 'utf8')).toBe(renderXlConfig(spec, RKT_SEED));
    expect(podsJson(config)).toEqual({ [spec.uuid]: POD });
    expect(created).toMatchObject({ uuid: spec.uuid, domainName: POD, domainId: 12 });
  });

  test('list is one `xl list -v`, pod-named domains mapped back to domain uuids', async () => {
    const runner = happyRkt();
    const { rkt } = backend(runner);
    const spec = containerSpec();
    await rkt.createPaused(spec);
    const header =
      'Name                                        ID   Mem VCPUs\tState\tTime(s)   UUID                            Reason-Code\tSecurity Label';
    const row = (name: string, id: number, flags: string, uuid: string) =>
      `${name.padEnd(40)} ${String(id).padStart(5)}   256     1     ${flags}       0.5 ${uuid}        -                -`;
    runner.on(['xl', 'list', '-v'], {
      stdout: `${[header, row('Domain-0', 0, 'r-----', '00000000-0000-0000-0000-000000000000'), row(POD, 12, '--p---', 'aaaaaaaa-0000-4000-8000-000000000001')].join('\n')}\n`,
    });
    const before = runner.calls.length;
    const listing = await rkt.list();
    expect(runner.calls.length - before).toBe(1);
    expect(listing.domains.map((d) => [d.name, d.uuid, d.state])).toEqual([
      ['Domain-0', '00000000-0000-0000-0000-000000000000', 'running'],
      [POD, spec.uuid, 'paused'],
    ]);
  });

  test("stage1-xen's exit 0 with no Xen domain is a failure; the pod is cleaned up", async () => {
    const runner = happyRkt()
      .on(['xl', 'domid'], {
        exitCode: 1,
        stderr: `Can't get domid of domain name '${POD}', maybe this domain does not exist.\n`,
      })
      .on(['rkt', 'status'], {
        stdout: `{"name":"${POD}","state":"exited","networks":[],"app_names":[],"apps":[],"created_at":1}\n`,
      });
    const { rkt, config } = backend(runner);
    const spec = containerSpec();
    const error = await rejection(rkt.createPaused(spec));
    expect(error.message).toContain(`rkt run exited 0 but pod ${POD} has no Xen domain`);
    expect(error.message).toContain('pod state: exited');
    expect(runner.argvs.slice(1)).toEqual([
      ['xl', 'domid', POD],
      ['rkt', 'status', '--format=json', POD],
      ['rkt', 'stop', POD],
      ['xl', 'destroy', POD],
      ['rkt', 'rm', POD],
    ]);
    expect(podsJson(config)).toEqual({});
    expect(await exists(rkt.cfgPath(spec.uuid))).toBe(false);
    expect(await exists(rkt.podUuidPath(spec.uuid))).toBe(false);
  });

  test('rkt run exits 0 without writing a pod uuid: failure, nothing to tear down', async () => {
    const runner = happyRkt().on(['rkt', 'run'], rktRun(null));
    const { rkt } = backend(runner);
    const error = await rejection(rkt.createPaused(containerSpec()));
    expect(error.message).toMatch(/rkt run exited 0 but left no pod uuid/);
    expect(runner.calls).toHaveLength(1);
  });

  test('rkt run fails after saving the pod uuid: the pod is torn down, rkt stderr in the error', async () => {
    const runner = happyRkt().on(
      ['rkt', 'run'],
      rktRun(POD, { exitCode: 254, stderr: 'run: image not found\n' }),
    );
    const { rkt } = backend(runner);
    const error = await rejection(rkt.createPaused(containerSpec()));
    expect(error.message).toContain('failed (exit 254): run: image not found');
    expect(runner.argvs.slice(1).map((a) => a.slice(0, 2))).toEqual([
      ['rkt', 'stop'],
      ['xl', 'destroy'],
      ['rkt', 'rm'],
    ]);
  });

  test('xenstore-write fails: the pod and its domain are torn down', async () => {
    const runner = happyRkt().on(['xenstore-write'], {
      exitCode: 1,
      stderr: 'xenstore-write: xs_open: No such file or directory\n',
    });
    const { rkt, config } = backend(runner);
    const spec = containerSpec({ vifs: vifs(1) });
    const created = await rkt.createPaused(spec);
    const error = await rejection(rkt.disableVifOffload(created));
    expect(error.message).toContain('xs_open');
    expect(runner.argvs.slice(3).map((a) => a.slice(0, 2))).toEqual([
      ['rkt', 'stop'],
      ['xl', 'destroy'],
      ['rkt', 'rm'],
    ]);
    expect(podsJson(config)).toEqual({});
  });

  test('a second create for a uuid that has a pod is refused without any process', async () => {
    const runner = happyRkt();
    const { rkt } = backend(runner);
    const spec = containerSpec();
    await rkt.createPaused(spec);
    const before = runner.calls.length;
    const error = await rejection(rkt.createPaused(spec));
    expect(error.message).toContain(`already has pod ${POD}`);
    expect(runner.calls.length).toBe(before);
  });

  test('checkSpec: vms and image-less specs are refused', () => {
    const { rkt } = backend(new FakeRunner());
    expect(rkt.checkSpec(containerSpec())).toEqual([]);
    expect(rkt.checkSpec({ ...containerSpec(), type: 'vm' })).toEqual([
      '/type "vm" needs the xl or vmadm backend; the rkt backend runs type "container" only',
    ]);
    const { image: _image, ...noImage } = containerSpec();
    expect(rkt.checkSpec(noImage)).toEqual(['/image is required by rkt']);
  });

  test('by default rkt run checks signatures: no --insecure-options', async () => {
    const runner = happyRkt();
    const rkt = new RktBackend(testDeps(runner, testConfig()));
    await rkt.createPaused(containerSpec({ image: 'sha512-abc' }));
    const argv = runner.calls[0]?.argv ?? [];
    expect(argv.slice(0, 2)).toEqual(['rkt', 'run']);
    expect(argv.filter((a) => a.startsWith('--insecure'))).toEqual([]);
    expect(argv.at(-1)).toBe('sha512-abc');
  });

  test.each([
    ['--pod-manifest=/etc/shadow', 'must not start with -: rkt run would read it as an option'],
    ['-h', 'must not start with -'],
    ['example.com/app:1.0', 'must be an image hash (sha512-<hex>) or an absolute ACI path'],
    ['docker://busybox', 'must be an image hash (sha512-<hex>) or an absolute ACI path'],
    ['images/app.aci', 'must be an image hash (sha512-<hex>) or an absolute ACI path'],
    ['/var/lib/domainmgr/images/../../../etc/app.aci', 'must be a normalised ACI path'],
    ['/etc/app.aci', 'must lie under an allowed storage root: /var/lib/domainmgr/images'],
    ['/var/lib/domainmgr/imagesX/app.aci', 'must lie under an allowed storage root'],
  ])('image %j is refused by checkSpec and by create, before any process', async (image, why) => {
    const runner = happyRkt();
    const { rkt } = backend(runner);
    const spec = containerSpec({ image });
    const problems = rkt.checkSpec(spec);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^\/image /);
    expect(problems[0]).toContain(why);
    const error = await rejection(rkt.createPaused(spec));
    expect(error.message).toContain(why);
    expect(runner.calls).toEqual([]);
  });

  test('an ACI path under an allowed root is the last argument of rkt run, as given', async () => {
    const runner = happyRkt();
    const { rkt } = backend(runner);
    const image = '/var/lib/domainmgr/images/app.aci';
    const spec = containerSpec({ image });
    expect(rkt.checkSpec(spec)).toEqual([]);
    await rkt.createPaused(spec);
    expect(runner.calls[0]?.argv.at(-1)).toBe(image);
  });
});

describe('rkt backend: stop and destroy', () => {
  test('destroy: rkt stop, xl destroy (domain already gone: fine), rkt rm, map entry dropped', async () => {
    const runner = happyRkt();
    const { rkt, config } = backend(runner);
    const spec = containerSpec();
    const created = await rkt.createPaused(spec);
    await rkt.destroy(created);
    expect(runner.argvs.slice(2)).toEqual([
      ['rkt', 'stop', POD],
      ['xl', 'destroy', POD],
      ['rkt', 'rm', POD],
    ]);
    expect(podsJson(config)).toEqual({});
    expect(await exists(rkt.cfgPath(spec.uuid))).toBe(false);
  });

  test('rkt stop exits 0 but the domain keeps running (stage1-xen): xl destroy removes it', async () => {
    const runner = happyRkt().on(['xl', 'destroy'], {});
    const { rkt } = backend(runner);
    const created = await rkt.createPaused(containerSpec());
    await rkt.destroy(created);
    expect(runner.argvs.slice(2)).toEqual([
      ['rkt', 'stop', POD],
      ['xl', 'destroy', POD],
      ['rkt', 'rm', POD],
    ]);
    // --force is never used: stage1-xen's stop passes it on to xl, which rejects it, and the
    // error is discarded, so it would do nothing at all.
    expect(runner.argvs.flat()).not.toContain('--force');
  });

  test('destroy of a pod rkt no longer knows resolves and drops the entry', async () => {
    const runner = happyRkt()
      .on(['rkt', 'stop'], { exitCode: 254, stderr: `stop: no matches found for "${POD}"\n` })
      .on(['rkt', 'rm'], { exitCode: 254, stderr: `rm: no matches found for "${POD}"\n` });
    const { rkt, config } = backend(runner);
    const created = await rkt.createPaused(containerSpec());
    await expect(rkt.destroy(created)).resolves.toBeUndefined();
    expect(podsJson(config)).toEqual({});
  });

  test('destroy naming another pod than the map tears down only that pod (an unrecorded create)', async () => {
    const LATE = '0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6';
    const runner = happyRkt();
    const { rkt, config } = backend(runner);
    const spec = containerSpec();
    await rkt.createPaused(spec);
    await rkt.destroy({ uuid: spec.uuid, domainName: LATE, domainId: 13 });
    expect(runner.argvs.slice(2)).toEqual([
      ['rkt', 'stop', LATE],
      ['xl', 'destroy', LATE],
      ['rkt', 'rm', LATE],
    ]);
    // The recorded pod and its files stay.
    expect(podsJson(config)).toEqual({ [spec.uuid]: POD });
    expect(await exists(rkt.cfgPath(spec.uuid))).toBe(true);
  });

  test('destroy naming a pod when the map has none tears it down and forgets the files', async () => {
    const runner = happyRkt();
    const { rkt } = backend(runner);
    const spec = containerSpec();
    mkdirSync(dirname(rkt.cfgPath(spec.uuid)), { recursive: true });
    writeFileSync(rkt.cfgPath(spec.uuid), 'memory = 256\n');
    await rkt.destroy({ uuid: spec.uuid, domainName: POD, domainId: 12 });
    expect(runner.argvs).toEqual([
      ['rkt', 'stop', POD],
      ['xl', 'destroy', POD],
      ['rkt', 'rm', POD],
    ]);
    expect(await exists(rkt.cfgPath(spec.uuid))).toBe(false);
  });

  test('destroy of a domain with no pod at all resolves without a process', async () => {
    const runner = new FakeRunner();
    const { rkt } = backend(runner);
    await expect(
      rkt.destroy({ uuid: containerSpec().uuid, domainName: 'x', domainId: null }),
    ).resolves.toBeUndefined();
    expect(runner.calls).toHaveLength(0);
  });

  test('rkt rm refusing a running pod is an error and keeps the map entry', async () => {
    const runner = happyRkt().on(['rkt', 'rm'], {
      exitCode: 254,
      stderr: `rm: pod "${POD}" is currently running\n`,
    });
    const { rkt, config } = backend(runner);
    const spec = containerSpec();
    const created = await rkt.createPaused(spec);
    const error = await rejection(rkt.destroy(created));
    expect(error.message).toContain('is currently running');
    expect(podsJson(config)).toEqual({ [spec.uuid]: POD });
  });

  test('shutdown, pause, mem-set and reboot act on the pod-named Xen domain', async () => {
    const runner = happyRkt()
      .on(['xl', 'shutdown'], {})
      .on(['xl', 'pause'], {})
      .on(['xl', 'mem-set'], {})
      .on(['xl', 'reboot'], {});
    const { rkt } = backend(runner);
    const created = await rkt.createPaused(containerSpec());
    await rkt.shutdown(created, { force: true });
    await rkt.pause(created);
    await rkt.setMemory(created, 300);
    await rkt.reboot(created);
    expect(runner.argvs.slice(2)).toEqual([
      ['xl', 'shutdown', '-F', POD],
      ['xl', 'pause', POD],
      ['xl', 'mem-set', POD, '300m'],
      ['xl', 'reboot', '-F', POD],
    ]);
  });

  test('the map survives a new backend instance (a restarted domainmgr)', async () => {
    const runner = happyRkt();
    const deps = testDeps(runner, testConfig());
    const spec = containerSpec();
    await new RktBackend(deps).createPaused(spec);
    runner.on(['xl', 'pause'], {});
    await new RktBackend(deps).pause({ uuid: spec.uuid, domainName: POD, domainId: 12 });
    expect(runner.argvs.at(-1)).toEqual(['xl', 'pause', POD]);
  });
});
