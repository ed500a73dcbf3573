import { errorText } from '../../error-text.js';
import { HypervisorError } from '../../hypervisor/hypervisor.js';
import { EXIT, usageError } from '../cli-support.js';
import { checkEntry, entryLabel } from '../documents.js';
import { planStart, renderPlan } from '../plan.js';
import { type CommandSpec, DEFAULT_TIMEOUT_MS, FILE, ROOTS } from './command.js';
import { givenBackend, givenRoots, printProblems, readEntries } from './inputs.js';

export const plan: CommandSpec = {
  name: 'plan',
  summary: 'show what a node would run to start the domains of a file (offline)',
  description: [
    'Runs the real backend against a recording runner that runs nothing: prints the files the',
    'backend writes (xl.cfg, rkt seed) and the exact commands, with their environment and stdin',
    '(vmadm JSON), in the order a node runs them to start each domain. Offline. The backend and its',
    'settings (tool paths, state directory, rkt stage1) come from --backend, the flags below,',
    'DOMAINMGR_* variables or --config, as for domainmgr. Invalid documents are reported (exit 1).',
    'lxc: the bridges, cgroup layout and image are read on the machine plan runs on (run it on the',
    'node); a tar image cannot be planned.',
  ],
  args: [],
  options: {
    file: FILE,
    backend: {
      type: 'string',
      arg: 'xl|rkt|vmadm|lxc',
      help: 'the backend to plan for (required) [DOMAINMGR_BACKEND]',
    },
    output: { type: 'string', short: 'o', arg: 'text|json', help: 'output format (default text)' },
    'state-dir': { type: 'string', arg: 'DIR', help: "the node's state directory [DOMAINMGR_STATE_DIR]" },
    'allowed-roots': ROOTS,
    xl: { type: 'string', arg: 'PATH', help: 'xl program [DOMAINMGR_TOOLS_XL]' },
    'xenstore-write': { type: 'string', arg: 'PATH', help: 'xenstore-write program' },
    rkt: { type: 'string', arg: 'PATH', help: 'rkt program [DOMAINMGR_TOOLS_RKT]' },
    vmadm: { type: 'string', arg: 'PATH', help: 'vmadm program [DOMAINMGR_TOOLS_VMADM]' },
    'rkt-stage1': { type: 'string', arg: 'PATH', help: 'stage1-xen image [DOMAINMGR_RKT_STAGE1_PATH]' },
  },
  defaultTimeoutMs: () => DEFAULT_TIMEOUT_MS,
  async run(ctx) {
    const o = ctx.values.output;
    if (o !== undefined && o !== 'text' && o !== 'json')
      throw usageError(`-o must be text or json, not ${JSON.stringify(o)}`);
    const backend = givenBackend(ctx.loaded);
    if (backend === undefined) throw usageError('plan: missing --backend xl|rkt|vmadm|lxc');
    const entries = await readEntries(ctx);
    const config = ctx.loaded.config;
    const plans = [];
    let bad = 0;
    for (const entry of entries) {
      const result = checkEntry(entry, { allowedRoots: givenRoots(ctx.loaded), backend, config });
      if (!result.ok) {
        bad++;
        printProblems(ctx.output.err, `${entry.where}: ${entryLabel(entry)}`, result.errors);
        continue;
      }
      try {
        plans.push(await planStart(result.spec, backend, config));
      } catch (e) {
        // What the backend's create reads on this machine (lxc: a bridge, the image) refused it.
        if (!(e instanceof HypervisorError)) throw e;
        bad++;
        ctx.output.err(`${entry.where}: ${entryLabel(entry)}: cannot be planned here: ${errorText(e)}`);
      }
    }
    if (o === 'json') ctx.output.out(JSON.stringify(plans, null, 2));
    else if (plans.length > 0) ctx.output.out(plans.map(renderPlan).join('\n\n'));
    return bad > 0 ? EXIT.failed : EXIT.ok;
  },
};
