import { HypervisorError, UnsupportedError } from '../../pkg/hypervisor/hypervisor.js';
import { VmadmBackend } from '../../pkg/hypervisor/vmadm.js';
import { checkVmadmSpec, vmadmCreatePayload } from '../../pkg/hypervisor/vmadm-payload.js';
import { containerSpec, testConfig, testDeps, vmSpec } from '../support/backend-fixtures.js';
import { FakeRunner } from '../support/fake-runner.js';

const IMAGE = '1d05e788-5409-11eb-b12f-037bd7fee4ee';

function backend(runner: FakeRunner) {
  const deps = testDeps(runner, testConfig());
  return { vmadm: new VmadmBackend(deps), config: deps.config };
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

describe('vmadmCreatePayload', () => {
  test('a container is a joyent zone created stopped', () => {
    const spec = containerSpec({
      name: 'web',
      image: IMAGE,
      memoryMiB: 256,
      vcpus: 2,
      vifs: [{ bridge: 'admin', ip: '10.0.0.5' }],
    });
    expect(vmadmCreatePayload(spec)).toEqual({
      uuid: spec.uuid,
      alias: 'web',
      brand: 'joyent',
      autoboot: false,
      image_uuid: IMAGE,
      max_physical_memory: 256,
      cpu_cap: 200,
      nics: [
        { interface: 'net0', nic_tag: 'admin', mac: spec.vifs[0]?.mac, ips: ['10.0.0.5/32'], primary: true },
      ],
    });
  });

  test('a vm is a bhyve guest with ram, vcpus, virtio nics and existing disks', () => {
    const spec = vmSpec({
      name: 'db',
      virtualizationMode: 'hvm',
      kernel: undefined,
      memoryMiB: 2048,
      vcpus: 4,
      vifs: [
        { bridge: 'external', mac: '90:b8:d0:00:00:01' },
        { bridge: 'internal', ip: 'fd00::5' },
      ],
      disks: [
        { path: '/dev/zvol/rdsk/zones/db-disk0', format: 'raw' },
        { path: '/dev/zvol/rdsk/zones/db-disk1', format: 'raw' },
      ],
    });
    expect(vmadmCreatePayload(spec)).toEqual({
      uuid: spec.uuid,
      alias: 'db',
      brand: 'bhyve',
      autoboot: false,
      ram: 2048,
      vcpus: 4,
      nics: [
        {
          interface: 'net0',
          nic_tag: 'external',
          mac: '90:b8:d0:00:00:01',
          ips: ['dhcp'],
          primary: true,
          model: 'virtio',
        },
        {
          interface: 'net1',
          nic_tag: 'internal',
          mac: spec.vifs[1]?.mac,
          ips: ['fd00::5/128'],
          primary: false,
          model: 'virtio',
        },
      ],
      disks: [
        { path: '/dev/zvol/rdsk/zones/db-disk0', boot: true, model: 'virtio', media: 'disk', nocreate: true },
        {
          path: '/dev/zvol/rdsk/zones/db-disk1',
          boot: false,
          model: 'virtio',
          media: 'disk',
          nocreate: true,
        },
      ],
    });
  });

  test('checkVmadmSpec refuses what vmadm cannot take faithfully', () => {
    expect(checkVmadmSpec(containerSpec({ image: IMAGE }))).toEqual([]);
    expect(checkVmadmSpec(vmSpec({ kernel: undefined }))).toEqual([]);
    expect(checkVmadmSpec(containerSpec({ image: 'sha512-abc' }))).toEqual([
      '/image must be a SmartOS image uuid on the vmadm backend',
    ]);
    expect(
      checkVmadmSpec(
        vmSpec({
          virtualizationMode: 'pv',
          maxMemoryMiB: 1024,
          disks: [{ path: '/d', format: 'qcow2', readOnly: true }],
          pciDevices: [{ bdf: '0000:03:00.0' }],
        }),
      ),
    ).toEqual([
      '/virtualizationMode pv: vmadm runs vms under bhyve, which cannot run a pv guest',
      '/disks/0/format qcow2: bhyve on vmadm takes raw devices only',
      '/disks/0/readOnly: vmadm cannot attach a disk read-only',
      '/kernel: bhyve on vmadm boots from its disk, not a kernel file',
      '/pciDevices: vmadm passthrough names a /dev/pptN device, and domainmgr cannot map a BDF to it yet',
      '/maxMemoryMiB: bhyve does not balloon; it must equal memoryMiB on vmadm',
    ]);
  });
});

describe('vmadm backend', () => {
  const spec = () => containerSpec({ name: 'web', image: IMAGE });

  test('create: the payload on stdin with the create timeout; success message on stderr is no error', async () => {
    const s = spec();
    const runner = new FakeRunner().on(['vmadm', 'create'], {
      stderr: `Successfully created VM ${s.uuid}\n`,
    });
    const { vmadm, config } = backend(runner);
    const created = await vmadm.createPaused(s);
    expect(runner.argvs).toEqual([['vmadm', 'create']]);
    expect(JSON.parse(runner.calls[0]?.options.input ?? '')).toEqual(vmadmCreatePayload(s));
    expect(runner.calls[0]?.options.timeoutMs).toBe(config.timeouts.createMs);
    expect(created).toEqual({ uuid: s.uuid, domainName: 'web', domainId: null, vifs: [] });
  });

  test('create + offload + unpause costs two spawns: offload is a no-op', async () => {
    const s = spec();
    const runner = new FakeRunner()
      .on(['vmadm', 'create'], { stderr: `Successfully created VM ${s.uuid}\n` })
      .on(['vmadm', 'start'], { stderr: `Successfully started VM ${s.uuid}\n` });
    const { vmadm } = backend(runner);
    const created = await vmadm.createPaused(s);
    await vmadm.disableVifOffload(created);
    await vmadm.unpause(created);
    expect(runner.argvs).toEqual([
      ['vmadm', 'create'],
      ['vmadm', 'start', s.uuid],
    ]);
  });

  test('a uuid clash rejects and deletes nothing', async () => {
    const s = spec();
    const runner = new FakeRunner().on(['vmadm', 'create'], {
      exitCode: 1,
      stderr: `VM with UUID ${s.uuid} already exists\n`,
    });
    const { vmadm } = backend(runner);
    const error = await rejection(vmadm.createPaused(s));
    expect(error.message).toContain('already exists');
    expect(runner.argvs).toEqual([['vmadm', 'create']]);
  });

  test('another create failure deletes whatever vmadm may have left (unknown VM is fine)', async () => {
    const s = spec();
    const runner = new FakeRunner()
      .on(['vmadm', 'create'], { exitCode: 1, stderr: 'Invalid value(s) for: nics\n' })
      .on(['vmadm', 'delete'], {
        exitCode: 1,
        stderr: `Failed to delete VM ${s.uuid}: VM ${s.uuid} not found\n`,
      });
    const { vmadm } = backend(runner);
    const error = await rejection(vmadm.createPaused(s));
    expect(error.message).toContain('vmadm create failed (exit 1): Invalid value(s) for: nics');
    expect(error.message).not.toContain('cleaning up failed');
    expect(runner.argvs).toEqual([
      ['vmadm', 'create'],
      ['vmadm', 'delete', s.uuid],
    ]);
  });

  test('stop: graceful and forced; an already stopped or unknown VM is fine', async () => {
    const s = spec();
    const ref = { uuid: s.uuid, domainName: 'web', domainId: null };
    const runner = new FakeRunner().on(['vmadm', 'stop'], {
      stderr: `VM ${s.uuid} is already not 'running' (currently: stopped)\n`,
    });
    const { vmadm, config } = backend(runner);
    await vmadm.shutdown(ref, { force: false });
    await vmadm.shutdown(ref, { force: true });
    runner.on(['vmadm', 'stop'], { exitCode: 1, stderr: `VM ${s.uuid} not found\n` });
    await vmadm.shutdown(ref, { force: false });
    expect(runner.argvs).toEqual([
      ['vmadm', 'stop', s.uuid],
      ['vmadm', 'stop', s.uuid, '-F'],
      ['vmadm', 'stop', s.uuid],
    ]);
    expect(runner.calls[0]?.options.timeoutMs).toBe(config.shutdownGraceMs);
  });

  test('stop still waiting at the grace is not an error; another failure is', async () => {
    const ref = { uuid: spec().uuid, domainName: 'web', domainId: null };
    const runner = new FakeRunner().on(['vmadm', 'stop'], { timeout: true });
    const { vmadm } = backend(runner);
    await expect(vmadm.shutdown(ref, { force: false })).resolves.toBeUndefined();
    runner.on(['vmadm', 'stop'], { exitCode: 1, stderr: 'zoneadm: zone halt failed\n' });
    const error = await rejection(vmadm.shutdown(ref, { force: false }));
    expect(error.message).toContain('zone halt failed');
  });

  test('delete: success message on stderr, unknown VM resolves, other failure rejects', async () => {
    const s = spec();
    const ref = { uuid: s.uuid, domainName: 'web', domainId: null };
    const runner = new FakeRunner().on(['vmadm', 'delete'], {
      stderr: `Successfully deleted VM ${s.uuid}\n`,
    });
    const { vmadm } = backend(runner);
    await vmadm.destroy(ref);
    runner.on(['vmadm', 'delete'], {
      exitCode: 1,
      stderr: `Failed to delete VM ${s.uuid}: VM ${s.uuid} not found\n`,
    });
    await vmadm.destroy(ref);
    runner.on(['vmadm', 'delete'], { exitCode: 1, stderr: 'zfs: dataset is busy\n' });
    const error = await rejection(vmadm.destroy(ref));
    expect(error.message).toContain('dataset is busy');
    expect(runner.argvs).toEqual([
      ['vmadm', 'delete', s.uuid],
      ['vmadm', 'delete', s.uuid],
      ['vmadm', 'delete', s.uuid],
    ]);
  });

  test('pause is unsupported; setMemory is vmadm update with JSON on stdin', async () => {
    const s = spec();
    const ref = { uuid: s.uuid, domainName: 'web', domainId: null };
    const runner = new FakeRunner().on(['vmadm', 'update'], {
      stderr: `Successfully updated VM ${s.uuid}\n`,
    });
    const { vmadm } = backend(runner);
    await expect(vmadm.pause(ref)).rejects.toBeInstanceOf(UnsupportedError);
    await vmadm.setMemory(ref, 384);
    expect(runner.argvs).toEqual([['vmadm', 'update', s.uuid]]);
    expect(JSON.parse(runner.calls[0]?.options.input ?? '')).toEqual({ ram: 384 });
  });

  test('list is one `vmadm list -p -H -o uuid,type,ram,state,alias`', async () => {
    const runner = new FakeRunner().on(['vmadm', 'list'], {
      stdout: `${IMAGE}:OS:256:running:web\n11111111-2222-4333-8444-555555555555:BHYV:2048:stopped:-\n`,
    });
    const { vmadm } = backend(runner);
    const listing = await vmadm.list();
    expect(runner.argvs).toEqual([['vmadm', 'list', '-p', '-H', '-o', 'uuid,type,ram,state,alias']]);
    expect(listing.domains).toEqual([
      { uuid: IMAGE, name: 'web', domainId: null, state: 'running', memoryMiB: 256 },
      {
        uuid: '11111111-2222-4333-8444-555555555555',
        name: '11111111-2222-4333-8444-555555555555',
        domainId: null,
        state: 'shutdown',
        memoryMiB: 2048,
      },
    ]);
  });

  test('pci and offload are no-ops without processes; console is vmadm console', async () => {
    const runner = new FakeRunner();
    const { vmadm } = backend(runner);
    await vmadm.pciPrepare(['0000:03:00.0']);
    await vmadm.pciRelease(['0000:03:00.0']);
    await vmadm.disableVifOffload({
      uuid: 'u',
      domainName: 'n',
      domainId: null,
      vifs: [{ vifName: 'net0', mac: 'm', bridge: 'b' }],
    });
    expect(runner.calls).toHaveLength(0);
    expect(vmadm.consoleCommand({ uuid: 'u', domainName: 'n', domainId: null })).toEqual([
      'vmadm',
      'console',
      'u',
    ]);
  });
});
