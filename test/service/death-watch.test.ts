import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { Backend } from '../support/domainmgr-process.js';
import { newUuid, TestNode } from './support/node.js';

/**
 * Death by watch: domainmgr (a real process on the simulated host, against the real
 * nats-server) hears of a crash through xenstored's `@releaseDomain` watch, not by polling. The
 * periodic listing is set to an hour both with and without the watch, so a BROKEN status that
 * arrives at all was caused by the watch's listing; the restart policy then brings the domain
 * back as before.
 */

jest.setTimeout(120_000);

const HOUR_MS = '3600000';
const BACKENDS: Backend[] = ['xl', 'rkt'];

describe.each(BACKENDS)('%s backend: a crash reported by the xenstore watch', (backend) => {
  let node: TestNode;

  beforeAll(async () => {
    node = await TestNode.create(backend, {
      extraArgs: ['--probe-interval-ms', HOUR_MS, '--resync-interval-ms', HOUR_MS],
    });
    await node.start();
  });

  afterAll(async () => {
    expect(node.ctl.violations).toEqual([]);
    await node.destroy();
  });

  test('simctl crash -> BROKEN, then RUNNING again under restartPolicy always', async () => {
    const { ctl } = node;
    // The native path is in use: no fallback note in verify.
    const verifyNotes = node.service.logsWhere((l) => /xenstored's socket is not usable/.test(l.msg));
    expect(verifyNotes).toEqual([]);
    expect(node.service.logsWhere((l) => l.msg === 'talking to xenstored over its socket')).toHaveLength(1);

    const uuid = newUuid();
    await ctl.apply(uuid, node.doc(uuid, `watch-${backend}`, { restartPolicy: 'always' }));
    const up = await ctl.waitForStatus(uuid, (s) => s.state === 'RUNNING' && s.restartCount === 0);
    await node.sim.simctl(['crash', String(up.domainName)]);

    const broken = await ctl.waitForStatus(uuid, (s) => s.state === 'BROKEN');
    expect(broken.restartCount).toBe(1);
    expect(broken.error?.message).toMatch(/crashed; restarting \(restartPolicy always\)/);
    const again = await ctl.waitForStatus(uuid, (s) => s.state === 'RUNNING' && s.restartCount === 1);
    expect(again.error).toBeNull();
    expect(again.domainId).not.toBe(up.domainId);

    await ctl.apply(uuid, null);
    await ctl.waitForStatus(uuid, (s) => s.state === 'DELETED');
  });
});
