import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { newUuid, TestNode } from './support/node.js';

/**
 * storage.allowedRoots against symlinks, end to end: domainmgr as a process on the simulated xl
 * host, configs over the real NATS. The string check passes both configs below; the create-time
 * check follows the links.
 */

jest.setTimeout(120_000);

let node: TestNode;
beforeAll(async () => {
  node = await TestNode.create('xl');
  await node.start();
});
afterAll(async () => {
  expect(node.ctl.violations).toEqual([]);
  await node.destroy();
});

test('a disk symlink under the root that leads outside it: the create fails, with the field and the path', async () => {
  const outside = join(node.root, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'host-secret.img'), 'not for guests');
  const link = join(node.images, 'escape.img');
  symlinkSync(join(outside, 'host-secret.img'), link);
  const uuid = newUuid();
  await node.ctl.apply(
    uuid,
    node.doc(uuid, 'escape', { disks: [{ path: link, format: 'raw', vdev: 'xvda' }] }),
  );

  const broken = await node.ctl.waitForStatus(uuid, (s) => s.state === 'BROKEN');
  expect(broken.error?.message).toBe(
    `/disks/0/path ${link} resolves to ${join(outside, 'host-secret.img')}, which is not under an allowed storage root: ${node.images}`,
  );
  expect(await node.hostDomainsOf(uuid)).toEqual([]);
  await node.ctl.apply(uuid, null);
  await node.ctl.waitForStatus(uuid, (s) => s.state === 'DELETED');
});

test('a disk symlink that stays inside the root: the domain runs', async () => {
  const link = join(node.images, 'current.raw');
  symlinkSync('disk0.raw', link);
  const uuid = newUuid();
  await node.ctl.apply(
    uuid,
    node.doc(uuid, 'inside', { disks: [{ path: link, format: 'raw', vdev: 'xvda' }] }),
  );
  await node.ctl.waitForStatus(uuid, (s) => s.state === 'RUNNING');
  expect(await node.hostDomainsOf(uuid)).toHaveLength(1);
  await node.ctl.apply(uuid, null);
  await node.ctl.waitForStatus(uuid, (s) => s.state === 'DELETED');
});

test('a kernel that does not exist yet: the create fails, saying so', async () => {
  const uuid = newUuid();
  const kernel = join(node.images, 'vmlinuz-next');
  await node.ctl.apply(uuid, node.doc(uuid, 'early', { kernel }));
  const broken = await node.ctl.waitForStatus(uuid, (s) => s.state === 'BROKEN');
  expect(broken.error?.message).toBe(`/kernel ${kernel} does not exist on this host`);
  expect(broken.error?.retryAt).toEqual(expect.any(String));
  await node.ctl.apply(uuid, null);
  await node.ctl.waitForStatus(uuid, (s) => s.state === 'DELETED');
});
