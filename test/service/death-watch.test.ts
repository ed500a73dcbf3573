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

/**
 * A guest reboot under xl's monitor (on_reboot = "restart"): the monitor destroys the domain and
 * creates it again (real xl: 2 s later; here rebootRestartDelayMs), so the listing that
 * @releaseDomain triggers finds it missing. Within rebuildGraceMs that is taken for the reboot it
 * may be, not for an exit; a domain that does not come back is still gone after the grace.
 */
describe('xl backend: a domain missing while xl rebuilds a rebooting guest', () => {
  let node: TestNode;

  beforeAll(async () => {
    node = await TestNode.create('xl', {
      extraArgs: [
        '--probe-interval-ms',
        HOUR_MS,
        '--resync-interval-ms',
        HOUR_MS,
        '--rebuild-grace-ms',
        '5000',
      ],
    });
    await node.start();
    // The monitor's build (paused, "(null)" for its first half) long enough for a listing to see it.
    await node.sim.simctl(['config', 'rebootRestartDelayMs=500', 'rebootBuildMs=1000']);
  });

  afterAll(async () => {
    expect(node.ctl.violations).toEqual([]);
    await node.destroy();
  });

  /** The `xl <sub>` commands run so far whose arguments mention `text`. */
  const xlCalls = async (sub: string, text: string): Promise<number> => {
    const { commands } = JSON.parse(await node.sim.simctl(['commands'])) as {
      commands: { tool: string; args: string[] }[];
    };
    return commands.filter((c) => c.tool === 'xl' && c.args[0] === sub && c.args.join(' ').includes(text))
      .length;
  };
  const creates = (uuid: string): Promise<number> => xlCalls('create', uuid);

  test('a guest reboot: still RUNNING, no restart counted, the new domid reported, nothing created by us', async () => {
    const { ctl } = node;
    const uuid = newUuid();
    await ctl.apply(uuid, node.doc(uuid, 'reboots', { restartPolicy: 'always' }));
    const up = await ctl.waitForStatus(uuid, (s) => s.state === 'RUNNING' && s.restartCount === 0);
    expect(await creates(uuid)).toBe(1);
    const unpauses = await xlCalls('unpause', '');
    await node.sim.simctl(['reboot', String(up.domainName)]);

    const back = await ctl.waitForStatus(uuid, (s) => s.domainId !== up.domainId && s.domainId !== null);
    expect(back).toMatchObject({ state: 'RUNNING', restartCount: 0, error: null });
    // The watch's listing did find it missing (else this test proves nothing) ...
    expect(
      node.service.logsWhere((l) => l.uuid === uuid && /^domain missing from the listing/.test(l.msg)),
    ).toHaveLength(1);
    // ... and nothing was concluded from it: no other state, no create of ours, and the domain the
    // monitor built paused was left for the monitor to unpause.
    expect(ctl.states(uuid).slice(ctl.states(uuid).indexOf('RUNNING'))).toEqual(['RUNNING']);
    expect(await creates(uuid)).toBe(1);
    expect(await xlCalls('unpause', '')).toBe(unpauses);

    await ctl.apply(uuid, null);
    await ctl.waitForStatus(uuid, (s) => s.state === 'DELETED');
  });

  test('a domain destroyed behind our back is gone once the grace is over: the restart policy applies', async () => {
    const { ctl } = node;
    const uuid = newUuid();
    await ctl.apply(uuid, node.doc(uuid, 'vanishes', { restartPolicy: 'always' }));
    const up = await ctl.waitForStatus(uuid, (s) => s.state === 'RUNNING' && s.restartCount === 0);
    await node.sim.simctl(['vanish', String(up.domainName)]);

    const broken = await ctl.waitForStatus(uuid, (s) => s.state === 'BROKEN');
    expect(broken.error?.message).toMatch(/disappeared; restarting \(restartPolicy always\)/);
    const again = await ctl.waitForStatus(uuid, (s) => s.state === 'RUNNING' && s.restartCount === 1);
    expect(again.domainId).not.toBe(up.domainId);
    expect(await creates(uuid)).toBe(2);

    await ctl.apply(uuid, null);
    await ctl.waitForStatus(uuid, (s) => s.state === 'DELETED');
  });
});
