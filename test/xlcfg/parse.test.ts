/**
 * Unit tests of sim/xlcfg that need no real xl: expected values were taken from runs of Debian's
 * xl 4.17 (the comparison suites re-check them against the binary on every run).
 */
import { parseCfgSyntax } from '../../sim/xlcfg/cfg-syntax.js';
import { type LibxlDomainConfig, parseXlCfg, summarizeDomainConfig } from '../../sim/xlcfg/parse.js';

const F = 'vm.cfg';
const BASE = 'name = "vm"\nkernel = "/k"\n';

function ok(text: string, extra: string[] = []): { config: LibxlDomainConfig; warnings: string[] } {
  const r = parseXlCfg(text, F, extra);
  if (!r.ok) throw new Error(`expected success, got exit ${r.exitCode}: ${r.stderr}`);
  return r;
}

describe('cfg syntax: values', () => {
  const cases: Array<[string, string, unknown]> = [
    ['decimal number stays text', 'x = 42\n', '42'],
    ['hex number stays text', 'x = 0x1f\n', '0x1f'],
    ['double-quoted escapes', 'x = "a\\"b\\\\c\\td"\n', 'a"b\\c\td'],
    ['single-quoted escapes', "x = 'it\\'s\\n'\n", "it's\n"],
    ['octal escape consumes digits, inserts nothing', 'x = "A\\101B"\n', 'AB'],
    ['; and # are data inside quotes', 'x = "a;b#c"\n', 'a;b#c'],
  ];
  it.each(cases)('%s', (_n, text, value) => {
    const r = parseCfgSyntax(text, F);
    expect(r.err).toBe(0);
    expect(r.settings).toEqual([
      { name: 'x', append: false, line: 1, value: { kind: 'string', value, line: 1 } },
    ]);
  });

  it('reads nested lists with trailing commas and newlines inside', () => {
    const r = parseCfgSyntax('x = [ "a", [ 1,\n 2, ],\n]\n', F);
    expect(r.err).toBe(0);
    const v = r.settings[0]?.value;
    expect(v?.kind).toBe('list');
    if (v?.kind !== 'list') return;
    expect(v.items.map((i) => (i.kind === 'string' ? i.value : i.items.length))).toEqual(['a', 2]);
  });

  it('splits statements at ; and newlines and skips comments', () => {
    const r = parseCfgSyntax('# c\na = 1; b = 2 # tail\n;;\nc.d_e = 3', F);
    expect(r.err).toBe(0);
    expect(r.settings.map((s) => [s.name, s.line])).toEqual([
      ['a', 2],
      ['b', 2],
      ['c.d_e', 4],
    ]);
  });
});

describe('cfg syntax: errors are xl 4.17 texts', () => {
  const cases: Array<[string, string, string[]]> = [
    [
      'two values',
      'x = 1 2\n',
      ["vm.cfg:1: config parsing error near `2': syntax error, unexpected NUMBER, expecting $end"],
    ],
    [
      'missing value is reported one line early',
      'a = 1\nx = \n',
      [
        "vm.cfg:1: config parsing error near <newline>: syntax error, unexpected NEWLINE, expecting STRING or NUMBER or '['",
      ],
    ],
    [
      'missing =',
      'x 1\n',
      ["vm.cfg:1: config parsing error near `1': syntax error, unexpected NUMBER, expecting += or '='"],
    ],
    [
      'junk in list',
      'x = [ = ]\n',
      ["vm.cfg:1: config parsing error near `=': syntax error, unexpected '=', expecting ']'"],
    ],
    [
      'list open at end of file',
      'x = [1,\n',
      ["vm.cfg:1: config parsing error near `': syntax error, unexpected $end, expecting ']'"],
    ],
    [
      'hex escape',
      'x = "\\x41"\n',
      [
        'vm.cfg:1: config parsing error near `"\\x41"\': invalid digit after backslash hexnumerical character escape in quoted string',
      ],
    ],
    [
      'unknown escape',
      'x = "\\q"\n',
      ['vm.cfg:1: config parsing error near `"\\q"\': invalid character after backlash in quoted string'],
    ],
    ['unterminated string', 'x = "ab\n', ['vm.cfg:1: config parsing error near `"ab\': lexical error']],
    ['upper-case key', 'X = 1\n', ["vm.cfg:1: config parsing error near `X': lexical error"]],
    // NUMBER is [0-9][0-9a-fx]*: upper-case hex digits are not part of it.
    ['upper-case hex digit', 'x = 0x1F\n', ["vm.cfg:1: config parsing error near `F': lexical error"]],
    ['comment without newline', 'x = 1\n# end', ["vm.cfg:2: config parsing error near `#': lexical error"]],
    [
      'python-looking',
      'x = 1 + 2\n',
      [
        "vm.cfg:1: config parsing error near `+': lexical error",
        'warning: Config file looks like it contains Python code.\nwarning:  Arbitrary Python is no longer supported.\nwarning:  See https://wiki.xen.org/wiki/PythonInXlConfig',
      ],
    ],
  ];
  it.each(cases)('%s', (_n, text, messages) => {
    const r = parseCfgSyntax(text, F);
    expect(r.err).toBe(22);
    expect(r.messages).toEqual(messages);
  });

  it('drops a lexical error still pending at end of file, as flex does', () => {
    expect(parseCfgSyntax('x = 1 @', F).err).toBe(0);
  });
});

describe('parseXlCfg: domain config', () => {
  it('builds the libxl config of a typical domainmgr cfg', () => {
    const { config, warnings } = ok(
      [
        'name = "web"',
        'uuid = "6F9619FF-8B86-D011-B42D-00C04FC964FF"',
        'type = "pvh"',
        'memory = 512',
        'maxmem = 1024',
        'vcpus = 2',
        'cpus = "0-3,^1"',
        'kernel = "/k"',
        'disk = [ "format=raw, vdev=xvda, access=rw, target=/d/a.img" ]',
        'vif = [ "mac=00:16:3e:00:00:01,bridge=xenbr0" ]',
        'pci = [ "0000:03:00.0" ]',
        'on_crash = "preserve"',
        '',
      ].join('\n'),
    );
    expect(warnings).toEqual([]);
    expect(config.c_info).toEqual({
      type: 'pvh',
      name: 'web',
      uuid: '6f9619ff-8b86-d011-b42d-00c04fc964ff',
      run_hotplug_scripts: 'True',
    });
    expect(config.b_info).toMatchObject({
      max_vcpus: 2,
      avail_vcpus: [0, 1],
      vcpu_hard_affinity: [
        [0, 2, 3],
        [0, 2, 3],
      ],
      max_memkb: 1048576,
      target_memkb: 524288,
      kernel: '/k',
      'type.pvh': {},
    });
    expect(config.disks).toEqual([{ pdev_path: '/d/a.img', vdev: 'xvda', format: 'raw', readwrite: 1 }]);
    expect(config.nics).toEqual([{ devid: 0, mac: '00:16:3e:00:00:01', bridge: 'xenbr0' }]);
    expect(config.pcidevs).toEqual([{ bus: 3, vfunc_mask: 1, rdm_policy: 'strict' }]);
    expect(config.on_crash).toBe('preserve');
    expect(config.on_reboot).toBe('restart');
    expect(config.on_poweroff).toBeUndefined();
  });

  const typeCases: Array<[string, string]> = [
    ['', 'hvm'],
    ['h', 'hvm'],
    ['p', 'pv'],
    ['pv', 'pv'],
    ['pvh', 'pvh'],
  ];
  it.each(typeCases)('type = "%s" is %s', (t, expected) => {
    expect(ok(`${BASE}type = "${t}"\n`).config.c_info.type).toBe(expected);
  });

  it('generates a random uuid when the cfg has none', () => {
    const a = ok(BASE).config.c_info.uuid;
    const b = ok(BASE).config.c_info.uuid;
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });

  it('reads octal and hex numbers', () => {
    const { config } = ok(`${BASE}memory = 0x200\nmaxmem = 01000\nvcpus = 010\n`);
    expect(config.b_info.target_memkb).toBe(512 * 1024);
    expect(config.b_info.max_memkb).toBe(512 * 1024);
    expect(config.b_info.max_vcpus).toBe(8);
  });

  it('lets key=value arguments override the file, last one winning', () => {
    const { config } = ok(`${BASE}memory = 128\n`, ['name="other"', 'memory=256', 'memory=384']);
    expect(config.c_info.name).toBe('other');
    expect(config.b_info.target_memkb).toBe(384 * 1024);
  });

  it('ignores keys xl never reads', () => {
    expect(ok(`${BASE}frobnicate = "x"\n`).warnings).toEqual([]);
  });

  it('warns, in xl order, about cmdline overriding root/extra and about bad vif keys', () => {
    const { warnings, config } = ok(
      `${BASE}cmdline = "quiet"\nroot = "/dev/xvda"\nvif = [ "mac=00:16:3e:zz:00:01,foo=bar" ]\n`,
    );
    expect(warnings).toEqual([
      'Warning: ignoring root= and extra= in favour of cmdline=',
      "Invalid parameter `mac'.",
      "unrecognized argument `foo=bar'",
    ]);
    expect(config.b_info.cmdline).toBe('quiet');
    expect(config.nics).toEqual([{ devid: 0, mac: '00:16:3e:00:00:00' }]);
  });
});

describe('parseXlCfg: refusals carry xl exit codes and texts', () => {
  const cases: Array<[string, string, number, string]> = [
    ['no name', 'kernel = "/k"\n', 1, 'Domain name must be specified.\n'],
    ['bad type', 'name = "a"\ntype = "kvm"\n', 1, 'Invalid domain type kvm.\n'],
    ['pv without kernel', 'name = "a"\n', 1, 'Neither kernel nor bootloader specified\n'],
    ['maxvcpus < vcpus', `${BASE}vcpus = 4\nmaxvcpus = 2\n`, 1, 'xl: maxvcpus < vcpus\n'],
    ['bad uuid', `${BASE}uuid = "x"\n`, 1, 'Failed to parse UUID: x\n'],
    ['bad action', `${BASE}on_crash = "reboot"\n`, 1, 'Unknown on_crash action "reboot" specified\n'],
    ['bad pci spec', `${BASE}pci = [ "zz" ]\n`, 6, "unable to parse PCI_SPEC_STRING `zz' for passthrough\n"],
    [
      'unknown pci option (libxlutil prints no newline)',
      `${BASE}pci = [ "03:00.0,foo=1" ]\n`,
      6,
      "Unknown PCI_SPEC_STRING option: foounable to parse PCI_SPEC_STRING `03:00.0,foo=1' for passthrough\n",
    ],
    ['pci BDF without function crashes real xl', `${BASE}pci = [ "0000:03:00" ]\n`, 139, ''],
    [
      'disk without target',
      `${BASE}disk = [ "vdev=xvda" ]\n`,
      1,
      "vm.cfg: config parsing error in disk specification: no target specified (and device not removable) in `vdev=xvda'\n",
    ],
    [
      'syntax error',
      `${BASE}x = \n`,
      1,
      "vm.cfg:2: config parsing error near <newline>: syntax error, unexpected NEWLINE, expecting STRING or NUMBER or '['\nFailed to parse config: Invalid argument\n",
    ],
  ];
  it.each(cases)('%s', (_n, text, exitCode, stderr) => {
    expect(parseXlCfg(text, F)).toEqual({ ok: false, exitCode, stderr });
  });

  it('says plainly when a config uses a key this simulator does not model', () => {
    const r = parseXlCfg(`${BASE}vnc = 1\n`, F);
    expect(r).toEqual({
      ok: false,
      exitCode: 1,
      stderr: "xl (simulated): config key `vnc' is not supported by this simulator (real xl 4.17 reads it)\n",
    });
  });
});

describe('summarizeDomainConfig', () => {
  it('reads libxl conventions back (KiB to MiB, omitted defaults)', () => {
    const { config } = ok(
      `${BASE}memory = 512\nmaxmem = 1024\nvcpus = 2\nmaxvcpus = 4\non_crash = "preserve"\n`,
    );
    expect(summarizeDomainConfig(config)).toEqual({
      name: 'vm',
      uuid: config.c_info.uuid,
      type: 'pv',
      memoryMiB: 512,
      maxMemoryMiB: 1024,
      vcpus: 2,
      maxVcpus: 4,
      onPoweroff: 'destroy',
      onReboot: 'restart',
      onCrash: 'preserve',
      disks: [],
      nics: [],
      pcidevs: [],
    });
  });

  it('defaults to one vcpu and unset memory when the cfg says nothing', () => {
    const s = summarizeDomainConfig(ok(BASE).config);
    expect([s.vcpus, s.maxVcpus, s.memoryMiB, s.maxMemoryMiB]).toEqual([1, 1, 0, 0]);
  });

  it('brings up maxvcpus vcpus when only maxvcpus is given', () => {
    const s = summarizeDomainConfig(ok(`${BASE}maxvcpus = 3\n`).config);
    expect([s.vcpus, s.maxVcpus]).toEqual([3, 3]);
  });
});
