import { ToolExit } from '../core/types.js';

/**
 * xl's per-command option parsing (SWITCH_FOREACH_OPT over GNU getopt_long, which permutes:
 * options may follow operands). Errors end the command exactly as xl does: an unknown option or
 * a missing option argument prints ``option `X' not supported.`` and exits 2; too few operands
 * print "'xl cmd' requires at least N argument(s)." on stderr, the usage on stdout, exit 2;
 * -h / --help print the usage and exit 0.
 */

export interface CommandHelp {
  /** The argument synopsis after `xl [-vtTf] <cmd> `. */
  synopsis: string;
  /** One-line description. */
  summary: string;
  /** Option lines, already laid out. */
  options?: string;
  /** The global-flag set xl shows in this command's usage line. */
  flags?: string;
}

export function usageText(cmd: string, h: CommandHelp): string {
  let s = `Usage: xl [${h.flags ?? '-vtTf'}] ${cmd} ${h.synopsis}\n\n${h.summary}\n\n`;
  if (h.options) s += `Options:\n\n${h.options}\n`;
  return s;
}

export interface LongOpt {
  name: string;
  /** The short option it stands for. */
  char: string;
  hasArg: boolean;
}

export interface Parsed {
  /** Options in order; an option that takes an argument carries it. */
  opts: { char: string; arg: string | null }[];
  operands: string[];
  has(c: string): boolean;
  value(c: string): string | null;
}

export function xlGetopt(
  args: readonly string[],
  optstring: string,
  longopts: readonly LongOpt[],
  cmd: string,
  required: number,
  help: CommandHelp,
): Parsed {
  const takesArg = new Map<string, boolean>();
  const spec = `h${optstring}`;
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i] as string;
    if (c === ':') continue;
    takesArg.set(c, spec[i + 1] === ':');
  }
  const longs: LongOpt[] = [{ name: 'help', char: 'h', hasArg: false }, ...longopts];
  const opts: { char: string; arg: string | null }[] = [];
  const operands: string[] = [];
  const unsupported = (c: string): never => {
    throw new ToolExit(2, '', `option \`${c}' not supported.\n`);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const matches = longs.filter((l) => l.name.startsWith(name));
      const exact = longs.find((l) => l.name === name);
      const lo = exact ?? (matches.length === 1 ? matches[0] : undefined);
      if (!lo) unsupported('');
      const l = lo as LongOpt;
      let arg: string | null = null;
      if (l.hasArg) {
        if (eq >= 0) arg = a.slice(eq + 1);
        else if (i + 1 < args.length) arg = args[++i] as string;
        else unsupported(l.char);
      }
      opts.push({ char: l.char, arg });
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j] as string;
        const needs = takesArg.get(c);
        if (needs === undefined) unsupported(c);
        if (needs) {
          let arg: string;
          if (j + 1 < a.length) arg = a.slice(j + 1);
          else if (i + 1 < args.length) arg = args[++i] as string;
          else return unsupported(c);
          opts.push({ char: c, arg });
          break;
        }
        opts.push({ char: c, arg: null });
      }
      continue;
    }
    operands.push(a);
  }
  if (opts.some((o) => o.char === 'h')) throw new ToolExit(0, usageText(cmd, help), '');
  if (operands.length < required) {
    throw new ToolExit(
      2,
      usageText(cmd, help),
      `'xl ${cmd}' requires at least ${required} argument${required > 1 ? 's' : ''}.\n\n`,
    );
  }
  return {
    opts,
    operands,
    has: (c) => opts.some((o) => o.char === c),
    value: (c) => {
      for (let k = opts.length - 1; k >= 0; k--) if (opts[k]?.char === c) return opts[k]?.arg ?? null;
      return null;
    },
  };
}
