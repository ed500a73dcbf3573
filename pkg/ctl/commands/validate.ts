import { isValidNodeId } from '../../bus/subjects.js';
import { EXIT } from '../cli-support.js';
import { type CheckResult, checkEntry, entryLabel } from '../documents.js';
import { type CommandSpec, DEFAULT_TIMEOUT_MS, FILE, ROOTS } from './command.js';
import { givenBackend, givenRoots, printProblems, readEntries } from './inputs.js';

export const validate: CommandSpec = {
  name: 'validate',
  summary: 'check a file as a node would (offline)',
  description: [
    "Checks every domain of FILE with the service's own validator, on the exact bytes apply would",
    'publish, and prints what a node would answer: "valid", or the errors of its status. Offline.',
    'Disk and kernel paths are checked against storage roots only when they are given',
    '(--allowed-roots, DOMAINMGR_STORAGE_ALLOWED_ROOTS or --config); backend checks only with --backend.',
    'Exit 1 when any document is invalid.',
  ],
  args: [],
  options: {
    file: FILE,
    backend: {
      type: 'string',
      arg: 'xl|rkt|vmadm|lxc',
      help: "also run this backend's checks [DOMAINMGR_BACKEND]",
    },
    'allowed-roots': ROOTS,
  },
  defaultTimeoutMs: () => DEFAULT_TIMEOUT_MS,
  async run(ctx) {
    const entries = await readEntries(ctx);
    const backend = givenBackend(ctx.loaded);
    const roots = givenRoots(ctx.loaded);
    let bad = 0;
    for (const entry of entries) {
      const result: CheckResult = checkEntry(entry, {
        allowedRoots: roots,
        backend,
        config: ctx.loaded.config,
      });
      const errors = result.ok ? [] : [...result.errors];
      if (entry.node !== undefined && !isValidNodeId(entry.node))
        errors.unshift(`node ${JSON.stringify(entry.node)} is not a node id ([A-Za-z0-9_-]{1,64})`);
      const label = `${entry.where}: ${entryLabel(entry)}`;
      if (errors.length === 0) ctx.output.out(`${label}: valid`);
      else {
        bad++;
        printProblems(ctx.output.out, label, errors);
      }
    }
    const skipped = [
      ...(roots === undefined ? ['storage roots'] : []),
      ...(backend === undefined ? ['backend checks'] : []),
    ];
    if (skipped.length > 0)
      ctx.output.err(`domainctl: note: not checked: ${skipped.join(', ')} (see domainctl validate --help)`);
    return bad > 0 ? EXIT.failed : EXIT.ok;
  },
};
