/**
 * domainmgr --backend lxc as a real process, on this host's real LXC 5 (root), against the real
 * nats-server, driven by a controller over JetStream: create to RUNNING, pause to FROZEN, a live
 * memory change, a crash under `restartPolicy: always`, a missing bridge, delete to DELETED with
 * nothing left on the host.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { LxcBackend } from '../../pkg/hypervisor/lxc.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import { SHARED_NATS_URL } from '../bus/support/nats-server.js';
import { Controller } from '../support/controller.js';
import { DomainmgrProcess } from '../support/domainmgr-process.js';
import {
  buildImages,
  endLxcService,
  ensureRealLxc,
  type Images,
  lxcConfig,
  lxcStateOf,
  lxcView,
  readText,
  TEST_BRIDGE,
  tracesOf,
} from '../support/real-lxc.js';

jest.setTimeout(120_000);

let images: Images;
let root: string;
let ctl: Controller;
let dm: DomainmgrProcess;
/** The same container path as the service's, for checks from outside (lxc-info, traces). */
let view: LxcBackend;
const prefix = `t${randomBytes(5).toString('hex')}`;
const nodeId = `node-lxc-${randomBytes(3).toString('hex')}`;
const made = new Set<string>();

beforeAll(async () => {
  ensureRealLxc();
  images = buildImages();
  root = mkdtempSync(join(tmpdir(), 'domainmgr-svc-lxc-'));
  const stateDir = join(root, 'state');
  ctl = await Controller.connect(SHARED_NATS_URL, prefix, nodeId);
  await startService();
  view = lxcView(stateDir);
});

afterEach(async () => {
  for (const u of made) await ctl.apply(u, null);
  for (const u of made)
    await ctl.waitForStatus(u, (s) => s.state === 'DELETED', 30_000).catch(() => undefined);
  made.clear();
});

afterAll(async () => {
  expect(ctl.violations).toEqual([]);
  await endLxcService({ ctl, dm, view, root, images });
});

async function startService(): Promise<void> {
  dm = DomainmgrProcess.start({
    backend: 'lxc',
    nodeId,
    prefix,
    stateDir: join(root, 'state'),
    natsUrl: SHARED_NATS_URL,
    allowedRoots: [images.root],
  });
  await dm.waitReady(30_000);
}

function doc(over: Partial<DomainConfig> = {}): DomainConfig {
  const d = lxcConfig(images.folder, { maxMemoryMiB: 128, vifs: [{ bridge: TEST_BRIDGE }], ...over }, 'svc');
  made.add(d.uuid);
  return d;
}

const at = (state: string, gen: number) => (s: DomainStatus) =>
  s.state === state && s.observedGeneration === gen;
const limit = (uuid: string) =>
  Number(readText(`/sys/fs/cgroup/memory/lxc.payload.${uuid}/memory.limit_in_bytes`));

describe('domainmgr --backend lxc over NATS', () => {
  test('create to RUNNING, paused to FROZEN and back, memory live, delete to DELETED and nothing left', async () => {
    const d = doc();
    await ctl.apply(d.uuid, d);
    const up = await ctl.waitForStatus(d.uuid, at('RUNNING', 1), 30_000);
    expect(up).toMatchObject({ backend: 'lxc', domainName: d.uuid, activated: true, error: null });
    expect(up.vifs).toEqual([
      expect.objectContaining({ bridge: TEST_BRIDGE, vifName: expect.stringMatching(/^dm/) }),
    ]);
    expect(lxcStateOf(view, d.uuid)).toBe('RUNNING');
    expect(limit(d.uuid)).toBe(64 * 1048576);

    await ctl.apply(d.uuid, { ...d, generation: 2, paused: true });
    await ctl.waitForStatus(d.uuid, at('PAUSED', 2), 30_000);
    expect(lxcStateOf(view, d.uuid)).toBe('FROZEN');
    await ctl.apply(d.uuid, { ...d, generation: 3, paused: false, memoryMiB: 96 });
    await ctl.waitForStatus(d.uuid, at('RUNNING', 3), 30_000);
    expect(lxcStateOf(view, d.uuid)).toBe('RUNNING');
    const deadline = Date.now() + 15_000;
    while (limit(d.uuid) !== 96 * 1048576 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(limit(d.uuid)).toBe(96 * 1048576);

    const vethNames = up.vifs.map((v) => v.vifName);
    await ctl.apply(d.uuid, null);
    await ctl.waitForStatus(d.uuid, (s) => s.state === 'DELETED', 30_000);
    made.delete(d.uuid);
    expect(tracesOf(view, d.uuid, vethNames)).toEqual([]);
  });

  test('an init killed from the host: BROKEN, then RUNNING again under restartPolicy always', async () => {
    const d = doc({ restartPolicy: 'always' });
    await ctl.apply(d.uuid, d);
    const first = await ctl.waitForStatus(d.uuid, at('RUNNING', 1), 30_000);
    const pid = (await view.list()).domains.find((x) => x.uuid === d.uuid)?.domainId;
    expect(typeof pid).toBe('number');
    process.kill(pid as number, 'SIGKILL');
    const again = await ctl.waitForStatus(
      d.uuid,
      (s) => s.state === 'RUNNING' && s.restartCount === 1,
      30_000,
    );
    expect(ctl.states(d.uuid)).toContain('BROKEN');
    expect(again.restartCount).toBe(first.restartCount + 1);
    expect(lxcStateOf(view, d.uuid)).toBe('RUNNING');
  });

  test('a bridge that does not exist: a clear error status, nothing left on the host', async () => {
    const d = doc({ vifs: [{ bridge: 'dmnosuchbr0' }] });
    await ctl.apply(d.uuid, d);
    const failed = await ctl.waitForStatus(d.uuid, (s) => s.error !== null && s.state !== 'CREATING', 30_000);
    expect(failed.error?.message).toMatch(/bridge dmnosuchbr0 does not exist on this host/);
    expect(tracesOf(view, d.uuid, [])).toEqual([]);
  });

  test('SIGKILL of domainmgr, then a restart: the container is adopted (same init, no second one)', async () => {
    const d = doc();
    await ctl.apply(d.uuid, d);
    const up = await ctl.waitForStatus(d.uuid, at('RUNNING', 1), 30_000);
    const killedAt = Date.now();
    dm.kill('SIGKILL');
    expect(await dm.waitExit()).toEqual({ code: null, signal: 'SIGKILL' });
    await startService();
    const again = await ctl.waitForStatus(
      d.uuid,
      (s) => s.state === 'RUNNING' && Date.parse(s.updatedAt) > killedAt,
      30_000,
    );
    expect(again.domainId).toBe(up.domainId);
    expect((await view.list()).domains.filter((x) => x.uuid === d.uuid)).toEqual([
      expect.objectContaining({ state: 'running', domainId: up.domainId }),
    ]);
    // Adopted: the new process ran no command on any one container (only listings and --version).
    const perContainer = dm
      .logsWhere((l) => l.msg === 'command done')
      .map((l) => l.argv as string[])
      .filter((argv) => argv.includes('-n'));
    expect(perContainer).toEqual([]);
  });
});
