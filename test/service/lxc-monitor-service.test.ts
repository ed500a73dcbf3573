/**
 * domainmgr --backend lxc on real LXC 5 with a probe interval of ten minutes, so that what
 * reports a crash within the test is the change feed: the one long-lived lxc-monitor (or, for a
 * kill just after the boot, the listing the boot asked for). An init SIGKILLed from the host ends BROKEN; the lxc-monitor itself SIGKILLed is
 * restarted (logged) and the next crash is reported again.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { LxcBackend } from '../../pkg/hypervisor/lxc.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import { SHARED_NATS_URL } from '../bus/support/nats-server.js';
import { Controller } from '../support/controller.js';
import { DomainmgrProcess, type LogLine } from '../support/domainmgr-process.js';
import {
  buildImages,
  endLxcService,
  ensureRealLxc,
  type Images,
  lxcConfig,
  lxcView,
  TEST_BRIDGE,
} from '../support/real-lxc.js';

jest.setTimeout(120_000);

/**
 * Far longer than the test runs: no periodic listing happens after the first one, neither the
 * probe (monitor down) nor the resync (monitor up), so only the monitor can report a crash.
 */
const PROBE_INTERVAL_MS = 600_000;

let images: Images;
let root: string;
let ctl: Controller;
let dm: DomainmgrProcess;
let view: LxcBackend;
const prefix = `t${randomBytes(5).toString('hex')}`;
const nodeId = `node-lxcmon-${randomBytes(3).toString('hex')}`;
const made: string[] = [];

beforeAll(async () => {
  ensureRealLxc();
  images = buildImages();
  root = mkdtempSync(join(tmpdir(), 'domainmgr-svc-lxcmon-'));
  const stateDir = join(root, 'state');
  ctl = await Controller.connect(SHARED_NATS_URL, prefix, nodeId);
  dm = DomainmgrProcess.start({
    backend: 'lxc',
    nodeId,
    prefix,
    stateDir,
    natsUrl: SHARED_NATS_URL,
    allowedRoots: [images.root],
    probeIntervalMs: PROBE_INTERVAL_MS,
    extraArgs: ['--resync-interval-ms', String(PROBE_INTERVAL_MS)],
  });
  await dm.waitReady(30_000);
  view = lxcView(stateDir);
});

afterAll(async () => {
  for (const u of made) await ctl.apply(u, null);
  for (const u of made)
    await ctl.waitForStatus(u, (s) => s.state === 'DELETED', 30_000).catch(() => undefined);
  expect(ctl.violations).toEqual([]);
  await endLxcService({ ctl, dm, view, root, images });
});

function doc(): DomainConfig {
  const d = lxcConfig(images.folder, { vifs: [{ bridge: TEST_BRIDGE }], restartPolicy: 'never' }, 'mon');
  made.push(d.uuid);
  return d;
}

const isMonitorStart = (l: LogLine) =>
  l.msg === 'long-lived command started' && String((l.argv as string[])[0]).endsWith('lxc-monitor');

const isLxcInfoOf = (l: LogLine, uuid: string) => {
  const argv = l.argv as string[] | undefined;
  return argv !== undefined && String(argv[0]).endsWith('lxc-info') && argv.includes(uuid);
};

/** Runs a container, SIGKILLs its init from the host, and waits for BROKEN (no periodic listing can). */
async function crashReported(): Promise<void> {
  const d = doc();
  await ctl.apply(d.uuid, d);
  await ctl.waitForStatus(d.uuid, (s) => s.state === 'RUNNING', 30_000);
  const pid = (await view.list()).domains.find((x) => x.uuid === d.uuid)?.domainId;
  expect(typeof pid).toBe('number');
  process.kill(pid as number, 'SIGKILL');
  const broken = await ctl.waitForStatus(d.uuid, (s) => s.state === 'BROKEN', 30_000);
  // The error quotes what LXC logged of the init's end.
  expect(broken.error?.message).toMatch(
    new RegExp(
      `^the domain crashed: init ended on signal 9 \\(LXC: Child <${pid}> ended on signal Killed\\(9\\)\\)`,
    ),
  );
  // The monitor's events of this container (its start, its crash) are answered by a look at it
  // alone. Which look saw the crash first is not fixed: a full listing the boot asked for may run
  // just after the kill.
  const info = await dm.waitForLog(
    `lxc-info of ${d.uuid}`,
    (l) => l.msg === 'command done' && isLxcInfoOf(l, d.uuid),
  );
  expect(info).toMatchObject({ exitCode: 0 });
}

describe('the lxc change feed on real LXC', () => {
  test('a killed init is reported BROKEN by the monitor; a killed monitor restarts and reports again', async () => {
    const first = await dm.waitForLog('lxc-monitor started', isMonitorStart);
    expect(first.argv).toEqual([expect.stringMatching(/lxc-monitor$/), '-P', join(root, 'state', 'lxc')]);
    await crashReported();

    process.kill(first.pid as number, 'SIGKILL');
    const ended = await dm.waitForLog('lxc-monitor ended', (l) => /^lxc-monitor ended/.test(String(l.msg)));
    expect(ended).toMatchObject({ signal: 'SIGKILL', restartInMs: expect.any(Number) });
    await dm.waitForLog('lxc-monitor restarted', (l) => l.msg === 'lxc-monitor restarted');
    const second = dm.logsWhere(isMonitorStart);
    expect(second).toHaveLength(2);
    expect(second[1]?.pid).not.toBe(first.pid);
    await crashReported();
  });
});
