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
import type { DomainConfig } from '../types/generated/domain-config.js';
import { runFloor, SPAWN_MODES, type SpawnMode } from './floor.js';

function flag(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? undefined : process.argv[i + 1];
  if (v === undefined) throw new Error(`floor-main: --${name} is required`);
  return v;
}

const mode = flag('mode') as SpawnMode;
if (!SPAWN_MODES.includes(mode)) throw new Error(`floor-main: unknown --mode ${mode}`);
const domains = JSON.parse(readFileSync(flag('domains-file'), 'utf8')) as DomainConfig[];
const cfgDir = flag('cfg-dir');
const cfgs = new Map(domains.map((d) => [d.uuid, join(cfgDir, `${d.uuid}.cfg`)]));
const result = await runFloor(mode, domains, cfgs, Number(flag('concurrency')));
process.stdout.write(`${JSON.stringify(result)}\n`);
