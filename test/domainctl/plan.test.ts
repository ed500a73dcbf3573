import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../pkg/config/load-config.js';
import {
  commandLine,
  type Plan,
  PlanRefusedError,
  PlanRunner,
  planStart,
  renderPlan,
} from '../../pkg/ctl/plan.js';
import { RKT_SEED } from '../../pkg/hypervisor/rkt.js';
import { vmadmCreatePayload } from '../../pkg/hypervisor/vmadm-payload.js';
import { renderXlConfig } from '../../pkg/hypervisor/xl-config.js';
import { type DomainSpec, toDomainSpec } from '../../pkg/schema/domain-spec.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import { assertBuilt, ctl, removeTempDirs, tempDir, writeTemp } from './support.js';

/**
 * `plan` shows the backend's own artefacts (xl.cfg, rkt seed, vmadm JSON) and commands, and runs
 * nothing. (That the command sequence is the engine's is plan-matches-engine.test.ts.)
 */

afterAll(() => removeTempDirs());

const UUID = '5e000000-0000-4000-8000-000000000001';
const vm: DomainConfig = {
  uuid: UUID,
  name: 'web',
  generation: 1,
  activate: true,
  type: 'vm',
  memoryMiB: 256,
  kernel: '/persist/vmlinuz',
  cmdline: 'console=hvc0 quote="x"',
  vifs: [{ bridge: 'xenbr0' }],
  pciDevices: [{ bdf: '0000:03:00.0' }],
};
const container: DomainConfig = {
  uuid: UUID,
  name: 'ct',
  generation: 1,
  activate: true,
  type: 'container',
  memoryMiB: 128,
  image: '1d05e788-5409-11eb-b12f-037bd7fee4ee',
  vifs: [{ bridge: 'admin', ip: '10.0.0.5' }],
};

function config(stateDir: string) {
  const c = loadConfig([], {}).config;
  return { ...c, stateDir };
}

async function plan(
  doc: DomainConfig,
  backend: 'xl' | 'rkt' | 'vmadm',
): Promise<{ plan: Plan; spec: DomainSpec; stateDir: string }> {
  const stateDir = join(tempDir(), 'node-state');
  const spec = toDomainSpec(doc);
  return { plan: await planStart(spec, backend, config(stateDir)), spec, stateDir };
}

describe('planStart', () => {
  test("xl: the cfg is the xl writer's output; pci-prepare, create, offload, unpause; nothing written on the node", async () => {
    const { plan: p, spec, stateDir } = await plan(vm, 'xl');
    const cfg = join(stateDir, 'xl', `${UUID}.cfg`);
    expect(p.files).toEqual([{ path: cfg, content: renderXlConfig(spec) }]);
    expect(p.steps).toEqual(['pci-prepare', 'create', 'disable-vif-offload', 'unpause']);
    expect(p.commands.map((c) => [c.step, ...c.argv])).toEqual([
      ['pci-prepare', 'xl', 'pci-assignable-add', '0000:03:00.0'],
      ['create', 'xl', 'create', '-p', cfg],
      ['create', 'xl', 'domid', 'web'],
      [
        'disable-vif-offload',
        'xenstore-write',
        '/local/domain/0/backend/vif/<domid>/0/feature-sg',
        '0',
        '/local/domain/0/backend/vif/<domid>/0/feature-gso-tcpv4',
        '0',
        '/local/domain/0/backend/vif/<domid>/0/feature-gso-tcpv6',
        '0',
        '/local/domain/0/backend/vif/<domid>/0/feature-ipv6-csum-offload',
        '0',
      ],
      ['unpause', 'xl', 'unpause', 'web'],
    ]);
    expect(existsSync(stateDir)).toBe(false);
  });

  test("rkt: the seed is the xl writer's RKT_SEED output; env and the pod placeholder are shown", async () => {
    const ct = { ...container, image: 'sha512-0123456789abcdef' };
    const { plan: p, spec, stateDir } = await plan(ct, 'rkt');
    const seed = join(stateDir, 'rkt', `${UUID}.cfg`);
    expect(p.files.find((f) => f.path === seed)?.content).toBe(renderXlConfig(spec, RKT_SEED));
    expect(p.files.find((f) => f.path.endsWith('pods.json'))?.content).toContain('<pod-uuid>');
    const run = p.commands[0];
    expect(run?.env).toEqual({ STAGE1_XL_OPTS: '-p', STAGE1_SEED_XL_CFG: seed });
    expect(run?.argv).toContain(`--uuid-file-save=${join(stateDir, 'rkt', `${UUID}.pod-uuid`)}`);
    expect(p.commands.map((c) => c.argv.slice(0, 3))).toContainEqual(['xl', 'unpause', '<pod-uuid>']);
    expect(commandLine(run as NonNullable<typeof run>)).toMatch(
      /^STAGE1_XL_OPTS=-p STAGE1_SEED_XL_CFG=\S+ rkt run /,
    );
  });

  test("vmadm: stdin of vmadm create is the payload builder's JSON, then vmadm start", async () => {
    const { plan: p, spec } = await plan(container, 'vmadm');
    expect(p.files).toEqual([]);
    expect(p.commands).toEqual([
      { step: 'create', argv: ['vmadm', 'create'], input: JSON.stringify(vmadmCreatePayload(spec)) },
      { step: 'unpause', argv: ['vmadm', 'start', UUID] },
    ]);
    expect(commandLine(p.commands[0] as Plan['commands'][number])).toBe(
      `vmadm create <<'EOF'\n${JSON.stringify(vmadmCreatePayload(spec))}\nEOF`,
    );
  });

  test('vmadm, paused: true: vmadm cannot pause, so the node starts it (vmadm start) and the plan says so', async () => {
    const { plan: p } = await plan({ ...container, paused: true }, 'vmadm');
    // disable-vif-offload is a no-op on vmadm: a step with no command.
    expect(p.steps).toEqual(['create', 'disable-vif-offload', 'unpause']);
    expect(p.commands.map((c) => [c.step, ...c.argv])).toEqual([
      ['create', 'vmadm', 'create'],
      ['unpause', 'vmadm', 'start', UUID],
    ]);
    expect(renderPlan(p)).toContain('paused: true, but the vmadm backend cannot pause: it is started');
  });

  test('xl, paused: true: left paused after create and offload, no unpause', async () => {
    const { plan: p } = await plan({ ...vm, paused: true }, 'xl');
    expect(p.steps).toEqual(['pci-prepare', 'create', 'disable-vif-offload']);
    expect(renderPlan(p)).toContain(
      '# steps: pci-prepare, create, disable-vif-offload (create leaves it paused) and left paused (paused: true)',
    );
  });

  test('a spec the backend refuses is not planned', async () => {
    await expect(plan(vm, 'rkt')).rejects.toThrow(PlanRefusedError);
    await expect(plan(vm, 'rkt')).rejects.toThrow(/needs the xl or vmadm backend/);
  });

  test('the recording runner answers only what it knows, loudly otherwise', async () => {
    const r = new PlanRunner(config('/x').tools, UUID);
    await expect(r.run(['xl', 'destroy', 'web'])).rejects.toThrow('plan: no answer for xl destroy web');
    await expect(r.run(['xl', 'domid', 'web'])).resolves.toMatchObject({ exitCode: 0, stdout: '32760\n' });
  });

  test('renderPlan: header, files, commands by step, placeholders explained', async () => {
    const { plan: p, stateDir } = await plan({ ...vm, activate: false, pciDevices: [] }, 'xl');
    const text = renderPlan(p);
    expect(text).toContain(`# plan: web (${UUID}) on backend xl; nothing was run\n`);
    expect(text).toContain('# activate is false: the node defines the domain HALTED');
    expect(text).toContain(`## file ${join(stateDir, 'xl', `${UUID}.cfg`)}\n# Written by domainmgr`);
    expect(text).toContain(
      `## commands\n# create\nxl create -p ${join(stateDir, 'xl', `${UUID}.cfg`)}\nxl domid web\n# disable-vif-offload\nxenstore-write `,
    );
    expect(text).toContain('\n# unpause\nxl unpause web\n');
    expect(text).toContain('# <domid> is the domid Xen assigns at create');
  });
});

describe('domainctl plan (process)', () => {
  beforeAll(() => assertBuilt());

  test("text output of a YAML file with the node's settings from flags", async () => {
    const file = writeTemp(
      'vm.yaml',
      `uuid: ${UUID}\nname: web\ngeneration: 1\nactivate: true\ntype: vm\nmemoryMiB: 256\nkernel: /persist/vmlinuz\n`,
    );
    const r = await ctl([
      'plan',
      '-f',
      file,
      '--backend',
      'xl',
      '--state-dir',
      '/srv/dm',
      '--xl',
      '/opt/xen/bin/xl',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`## file /srv/dm/xl/${UUID}.cfg\n`);
    expect(r.stdout).toContain(
      `# create\n/opt/xen/bin/xl create -p /srv/dm/xl/${UUID}.cfg\n/opt/xen/bin/xl domid web\n# unpause\n/opt/xen/bin/xl unpause web\n`,
    );
    expect(existsSync('/srv/dm')).toBe(false);
  });

  test('-o json; an invalid document is reported on stderr with exit 1 and the valid ones still planned', async () => {
    const file = writeTemp(
      'two.json',
      JSON.stringify([
        container,
        { ...container, uuid: '5e000000-0000-4000-8000-000000000002', vifs: [{ bridge: 'x', mac: 'zz' }] },
      ]),
    );
    const r = await ctl(['plan', '-f', file, '--backend', 'vmadm', '-o', 'json']);
    expect(r.code).toBe(1);
    const plans = JSON.parse(r.stdout) as Plan[];
    expect(plans.map((p) => p.uuid)).toEqual([UUID]);
    expect(plans[0]?.commands[0]?.argv).toEqual(['vmadm', 'create']);
    expect(r.stderr).toBe(
      `${file}[1]: ct (5e000000-0000-4000-8000-000000000002): invalid\n  - /vifs/0/mac must match xx:xx:xx:xx:xx:xx\n`,
    );
  });
});
