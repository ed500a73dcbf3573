/**
 * A rig for the lxc backend against the real LXC 5 tools (root): the machine is made ready by
 * scripts/lxc/setup.sh (lxc, busybox-static, the test bridge), a busybox root filesystem is built
 * by scripts/lxc/build-rootfs.sh into a temporary allowed root, and each rig has its own state
 * directory, so its container path (`<stateDir>/lxc`) holds only its own containers.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from '@jest/globals';
import { systemClock } from '../../pkg/clock.js';
import type { ObservedDomain } from '../../pkg/hypervisor/hypervisor.js';
import { LxcBackend } from '../../pkg/hypervisor/lxc.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { projectRoot } from '../../pkg/project-files.js';
import { ExecRunner } from '../../pkg/runner/exec-runner.js';
import { type DomainSpec, toDomainSpec } from '../../pkg/schema/domain-spec.js';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import { testConfig } from './backend-fixtures.js';
import type { Controller } from './controller.js';
import type { DomainmgrProcess } from './domainmgr-process.js';

/** The bridge scripts/lxc/setup.sh makes. */
export const TEST_BRIDGE = 'dmlxcbr0';

/** Runs scripts/lxc/setup.sh; throws with its output when the machine cannot be made ready. */
export function ensureRealLxc(): void {
  const r = spawnSync('bash', [join(projectRoot, 'scripts/lxc/setup.sh')], {
    encoding: 'utf8',
    env: { ...process.env, DOMAINMGR_LXC_BRIDGES: TEST_BRIDGE },
  });
  if (r.status !== 0) {
    throw new Error(`the lxc tests need real LXC as root: scripts/lxc/setup.sh failed:\n${r.stderr}`);
  }
}

export interface Images {
  /** The allowed storage root the images lie under. */
  root: string;
  /** A busybox root filesystem folder. */
  folder: string;
  /** The same, as a tar archive. */
  tarball: string;
  remove(): void;
}

/** Builds the busybox rootfs (folder and tarball) under a fresh temporary allowed root. */
export function buildImages(): Images {
  const root = mkdtempSync(join(tmpdir(), 'domainmgr-lxc-images-'));
  const folder = join(root, 'busybox');
  const tarball = join(root, 'busybox.tar');
  execFileSync('bash', [join(projectRoot, 'scripts/lxc/build-rootfs.sh'), folder, tarball], {
    stdio: 'pipe',
  });
  return { root, folder, tarball, remove: () => rmSync(root, { recursive: true, force: true }) };
}

export interface LxcRig {
  hv: LxcBackend;
  config: DomainmgrConfig;
  /** argv of every process the backend started, in order. */
  spawns: string[][];
  /** Kills and removes every container of the rig's path, then the state directory. */
  cleanup(): Promise<void>;
}

export function lxcRig(images: Images, overrides: Partial<DomainmgrConfig> = {}): LxcRig {
  const spawns: string[][] = [];
  const runner = new ExecRunner({
    logger: silentLogger,
    defaultTimeoutMs: 30_000,
    killGraceMs: 500,
    observer: (e) => spawns.push([...e.argv]),
  });
  const config = testConfig({
    backend: 'lxc',
    storage: { allowedRoots: [images.root] },
    timeouts: { commandMs: 30_000, createMs: 30_000, killGraceMs: 500 },
    shutdownGraceMs: 10_000,
    ...overrides,
  });
  const hv = new LxcBackend({ runner, logger: silentLogger, config, clock: systemClock });
  return {
    hv,
    config,
    spawns,
    async cleanup() {
      try {
        const listing = await hv.list();
        for (const d of listing.domains) {
          if (d.uuid !== null) await hv.destroy({ uuid: d.uuid, domainName: d.name, domainId: null });
        }
      } finally {
        rmSync(config.stateDir, { recursive: true, force: true });
      }
    },
  };
}

/** A container config with a fresh uuid (name `<namePrefix>-<uuid start>`); `overrides` win. */
export function lxcConfig(
  image: string,
  overrides: Partial<DomainConfig> = {},
  namePrefix = 'lxc',
): DomainConfig {
  const uuid = randomUUID();
  return {
    uuid,
    name: `${namePrefix}-${uuid.slice(0, 8)}`,
    generation: 1,
    activate: true,
    type: 'container',
    memoryMiB: 64,
    image,
    ...overrides,
  };
}

/** lxcConfig as the spec a backend takes (schema defaults filled in). */
export function lxcSpec(image: string, overrides: Partial<DomainConfig> = {}): DomainSpec {
  return toDomainSpec(lxcConfig(image, overrides));
}

/** Lists until `done` holds for the domain (or its absence), bounded; returns the last view. */
export async function waitForDomain(
  hv: LxcBackend,
  uuid: string,
  done: (d: ObservedDomain | undefined) => boolean,
  ms = 15_000,
): Promise<ObservedDomain | undefined> {
  const until = Date.now() + ms;
  for (;;) {
    const d = (await hv.list()).domains.find((x) => x.uuid === uuid);
    if (done(d) || Date.now() > until) return d;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `lxc-<tool> -P <path> -n <uuid> args...`, synchronously, for checks from outside the backend. */
export function lxcTool(hv: LxcBackend, tool: string, uuid: string, args: string[] = []) {
  return spawnSync(`lxc-${tool}`, ['-P', hv.lxcPath, '-n', uuid, ...args], { encoding: 'utf8' });
}

/** The state LXC reports for a container (`lxc-info -s -H`). */
export function lxcStateOf(hv: LxcBackend, uuid: string): string {
  return lxcTool(hv, 'info', uuid, ['-s', '-H']).stdout.trim();
}

/** Every trace a container leaves on the host: its folder, its veths, its cgroup folders. */
export function tracesOf(hv: LxcBackend, uuid: string, veths: readonly string[]): string[] {
  const traces: string[] = [];
  if (existsSync(hv.containerDir(uuid))) traces.push(hv.containerDir(uuid));
  for (const v of veths) if (existsSync(join('/sys/class/net', v))) traces.push(`veth ${v}`);
  for (const controller of ['', 'memory', 'cpu', 'cpuset', 'freezer', 'pids', 'unified']) {
    for (const n of [`lxc.payload.${uuid}`, `lxc.monitor.${uuid}`]) {
      const p = join('/sys/fs/cgroup', controller, n);
      if (existsSync(p)) traces.push(p);
    }
  }
  return traces;
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

/**
 * Registers the hooks every real-LXC test file needs: the machine made ready and the images built
 * once per file, a fresh rig per test, cleaned up after it (also when it failed). The returned
 * object's fields are the current ones.
 */
export function useRealLxc(): { images: Images; rig: LxcRig } {
  const current = {} as { images: Images; rig: LxcRig };
  beforeAll(() => {
    ensureRealLxc();
    current.images = buildImages();
  });
  afterAll(() => current.images?.remove());
  beforeEach(() => {
    current.rig = lxcRig(current.images);
  });
  afterEach(async () => {
    await current.rig.cleanup();
  });
  return current;
}

/** A backend on a service's state directory, to look at its containers from outside (lxc-info, traces). */
export function lxcView(stateDir: string): LxcBackend {
  return new LxcBackend({
    runner: new ExecRunner({ logger: silentLogger, defaultTimeoutMs: 20_000, killGraceMs: 500 }),
    logger: silentLogger,
    config: testConfig({ stateDir, backend: 'lxc' }),
    clock: systemClock,
  });
}

/**
 * The end of a service test on real LXC: the service stopped, whatever a failed test left killed
 * and removed through the backend itself, the streams, the folder and the images gone.
 */
export async function endLxcService(o: {
  ctl: Controller;
  dm: DomainmgrProcess | undefined;
  view: LxcBackend | undefined;
  root: string;
  images: Images | undefined;
}): Promise<void> {
  o.dm?.kill('SIGTERM');
  await o.dm?.waitExit(30_000).catch(() => undefined);
  for (const d of (await o.view?.list().catch(() => ({ domains: [] })))?.domains ?? []) {
    if (d.uuid !== null) await o.view?.destroy({ uuid: d.uuid, domainName: d.name, domainId: null });
  }
  await o.ctl.deleteStreams().catch(() => undefined);
  await o.ctl.close().catch(() => undefined);
  rmSync(o.root, { recursive: true, force: true });
  o.images?.remove();
}
