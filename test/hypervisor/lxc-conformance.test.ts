/**
 * The backend conformance cases of conformance.test.ts (which runs xl, rkt and vmadm on the
 * simulated host), run for the lxc backend against the real LXC 5 tools as root: real
 * containers, real processes counted by the real ExecRunner's observer. What the engine does with
 * a backend is done here by hand: createPaused, disableVifOffload, unpause, then a listing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, jest, test } from '@jest/globals';
import type { DomainSpec } from '../../pkg/schema/domain-spec.js';
import { build, rejection } from '../support/backend-steps.js';
import {
  type Images,
  lxcSpec,
  TEST_BRIDGE,
  tracesOf,
  useRealLxc,
  waitForDomain,
} from '../support/real-lxc.js';

jest.setTimeout(120_000);

const lxc = useRealLxc();

const bridged = (n: number) => Array.from({ length: n }, () => ({ bridge: TEST_BRIDGE }));
const ours = async (uuid: string) => (await lxc.rig.hv.list()).domains.find((d) => d.uuid === uuid);

describe('lxc backend on real LXC', () => {
  test('verify: tools present, LXC answering', async () => {
    expect(await lxc.rig.hv.verify()).toEqual({ ok: true, problems: [] });
  });

  test('create paused, offload, unpause, running by listing, shutdown, gone', async () => {
    const spec = lxcSpec(lxc.images.folder, { vifs: bridged(2) });
    const created = await lxc.rig.hv.createPaused(spec);
    expect(created.uuid).toBe(spec.uuid);
    // Defined, not started: it lists as paused, as a Xen domain made by create -p.
    expect((await ours(spec.uuid))?.state).toBe('paused');
    await lxc.rig.hv.disableVifOffload(created);

    await lxc.rig.hv.unpause(created);
    expect((await waitForDomain(lxc.rig.hv, spec.uuid, (d) => d?.state === 'running'))?.state).toBe(
      'running',
    );

    await lxc.rig.hv.shutdown(created, { force: false });
    const after = await waitForDomain(
      lxc.rig.hv,
      spec.uuid,
      (d) => d === undefined || d.state === 'shutdown',
    );
    expect(after === undefined || after.state === 'shutdown').toBe(true);

    await lxc.rig.hv.destroy(created);
    expect(await ours(spec.uuid)).toBeUndefined();
    expect(
      tracesOf(
        lxc.rig.hv,
        spec.uuid,
        created.vifs.map((v) => v.vifName),
      ),
    ).toEqual([]);
  });

  test.each([0, 1, 2, 10])('a create with %i vifs costs 1 spawn (lxc-start)', async (n) => {
    const spec = lxcSpec(lxc.images.folder, { vifs: bridged(n) });
    lxc.rig.spawns.length = 0;
    await build(lxc.rig.hv, spec);
    expect(lxc.rig.spawns.map((a) => a[0]?.split('/').at(-1))).toEqual(['lxc-start']);
  });

  test('listing 5 domains costs 1 spawn and shows them all by uuid', async () => {
    const specs = Array.from({ length: 5 }, () => lxcSpec(lxc.images.folder));
    for (const s of specs) await build(lxc.rig.hv, s);
    lxc.rig.spawns.length = 0;
    const listing = await lxc.rig.hv.list();
    expect(lxc.rig.spawns).toHaveLength(1);
    const uuids = new Set(listing.domains.map((d) => d.uuid));
    for (const s of specs) expect(uuids.has(s.uuid)).toBe(true);
  });

  test('destroy of a missing domain is not an error', async () => {
    const spec = lxcSpec(lxc.images.folder);
    await expect(
      lxc.rig.hv.destroy({ uuid: spec.uuid, domainName: spec.uuid, domainId: null }),
    ).resolves.toBeUndefined();
    const created = await build(lxc.rig.hv, spec);
    await lxc.rig.hv.destroy(created);
    await expect(lxc.rig.hv.destroy(created)).resolves.toBeUndefined();
  });

  test('a clash (the same uuid) rejects and leaves the other domain alone', async () => {
    const first = lxcSpec(lxc.images.folder);
    await build(lxc.rig.hv, first);
    await waitForDomain(lxc.rig.hv, first.uuid, (d) => d?.state === 'running');
    const error = await rejection(
      lxc.rig.hv.createPaused({ ...lxcSpec(lxc.images.folder), uuid: first.uuid }),
    );
    expect(error.message).toMatch(/already exists/);
    const listing = await lxc.rig.hv.list();
    expect(listing.domains.filter((d) => d.uuid === first.uuid).map((d) => d.state)).toEqual(['running']);
  });
});

/** A failing step of a create: it rejects saying why, and leaves no trace of the container. */
interface Fault {
  step: string;
  says: RegExp;
  spec: (images: Images) => DomainSpec;
  /** What the engine does after a failed unpause: destroy what create made. */
  destroyAfter?: boolean;
}

const FAULTS: Fault[] = [
  {
    step: 'a bridge that does not exist',
    says: /bridge dmnosuchbr0 does not exist on this host/,
    spec: (i) => lxcSpec(i.folder, { vifs: [{ bridge: 'dmnosuchbr0' }] }),
  },
  {
    step: 'a rootfs outside the allowed roots',
    says: /\/image must lie under an allowed storage root/,
    spec: () => lxcSpec('/usr/share'),
  },
  {
    step: 'a tarball with ../ members',
    says: /member\(s\) would land outside its folder \("\.\.\/escaped"/,
    spec: (i) => {
      const evil = join(i.root, 'evil.tar');
      writeFileSync(join(i.root, 'escaped'), 'outside\n');
      // GNU tar keeps `../escaped` as given with -P (absolute names allowed).
      execFileSync('tar', ['-P', '-C', i.folder, '-cf', evil, '../escaped']);
      return lxcSpec(evil);
    },
  },
  {
    step: 'lxc-start failing (a cpuset of cpus the host does not have)',
    says: /lxc-start .* failed \(exit 1\)/,
    spec: (i) => lxcSpec(i.folder, { cpus: '511' }),
    destroyAfter: true,
  },
];

describe('lxc backend: a failing step of a create', () => {
  test.each(FAULTS)('$step: rejects, leaves nothing behind', async ({ says, spec: make, destroyAfter }) => {
    const spec = make(lxc.images);
    const error = await rejection(
      (async () => {
        const created = await lxc.rig.hv.createPaused(spec);
        try {
          await lxc.rig.hv.unpause(created);
        } catch (e) {
          if (destroyAfter === true) await lxc.rig.hv.destroy(created);
          throw e;
        }
      })(),
    );
    expect(error.message).toMatch(says);
    expect(await ours(spec.uuid)).toBeUndefined();
    expect(tracesOf(lxc.rig.hv, spec.uuid, [])).toEqual([]);
    // No half-unpacked image either.
    const cache = join(lxc.rig.config.stateDir, 'lxc-images');
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
  });
});
