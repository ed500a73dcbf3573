import { createHash } from 'node:crypto';
import type { DomainSpec } from '../schema/domain-spec.js';

/**
 * The LXC container config domainmgr writes for a spec (LXC 3.0+ key names), as a pure function.
 *
 * LXC reads its config one line at a time, `key = value`, trims the value and strips one pair of
 * matching outer quotes; there is no escape syntax. So every value domainmgr writes is quoted, and
 * a value that holds a line break, a carriage return or a NUL is refused: no DomainConfig string
 * can end a line and add a config line of its own. Mount entries are fstab lines inside the value
 * (split on blanks), so their paths must hold no blank or backslash either.
 */

/** A value LXC cannot be given safely. */
export class LxcConfigValueError extends Error {
  constructor(key: string, value: string, why: string) {
    super(`cannot write ${key} = ${JSON.stringify(value)}: ${why}`);
    this.name = 'LxcConfigValueError';
  }
}

/** Which cgroup keys the host takes: v1 `memory.limit_in_bytes`, v2 `memory.max`. */
export type CgroupVersion = 'v1' | 'v2';

export interface LxcMount {
  /** Host path (under an allowed root), bind-mounted. */
  source: string;
  /** Path inside the container, relative to its root (no leading slash). */
  target: string;
  readOnly: boolean;
  /** A folder is mounted on a folder (create=dir), a file on a file (create=file). */
  kind: 'dir' | 'file';
}

export interface LxcConfigInput {
  spec: DomainSpec;
  /** `lxc.rootfs.path`, e.g. `overlay:/image:/container/delta`. */
  rootfs: string;
  cgroup: CgroupVersion;
  /** Host-side veth name of each vif, in vif order. */
  vethNames: readonly string[];
  mounts: readonly LxcMount[];
}

/** The CFS period domainmgr uses for a vcpus quota (the kernel's default period). */
export const CPU_PERIOD_US = 100_000;

const LINE_BREAKING = /[\n\r\0]/;
const FSTAB_UNSAFE = /[\s\\]/;

/** `key = "value"`, or LxcConfigValueError when the value could end the line. */
export function configLine(key: string, value: string | number): string {
  const text = String(value);
  if (LINE_BREAKING.test(text)) {
    throw new LxcConfigValueError(key, text, 'it holds a line break, carriage return or NUL');
  }
  return `${key} = "${text}"`;
}

/** One bind-mount entry (fstab syntax inside the value); refuses paths with blanks or backslashes. */
export function mountEntry(m: LxcMount): string {
  for (const path of [m.source, m.target]) {
    if (FSTAB_UNSAFE.test(path) || path === '') {
      throw new LxcConfigValueError(
        'lxc.mount.entry',
        path,
        'a mount path must be non-empty and hold no blank or backslash',
      );
    }
  }
  const options = ['bind', m.readOnly ? 'ro' : 'rw', `create=${m.kind}`].join(',');
  return configLine('lxc.mount.entry', `${m.source} ${m.target} none ${options} 0 0`);
}

/**
 * Expands a contract cpu list (`0-3,^1`, `all`) into the explicit list cpuset takes (`0,2,3`),
 * or null for `all` / none (no cpuset). Pure.
 */
export function cpusetOf(cpus: string | undefined): string | null {
  if (cpus === undefined || cpus === 'all') return null;
  const on = new Set<number>();
  const off = new Set<number>();
  for (const part of cpus.split(',')) {
    const exclude = part.startsWith('^');
    const [lo, hi] = part.replace('^', '').split('-').map(Number);
    if (lo === undefined || Number.isNaN(lo)) throw new LxcConfigValueError('cpus', cpus, 'not a cpu list');
    for (let c = lo; c <= (hi ?? lo); c++) (exclude ? off : on).add(c);
  }
  const list = [...on].filter((c) => !off.has(c)).sort((a, b) => a - b);
  if (list.length === 0) throw new LxcConfigValueError('cpus', cpus, 'it leaves no cpu');
  return list.join(',');
}

/** The memory limit key for each cgroup version, as written in the config and to lxc-cgroup. */
export function memoryKey(cgroup: CgroupVersion): string {
  return cgroup === 'v1' ? 'memory.limit_in_bytes' : 'memory.max';
}

const cgroupPrefix = (cgroup: CgroupVersion) => (cgroup === 'v1' ? 'lxc.cgroup' : 'lxc.cgroup2');

/**
 * The host-side name of a container's vif `index`: `dm`, 10 hex digits of a hash of the uuid, the
 * index (at most 14 characters, under Linux's 15): stable across restarts, unique per domain.
 */
export function vethNameFor(uuid: string, index: number): string {
  return `dm${createHash('sha256').update(uuid).digest('hex').slice(0, 10)}${index}`;
}

/** The whole config file. Pure; throws LxcConfigValueError on a value it will not write. */
export function renderLxcConfig(input: LxcConfigInput): string {
  const { spec, cgroup } = input;
  const cg = cgroupPrefix(cgroup);
  const lines = [
    '# Written by domainmgr; rewritten at every create. Do not edit.',
    configLine('lxc.uts.name', spec.name),
    configLine('lxc.rootfs.path', input.rootfs),
    configLine('lxc.autodev', 1),
    configLine('lxc.tty.max', 1),
    configLine('lxc.pty.max', 16),
    configLine('lxc.mount.auto', 'cgroup:mixed proc:mixed sys:ro'),
    configLine('lxc.cap.drop', 'sys_module mac_admin mac_override sys_time'),
    configLine(`${cg}.${memoryKey(cgroup)}`, spec.memoryMiB * 1048576),
  ];
  const quota = spec.vcpus * CPU_PERIOD_US;
  if (cgroup === 'v1') {
    lines.push(configLine(`${cg}.cpu.cfs_period_us`, CPU_PERIOD_US));
    lines.push(configLine(`${cg}.cpu.cfs_quota_us`, quota));
  } else {
    lines.push(configLine(`${cg}.cpu.max`, `${quota} ${CPU_PERIOD_US}`));
  }
  const cpuset = cpusetOf(spec.cpus);
  if (cpuset !== null) lines.push(configLine(`${cg}.cpuset.cpus`, cpuset));
  if (spec.vifs.length === 0) lines.push(configLine('lxc.net.0.type', 'empty'));
  spec.vifs.forEach((vif, i) => {
    const veth = input.vethNames[i];
    if (veth === undefined) throw new LxcConfigValueError(`lxc.net.${i}.veth.pair`, '', 'no veth name');
    lines.push(
      configLine(`lxc.net.${i}.type`, 'veth'),
      configLine(`lxc.net.${i}.link`, vif.bridge),
      configLine(`lxc.net.${i}.flags`, 'up'),
      configLine(`lxc.net.${i}.hwaddr`, vif.mac),
      configLine(`lxc.net.${i}.veth.pair`, veth),
      configLine(`lxc.net.${i}.name`, `eth${i}`),
    );
  });
  for (const m of input.mounts) lines.push(mountEntry(m));
  return `${lines.join('\n')}\n`;
}
