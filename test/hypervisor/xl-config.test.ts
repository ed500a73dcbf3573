import { RKT_SEED } from '../../pkg/hypervisor/rkt.js';
import { assignVdevs, renderXlConfig, XlConfigError, xlString } from '../../pkg/hypervisor/xl-config.js';
import { containerSpec, vmSpec } from '../support/backend-fixtures.js';

describe('xlString, the one quoting function', () => {
  test.each([
    ['plain', 'console=hvc0', '"console=hvc0"'],
    ['empty', '', '""'],
    ['double quote', 'a"b', '"a\\"b"'],
    ['single quote', "a'b", '"a\\\'b"'],
    ['backslash', 'a\\b', '"a\\\\b"'],
    ['backslash before a quote', '\\"', '"\\\\\\""'],
    ['newline', 'a\nname = "evil"', '"a\\nname = \\"evil\\""'],
    ['carriage return and tab', 'a\r\tb', '"a\\r\\tb"'],
    ['bell, backspace, form feed, vertical tab', '\x07\b\f\v', '"\\a\\b\\f\\v"'],
    ['statement separator and comment', 'a; b # c', '"a; b # c"'],
    ['brackets and commas', "[ 'x', ]", '"[ \\\'x\\\', ]"'],
    ['non-ASCII', 'café ☕', '"café ☕"'],
  ])('%s', (_what, value, quoted) => {
    expect(xlString(value)).toBe(quoted);
  });

  test.each([
    ['NUL', '\0'],
    ['SOH', 'a\x01b'],
    ['ESC', '\x1b[31m'],
    ['DEL', '\x7f'],
  ])('%s has no faithful spelling and is refused', (_what, value) => {
    expect(() => xlString(value)).toThrow(XlConfigError);
    expect(() => xlString(value)).toThrow(/control character U\+00/);
  });

  test('the output never holds a raw newline or an unescaped quote', () => {
    const hostile = 'x"\n\'\\;#\r\t"';
    const quoted = xlString(hostile);
    expect(quoted).not.toMatch(/\n|\r/);
    // Between the outer quotes, every quote is preceded by an odd number of backslashes.
    const inner = quoted.slice(1, -1);
    for (const m of inner.matchAll(/(\\*)["']/g)) expect((m[1] ?? '').length % 2).toBe(1);
  });
});

describe('renderXlConfig', () => {
  test('a full vm: every key, target last in each disk, lifecycle actions', () => {
    const spec = vmSpec({
      uuid: 'd127f00a-d647-49bb-a39e-509c20832409',
      name: 'vm1',
      virtualizationMode: 'pvh',
      memoryMiB: 512,
      maxMemoryMiB: 1024,
      vcpus: 2,
      maxVcpus: 4,
      cpus: '0-3,^1',
      kernel: '/var/lib/vm1/vmlinuz',
      ramdisk: '/var/lib/vm1/initrd',
      cmdline: 'console=hvc0 root=/dev/xvda1 quote="x"',
      disks: [
        { path: '/var/lib/vm1/root.img', format: 'raw' },
        { path: '/var/lib/vm1/data, v2.qcow2', format: 'qcow2', vdev: 'xvdc', readOnly: true },
      ],
      vifs: [
        { bridge: 'xenbr0', mac: '00:16:3E:00:00:01', ip: '10.0.0.2', vifName: 'vif-vm1' },
        { bridge: 'xenbr1', mac: '00:16:3e:00:00:02' },
      ],
      pciDevices: [{ bdf: '0000:03:00.0' }],
    });
    expect(renderXlConfig(spec)).toBe(
      [
        '# Written by domainmgr; rewritten at every create.',
        'name = "vm1"',
        'uuid = "d127f00a-d647-49bb-a39e-509c20832409"',
        'type = "pvh"',
        'memory = 512',
        'maxmem = 1024',
        'vcpus = 2',
        'maxvcpus = 4',
        'cpus = "0-3,^1"',
        'kernel = "/var/lib/vm1/vmlinuz"',
        'ramdisk = "/var/lib/vm1/initrd"',
        'cmdline = "console=hvc0 root=/dev/xvda1 quote=\\"x\\""',
        'disk = [ "format=raw, vdev=xvda, access=rw, target=/var/lib/vm1/root.img", "format=qcow2, vdev=xvdc, access=ro, target=/var/lib/vm1/data, v2.qcow2" ]',
        'vif = [ "mac=00:16:3e:00:00:01,bridge=xenbr0,ip=10.0.0.2,vifname=vif-vm1", "mac=00:16:3e:00:00:02,bridge=xenbr1" ]',
        'pci = [ "0000:03:00.0" ]',
        'on_poweroff = "preserve"',
        'on_reboot = "restart"',
        'on_crash = "preserve"',
        '',
      ].join('\n'),
    );
  });

  test('a minimal hvm vm has no kernel, list or pinning keys', () => {
    const text = renderXlConfig(vmSpec({ name: 'h', virtualizationMode: 'hvm', kernel: undefined }));
    expect(text).not.toMatch(/^(kernel|ramdisk|cmdline|cpus|disk|vif|pci) =/m);
    expect(text).toMatch(/^type = "hvm"$/m);
  });

  test('the stage1-xen seed has no name and no type (stage1 sets them)', () => {
    const text = renderXlConfig(containerSpec({ vifs: [{ bridge: 'xenbr0' }] }), RKT_SEED);
    expect(text).not.toMatch(/^(name|type) =/m);
    expect(text).toMatch(/^uuid = "5ab1e000-/m);
    expect(text).toMatch(/^on_crash = "preserve"$/m);
  });

  test('hostile strings stay inside their values', () => {
    const text = renderXlConfig(
      vmSpec({ name: 'x', cmdline: 'a"; on_crash = "destroy" # \\', kernel: '/k/it\'s "here"' }),
    );
    const lines = text.split('\n');
    expect(lines.filter((l) => l.startsWith('on_crash'))).toEqual(['on_crash = "preserve"']);
    expect(lines).toContain('cmdline = "a\\"; on_crash = \\"destroy\\" # \\\\"');
    expect(lines).toContain('kernel = "/k/it\\\'s \\"here\\""');
  });

  test.each([
    ['a MAC with a comma', { vifs: [{ bridge: 'xenbr0', mac: '00:16:3e:00:00:01,x' }] }, /mac is not a MAC/],
    ['a bridge with a comma', { vifs: [{ bridge: 'br0,script=/evil' }] }, /bridge cannot hold commas/],
    ['an ip with an equals sign', { vifs: [{ bridge: 'br0', ip: '10.0.0.1=x' }] }, /ip cannot hold/],
    ['a bad BDF', { pciDevices: [{ bdf: '0000:03:00.0,permissive=1' }] }, /not a PCI address/],
    ['a control character in the cmdline', { cmdline: 'a\x01b' }, /control character U\+0001/],
  ])('%s is refused', (_what, overrides, message) => {
    expect(() => renderXlConfig(vmSpec(overrides))).toThrow(message);
  });
});

describe('assignVdevs', () => {
  test('disks without vdev get the next free xvd name', () => {
    expect(
      assignVdevs([
        { path: '/a', format: 'raw', readOnly: false },
        { path: '/b', format: 'raw', vdev: 'xvda', readOnly: false },
        { path: '/c', format: 'raw', readOnly: false },
      ]),
    ).toEqual(['xvdb', 'xvda', 'xvdc']);
  });

  test('past z comes aa', () => {
    const disks = Array.from({ length: 28 }, (_, i) => ({
      path: `/d${i}`,
      format: 'raw' as const,
      readOnly: false,
    }));
    expect(assignVdevs(disks).slice(24)).toEqual(['xvdy', 'xvdz', 'xvdaa', 'xvdab']);
  });
});
