/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time,
 * and the most inclusive time, with their source location. Usage:
 *   node dist/bench/profile-summary.js FILE.cpuprofile [--top N]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}

export function summarise(file: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: Node[];
    samples: number[];
    timeDeltas: number[];
    startTime: number;
    endTime: number;
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const interval = (p.endTime - p.startTime) / 1000 / Math.max(1, p.samples.length);
  const key = (n: Node): string => {
    const url = n.callFrame.url.replace(/^.*\/(dist|node_modules)\//, '$1/');
    return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const id of p.samples) {
    const n = byId.get(id);
    if (!n) continue;
    self.set(key(n), (self.get(key(n)) ?? 0) + 1);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byId.get(cur) as Node);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + 1);
    }
  }
  const total = p.samples.length;
  const fmt = (m: Map<string, number>): string =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(
        ([k, v]) =>
          `${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v * interval).toFixed(0).padStart(7)} ms  ${k}`,
      )
      .join('\n');
  return `samples ${total}, ${(total * interval).toFixed(0)} ms\n-- self --\n${fmt(self)}\n-- inclusive --\n${fmt(incl)}`;
}

if (process.argv[1]?.endsWith('profile-summary.js')) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: profile-summary FILE.cpuprofile [--top N]');
  const i = process.argv.indexOf('--top');
  console.log(summarise(file, i > 0 ? Number(process.argv[i + 1]) : 25));
}
