import { XENSTORE_ABS_PATH_MAX } from '../../pkg/xenstore/wire.js';
import type { SimHost } from '../core/host.js';
import { type Invocation, result, type ToolResult } from '../core/types.js';
import { normalisePath, xsChildren, xsExists, xsRead, xsRemoveTree, xsWrite } from '../xen/xenstore-model.js';

/**
 * The xenstore client: `xenstore-write` and `xenstore <mode>` (read, write, ls, rm, exists,
 * list). Messages follow xenstore_client.c: errx/warnx lines prefixed with the program name.
 * Values are stored and printed as given (no escape processing, so -R changes nothing here).
 */

const USAGE: Record<string, string> = {
  read: '[-h] [-p] [-s] [-R] key [...]',
  write: '[-h] [-s] [-R] key value [...]',
  rm: '[-h] [-s] [-t] key [...]',
  exists: '[-h] [-p] [-s] key [...]',
  list: '[-h] [-p] [-s] key [...]',
  ls: '[-h] [-f] [-p] [-s] [path]',
};

/** Where a relative path points: dom0's home, as for any client in dom0. */
export function absolute(p: string): string {
  return p.startsWith('/') ? p : `/local/domain/0/${p}`;
}

export function validPath(p: string): boolean {
  const abs = absolute(p);
  return (
    /^[A-Za-z0-9\-/_@]+$/.test(abs) &&
    !abs.includes('//') &&
    (abs === '/' || !abs.endsWith('/')) &&
    abs.length <= XENSTORE_ABS_PATH_MAX
  );
}

function usage(prog: string, mode: string, inclMode: boolean): ToolResult {
  return result(1, '', `${prog}: Usage: ${prog} ${inclMode ? `${mode} ` : ''}${USAGE[mode] ?? ''}\n`);
}

function splitFlags(args: string[], allowed: string): { flags: Set<string>; rest: string[] } | null {
  const flags = new Set<string>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (const c of a.slice(1)) {
      if (!allowed.includes(c)) return null;
      flags.add(c);
    }
  }
  return { flags, rest: args.slice(i) };
}

function runMode(host: SimHost, prog: string, mode: string, args: string[], inclMode: boolean): ToolResult {
  const allowed: Record<string, string> = {
    read: 'hpsR',
    write: 'hsR',
    rm: 'hst',
    exists: 'hps',
    list: 'hps',
    ls: 'hfps',
  };
  const f = splitFlags(args, allowed[mode] ?? 'h');
  if (!f || f.flags.has('h')) return usage(prog, mode, inclMode);
  const { rest, flags } = f;
  switch (mode) {
    case 'write': {
      if (rest.length === 0 || rest.length % 2 !== 0) return usage(prog, mode, inclMode);
      // One transaction: either every pair lands or none does.
      for (let i = 0; i < rest.length; i += 2) {
        const k = rest[i] as string;
        if (!validPath(k)) return result(1, '', `${prog}: could not write path ${k}\n`);
      }
      for (let i = 0; i < rest.length; i += 2)
        xsWrite(host, absolute(rest[i] as string), rest[i + 1] as string);
      return result(0);
    }
    case 'read': {
      if (rest.length === 0) return usage(prog, mode, inclMode);
      let out = '';
      for (const k of rest) {
        const v = validPath(k) ? xsRead(host, absolute(k)) : undefined;
        const exists = v !== undefined || (validPath(k) && xsExists(host, absolute(k)));
        if (!exists) return result(1, out, `${prog}: couldn't read path ${k}\n`);
        out += flags.has('p') ? `${k}: ${v ?? ''}\n` : `${v ?? ''}\n`;
      }
      return result(0, out);
    }
    case 'exists': {
      if (rest.length === 0) return usage(prog, mode, inclMode);
      for (const k of rest) if (!validPath(k) || !xsExists(host, absolute(k))) return result(1);
      return result(0);
    }
    case 'rm': {
      if (rest.length === 0) return usage(prog, mode, inclMode);
      for (const k of rest) {
        if (!validPath(k) || !xsExists(host, absolute(k)))
          return result(1, '', `${prog}: could not remove path ${k}\n`);
        xsRemoveTree(host, absolute(k));
      }
      return result(0);
    }
    case 'list': {
      if (rest.length === 0) return usage(prog, mode, inclMode);
      let out = '';
      for (const k of rest) {
        if (!validPath(k) || !xsExists(host, absolute(k)))
          return result(1, out, `${prog}: xs_directory (${k}): No such file or directory\n`);
        const prefix = flags.has('p') ? `${normalisePath(absolute(k))}/` : '';
        for (const c of xsChildren(host, absolute(k))) out += `${prefix}${c}\n`;
      }
      return result(0, out);
    }
    case 'ls': {
      if (rest.length > 1) return usage(prog, mode, inclMode);
      const root = rest[0] ?? '/';
      if (!validPath(root) || !xsExists(host, absolute(root))) {
        return result(1, '', `${prog}: xs_directory (${root}): No such file or directory\n`);
      }
      const lines: string[] = [];
      const walk = (path: string, depth: number): void => {
        for (const c of xsChildren(host, path)) {
          const child = path === '/' ? `/${c}` : `${path}/${c}`;
          // -f: whole paths, no indent; -p: the node's permissions after three spaces.
          const label = flags.has('f') ? child : `${' '.repeat(depth)}${c}`;
          const perms = flags.has('p') ? `   (${xsPerms(child)})` : '';
          lines.push(`${label} = "${xsRead(host, child) ?? ''}"${perms}`);
          walk(child, depth + 1);
        }
      };
      walk(normalisePath(absolute(root)), 0);
      return result(0, lines.length ? `${lines.join('\n')}\n` : '');
    }
    default:
      return result(1, '', `${prog}: Usage: ${prog} <mode> [-h] [...]\n`);
  }
}

/**
 * The permissions libxl gives a node, as xenstore-ls -p prints them (the simulator does not store
 * permissions): a backend directory belongs to dom0 and is readable by the frontend's domain
 * (`n0,r<domid>`, as in the real capture xenstore-ls-vif-backend-*.txt); a guest's device
 * directory belongs to the guest (`n<domid>,r0`); anything else to dom0 (`n0`).
 */
function xsPerms(path: string): string {
  const back = /^\/local\/domain\/0\/backend\/[^/]+\/(\d+)(?:\/|$)/.exec(path);
  if (back) return `n0,r${back[1]}`;
  const front = /^\/local\/domain\/(\d+)\/device(?:\/|$)/.exec(path);
  if (front && front[1] !== '0') return `n${front[1]},r0`;
  return 'n0';
}

/**
 * The single-mode programs (xenstore-read, xenstore-ls, ...): real Xen installs them as links
 * to one binary that picks the mode from its name.
 */
export function runXenstoreSingle(host: SimHost, inv: Invocation): ToolResult {
  const mode = inv.tool.slice('xenstore-'.length);
  return runMode(host, inv.tool, mode, inv.args, false);
}

export function runXenstoreWrite(host: SimHost, inv: Invocation): ToolResult {
  return runMode(host, 'xenstore-write', 'write', inv.args, false);
}

export function runXenstore(host: SimHost, inv: Invocation): ToolResult {
  const mode = inv.args[0];
  if (mode === undefined || !(mode in USAGE))
    return result(1, '', 'xenstore: Usage: xenstore <mode> [-h] [...]\n');
  return runMode(host, 'xenstore', mode, inv.args.slice(1), true);
}
