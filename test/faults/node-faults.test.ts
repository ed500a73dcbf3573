/**
 * The node's own faults (issue 20 item 3): the state directory full (a small tmpfs the test
 * mounts; the tests run as root) or read-only, a ledger with a torn last line or garbage, and a
 * domainmgr restarted while a shutdown grace runs. The engine runs in process on the fake
 * hypervisor and a manual clock; the ledger is the real FileLedger on the real mount.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../pkg/config/load-config.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { Engine } from '../../pkg/reconcile/engine.js';
import { FileLedger, foldJournal, LEDGER_FILE, type LedgerEntry } from '../../pkg/reconcile/ledger.js';
import { FakeHypervisor } from '../support/fake-hypervisor.js';
import { logSink } from '../support/log-sink.js';
import { ManualClock } from '../support/manual-clock.js';
import { FixedConnection, MemoryStatusSink } from '../support/memory-ports.js';

const A = 'a0000000-0000-4000-8000-00000000000a';
const B = 'b0000000-0000-4000-8000-00000000000b';
const C = 'c0000000-0000-4000-8000-00000000000c';
const GRACE_MS = 10_000;

function vm(uuid: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    uuid,
    name: `vm-${uuid.slice(0, 1)}`,
    generation: 1,
    activate: true,
    type: 'vm',
    memoryMiB: 256,
    maxMemoryMiB: 512,
    kernel: '/persist/vmlinuz',
    vifs: [{ bridge: 'br0' }],
    ...over,
  };
}

interface Rig {
  engine: Engine;
  sink: MemoryStatusSink;
  ledger: FileLedger;
  send: (uuid: string, doc: Record<string, unknown>) => Promise<void>;
}

async function startEngine(stateDir: string, hv: FakeHypervisor, clock: ManualClock): Promise<Rig> {
  const config = {
    ...loadConfig([], {}).config,
    nodeId: 'node-faults',
    stateDir,
    probeIntervalMs: 1000,
    probeJitter: 0,
    shutdownGraceMs: GRACE_MS,
    restartBackoff: { initialMs: 1000, maxMs: 8000 },
    storage: { allowedRoots: ['/persist'] },
  };
  const sink = new MemoryStatusSink();
  const ledger = new FileLedger(stateDir);
  const engine = new Engine({
    config,
    hypervisor: hv,
    clock,
    logger: silentLogger,
    ledger,
    status: sink,
    connection: new FixedConnection(),
    version: '0.0.0-test',
    random: () => 0.5,
  });
  await engine.start();
  engine.markSynced();
  let seq = 0;
  const send = (uuid: string, doc: Record<string, unknown>) =>
    engine.handleConfig({ uuid, seq: ++seq, payload: new TextEncoder().encode(JSON.stringify(doc)) });
  return { engine, sink, ledger, send };
}

/** Advances the clock in steps until `check` holds (a bounded number of steps). */
async function advanceUntil(
  clock: ManualClock,
  check: () => boolean,
  stepMs = 100,
  steps = 600,
): Promise<void> {
  for (let i = 0; i < steps; i++) {
    if (check()) return;
    await clock.advance(stepMs);
  }
  throw new Error('condition not reached');
}

/** A tmpfs of `size` mounted on a fresh directory; unmounted and removed by the returned function. */
function mountTmpfs(size: string): { dir: string; remount: (opts: string) => void; unmount: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'domainmgr-node-faults-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  return {
    dir,
    remount: (opts) => execFileSync('mount', ['-o', `remount,${opts}`, dir]),
    unmount: () => {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fills the filesystem holding `dir` to the last page; returns the filler's path. */
function fill(dir: string): string {
  const filler = join(dir, 'filler');
  try {
    // More than the mount holds: the write stops at ENOSPC with every page taken.
    writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  return filler;
}

function journal(stateDir: string): { entries: Map<string, LedgerEntry>; dropped: number } {
  const dropped: { line: number; excerpt: string }[] = [];
  const entries = foldJournal(readFileSync(join(stateDir, LEDGER_FILE), 'utf8'), new Map(), dropped);
  return { entries, dropped: dropped.length };
}

describe('the state directory full or read-only', () => {
  test('full: new creates are refused with a source host error before any tool runs; running domains keep going; space back -> converges, nothing lost', async () => {
    const mount = mountTmpfs('256k');
    try {
      const stateDir = join(mount.dir, 'state');
      const clock = new ManualClock();
      const hv = new FakeHypervisor(clock);
      const r = await startEngine(stateDir, hv, clock);
      await r.send(A, vm(A));
      await advanceUntil(clock, () => r.sink.last(A)?.state === 'RUNNING');

      const filler = fill(mount.dir);
      // An entry larger than a page: it cannot fit in the journal's last page.
      await r.send(B, vm(B, { cmdline: 'x'.repeat(4096) }));
      await advanceUntil(clock, () => r.sink.last(B)?.state === 'BROKEN');
      const error = r.sink.last(B)?.error;
      expect(error).toMatchObject({ source: 'host' });
      expect(error?.message).toMatch(
        /^the state directory cannot record the create, so it is not started: .*ENOSPC/,
      );
      expect(error?.retryAt).toBeDefined();
      expect(hv.calls.filter((c) => c.endsWith('vm-b'))).toEqual([]);

      // The running domain is still served: a pause is carried out and reported.
      await r.send(A, vm(A, { generation: 2, paused: true }));
      await advanceUntil(clock, () => r.sink.last(A)?.state === 'PAUSED');
      expect(r.sink.last(A)?.error).toBeNull();

      rmSync(filler);
      await advanceUntil(clock, () => r.sink.last(B)?.state === 'RUNNING');
      expect(r.sink.last(B)?.error).toBeNull();
      await r.engine.stop();
      r.ledger.close();
      // Every entry is intact; a line torn by the full disk, if any, stands alone and is dropped.
      const j = journal(stateDir);
      expect([...j.entries.keys()].sort()).toEqual([A, B]);
      expect(j.entries.get(B)?.phase).toBe('created');
      expect(j.dropped).toBeLessThanOrEqual(1);
    } finally {
      mount.unmount();
    }
  });

  test('read-only at start: it starts, adopts the running domain, refuses new creates (source host); writable again -> converges', async () => {
    const mount = mountTmpfs('1m');
    try {
      const stateDir = join(mount.dir, 'state');
      const clock = new ManualClock();
      const hv = new FakeHypervisor(clock);
      const first = await startEngine(stateDir, hv, clock);
      await first.send(A, vm(A));
      await advanceUntil(clock, () => first.sink.last(A)?.state === 'RUNNING');
      await first.engine.stop();
      first.ledger.close();

      // An SD card that failed: the kernel remounted it read-only under us.
      mount.remount('ro');
      const r = await startEngine(stateDir, hv, clock);
      await r.send(A, vm(A));
      await advanceUntil(clock, () => r.sink.last(A)?.state === 'RUNNING');
      expect(hv.calls.filter((c) => c === 'create vm-a')).toHaveLength(1); // adopted, not re-created
      await r.send(C, vm(C));
      await advanceUntil(clock, () => r.sink.last(C)?.state === 'BROKEN');
      expect(r.sink.last(C)?.error).toMatchObject({ source: 'host' });
      expect(r.sink.last(C)?.error?.message).toMatch(/EROFS/);
      expect(hv.calls.filter((c) => c.endsWith('vm-c'))).toEqual([]);

      mount.remount('rw');
      await advanceUntil(clock, () => r.sink.last(C)?.state === 'RUNNING');
      await r.engine.stop();
      r.ledger.close();
      expect([...journal(stateDir).entries.keys()].sort()).toEqual([A, C]);
    } finally {
      mount.unmount();
    }
  });
});

describe('a damaged ledger', () => {
  const entry = (uuid: string, name: string): LedgerEntry => ({
    uuid,
    name,
    phase: 'created',
    restartCounter: 0,
    purgeCounter: 0,
    restartCount: 0,
    runningSpec: null,
    currentMemoryMiB: null,
  });

  test.each([
    [
      'a torn last line',
      `${JSON.stringify(entry(A, 'vm-a'))}\n${JSON.stringify(entry(B, 'vm-b'))}\n{"uuid":"${C}","na`,
      1,
    ],
    [
      'garbage between entries and a foreign JSON line',
      `${JSON.stringify(entry(A, 'vm-a'))}\n\u0000\u0001garbage}}\n[1,2]\n{"uuid":"${C}","hello":1}\n${JSON.stringify(entry(B, 'vm-b'))}\n`,
      3,
    ],
  ])('%s: it loads, keeps every intact entry, reports what it dropped, and rewrites the journal clean', async (_what, text, droppedLines) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'domainmgr-ledger-damaged-'));
    try {
      mkdirSync(stateDir, { recursive: true });
      writeFileSync(join(stateDir, LEDGER_FILE), text);
      const log = logSink();
      const ledger = new FileLedger(stateDir, { logger: log.logger });
      const loaded = await ledger.load();
      expect([...loaded.keys()].sort()).toEqual([A, B]);
      expect(ledger.dropped()).toHaveLength(droppedLines);
      expect(log.lines.find((l) => /dropped lines/.test(String(l.msg)))).toMatchObject({
        dropped: droppedLines,
      });
      await ledger.put(entry(C, 'vm-c'));
      ledger.close();
      const j = journal(stateDir);
      expect([...j.entries.keys()].sort()).toEqual([A, B, C]);
      expect(j.dropped).toBe(0);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('an engine on a ledger with a torn last line starts and adopts the intact entries', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'domainmgr-ledger-torn-'));
    try {
      writeFileSync(join(stateDir, LEDGER_FILE), `${JSON.stringify(entry(A, 'vm-a'))}\n{"uuid":"${B}","ph`);
      const clock = new ManualClock();
      const hv = new FakeHypervisor(clock);
      hv.addDomain(A, 'vm-a');
      const r = await startEngine(stateDir, hv, clock);
      await r.send(A, vm(A));
      await advanceUntil(clock, () => r.sink.last(A)?.state === 'RUNNING');
      expect(hv.calls.filter((c) => c.startsWith('create'))).toEqual([]);
      await r.engine.stop();
      r.ledger.close();
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('restarted during a shutdown grace', () => {
  test('the restarted domainmgr keeps what is left of the grace: no second shutdown, destroy when the first grace ends', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'domainmgr-grace-'));
    try {
      const clock = new ManualClock();
      const hv = new FakeHypervisor(clock);
      const first = await startEngine(stateDir, hv, clock);
      await first.send(A, vm(A));
      await advanceUntil(clock, () => first.sink.last(A)?.state === 'RUNNING');
      hv.hang(A); // the guest ignores the request: only the grace's end stops it
      await first.send(A, vm(A, { generation: 2, activate: false }));
      await advanceUntil(clock, () => first.sink.last(A)?.state === 'HALTING');
      const askedAt = clock.now();
      await clock.advance(4000);
      await first.engine.stop();
      first.ledger.close();
      expect(hv.count('shutdown')).toBe(1);
      // The grace's end is on file as wall time (the shutdown ran within the last step before HALTING was seen).
      const endsAt = journal(stateDir).entries.get(A)?.shutdownGraceEndsAt ?? Number.NaN;
      expect(endsAt).toBeGreaterThan(askedAt - 100 + GRACE_MS - 1);
      expect(endsAt).toBeLessThanOrEqual(askedAt + GRACE_MS);

      // Down for 2 s; the new process has a monotonic clock of its own, starting over.
      const restarted = new ManualClock(clock.now() + 2000);
      const r = await startEngine(stateDir, hv, restarted);
      await r.send(A, vm(A, { generation: 2, activate: false }));
      await restarted.advance(0);
      const left = endsAt - restarted.now(); // about 4 s
      await restarted.advance(left - 1);
      expect(hv.count('shutdown')).toBe(1);
      expect(hv.count('destroy')).toBe(0);
      expect(r.sink.last(A)?.state).toBe('HALTING');
      await advanceUntil(restarted, () => r.sink.last(A)?.state === 'HALTED', 1, 100);
      expect(hv.count('destroy')).toBe(1);
      expect(hv.count('shutdown')).toBe(1);
      await r.engine.stop();
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
