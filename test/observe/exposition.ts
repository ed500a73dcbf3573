/**
 * Reads Prometheus text exposition as data: every sample line becomes an entry from its series
 * (name and labels exactly as written) to its value. Comment and blank lines are skipped.
 */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const series = line.slice(0, space);
    if (out.has(series)) throw new Error(`duplicate series ${series}`);
    out.set(series, Number(line.slice(space + 1)));
  }
  return out;
}

/** The samples whose series starts with `prefix` (a metric name, optionally with '{'). */
export function family(all: Map<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries([...all].filter(([k]) => k.startsWith(prefix)));
}
