/**
 * Cost of one call of an emulated tool, measured the way domainmgr pays it: a real process spawn
 * of the shim from Node, until it has exited and its output is read. Prints a table and writes
 * JSON to bench/results/. Run after `npm run build`: `npm run bench:sim [-- --calls N]`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../pkg/project-files.js';

const BIN = join(projectRoot, 'sim', 'bin');

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

function once(argv: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; code: number | null }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(join(BIN, argv[0] as string), argv.slice(1), {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.resume();
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: performance.now() - t0, code }));
  });
}

async function main(): Promise<void> {
  const callsArg = process.argv.indexOf('--calls');
  const calls = callsArg > 0 ? Number(process.argv[callsArg + 1]) : 500;
  const dir = mkdtempSync(join(tmpdir(), 'domainmgr-sim-bench-'));
  const env = { ...process.env, DOMAINMGR_SIM_DIR: dir };
  const cases: { name: string; argv: string[] }[] = [
    { name: 'xl list', argv: ['xl', 'list'] },
    {
      name: 'xenstore-write (4 keys)',
      argv: [
        'xenstore-write',
        '/a/feature-sg',
        '0',
        '/a/feature-gso-tcpv4',
        '0',
        '/a/feature-gso-tcpv6',
        '0',
        '/a/feature-ipv6-csum-offload',
        '0',
      ],
    },
    { name: 'xl domid', argv: ['xl', 'domid', 'Domain-0'] },
  ];
  const baseline = { name: 'baseline: /bin/true', argv: [] as string[] };
  try {
    await once(['simctl', 'ping'], env); // start the daemon outside the measurement
    for (let i = 0; i < 20; i++) await once(['xl', 'list'], env);
    const rows: {
      name: string;
      calls: number;
      medianMs: number;
      p90Ms: number;
      p99Ms: number;
      meanMs: number;
    }[] = [];
    const measure = async (
      name: string,
      run: () => Promise<{ ms: number; code: number | null }>,
    ): Promise<void> => {
      const t: number[] = [];
      for (let i = 0; i < calls; i++) {
        const r = await run();
        if (r.code !== 0) throw new Error(`${name} exited ${r.code}`);
        t.push(r.ms);
      }
      t.sort((a, b) => a - b);
      const mean = t.reduce((a, b) => a + b, 0) / t.length;
      const round = (x: number): number => Math.round(x * 100) / 100;
      rows.push({
        name,
        calls,
        medianMs: round(percentile(t, 50)),
        p90Ms: round(percentile(t, 90)),
        p99Ms: round(percentile(t, 99)),
        meanMs: round(mean),
      });
    };
    for (const c of cases) await measure(c.name, () => once(c.argv, env));
    await measure(baseline.name, () => {
      const t0 = performance.now();
      return new Promise((resolve) => {
        const child = spawn('/bin/true', [], { stdio: 'ignore' });
        child.on('close', (code) => resolve({ ms: performance.now() - t0, code }));
      });
    });
    const w = Math.max(...rows.map((r) => r.name.length));
    console.log(`${'call'.padEnd(w)}  calls  median ms  p90 ms  p99 ms  mean ms`);
    for (const r of rows) {
      console.log(
        `${r.name.padEnd(w)}  ${String(r.calls).padStart(5)}  ${r.medianMs.toFixed(2).padStart(9)}  ${r.p90Ms.toFixed(2).padStart(6)}  ${r.p99Ms.toFixed(2).padStart(6)}  ${r.meanMs.toFixed(2).padStart(7)}`,
      );
    }
    const outDir = join(projectRoot, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `sim-invocation-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, results: rows }, null, 2)}\n`,
    );
    console.log(`\nwritten to ${file}`);
    const worst = rows.filter((r) => r !== rows.at(-1)).reduce((a, r) => Math.max(a, r.medianMs), 0);
    if (worst > 15) {
      console.error(`median above the 15 ms budget: ${worst} ms`);
      process.exitCode = 1;
    }
  } finally {
    spawnSync(join(BIN, 'simctl'), ['stop'], { env });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
