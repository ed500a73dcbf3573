import { C_ULONG_MAX, strtoul } from './c-strings.js';
import { XlCfgUnsupported } from './unsupported.js';

/**
 * xl's pcpu range syntax for `cpus`: comma-separated items, each `N`, `N-M`, `all`, with `^` to
 * remove. Bits beyond the bitmap's capacity are silently dropped, as libxl_bitmap_set does.
 * Returns the set bits, or the error line xl prints before exiting 1.
 */
export function parseCpuRange(spec: string, capacity: number): { bits: Set<number> } | { error: string } {
  const bits = new Set<number>();
  for (const item of spec.split(',').filter((s) => s.length > 0)) {
    let str = item;
    const isNot = str.startsWith('^');
    if (isNot) str = str.slice(1);
    if (str.startsWith('node:') || str.startsWith('nodes:')) throw new XlCfgUnsupported('cpus node: ranges');
    if (str === 'all') {
      if (isNot) return { error: 'Can\'t combine "^" and "all".\n' };
      for (let i = 0; i < capacity; i++) bits.add(i);
      continue;
    }
    const range = parseRange(str);
    if (!range) return { error: `Invalid pcpu range: ${str}.\n` };
    const [a, b] = range;
    const last = b < BigInt(capacity) ? Number(b) : capacity - 1;
    for (let i = Number(a < BigInt(capacity) ? a : BigInt(capacity)); i <= last; i++) {
      if (isNot) bits.delete(i);
      else bits.add(i);
    }
  }
  return { bits };
}

/** parse_range in xl_parse.c: "N" or "N-M" in base 10, M >= N, nothing after. */
function parseRange(str: string): [bigint, bigint] | null {
  const a = strtoul(str, 10);
  if (!a.ok || a.value === C_ULONG_MAX) return null;
  let b = a.value;
  let end = a.end;
  if (str[end] === '-') {
    const rest = str.slice(end + 1);
    const r = strtoul(rest, 10);
    if (!r.ok || r.value === C_ULONG_MAX || r.value < a.value) return null;
    b = r.value;
    end = end + 1 + r.end;
  }
  if (end !== str.length) return null;
  return [a.value, b];
}
