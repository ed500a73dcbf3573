/**
 * The xl.cfg writer proven against Debian's real xl 4.17 (`xl -N create`: parse the cfg and print
 * the libxl domain config as JSON; no hypervisor needed). For each spec of a corpus, hostile
 * strings included, the parsed config must hold exactly the values the spec asked for.
 *
 * Needs `bash scripts/real-xl/setup.sh` once. Without it every test here FAILS (it never skips):
 * a silently skipped proof is no proof.
 */

import { RKT_SEED } from '../../pkg/hypervisor/rkt.js';
import { renderXlConfig } from '../../pkg/hypervisor/xl-config.js';
import { type DomainSpec, toDomainSpec } from '../../pkg/schema/domain-spec.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import { REAL_XL_SETUP_HINT, realXlAvailable, runRealXlDryCreate } from '../support/real-xl.js';

const base: DomainConfig = {
  uuid: 'd127f00a-d647-49bb-a39e-509c20832409',
  name: 'vm1',
  generation: 1,
  activate: true,
  type: 'vm',
  memoryMiB: 512,
  kernel: '/var/lib/domainmgr/images/vmlinuz',
};

/** Specs the schema would accept, plus hostile strings the schema would refuse: the writer must cope. */
const corpus: [string, DomainSpec][] = [
  [
    'a full pvh guest with hostile strings everywhere',
    toDomainSpec({
      ...base,
      name: 'web.1_a-b',
      virtualizationMode: 'pvh',
      memoryMiB: 512,
      maxMemoryMiB: 1024,
      vcpus: 2,
      maxVcpus: 4,
      cpus: '0-3,^1',
      kernel: `/var/lib/my vm/it's "k", v2 #1; x=y`,
      ramdisk: '/var/lib/back\\slash/initrd\\n',
      cmdline: `console=hvc0 a"b'c\\d;e#f\ng\th\r\\n quote="x" [ 'l', ] ; on_crash = "destroy"`,
      disks: [
        { path: '/var/lib/my vm/root, "1".img', format: 'raw' },
        {
          path: "/var/lib/it's/data,access=rw,target=/etc/shadow",
          format: 'qcow2',
          vdev: 'xvdc',
          readOnly: true,
        },
        { path: '/var/lib/x/legacy disk.vhd', format: 'vhd', vdev: 'hdb' },
      ],
      vifs: [
        { bridge: 'xenbr0', mac: '00:16:3E:00:00:01', ip: '10.0.0.2', vifName: 'vif-vm1' },
        { bridge: 'br.lan_1' },
        { bridge: 'xenbr2', ip: 'fd00::1:2' },
      ],
      pciDevices: [{ bdf: '0000:03:00.0' }, { bdf: '0001:04:1f.7' }],
    }),
  ],
  [
    'a minimal hvm guest: no kernel, no devices, no pinning',
    toDomainSpec({
      ...base,
      uuid: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
      name: 'h',
      virtualizationMode: 'hvm',
      kernel: undefined,
      memoryMiB: 64,
    }),
  ],
  [
    'a pv guest with a single-cpu pin, unicode and an empty cmdline',
    toDomainSpec({
      ...base,
      uuid: '11111111-2222-4333-8444-555555555555',
      name: 'pv-guest',
      virtualizationMode: 'pv',
      vcpus: 3,
      cpus: '2',
      kernel: '/boot/vmlinuz-café ☕',
      cmdline: '',
    }),
  ],
  [
    'ten vifs keep their order (devid = index, which the offload writes rely on)',
    toDomainSpec({
      ...base,
      uuid: '22222222-3333-4444-8555-666666666666',
      name: 'many-vifs',
      vifs: Array.from({ length: 10 }, (_, i) => ({ bridge: `br${i}`, vifName: `v${i}` })),
    }),
  ],
  [
    'disks without vdev get xvda, xvdb... around an explicit one',
    toDomainSpec({
      ...base,
      uuid: '33333333-4444-4555-8666-777777777777',
      name: 'disks',
      disks: [
        { path: '/a b/c', format: 'raw' },
        { path: '/d', format: 'raw', vdev: 'xvda' },
        { path: '/e', format: 'qcow2', readOnly: true },
      ],
    }),
  ],
];

beforeAll(() => {
  if (!realXlAvailable()) {
    throw new Error(`real xl 4.17 is not set up on this machine; run: ${REAL_XL_SETUP_HINT}`);
  }
});

describe('xl.cfg written by domainmgr, read by real xl 4.17', () => {
  test.each(corpus)('%s', async (_what, spec) => {
    const cfg = renderXlConfig(spec);
    const run = await runRealXlDryCreate(cfg);
    expect({ exitCode: run.exitCode, stderr: run.stderr.replace(/^Parsing config from .*\n/, '') }).toEqual({
      exitCode: 0,
      stderr: '',
    });
    expect(libxlView(run.json)).toEqual(intended(spec));
  });

  test('a config-injection attempt in the cmdline stays a cmdline', async () => {
    const spec = corpus[0]?.[1] as DomainSpec;
    const run = await runRealXlDryCreate(renderXlConfig(spec));
    const json = run.json as { on_crash?: string; b_info: { cmdline?: string } };
    expect(json.on_crash).toBe('preserve');
    expect(json.b_info.cmdline).toBe(spec.cmdline);
  });

  test('the stage1-xen seed parses, and the name stage1 appends is the one xl uses', async () => {
    const spec = toDomainSpec({
      ...base,
      type: 'container',
      kernel: undefined,
      image: 'sha512-abc',
      uuid: '44444444-5555-4666-8777-888888888888',
      name: 'ct',
      vifs: [{ bridge: 'xenbr0' }],
    });
    const pod = '6f1c8f2e-9a8b-4c1d-8e2f-3a4b5c6d7e8f';
    // What stage1-xen's run script appends after the seed (its kernel, initrd, extra and name).
    const stage1 = `kernel='/stage1/kernel'\nramdisk='/stage1/initrd'\nextra='console=hvc0 root=9p'\nname="${pod}"\n`;
    const run = await runRealXlDryCreate(renderXlConfig(spec, RKT_SEED) + stage1);
    expect(run.exitCode).toBe(0);
    const json = run.json as {
      c_info: Record<string, unknown>;
      b_info: Record<string, unknown>;
      nics: unknown[];
    };
    expect(json.c_info).toMatchObject({ name: pod, uuid: spec.uuid });
    expect(json.b_info).toMatchObject({
      max_memkb: spec.maxMemoryMiB * 1024,
      target_memkb: spec.memoryMiB * 1024,
    });
    expect(json.nics).toEqual([{ devid: 0, mac: spec.vifs[0]?.mac, bridge: 'xenbr0' }]);
  });

  test('why the quoting function refuses other control characters: an octal escape loses the character', async () => {
    const cfg = `name = "o"\ntype = "pvh"\nkernel = "/k"\nmemory = 64\ncmdline = "a\\101b"\n`;
    const run = await runRealXlDryCreate(cfg);
    expect(run.exitCode).toBe(0);
    expect((run.json as { b_info: { cmdline: string } }).b_info.cmdline).toBe('ab');
  });
});

/** The part of xl's JSON that a cfg decides, with defaults (left out by xl) made explicit. */
function libxlView(json: unknown): Record<string, unknown> {
  expect(json).toEqual(expect.any(Object));
  const j = json as Record<string, Record<string, unknown> | unknown[] | string | undefined>;
  const c = j.c_info as Record<string, unknown>;
  const b = j.b_info as Record<string, unknown>;
  return {
    c_info: { type: c.type, name: c.name, uuid: c.uuid },
    b_info: {
      max_memkb: b.max_memkb,
      target_memkb: b.target_memkb,
      max_vcpus: b.max_vcpus,
      avail_vcpus: b.avail_vcpus,
      vcpu_hard_affinity: b.vcpu_hard_affinity,
      kernel: b.kernel,
      ramdisk: b.ramdisk,
      cmdline: b.cmdline,
    },
    disks: j.disks ?? [],
    nics: j.nics ?? [],
    pcidevs: j.pcidevs ?? [],
    on_poweroff: j.on_poweroff ?? 'destroy',
    on_reboot: j.on_reboot ?? 'restart',
    on_crash: j.on_crash ?? 'destroy',
  };
}

/** What the spec asks for, in libxl's terms (xl leaves out fields at their default: 0, false). */
function intended(spec: DomainSpec): Record<string, unknown> {
  const affinity = spec.cpus === undefined ? undefined : cpuSet(spec.cpus);
  const vdevs = ['xvda', 'xvdb', 'xvdc', 'xvdd'];
  let next = 0;
  const taken = new Set(spec.disks.map((d) => d.vdev));
  return {
    c_info: { type: spec.virtualizationMode, name: spec.name, uuid: spec.uuid },
    b_info: {
      max_memkb: spec.maxMemoryMiB * 1024,
      target_memkb: spec.memoryMiB * 1024,
      max_vcpus: spec.maxVcpus,
      avail_vcpus: Array.from({ length: spec.vcpus }, (_, i) => i),
      vcpu_hard_affinity:
        affinity === undefined ? undefined : Array.from({ length: spec.maxVcpus }, () => affinity),
      kernel: spec.kernel,
      ramdisk: spec.ramdisk,
      cmdline: spec.cmdline,
    },
    disks: spec.disks.map((d) => {
      let vdev = d.vdev;
      while (vdev === undefined) {
        const candidate = vdevs[next++];
        if (candidate !== undefined && !taken.has(candidate)) vdev = candidate;
      }
      return { pdev_path: d.path, vdev, format: d.format, ...(d.readOnly ? {} : { readwrite: 1 }) };
    }),
    nics: spec.vifs.map((v, devid) => ({
      devid,
      mac: v.mac.toLowerCase(),
      ...(v.ip === undefined ? {} : { ip: v.ip }),
      bridge: v.bridge,
      ...(v.vifName === undefined ? {} : { ifname: v.vifName }),
    })),
    pcidevs: spec.pciDevices.map(({ bdf }) => {
      const [domain, bus, dev, func] = bdf.split(/[:.]/).map((x) => Number.parseInt(x, 16)) as number[];
      const nonZero = (key: string, value: number | undefined) =>
        value === 0 || value === undefined ? {} : { [key]: value };
      return {
        ...nonZero('func', func),
        ...nonZero('dev', dev),
        ...nonZero('bus', bus),
        ...nonZero('domain', domain),
        vfunc_mask: 1,
        rdm_policy: 'strict',
      };
    }),
    on_poweroff: 'preserve',
    on_reboot: 'restart',
    on_crash: 'preserve',
  };
}

/** "0-3,^1" -> [0, 2, 3]: ranges added in order, ^ removes. */
function cpuSet(cpus: string): number[] {
  const set = new Set<number>();
  for (const part of cpus.split(',')) {
    const remove = part.startsWith('^');
    const [lo, hi] = part.replace('^', '').split('-').map(Number) as [number, number | undefined];
    for (let c = lo; c <= (hi ?? lo); c++) {
      if (remove) set.delete(c);
      else set.add(c);
    }
  }
  return [...set].sort((a, b) => a - b);
}
