/**
 * Checks of time and CPU that tests must not make (a loaded 2-core machine fails them for reasons
 * of its own), run by hand on a quiet machine: `npm run build && node dist/bench/timing-checks.js`.
 * Exits 1 when a check fails, printing the figures either way.
 *
 * - The contract's "within a second": an invalid config gets its REJECTED status (stored in the
 *   status stream) within 1 s of its publish, every one of ITERATIONS (domainmgr as a real child
 *   process on the simulated host, against the local nats-server).
 * - The CPU split of bench/lib/proc.ts that the bench prints: work on the main thread lands in the
 *   main thread's share, work on another thread in the rest.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BenchBus, until } from './lib/bus.js';
import { startManager } from './lib/manager.js';
import { cpuMs, mainThreadCpuMs } from './lib/proc.js';
import { freshSimHost } from './lib/sim.js';
import { percentile, round, sleep } from './lib/stats.js';

const ITERATIONS = 20;
const REJECT_WITHIN_MS = 1000;

interface Check {
  name: string;
  ok: boolean;
  figures: string;
}

async function rejectionLatency(): Promise<Check> {
  const sim = freshSimHost('timing-checks');
  const id = randomBytes(3).toString('hex');
  const prefix = `bench_checks_${id}`;
  const stateDir = join(tmpdir(), `domainmgr-timing-checks-${id}`);
  const bus = await BenchBus.connect(prefix, 'node1');
  sim.simctl('ping');
  const m = await startManager({ sim, prefix, nodeId: 'node1', stateDir });
  const samples: number[] = [];
  try {
    await bus.watch();
    const rejectedAt = new Map<string, number>();
    bus.onStatus((e) => {
      if (e.status.state === 'REJECTED' && !rejectedAt.has(e.uuid)) rejectedAt.set(e.uuid, e.storedMs);
    });
    for (let i = 0; i < ITERATIONS; i++) {
      const uuid = randomUUID();
      const published = await bus.publish({
        uuid,
        name: `bad-${i}`,
        generation: 1,
        activate: true,
        type: 'vm',
        memoryMiB: 1, // below the schema's minimum
      });
      await until(bus, () => rejectedAt.has(uuid), 10_000, `bad-${i} REJECTED`);
      samples.push((rejectedAt.get(uuid) ?? Number.NaN) - published);
      await sleep(20);
    }
  } finally {
    await m.stop();
    await bus.close();
    sim.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
  const worst = Math.max(...samples);
  return {
    name: `invalid config -> REJECTED stored, within ${REJECT_WITHIN_MS} ms (${ITERATIONS} times)`,
    ok: worst < REJECT_WITHIN_MS,
    figures: `p50 ${round(percentile(samples, 50))} ms, max ${round(worst)} ms`,
  };
}

/** Busy until the process has used `ms` more CPU (by CPU, not wall time: load only delays it). */
const spinCpu = (ms: number): void => {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
};

async function threadSplit(): Promise<Check[]> {
  const all0 = cpuMs(process.pid);
  const main0 = mainThreadCpuMs(process.pid);
  spinCpu(300);
  const all1 = cpuMs(process.pid) - all0;
  const main1 = mainThreadCpuMs(process.pid) - main0;

  const all2 = cpuMs(process.pid);
  const main2 = mainThreadCpuMs(process.pid);
  const worker = new Worker(
    `const s = process.cpuUsage();
     for (;;) { const u = process.cpuUsage(s); if (u.user + u.system >= 400000) break; }
     require("node:worker_threads").parentPort.postMessage("done");`,
    { eval: true },
  );
  await once(worker, 'message');
  await worker.terminate();
  const all3 = cpuMs(process.pid) - all2;
  const main3 = mainThreadCpuMs(process.pid) - main2;
  return [
    {
      name: '300 ms of main-thread work: >= 250 ms in the main share, < 100 ms elsewhere',
      ok: main1 >= 250 && all1 >= main1 && all1 - main1 < 100,
      figures: `main ${main1} ms, all threads ${all1} ms`,
    },
    {
      name: '400 ms of worker-thread work: >= 300 ms outside the main share, < 150 ms in it',
      ok: all3 - main3 >= 300 && main3 < 150,
      figures: `main ${main3} ms, all threads ${all3} ms`,
    },
  ];
}

const checks = [...(await threadSplit()), await rejectionLatency()];
for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.figures}`);
process.exit(checks.every((c) => c.ok) ? 0 : 1);
