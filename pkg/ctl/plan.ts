import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { systemClock } from '../clock.js';
import type { DomainmgrConfig } from '../config/load-config.js';
import type { BackendName } from '../hypervisor/hypervisor.js';
import { createHypervisor } from '../hypervisor/registry.js';
import { silentLogger } from '../log/logger.js';
import { runStartSteps, type StartStep, startSteps } from '../reconcile/start-sequence.js';
import type { CommandResult, CommandRunner, RunOptions } from '../runner/command-runner.js';
import { formatArgv } from '../runner/errors.js';
import type { DomainSpec } from '../schema/domain-spec.js';

/**
 * `domainctl plan`: what a node would run to start a domain, found by running it.
 *
 * The real backend (the same class the service builds, from the same configuration) runs the
 * service's own start sequence (pkg/reconcile/start-sequence.ts) against a PlanRunner: a CommandRunner that
 * runs nothing, records every argv with its environment and stdin, and answers each command
 * the way the tool answers a success (`xl domid` prints a domid, `rkt run` saves a pod uuid).
 * The backend's state directory is a temporary one; the files the backend writes there (xl.cfg,
 * rkt seed, pod map) are read back and shown under the node's state directory. So the plan is
 * the backend's own output, not a second rendering that could drift from it, and the steps are the
 * ones the worker's create transaction runs. test/domainctl/plan-matches-engine.test.ts runs the
 * real engine on the simulated host and compares what it ran with the plan.
 *
 * The lxc backend reads the host where it creates, not through commands: whether each bridge
 * exists, the cgroup layout (v1 or v2 memory keys in the config), the image folder and the disks.
 * A plan reads them on the machine it runs on, so it is the node's plan when run on the node
 * (elsewhere a missing bridge or image fails the plan as it would fail the create). A tar image
 * is refused: its unpacking runs tar, whose answers a plan cannot know.
 */

/** The domid the PlanRunner answers `xl domid` with; shown as <domid>. Xen's real ones stay below 32752. */
export const PLAN_DOMID = 32760;

export type PlanStep = StartStep;

export interface PlannedCommand {
  step: PlanStep;
  argv: string[];
  /** Variables added to the environment. */
  env?: Record<string, string>;
  /** Written to stdin. */
  input?: string;
}

export interface PlannedFile {
  /** Under the node's state directory. */
  path: string;
  content: string;
}

export interface Plan {
  backend: BackendName;
  uuid: string;
  name: string;
  stateDir: string;
  activate: boolean;
  paused: boolean;
  steps: PlanStep[];
  commands: PlannedCommand[];
  files: PlannedFile[];
}

/** The backend refuses the spec (its checkSpec), as a node would with a REJECTED status. */
export class PlanRefusedError extends Error {
  constructor(
    readonly backend: BackendName,
    readonly problems: string[],
  ) {
    super(`the ${backend} backend refuses this domain: ${problems.join('; ')}`);
    this.name = 'PlanRefusedError';
  }
}

/**
 * Runs nothing; records and answers like a tool that succeeded. A command it has no answer for
 * fails the plan loudly instead of being guessed at.
 */
export class PlanRunner implements CommandRunner {
  readonly calls: { argv: string[]; options: RunOptions; step: PlanStep | null }[] = [];
  /** Files written by the emulated tools themselves (rkt's pod uuid file), not by the backend. */
  readonly toolFiles = new Set<string>();
  step: PlanStep | null = null;

  constructor(
    private readonly tools: DomainmgrConfig['tools'],
    readonly podUuid: string,
  ) {}

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.calls.push({ argv: [...argv], options, step: this.step });
    const [tool, sub] = argv;
    const ok = (stdout = ''): CommandResult => ({ argv, exitCode: 0, stdout, stderr: '', durationMs: 0 });
    if (tool === this.tools.xl) {
      if (sub === 'domid') return ok(`${PLAN_DOMID}\n`);
      if (sub === 'create' || sub === 'unpause' || sub === 'pci-assignable-add') return ok();
    }
    if (tool === this.tools.xenstoreWrite) return ok();
    if (tool === this.tools.rkt && sub === 'run') {
      const save = argv.find((a) => a.startsWith('--uuid-file-save='));
      if (save !== undefined) {
        const path = save.slice('--uuid-file-save='.length);
        await writeFile(path, this.podUuid);
        this.toolFiles.add(path);
      }
      return ok();
    }
    if (tool === this.tools.vmadm && (sub === 'create' || sub === 'start')) return ok();
    // lxc-start -d returns once the container runs; lxc-freeze prints nothing.
    if (tool !== undefined && ['lxc-start', 'lxc-freeze'].includes(basename(tool))) return ok();
    if (tool === 'tar') {
      throw new Error(
        'plan: a tar image is listed and unpacked by tar on the node, which a plan cannot do; plan with the unpacked root filesystem folder',
      );
    }
    throw new Error(`plan: no answer for ${formatArgv(argv)} (domainctl does not know what it prints)`);
  }
}

/**
 * Plans the start of `spec` (already validated) on `backend`, configured by `config`; the node's
 * state directory is `config.stateDir`. Nothing outside a temporary directory is touched. Rejects
 * with PlanRefusedError where the backend's checkSpec refuses the spec (the engine rejects such a
 * config before anything runs).
 */
export async function planStart(
  spec: DomainSpec,
  backend: BackendName,
  config: DomainmgrConfig,
): Promise<Plan> {
  const scratch = await mkdtemp(join(tmpdir(), 'domainctl-plan-'));
  const podUuid = randomUUID();
  const runner = new PlanRunner(config.tools, podUuid);
  const hv = createHypervisor(backend, {
    runner,
    logger: silentLogger,
    config: { ...config, backend, stateDir: scratch },
    clock: systemClock,
  });
  const steps = startSteps(spec, hv);
  try {
    const problems = hv.checkSpec(spec);
    if (problems.length > 0) throw new PlanRefusedError(backend, problems);
    await runStartSteps(hv, spec, steps, (step, call) => {
      runner.step = step;
      return call();
    });
    const show = (text: string): string =>
      text.split(scratch).join(config.stateDir).split(podUuid).join('<pod-uuid>');
    const commands = runner.calls.map((c): PlannedCommand => {
      const argv = c.argv.map((a) => show(a).split(`/${PLAN_DOMID}/`).join('/<domid>/'));
      return {
        step: c.step ?? 'create',
        argv,
        ...(c.options.env === undefined
          ? {}
          : { env: Object.fromEntries(Object.entries(c.options.env).map(([k, v]) => [k, show(v)])) }),
        ...(c.options.input === undefined ? {} : { input: c.options.input }),
      };
    });
    const files: PlannedFile[] = [];
    for (const path of await listFiles(scratch)) {
      if (runner.toolFiles.has(path)) continue;
      files.push({ path: show(path), content: show(await readFile(path, 'utf8')) });
    }
    files.sort((a, b) => a.path.localeCompare(b.path));
    return {
      backend,
      uuid: spec.uuid,
      name: spec.name,
      stateDir: config.stateDir,
      activate: spec.activate,
      paused: spec.paused,
      steps,
      commands,
      files,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** A command as a shell line: env assignments first, stdin as a here-document. */
export function commandLine(c: PlannedCommand): string {
  const env = Object.entries(c.env ?? {}).map(([k, v]) => formatArgv([`${k}=${v}`]));
  const line = [...env, formatArgv(c.argv)].join(' ');
  if (c.input === undefined) return line;
  const body = c.input.endsWith('\n') ? c.input : `${c.input}\n`;
  return `${line} <<'EOF'\n${body}EOF`;
}

/** The plan as text: what starts it, the files written, then the commands by step. */
export function renderPlan(plan: Plan): string {
  const out: string[] = [];
  out.push(`# plan: ${plan.name} (${plan.uuid}) on backend ${plan.backend}; nothing was run`);
  if (!plan.activate)
    out.push(
      '# activate is false: the node defines the domain HALTED and runs this when activate becomes true',
    );
  out.push(`# steps: ${plan.steps.join(', ')} (create leaves it paused)${pausedNote(plan)}`);
  out.push(`# files are written under the node's state directory ${plan.stateDir}`);
  for (const f of plan.files) {
    out.push('', `## file ${f.path}`, f.content.trimEnd());
  }
  out.push('', '## commands');
  let step: PlanStep | null = null;
  for (const c of plan.commands) {
    if (c.step !== step) {
      out.push(`# ${c.step}`);
      step = c.step;
    }
    out.push(commandLine(c));
  }
  if (plan.commands.some((c) => c.argv.some((a) => a.includes('<domid>'))))
    out.push('', '# <domid> is the domid Xen assigns at create (printed by `xl domid`)');
  if (plan.commands.some((c) => c.argv.some((a) => a.includes('<pod-uuid>'))))
    out.push('# <pod-uuid> is the pod uuid rkt assigns at run (saved by --uuid-file-save)');
  if (plan.backend === 'lxc')
    out.push(
      '# lxc: bridges, cgroup layout (the memory key) and the image were read on this machine, not the node',
    );
  return out.join('\n');
}

function pausedNote(plan: Plan): string {
  if (!plan.paused) return '';
  if (!plan.steps.includes('unpause')) return ' and left paused (paused: true)';
  return `; paused: true, but the ${plan.backend} backend cannot pause: it is started, and its status reports the pause as unsupported`;
}
