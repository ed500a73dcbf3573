/**
 * The floor as its own process: a bare script (no NATS, no manager, nothing else in its heap)
 * that runs one floor measurement and prints its FloorResult as JSON on stdout. bench/run.ts starts
 * one per measurement, so that what the floor measures does not depend on what the benchmark
 * process did before (its NATS connections, its heap, which grows with every scenario it ran).
 * Measured: inside the benchmark process the same floor gave 1.8, 2.4 and 2.6 ms per spawn in
 * three rounds of one run; in fresh processes 2.12, 2.13 and 2.11 (load and heap both differed
 * between the bench's rounds, so which of them caused the spread is not established).
 *
 *   node dist/bench/floor-main.js --mode ExecRunner --domains-file F.json --cfg-dir D --concurrency 8
 *       [--ballast-mib N]
 *
 * --ballast-mib N (a diagnostic, not used by bench/run.ts) keeps about N MiB of live objects in
 * the floor's heap while it measures: the same spawns from a process as big as domainmgr is during
 * its burst. fork() copies the page tables of every resident page and write-protects them, so a
 * spawn's parent CPU grows with the parent's resident memory; this measures by how much. The
 * result's peakRssMiB says what the process held.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DomainConfig } from '../types/generated/domain-config.js';
import { FLOOR_MODES, type FloorMode, runFloor } from './floor.js';
import { memoryMiB } from './lib/proc.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    'domains-file': { type: 'string' },
    'cfg-dir': { type: 'string' },
    concurrency: { type: 'string' },
    'ballast-mib': { type: 'string' },
  },
});
const { mode, 'domains-file': domainsFile, 'cfg-dir': cfgDir, concurrency } = values;
if (!mode || !domainsFile || !cfgDir || !concurrency)
  throw new Error('floor-main: --mode, --domains-file, --cfg-dir and --concurrency are required');
if (!(FLOOR_MODES as readonly string[]).includes(mode)) throw new Error(`floor-main: unknown --mode ${mode}`);
const domains = JSON.parse(readFileSync(domainsFile, 'utf8')) as DomainConfig[];
const cfgs = new Map(domains.map((d) => [d.uuid, join(cfgDir, `${d.uuid}.cfg`)]));
const heap0 = process.memoryUsage().heapUsed;
const ballast = holdBallast(Number(values['ballast-mib'] ?? 0));
const ballastHeapMiB = Math.round((process.memoryUsage().heapUsed - heap0) / 2 ** 20);
const result = await runFloor(mode as FloorMode, domains, cfgs, Number(concurrency));
const peakRssMiB = memoryMiB(process.pid).hwm;
process.stdout.write(
  `${JSON.stringify({ ...result, ballastMiB: ballast.length, ballastHeapMiB, peakRssMiB })}\n`,
);

/** About `mib` MiB of small live objects (old space after two scavenges), one array per MiB. */
function holdBallast(mib: number): unknown[][] {
  if (!Number.isInteger(mib) || mib < 0)
    throw new Error(`floor-main: --ballast-mib must be a whole number, not ${mib}`);
  const held: unknown[][] = [];
  // 22 Ki two-field objects and the array holding them: about 1 MiB of heap (node 20, measured).
  for (let i = 0; i < mib; i++) held.push(Array.from({ length: 22 * 1024 }, (_, j) => ({ j, i })));
  return held;
}
