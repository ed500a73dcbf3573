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
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DomainConfig } from '../types/generated/domain-config.js';
import { FLOOR_MODES, type FloorMode, runFloor } from './floor.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    'domains-file': { type: 'string' },
    'cfg-dir': { type: 'string' },
    concurrency: { type: 'string' },
  },
});
const { mode, 'domains-file': domainsFile, 'cfg-dir': cfgDir, concurrency } = values;
if (!mode || !domainsFile || !cfgDir || !concurrency)
  throw new Error('floor-main: --mode, --domains-file, --cfg-dir and --concurrency are required');
if (!(FLOOR_MODES as readonly string[]).includes(mode)) throw new Error(`floor-main: unknown --mode ${mode}`);
const domains = JSON.parse(readFileSync(domainsFile, 'utf8')) as DomainConfig[];
const cfgs = new Map(domains.map((d) => [d.uuid, join(cfgDir, `${d.uuid}.cfg`)]));
const result = await runFloor(mode as FloorMode, domains, cfgs, Number(concurrency));
process.stdout.write(`${JSON.stringify(result)}\n`);
