import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../pkg/log/logger.js';
import { FileLedger, LEDGER_FILE, LEDGER_PHASES, type LedgerEntry } from '../../pkg/reconcile/ledger.js';
import { HeldLedgerFs } from '../support/held-ledger-fs.js';

const UUID_A = '0b5f0e6e-3c1d-4f55-9a59-1c0f3e7a9d01';
const UUID_B = '0b5f0e6e-3c1d-4f55-9a59-1c0f3e7a9d02';

function entry(uuid: string, phase: LedgerEntry['phase'], restartCount = 0): LedgerEntry {
  return {
    uuid,
    name: `d-${uuid.slice(-2)}`,
    phase,
    restartCounter: 0,
    purgeCounter: 0,
    restartCount,
    runningSpec: null,
    currentMemoryMiB: null,
  };
}

let dir: string;
const open: FileLedger[] = [];
function ledger(): FileLedger {
  const l = new FileLedger(dir);
  open.push(l);
  return l;
}
const journal = () => join(dir, LEDGER_FILE);
const lines = () =>
  readFileSync(journal(), 'utf8')
    .split('\n')
    .filter((l) => l !== '');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ledger-test-'));
});
afterEach(() => {
  for (const l of open.splice(0)) l.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('FileLedger (one append-only journal)', () => {
  test('what was put and removed is what a new ledger loads; the last line of a uuid wins', async () => {
    const a = ledger();
    expect((await a.load()).size).toBe(0);
    await a.put(entry(UUID_A, 'creating'));
    await a.put(entry(UUID_B, 'creating'));
    await a.put(entry(UUID_A, 'created', 2));
    await a.remove(UUID_B);
    a.close();

    const loaded = await ledger().load();
    expect([...loaded.keys()]).toEqual([UUID_A]);
    expect(loaded.get(UUID_A)).toEqual(entry(UUID_A, 'created', 2));
  });

  test('each put is one appended line, written before put resolves (no other file is made)', async () => {
    const a = ledger();
    await a.load();
    const before = lines().length;
    await a.put(entry(UUID_A, 'creating'));
    expect(lines().length).toBe(before + 1);
    expect(JSON.parse(lines().at(-1) as string)).toEqual(entry(UUID_A, 'creating'));
    await a.put(entry(UUID_A, 'created'));
    expect(lines().length).toBe(before + 2);
    expect(readFileSync(journal(), 'utf8').endsWith('\n')).toBe(true);
    expect(readdirSync(dir)).toEqual([LEDGER_FILE]);
  });

  test('a torn last line (kill -9 mid-write) is skipped, and later lines are not glued to it', async () => {
    const a = ledger();
    await a.load();
    await a.put(entry(UUID_A, 'created'));
    a.close();
    appendFileSync(journal(), '{"uuid":"0b5f0e6e-3c1d-4f55-9a59-1c0f3e7a9d02","pha');

    const b = ledger();
    const loaded = await b.load();
    expect([...loaded.keys()]).toEqual([UUID_A]);
    await b.put(entry(UUID_B, 'creating'));
    b.close();

    const c = await ledger().load();
    expect([...c.keys()].sort()).toEqual([UUID_A, UUID_B]);
    expect(c.get(UUID_B)?.phase).toBe('creating');
  });

  test.each(LEDGER_PHASES)('an entry in phase %s is read back after a restart', async (phase) => {
    const a = ledger();
    await a.load();
    await a.put(entry(UUID_A, phase));
    a.close();
    const loaded = await ledger().load();
    expect(loaded.get(UUID_A)?.phase).toBe(phase);
  });

  test('removing a uuid the ledger does not hold writes nothing', async () => {
    const a = ledger();
    await a.load();
    await a.put(entry(UUID_A, 'created'));
    const before = lines().length;
    await a.remove(UUID_B);
    expect(lines().length).toBe(before);
  });

  test('the journal is rewritten when it outgrows its entries, and keeps every live entry', async () => {
    const a = ledger();
    await a.load();
    for (let i = 0; i < 3000; i++) await a.put(entry(UUID_A, i % 2 === 0 ? 'creating' : 'created', i));
    // The rewrite that began at line 1,025 runs off the event loop, which this loop never left:
    // it took the lines appended meanwhile along.
    await a.settled();
    expect(lines().length).toBeLessThan(3000);
    await a.put(entry(UUID_B, 'stopped')); // still past the limit: rewritten again
    await a.settled();
    expect(lines().length).toBe(2);
    a.close();
    const loaded = await ledger().load();
    expect(loaded.get(UUID_A)?.restartCount).toBe(2999);
    expect(loaded.get(UUID_B)?.phase).toBe('stopped');
    expect(loaded.size).toBe(2);
  });

  test("an earlier domainmgr's file per uuid is taken in, then removed", async () => {
    const legacy = join(dir, 'domains');
    mkdirSync(legacy);
    writeFileSync(join(legacy, `${UUID_A}.json`), JSON.stringify(entry(UUID_A, 'created', 4)));
    writeFileSync(join(legacy, `${UUID_B}.json`), '{"uuid":"torn');
    writeFileSync(join(legacy, 'notes.txt'), 'not a ledger file');

    const loaded = await ledger().load();
    expect([...loaded.keys()]).toEqual([UUID_A]);
    expect(loaded.get(UUID_A)?.restartCount).toBe(4);
    expect(existsSync(legacy)).toBe(false);
    // ...and it is in the journal now, for the next start.
    const again = await ledger().load();
    expect(again.get(UUID_A)?.restartCount).toBe(4);
  });

  test('a put before load() appends to the journal that is there', async () => {
    const a = ledger();
    await a.load();
    await a.put(entry(UUID_A, 'created'));
    a.close();
    const b = ledger();
    await b.put(entry(UUID_B, 'creating'));
    b.close();
    const loaded = await ledger().load();
    expect([...loaded.keys()].sort()).toEqual([UUID_A, UUID_B]);
  });

  test('lines that are not entries are skipped', async () => {
    writeFileSync(
      journal(),
      `${JSON.stringify(entry(UUID_A, 'created'))}\n[1,2]\nnull\n{"name":"no uuid"}\n\n`,
    );
    const loaded = await ledger().load();
    expect([...loaded.keys()]).toEqual([UUID_A]);
    expect(lines()).toEqual([JSON.stringify(entry(UUID_A, 'created'))]);
  });
});

describe('FileLedger: a rewrite never holds a put', () => {
  const UUIDS = Array.from(
    { length: 12 },
    (_, i) => `0b5f0e6e-3c1d-4f55-9a59-${String(i).padStart(12, '0')}`,
  );
  const heldLedger = (fs: HeldLedgerFs, logged: string[] = []) => {
    const l = new FileLedger(dir, {
      fs,
      compactMinLines: 8,
      logger: createLogger('error', { write: (line: string) => void logged.push(line) }),
    });
    open.push(l);
    return l;
  };
  /**
   * A loaded ledger whose fsyncs are held, put to until a rewrite is due (more than 8 lines for 2
   * live entries), and that rewrite waiting for its fsync.
   */
  const rewriting = async (logged: string[] = []) => {
    const fs = new HeldLedgerFs();
    const l = heldLedger(fs, logged);
    await l.load();
    fs.holding = true;
    for (let i = 0; i < 9; i++) await l.put(entry(UUIDS[i % 2] as string, 'created', i));
    await fs.whenParked();
    return { fs, a: l };
  };

  test('puts resolve and land in the journal while the rewrite waits for its fsync; then nothing is lost', async () => {
    const { fs, a } = await rewriting();
    const before = lines().length;
    for (let i = 2; i < 12; i++) await a.put(entry(UUIDS[i] as string, 'creating', i));
    await a.remove(UUIDS[0] as string);
    expect(fs.parked).toBe(1); // the rewrite is still waiting...
    expect(lines().length).toBe(before + 11); // ...and every put is in the journal already

    fs.release();
    await a.settled();
    // The snapshot's 2 entries, then the 11 lines appended while it was written.
    expect(lines().length).toBe(13);
    expect(readdirSync(dir)).toEqual([LEDGER_FILE]);
    await a.put(entry(UUIDS[1] as string, 'stopped')); // appends go to the new journal
    a.close();
    const loaded = await ledger().load();
    expect([...loaded.keys()].sort()).toEqual(UUIDS.slice(1).sort());
    expect(loaded.get(UUIDS[1] as string)?.phase).toBe('stopped');
    expect(loaded.get(UUIDS[11] as string)?.restartCount).toBe(11);
  });

  test('a crash while the fsync is held leaves the old journal, whole; the next load clears the rest', async () => {
    const { fs, a } = await rewriting();
    await a.put(entry(UUIDS[5] as string, 'creating'));
    expect(readdirSync(dir).sort()).toEqual([LEDGER_FILE, `${LEDGER_FILE}.${process.pid}.tmp`]);

    // What a restarted domainmgr finds (the held instance never finishes).
    const loaded = await ledger().load();
    expect([...loaded.keys()].sort()).toEqual([UUIDS[0], UUIDS[1], UUIDS[5]].sort());
    expect(readdirSync(dir)).toEqual([LEDGER_FILE]);
    fs.fail(new Error('process gone'));
    await a.settled();
  });

  test('a failed fsync keeps the journal, removes the temporary file, says so, and waits before trying again', async () => {
    const logged: string[] = [];
    const { fs, a } = await rewriting(logged);
    fs.fail(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    await a.settled();
    expect(readdirSync(dir)).toEqual([LEDGER_FILE]);
    expect(lines()).toHaveLength(9);
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0] as string)).toMatchObject({
      msg: 'rewriting the ledger journal failed',
      err: 'EIO: i/o error, fsync',
    });
    // Not again at the next put, only once the journal has grown by compactMinLines more.
    await a.put(entry(UUIDS[0] as string, 'stopped'));
    expect(fs.parked).toBe(0);
    for (let i = 0; i < 8; i++) await a.put(entry(UUIDS[1] as string, 'created', i));
    await fs.whenParked();
    fs.release();
    await a.settled();
    expect(lines()).toHaveLength(2);
  });
});
