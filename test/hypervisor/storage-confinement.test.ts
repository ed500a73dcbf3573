import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import {
  confineStorage,
  ROOTS_REUSE_MS,
  resolveStoragePaths,
  StoragePathError,
  storagePaths,
} from '../../pkg/hypervisor/storage-confinement.js';
import type { DomainSpec } from '../../pkg/schema/domain-spec.js';
import { vmSpec } from '../support/backend-fixtures.js';
import { FakeHypervisor } from '../support/fake-hypervisor.js';
import { ManualClock } from '../support/manual-clock.js';

// A host folder of images (the allowed root), a secret beside it, and links between them.
let base: string;
let images: string;
let secret: string;
beforeEach(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'confine-')));
  images = join(base, 'images');
  mkdirSync(images);
  writeFileSync(join(images, 'vmlinuz'), 'kernel');
  writeFileSync(join(images, 'disk-v2.img'), '');
  mkdirSync(join(base, 'outside'));
  secret = join(base, 'outside', 'secret');
  writeFileSync(secret, 'not for guests');
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const spec = (disk: string, over: Partial<DomainSpec> = {}): DomainSpec => ({
  ...vmSpec({ kernel: join(images, 'vmlinuz'), disks: [{ path: disk, format: 'raw' }] }),
  ...over,
});
const problemsOf = async (s: DomainSpec, roots: readonly string[]): Promise<readonly string[]> => {
  const e = await resolveStoragePaths(s, roots).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StoragePathError);
  return (e as StoragePathError).problems;
};

describe('resolveStoragePaths', () => {
  test('a symlink under the root that points outside it is refused, naming field, path and target', async () => {
    symlinkSync(secret, join(images, 'evil.img'));
    expect(await problemsOf(spec(join(images, 'evil.img')), [images])).toEqual([
      `/disks/0/path ${images}/evil.img resolves to ${secret}, which is not under an allowed storage root: ${images}`,
    ]);
  });

  test('a symlink to a block device is refused the same way', async () => {
    symlinkSync('/dev/null', join(images, 'dev.img'));
    expect(await problemsOf(spec(join(images, 'dev.img')), [images])).toEqual([
      `/disks/0/path ${images}/dev.img resolves to /dev/null, which is not under an allowed storage root: ${images}`,
    ]);
  });

  test('.. that climbs out of the root is refused (the string check alone lets it pass)', async () => {
    const climbing = `${images}/../outside/secret`;
    expect(await problemsOf(spec(climbing), [images])).toEqual([
      `/disks/0/path ${climbing} resolves to ${secret}, which is not under an allowed storage root: ${images}`,
    ]);
  });

  test('a path that does not exist is refused with the field and the path, every one of them', async () => {
    const s = spec(join(images, 'not-yet.img'), { ramdisk: join(images, 'initrd.img') });
    expect(await problemsOf(s, [images])).toEqual([
      `/ramdisk ${images}/initrd.img does not exist on this host`,
      `/disks/0/path ${images}/not-yet.img does not exist on this host`,
    ]);
  });

  test('a symlink that stays inside the root is accepted, and the spec names the real file', async () => {
    symlinkSync('disk-v2.img', join(images, 'current.img'));
    const s = spec(join(images, 'current.img'));
    const resolved = await resolveStoragePaths(s, [images]);
    expect(resolved).toEqual({ ...s, disks: [{ ...s.disks[0], path: join(images, 'disk-v2.img') }] });
    expect(s.disks[0]?.path).toBe(join(images, 'current.img')); // the input is not changed
  });

  test('a root that is itself a symlink is compared by where it leads', async () => {
    symlinkSync(images, join(base, 'images-link'));
    const viaLink = join(base, 'images-link', 'disk-v2.img');
    const resolved = await resolveStoragePaths(spec(viaLink), [join(base, 'images-link')]);
    expect(resolved.disks[0]?.path).toBe(join(images, 'disk-v2.img'));
    expect(resolved.kernel).toBe(join(images, 'vmlinuz'));
  });

  test('a root that does not exist holds nothing; none configured says so', async () => {
    expect(await problemsOf(spec(join(images, 'disk-v2.img')), [join(base, 'gone')])).toHaveLength(2);
    expect(await problemsOf(spec(join(images, 'disk-v2.img')), [])).toContain(
      `/kernel ${images}/vmlinuz resolves to ${images}/vmlinuz, which is not under an allowed storage root: (none configured)`,
    );
  });

  test('a spec without host paths (a container) needs no filesystem at all', async () => {
    const s = vmSpec({ kernel: undefined, disks: [] });
    expect(storagePaths(s)).toEqual([]);
    const fs = { realpath: jest.fn(async (p: string) => p) };
    expect(await resolveStoragePaths(s, [images], fs)).toBe(s);
    expect(fs.realpath).not.toHaveBeenCalled();
  });
});

describe('confineStorage', () => {
  test('createPaused checks first: outside, the backend is never asked; inside, it gets the real paths', async () => {
    const backend = new FakeHypervisor(new ManualClock());
    const create = jest.spyOn(backend, 'createPaused');
    const hv = confineStorage(backend, [images]);
    symlinkSync(secret, join(images, 'evil.img'));
    symlinkSync('disk-v2.img', join(images, 'current.img'));

    await expect(hv.createPaused(spec(join(images, 'evil.img')))).rejects.toThrow(StoragePathError);
    expect(backend.calls).toEqual([]);

    const good = spec(join(images, 'current.img'));
    const created = await hv.createPaused(good);
    expect(created.uuid).toBe(good.uuid);
    expect(backend.calls).toEqual([`create ${good.name}`]);
    expect(create.mock.calls.map(([s]) => s.disks[0]?.path)).toEqual([join(images, 'disk-v2.img')]);
  });

  test('every other member is the backend’s own, bound to it', async () => {
    const backend = new FakeHypervisor(new ManualClock());
    const hv = confineStorage(backend, [images]);
    expect(hv.name).toBe('xl');
    expect(hv.canPause).toBe(true);
    backend.pauseUnsupported = true;
    expect(hv.canPause).toBe(false);
    expect((await hv.list()).domains.map((d) => d.name)).toEqual(['Domain-0']);
    expect(backend.calls).toEqual(['list']);
  });
});

describe('confineStorage: the roots are resolved once per burst', () => {
  /** The real filesystem, counting how often each path is resolved. */
  function countingFs() {
    const counts = new Map<string, number>();
    return {
      counts,
      fs: {
        realpath: async (p: string) => {
          counts.set(p, (counts.get(p) ?? 0) + 1);
          return realpathSync(p);
        },
      },
    };
  }

  test.each([
    ['reused within ROOTS_REUSE_MS, however many creates', [0, 10, 4_999], 1],
    ['resolved again once that has passed', [0, ROOTS_REUSE_MS, ROOTS_REUSE_MS + 1], 2],
  ])('%s', async (_what, times, rootResolutions) => {
    const { counts, fs } = countingFs();
    let now = 0;
    const hv = confineStorage(new FakeHypervisor(new ManualClock()), [images], fs, () => now);
    for (const [i, t] of times.entries()) {
      now = t;
      await hv.createPaused(
        spec(join(images, 'disk-v2.img'), { name: `d${i}`, uuid: `00000000-0000-4000-8000-00000000000${i}` }),
      );
    }
    expect(counts.get(images)).toBe(rootResolutions);
    // The guest's own paths are resolved at every create.
    expect(counts.get(join(images, 'disk-v2.img'))).toBe(times.length);
  });

  test('concurrent creates share one resolution of the roots', async () => {
    const { counts, fs } = countingFs();
    const hv = confineStorage(new FakeHypervisor(new ManualClock()), [images], fs, () => 0);
    await Promise.all(
      [0, 1, 2].map((i) =>
        hv.createPaused(
          spec(join(images, 'disk-v2.img'), {
            name: `c${i}`,
            uuid: `00000000-0000-4000-8000-00000000001${i}`,
          }),
        ),
      ),
    );
    expect(counts.get(images)).toBe(1);
  });

  test('a root that did not exist is looked for again at the next create, and counts once made', async () => {
    const later = join(base, 'later');
    const { counts, fs } = countingFs();
    const hv = confineStorage(new FakeHypervisor(new ManualClock()), [images, later], fs, () => 0);
    await expect(
      hv.createPaused(
        spec(join(later, 'disk.img'), { name: 'early', uuid: '00000000-0000-4000-8000-000000000020' }),
      ),
    ).rejects.toThrow(StoragePathError);
    mkdirSync(later);
    writeFileSync(join(later, 'disk.img'), '');
    const created = await hv.createPaused(
      spec(join(later, 'disk.img'), { name: 'late', uuid: '00000000-0000-4000-8000-000000000021' }),
    );
    expect(created.uuid).toBe('00000000-0000-4000-8000-000000000021');
    expect(counts.get(later)).toBe(2);
  });

  test('a root re-pointed by its operator: paths under the new target are refused until the reuse ends, then allowed', async () => {
    const link = join(base, 'images-link');
    symlinkSync(images, link);
    mkdirSync(join(base, 'images-v2'));
    writeFileSync(join(base, 'images-v2', 'disk.img'), '');
    let now = 0;
    const hv = confineStorage(new FakeHypervisor(new ManualClock()), [link], undefined, () => now);
    await hv.createPaused(
      spec(join(link, 'disk-v2.img'), {
        kernel: undefined,
        name: 'a',
        uuid: '00000000-0000-4000-8000-000000000030',
      }),
    );
    rmSync(link);
    symlinkSync(join(base, 'images-v2'), link);
    const newDisk = spec(join(link, 'disk.img'), {
      kernel: undefined,
      name: 'b',
      uuid: '00000000-0000-4000-8000-000000000031',
    });
    await expect(hv.createPaused(newDisk)).rejects.toThrow(/not under an allowed storage root/);
    now = ROOTS_REUSE_MS;
    expect((await hv.createPaused(newDisk)).uuid).toBe(newDisk.uuid);
  });
});
