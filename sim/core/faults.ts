import { destroyDomain, findDomain } from '../xen/model.js';
import type { SimHost } from './host.js';
import type { FaultRule } from './state.js';

/**
 * Fault injection: rules that make a tool's subcommand fail, hang or print garbage instead of
 * doing its work. Rules live in the persisted state (they survive daemon restarts) and are
 * consumed call by call (`times`, `skip`).
 */

/** The subcommand a fault rule names, read from the invocation the way each tool reads it. */
export function subcommandOf(tool: string, args: readonly string[]): string {
  if (tool === 'xl') {
    const a = args.find((x) => !x.startsWith('-'));
    return a ?? '';
  }
  if (tool === 'rkt') return args.find((x) => !x.startsWith('--')) ?? '';
  if (tool.startsWith('xenstore-')) return tool.slice('xenstore-'.length);
  return args[0] ?? '';
}

/** The rule that applies to this call, if any; consumes one use of it. */
export function takeFault(
  host: SimHost,
  tool: string,
  sub: string,
  args: readonly string[] = [],
): FaultRule | null {
  const faults = host.state.faults;
  for (const f of faults) {
    if (f.tool !== tool || (f.sub !== '*' && f.sub !== sub)) continue;
    const match = f.match;
    if (match !== undefined && !args.some((a) => a.includes(match))) continue;
    host.touch();
    if (f.skip > 0) {
      f.skip--;
      return null;
    }
    if (f.times !== null) {
      f.times--;
      if (f.times <= 0) host.state.faults = faults.filter((x) => x !== f);
    }
    return f;
  }
  return null;
}

/** Output that no parser should accept: binary-looking noise and broken structure. */
export function garbage(seed: number): string {
  let x = seed || 1;
  let s = '';
  for (let i = 0; i < 200; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += String.fromCharCode(33 + (x % 94));
    if (i % 50 === 49) s += '\n';
  }
  return `{"truncated": [\t${s}`;
}

/** The Xen domain named `domain` (name or domid) disappears, as `simctl vanish`; nothing when there is none. */
export function vanishDomain(host: SimHost, domain: string): void {
  host.settle();
  let domid: number;
  try {
    domid = findDomain(host, domain);
  } catch {
    return;
  }
  destroyDomain(host, domid);
  host.settle();
}
