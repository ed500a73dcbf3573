import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SimHostHandle, startSimHost } from '../support/sim-host.js';
import { expectExact, removeTempDirs, tempDir } from './helpers.js';

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
  await h.simctl(['config', 'vmadmStopDelayMs=100']);
});

const U1 = '11111111-2222-4333-8444-555555555555';
const U2 = '22222222-2222-4333-8444-555555555555';
const IMG = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

function vm(extra: Record<string, unknown>): string {
  return JSON.stringify({ uuid: U1, alias: 'web', brand: 'bhyve', ram: 512, vcpus: 2, ...extra });
}

async function get(uuid: string): Promise<Record<string, unknown>> {
  const r = await h.run(['vmadm', 'get', uuid]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('vmadm', () => {
  test('create from stdin with autoboot=false leaves it stopped; start boots it; messages on stderr', async () => {
    expectExact(
      await h.run(['vmadm', 'create'], { input: vm({ autoboot: false }) }),
      0,
      '',
      `Successfully created VM ${U1}\n`,
    );
    const v = await get(U1);
    expect(v.state).toBe('stopped');
    expect(v.zone_state).toBe('installed');
    expect(v).not.toHaveProperty('pid');
    expectExact(await h.run(['vmadm', 'start', U1]), 0, '', `Successfully started VM ${U1}\n`);
    expect((await get(U1)).state).toBe('running');
    expectExact(await h.run(['vmadm', 'start', U1]), 0, '', `VM ${U1} is already 'running'\n`);
  });

  test('get prints 2-space JSON; unknown: zoneadm message; malformed uuid: usage, exit 2', async () => {
    await h.run(['vmadm', 'create'], { input: vm({}) });
    const r = await h.run(['vmadm', 'get', U1]);
    expect(r.stdout.startsWith('{\n  "alias": "web",')).toBe(true);
    expect(r.stderr).toBe('');
    expectExact(await h.run(['vmadm', 'get', U2]), 1, '', `zoneadm: ${U2}: No such zone configured\n`);
    const bad = await h.run(['vmadm', 'get', 'not-a-uuid']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.startsWith('Invalid or missing UUID for get\nUsage: ')).toBe(true);
  });

  test('create -f file; errors: duplicate, brand, invalid values, missing properties', async () => {
    const dir = tempDir();
    const f = join(dir, 'vm.json');
    writeFileSync(f, vm({}));
    expectExact(await h.run(['vmadm', 'create', '-f', f]), 0, '', `Successfully created VM ${U1}\n`);
    expectExact(await h.run(['vmadm', 'create', '-f', f]), 1, '', `VM with UUID ${U1} already exists\n`);
    expectExact(
      await h.run(['vmadm', 'create'], { input: vm({ uuid: U2, brand: 'xen' }) }),
      1,
      '',
      'Unsupported brand: xen\n',
    );
    expectExact(
      await h.run(['vmadm', 'create'], { input: vm({ uuid: U2, ram: 'lots' }) }),
      1,
      '',
      'Invalid value(s) for: ram\n',
    );
    expectExact(
      await h.run(['vmadm', 'create'], { input: JSON.stringify({ uuid: U2, brand: 'joyent' }) }),
      1,
      '',
      'Missing required properties: image_uuid\n',
    );
  });

  test('stop: graceful, already stopped (exit 0), unknown, -t only for hardware VMs', async () => {
    await h.run(['vmadm', 'create'], { input: vm({}) });
    expectExact(await h.run(['vmadm', 'stop', U1]), 0, '', `Successfully completed stop for VM ${U1}\n`);
    expectExact(
      await h.run(['vmadm', 'stop', U1]),
      0,
      '',
      `VM ${U1} is already not 'running' (currently: stopped)\n`,
    );
    expectExact(await h.run(['vmadm', 'stop', U2]), 1, '', `VM ${U2} not found\n`);
    await h.run(['vmadm', 'create'], {
      input: JSON.stringify({ uuid: U2, brand: 'joyent', image_uuid: IMG }),
    });
    expect((await h.run(['vmadm', 'stop', U2, '-t', '5'])).code).toBe(1);
    expectExact(
      await h.run(['vmadm', 'stop', U2, '-F']),
      0,
      '',
      `Successfully completed stop for VM ${U2}\n`,
    );
  });

  test('a hung guest is halted only when the grace period ends', async () => {
    await h.run(['vmadm', 'create'], { input: vm({}) });
    await h.simctl(['hang-guest', U1]);
    const r = await h.run(['vmadm', 'stop', U1, '-t', '1']);
    expectExact(r, 0, '', `Successfully completed stop for VM ${U1}\n`);
    expect(r.durationMs).toBeGreaterThanOrEqual(950);
  });

  test('delete, update ram and bhyve pci_devices', async () => {
    await h.run(['vmadm', 'create'], {
      input: vm({ pci_devices: [{ path: '/devices/pci@0,0/pci8086,6f08@3', pci_slot: '6:0:0' }] }),
    });
    expect((await get(U1)).pci_devices).toEqual([
      { path: '/devices/pci@0,0/pci8086,6f08@3', pci_slot: '6:0:0', model: 'passthru' },
    ]);
    expectExact(await h.run(['vmadm', 'update', U1, 'ram=1024']), 0, '', `Successfully updated VM ${U1}\n`);
    expect((await get(U1)).ram).toBe(1024);
    const upd = JSON.stringify({ remove_pci_devices: ['/devices/pci@0,0/pci8086,6f08@3'] });
    expectExact(
      await h.run(['vmadm', 'update', U1], { input: upd }),
      0,
      '',
      `Successfully updated VM ${U1}\n`,
    );
    expect((await get(U1)).pci_devices).toEqual([]);
    expectExact(await h.run(['vmadm', 'update', U1, 'bogus=1']), 1, '', 'Invalid value(s) for: bogus\n');
    expectExact(await h.run(['vmadm', 'delete', U1]), 0, '', `Successfully deleted VM ${U1}\n`);
    expectExact(
      await h.run(['vmadm', 'delete', U1]),
      1,
      '',
      `Failed to delete VM ${U1}: VM ${U1} not found\n`,
    );
  });

  test('list: fixed-width columns joined by two spaces, -p with colons and no header, -o', async () => {
    await h.run(['vmadm', 'create'], { input: vm({ autoboot: false }) });
    await h.run(['vmadm', 'create'], {
      input: JSON.stringify({ uuid: U2, brand: 'joyent', image_uuid: IMG, max_physical_memory: 128 }),
    });
    const r = await h.run(['vmadm', 'list']);
    expectExact(
      r,
      0,
      [
        'UUID                                  TYPE  RAM      STATE             ALIAS',
        `${U2}  OS    128      running           -`,
        `${U1}  BHYV  512      stopped           web`,
        '',
      ].join('\n'),
      '',
    );
    expectExact(
      await h.run(['vmadm', 'list', '-p']),
      0,
      `${U2}:OS:128:running:\n${U1}:BHYV:512:stopped:web\n`,
      '',
    );
    expectExact(
      await h.run(['vmadm', 'list', '-H', '-o', 'uuid,state', 'brand=bhyve']),
      0,
      `${U1}  stopped\n`,
      '',
    );
  });

  test('lookup -j gives JSON; -1 requires a unique match', async () => {
    await h.run(['vmadm', 'create'], { input: vm({}) });
    const r = await h.run(['vmadm', 'lookup', '-j', '-o', 'uuid,state', 'alias=web']);
    expect(JSON.parse(r.stdout)).toEqual([{ uuid: U1, state: 'running' }]);
    expectExact(await h.run(['vmadm', 'lookup', 'alias=web']), 0, `${U1}\n`, '');
    expectExact(
      await h.run(['vmadm', 'lookup', '-1', 'alias=none']),
      1,
      '',
      'Requested unique lookup but found 0 results.\n',
    );
  });

  test('memory of the SmartOS host is its own and limits booting', async () => {
    await h.simctl(['config', 'smartosTotalMemoryMiB=3000']);
    expect((await h.run(['vmadm', 'create'], { input: vm({ ram: 1024 }) })).code).toBe(0); // 2048 MiB with overhead
    const second = await h.run(['vmadm', 'create'], { input: vm({ uuid: U2, ram: 1024 }) });
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(`Failed to create VM ${U2}: not enough free memory on the host\n`);
    // the Xen host's memory is a different machine's
    expectExact(await h.run(['xl', 'info', 'free_memory']), 0, '12127\n', '');
  });
});
