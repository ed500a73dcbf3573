/**
 * The pure parts of the lxc backend, by tables: the config writer (no DomainConfig string can add
 * a config line), the lxc-ls parser against real LXC 5.0.2 output (test/fixtures/lxc), the state
 * mapping, the cgroup layout, tar member checks, the spec checks, LXC's error log.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import type { ObservedState } from '../../pkg/hypervisor/hypervisor.js';
import { cgroupVersionOf, checkLxcSpec, firstLxcError } from '../../pkg/hypervisor/lxc.js';
import {
  configLine,
  cpusetOf,
  LxcConfigValueError,
  mountEntry,
  renderLxcConfig,
  vethNameFor,
} from '../../pkg/hypervisor/lxc-config.js';
import { isUnder, unsafeTarMembers } from '../../pkg/hypervisor/lxc-image.js';
import { type LxcInfo, parseLxcInfo } from '../../pkg/hypervisor/parse/lxc-info.js';
import {
  type InitEnd,
  initEndText,
  type LxcMark,
  type LxcStateName,
  lastInitEnd,
  lxcObservedState,
  parseLxcLs,
} from '../../pkg/hypervisor/parse/lxc-ls.js';
import { ToolOutputParseError } from '../../pkg/hypervisor/parse/parse-error.js';
import { projectRoot } from '../../pkg/project-files.js';
import { containerSpec } from '../support/backend-fixtures.js';

const fixture = (name: string) => readFileSync(join(projectRoot, 'test/fixtures/lxc', name), 'utf8');

describe('config writer', () => {
  test.each([
    ['plain', 'lxc.uts.name', 'web', 'lxc.uts.name = "web"'],
    ['a number', 'lxc.tty.max', 1, 'lxc.tty.max = "1"'],
    ['inner quotes stay (LXC strips only the outer pair)', 'lxc.uts.name', 'a"b', 'lxc.uts.name = "a"b"'],
    ['a hash is not a comment inside a value', 'lxc.uts.name', 'a#b', 'lxc.uts.name = "a#b"'],
    ['leading blanks are kept by the quotes', 'lxc.uts.name', '  x', 'lxc.uts.name = "  x"'],
  ])('%s', (_what, key, value, line) => {
    expect(configLine(key, value)).toBe(line);
  });

  test.each([
    ['a newline', 'web\nlxc.apparmor.profile = unconfined'],
    ['a carriage return', 'web\rlxc.cap.drop ='],
    ['a NUL', 'web\0'],
  ])('refuses a value with %s', (_what, value) => {
    expect(() => configLine('lxc.uts.name', value)).toThrow(LxcConfigValueError);
    expect(() => configLine('lxc.uts.name', value)).toThrow(/line break, carriage return or NUL/);
  });

  test.each([
    [
      { source: '/persist/data', target: 'mnt/xvdb', readOnly: false, kind: 'dir' as const },
      'lxc.mount.entry = "/persist/data mnt/xvdb none bind,rw,create=dir 0 0"',
    ],
    [
      { source: '/persist/f.img', target: 'mnt/disk0', readOnly: true, kind: 'file' as const },
      'lxc.mount.entry = "/persist/f.img mnt/disk0 none bind,ro,create=file 0 0"',
    ],
  ])('mount entry %#', (mount, line) => {
    expect(mountEntry(mount)).toBe(line);
  });

  test.each(['/persist/a b', '/persist/a\tb', '/persist/a\\040b', ''])('refuses mount path %j', (source) => {
    expect(() => mountEntry({ source, target: 'mnt/x', readOnly: false, kind: 'dir' })).toThrow(
      /mount path must be non-empty and hold no blank or backslash/,
    );
  });

  test.each([
    [undefined, null],
    ['all', null],
    ['0', '0'],
    ['0-3,^1', '0,2,3'],
    ['3,1-2', '1,2,3'],
  ])('cpus %j -> cpuset %j', (cpus, cpuset) => {
    expect(cpusetOf(cpus)).toBe(cpuset);
  });

  test('cpus that leave nothing are refused', () => {
    expect(() => cpusetOf('1,^1')).toThrow(/leaves no cpu/);
  });

  test('veth names: stable, unique per uuid and index, at most 15 characters', () => {
    const a = vethNameFor('6f1c2a9e-3b4d-4c5e-8f70-0123456789ab', 0);
    expect(a).toMatch(/^dm[0-9a-f]{10}0$/);
    expect(vethNameFor('6f1c2a9e-3b4d-4c5e-8f70-0123456789ab', 0)).toBe(a);
    expect(vethNameFor('6f1c2a9e-3b4d-4c5e-8f70-0123456789ab', 63)).toHaveLength(14);
    expect(vethNameFor('7a2d3b0f-4c5e-4d6f-9081-123456789abc', 0)).not.toBe(a);
  });

  test('a whole config, cgroup v1: every line quoted, memory, cpu quota, cpuset, vifs, mounts', () => {
    const spec = containerSpec({
      uuid: '6f1c2a9e-3b4d-4c5e-8f70-0123456789ab',
      name: 'web',
      memoryMiB: 64,
      vcpus: 2,
      cpus: '0-1',
      vifs: [{ bridge: 'br0', mac: '00:16:3e:00:00:01' }],
    });
    const text = renderLxcConfig({
      spec,
      rootfs: 'overlay:/img:/state/lxc/x/delta',
      cgroup: 'v1',
      vethNames: ['dmabc0'],
      mounts: [{ source: '/persist/d', target: 'mnt/xvdb', readOnly: true, kind: 'dir' }],
    });
    expect(text.split('\n')).toEqual([
      '# Written by domainmgr; rewritten at every create. Do not edit.',
      'lxc.uts.name = "web"',
      'lxc.rootfs.path = "overlay:/img:/state/lxc/x/delta"',
      'lxc.autodev = "1"',
      'lxc.tty.max = "1"',
      'lxc.pty.max = "16"',
      'lxc.mount.auto = "cgroup:mixed proc:mixed sys:ro"',
      'lxc.cap.drop = "sys_module mac_admin mac_override sys_time"',
      'lxc.cgroup.memory.limit_in_bytes = "67108864"',
      'lxc.cgroup.cpu.cfs_period_us = "100000"',
      'lxc.cgroup.cpu.cfs_quota_us = "200000"',
      'lxc.cgroup.cpuset.cpus = "0,1"',
      'lxc.net.0.type = "veth"',
      'lxc.net.0.link = "br0"',
      'lxc.net.0.flags = "up"',
      'lxc.net.0.hwaddr = "00:16:3e:00:00:01"',
      'lxc.net.0.veth.pair = "dmabc0"',
      'lxc.net.0.name = "eth0"',
      'lxc.mount.entry = "/persist/d mnt/xvdb none bind,ro,create=dir 0 0"',
      '',
    ]);
  });

  test('cgroup v2 keys, and no network but loopback without vifs', () => {
    const text = renderLxcConfig({
      spec: containerSpec({ memoryMiB: 128 }),
      rootfs: 'overlay:/img:/d',
      cgroup: 'v2',
      vethNames: [],
      mounts: [],
    });
    expect(text).toContain('lxc.cgroup2.memory.max = "134217728"\n');
    expect(text).toContain('lxc.cgroup2.cpu.max = "100000 100000"\n');
    expect(text).toContain('lxc.net.0.type = "empty"\n');
    expect(text).not.toContain('lxc.cgroup.');
  });

  test('a rootfs path with a line break cannot add a line', () => {
    expect(() =>
      renderLxcConfig({
        spec: containerSpec(),
        rootfs: 'overlay:/img\nlxc.apparmor.profile = unconfined:/d',
        cgroup: 'v1',
        vethNames: [],
        mounts: [],
      }),
    ).toThrow(LxcConfigValueError);
  });

  test('every line of a rendered config is a comment or key = "value" with no quote-breaking end', () => {
    const text = renderLxcConfig({
      spec: containerSpec({ name: 'a-b.c_d', vifs: [{ bridge: 'br0' }, { bridge: 'br1' }] }),
      rootfs: 'overlay:/img:/d',
      cgroup: 'v1',
      vethNames: ['v0', 'v1'],
      mounts: [],
    });
    for (const line of text.trimEnd().split('\n'))
      expect(line).toMatch(/^(# .*|lxc\.[a-z0-9_.]+ = "[^\n]*")$/);
  });
});

describe('lxc-ls parser (real output)', () => {
  test('running, frozen, never started', () => {
    expect(parseLxcLs(fixture('lxc-ls-running-frozen-stopped.txt'))).toEqual([
      { name: '6f1c2a9e-3b4d-4c5e-8f70-0123456789ab', state: 'RUNNING', pid: 27253 },
      { name: '7a2d3b0f-4c5e-4d6f-9081-123456789abc', state: 'FROZEN', pid: 27268 },
      { name: '8b3e4c1a-5d6f-4e70-a192-23456789abcd', state: 'STOPPED', pid: null },
    ]);
  });

  test('running and killed', () => {
    expect(parseLxcLs(fixture('lxc-ls-name-state-pid.txt'))).toEqual([
      { name: '0a1b2c3d-0000-4000-8000-000000000001', state: 'RUNNING', pid: 20287 },
      { name: 't1', state: 'STOPPED', pid: null },
    ]);
  });

  test('a path without containers prints nothing', () => {
    expect(fixture('lxc-ls-empty.txt')).toBe('');
    expect(parseLxcLs(fixture('lxc-ls-empty.txt'))).toEqual([]);
  });

  test.each([
    ['other columns', 'NAME STATE PID RAM \nx RUNNING 1 0.5MB \n', /expected header NAME STATE PID/],
    ['a short row', 'NAME STATE PID \nx RUNNING \n', /line 2: expected 3 columns/],
    ['an unknown state', 'NAME STATE PID \nx WEIRD 1 \n', /unknown state WEIRD/],
    ['a pid that is no number', 'NAME STATE PID \nx RUNNING abc \n', /pid is not a number/],
  ])('refuses %s', (_what, text, says) => {
    expect(() => parseLxcLs(text)).toThrow(ToolOutputParseError);
    expect(() => parseLxcLs(text)).toThrow(says);
  });
});

describe('state mapping', () => {
  test.each<[LxcStateName, LxcMark | null, ObservedState]>([
    ['RUNNING', null, 'running'],
    ['THAWED', 'started', 'running'],
    ['FROZEN', 'started', 'paused'],
    ['STOPPED', 'defined', 'paused'],
    ['STOPPED', 'stopping', 'shutdown'],
    ['STOPPED', 'rebooting', 'transitional'],
    ['STOPPED', 'started', 'crashed'],
    ['STOPPED', null, 'crashed'],
    ['STARTING', 'started', 'transitional'],
    ['STOPPING', 'stopping', 'transitional'],
    ['ABORTING', 'started', 'transitional'],
    ['FREEZING', 'started', 'transitional'],
  ])('%s with mark %s is %s', (state, mark, observed) => {
    expect(lxcObservedState(state, mark)).toBe(observed);
  });
});

const KILLED: InitEnd = {
  kind: 'signal',
  name: 'Killed',
  signal: 9,
  said: 'Child <8409> ended on signal Killed(9)',
};

describe('how an init ended: a guest poweroff or a crash (real lxc-start logs at INFO)', () => {
  test.each<[string, InitEnd]>([
    ['lxc-start-init-killed.log', KILLED],
    [
      'lxc-start-guest-poweroff.log',
      { kind: 'signal', name: 'Interrupt', signal: 2, said: 'Child <8526> ended on signal Interrupt(2)' },
    ],
    ['lxc-start-init-exit3.log', { kind: 'exit', code: 3, said: 'Child <8980> ended on error (3)' }],
    ['lxc-start-no-bridge.log', { kind: 'unknown' }],
  ])('%s', (file, end) => {
    expect(lastInitEnd(fixture(file))).toEqual(end);
  });

  test('an init that started and has not ended (or exited 0, which LXC does not log) reads exit 0', () => {
    const started = fixture('lxc-start-init-killed.log')
      .split('\n')
      .filter((l) => !l.includes('ended on'))
      .join('\n');
    expect(lastInitEnd(started)).toEqual({ kind: 'exit', code: 0, said: null });
  });

  test('the last init counts (LXC rebooted the container in between)', () => {
    const log = `${fixture('lxc-start-guest-poweroff.log')}${fixture('lxc-start-init-killed.log')}`;
    expect(lastInitEnd(log)).toEqual(KILLED);
    expect(lastInitEnd('')).toEqual({ kind: 'unknown' });
  });

  test.each<[LxcMark | null, InitEnd, ObservedState]>([
    ['started', KILLED, 'crashed'],
    ['started', { kind: 'signal', name: 'Terminated', signal: 15, said: '' }, 'crashed'],
    ['started', { kind: 'signal', name: 'Interrupt', signal: 2, said: '' }, 'shutdown'],
    ['started', { kind: 'exit', code: 0, said: null }, 'shutdown'],
    ['started', { kind: 'exit', code: 3, said: '' }, 'crashed'],
    ['started', { kind: 'unknown' }, 'crashed'],
    [null, { kind: 'signal', name: 'Interrupt', signal: 2, said: '' }, 'shutdown'],
    ['stopping', KILLED, 'shutdown'],
    ['defined', { kind: 'unknown' }, 'paused'],
    ['rebooting', { kind: 'signal', name: 'Hangup', signal: 1, said: '' }, 'transitional'],
  ])('STOPPED with mark %s and end %j is %s', (mark, end, observed) => {
    expect(lxcObservedState('STOPPED', mark, end)).toBe(observed);
  });

  test.each<[InitEnd, string | null, string]>([
    [KILLED, null, 'init ended on signal 9 (LXC: Child <8409> ended on signal Killed(9))'],
    [
      { kind: 'exit', code: 3, said: 'Child <8980> ended on error (3)' },
      null,
      'init exited with status 3 (LXC: Child <8980> ended on error (3))',
    ],
    [{ kind: 'exit', code: 0, said: null }, null, 'init exited with status 0'],
    [{ kind: 'unknown' }, null, "LXC's log does not say how the init ended"],
    [
      { kind: 'unknown' },
      'Failed to create the network',
      "LXC's log does not say how the init ended (LXC: Failed to create the network)",
    ],
  ])('the status words for %j (first error %j): %s', (end, firstError, text) => {
    expect(initEndText(end, firstError)).toBe(text);
  });
});

describe('lxc-info -s -p of one container (real output)', () => {
  test.each<[string, string, LxcInfo]>([
    ['running', 'State:          RUNNING\nPID:            1605\n', { state: 'RUNNING', pid: 1605 }],
    ['stopped: no PID line', 'State:          STOPPED\n', { state: 'STOPPED', pid: null }],
    ['frozen', 'State:          FROZEN\nPID:            77\n', { state: 'FROZEN', pid: 77 }],
  ])('%s', (_name, stdout, info) => {
    expect(parseLxcInfo(stdout)).toEqual(info);
  });

  test.each([
    ['', /no State line/],
    ['State:          SLEEPING\n', /line 1.*unknown state SLEEPING/],
    ['State:          RUNNING\nPID:            x\n', /line 2.*pid is not a number/],
  ])('%j is refused, naming what is wrong', (stdout, why) => {
    expect(() => parseLxcInfo(stdout)).toThrow(ToolOutputParseError);
    expect(() => parseLxcInfo(stdout)).toThrow(why);
  });
});

describe('host and spec checks', () => {
  test.each([
    [{ v1Memory: true, v2Root: false }, 'v1'],
    [{ v1Memory: true, v2Root: true }, 'v1'],
    [{ v1Memory: false, v2Root: true }, 'v2'],
    [{ v1Memory: false, v2Root: false }, null],
  ])('cgroup layout %j -> %s', (facts, version) => {
    expect(cgroupVersionOf(facts)).toBe(version);
  });

  test.each([
    ['./bin/busybox\n./etc/\n', []],
    ['../escaped\n./ok\n', ['../escaped']],
    ['/etc/passwd\n', ['/etc/passwd']],
    ['./a/../../b\n', ['./a/../../b']],
    ['./a..b\n', []],
  ])('unsafe tar members of %j', (listing, unsafe) => {
    expect(unsafeTarMembers(listing)).toEqual(unsafe);
  });

  test.each([
    ['/persist/img', true],
    ['/persist', true],
    ['/persistent/img', false],
    ['/usr/share', false],
  ])('%s under /persist: %s', (path, under) => {
    expect(isUnder(path, ['/persist'])).toBe(under);
  });

  const roots = ['/persist'];
  test.each([
    [{ image: '/persist/busybox' }, []],
    [
      { type: 'vm' as const, image: '/persist/busybox', kernel: '/persist/k' },
      ['/type "vm" needs the xl or vmadm backend; the lxc backend runs type "container" only'],
    ],
    [
      { image: '/persist/b', pciDevices: [{ bdf: '0000:00:1f.0' }] },
      ['/pciDevices cannot be passed through to a container: the lxc backend refuses PCI devices'],
    ],
    [
      { image: 'sha512-abc' },
      [
        '/image must be an absolute path (a root filesystem folder or a tar archive of one) on the lxc backend',
      ],
    ],
    [{ image: '/usr/share' }, ['/image must lie under an allowed storage root: /persist']],
    [
      { image: '/persist/b', disks: [{ path: '/persist/a b', format: 'raw' as const }] },
      ['/disks/0/path must hold no blank or backslash on the lxc backend (it becomes a mount entry)'],
    ],
  ])('checkSpec %j', (overrides, problems) => {
    expect(checkLxcSpec(containerSpec(overrides), roots)).toEqual(problems);
  });

  test("the first ERROR of LXC's start log names the cause", () => {
    expect(firstLxcError(fixture('lxc-start-no-bridge.log'))).toBe(
      'No such file or directory - Failed to attach "dmv0a1b2c3d0" to bridge "nosuchbr0", bridge interface doesn\'t exist',
    );
    expect(firstLxcError('')).toBeNull();
  });
});
