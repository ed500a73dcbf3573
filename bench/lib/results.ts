import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../pkg/project-files.js';

/**
 * Writes a benchmark's JSON to bench/results/<name>-<time>.json, headed by the date, node version
 * and cpus, and returns its path.
 */
export function writeResults(name: string, body: Record<string, unknown>): string {
  const outDir = join(projectRoot, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const head = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
  };
  writeFileSync(file, `${JSON.stringify({ ...head, ...body }, null, 2)}\n`);
  return file;
}
