import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { cpuMs, mainThreadCpuMs } from '../../bench/lib/proc.js';

// The benchmark splits domainmgr's CPU into its main thread and the rest (V8's compiler and GC
// threads). The split is only worth printing if work on another thread lands in the rest and
// work on the main thread lands in the main share; /proc's tick resolution is 10 ms.

const spin = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
};

test('work on the main thread counts in both the process and its main thread', () => {
  const all0 = cpuMs(process.pid);
  const main0 = mainThreadCpuMs(process.pid);
  spin(300);
  const all = cpuMs(process.pid) - all0;
  const main = mainThreadCpuMs(process.pid) - main0;
  expect(main).toBeGreaterThanOrEqual(250);
  expect(all).toBeGreaterThanOrEqual(main);
  expect(all - main).toBeLessThan(100);
});

test('work on another thread counts in the process, not in its main thread', async () => {
  const all0 = cpuMs(process.pid);
  const main0 = mainThreadCpuMs(process.pid);
  const worker = new Worker(
    'const end = performance.now() + 400; while (performance.now() < end) {} require("node:worker_threads").parentPort.postMessage("done");',
    { eval: true },
  );
  await once(worker, 'message');
  await worker.terminate();
  const all = cpuMs(process.pid) - all0;
  const main = mainThreadCpuMs(process.pid) - main0;
  expect(all - main).toBeGreaterThanOrEqual(300);
  expect(main).toBeLessThan(150);
});
