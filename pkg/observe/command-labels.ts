import { basename } from 'node:path';

/**
 * Metric labels of one command: which tool and which of its subcommands. Contract: the result
 * never carries a value taken from a domain (uuid, name, path, MAC): a value that does not look
 * like a tool or subcommand word becomes 'other', so the label set stays bounded by the code
 * that builds argv, not by the desired state it acts on.
 */
export interface CommandLabels {
  tool: string;
  subcommand: string;
}

const TOOL = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$/;
/** Subcommands are short lower-case words (xl pci-assignable-remove, vmadm list, rkt run). */
const SUBCOMMAND = /^[a-z][a-z0-9-]{0,31}$/;
/**
 * The xenstore and LXC utilities carry their verb in the program name: xenstore-write,
 * xenstore-read; lxc-start, lxc-freeze (whose first operand would be the container path).
 */
const VERB_IN_NAME = /^(?:xenstore|lxc)-([a-z]+)$/;

export function commandLabels(argv: readonly string[]): CommandLabels {
  const program = argv[0] ?? '';
  const base = basename(program);
  const tool = TOOL.test(base) ? base : 'other';
  const verb = VERB_IN_NAME.exec(base)?.[1];
  if (verb !== undefined) return { tool, subcommand: verb };
  const first = firstOperand(argv.slice(1));
  if (first === undefined) return { tool, subcommand: 'none' };
  return { tool, subcommand: SUBCOMMAND.test(first) ? first : 'other' };
}

/** The first argument that is not an option; after '--' the next argument is one. */
function firstOperand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') return args[i + 1];
    if (a.startsWith('-') && a !== '-') continue;
    return a;
  }
  return undefined;
}
