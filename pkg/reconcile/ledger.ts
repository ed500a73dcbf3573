import {
  closeSync,
  existsSync,
  fsync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFile,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log/logger.js';
import type { DomainSpec } from '../schema/domain-spec.js';

/**
 * What domainmgr remembers of each domain it owns, across its own restarts (xend's managed
 * domains): that the uuid is ours, how far a create got, which counters were acted on, and the
 * spec the running domain was built from.
 */
/** Every phase an entry can be in; the loader keeps only entries in one of them. */
export const LEDGER_PHASES = ['creating', 'created', 'halting', 'stopped'] as const;

export interface LedgerEntry {
  uuid: string;
  name: string;
  /**
   * 'creating' from before create until the domain is unpaused (or left paused as asked);
   * 'halting' once domainmgr asked the guest to shut down, until it is destroyed (so that a
   * domainmgr restarted meanwhile does not take that shutdown for the guest's own poweroff).
   */
  phase: (typeof LEDGER_PHASES)[number];
  restartCounter: number;
  purgeCounter: number;
  restartCount: number;
  /** The spec the domain on the hypervisor was built from; null when none is there. */
  runningSpec: DomainSpec | null;
  currentMemoryMiB: number | null;
  /**
   * A graceful shutdown is running and the domain is destroyed at this wall-clock time (ms since
   * the epoch); absent when none is. Wall time, not monotonic: monotonic clocks restart with the
   * process (and the boot), and a domainmgr restarted during the grace keeps what is left of it.
   */
  shutdownGraceEndsAt?: number;
  /**
   * The newest config generation accepted for the domain when the entry was written: what a
   * restarted domainmgr reports before a config reaches it (a delete carries no generation), so
   * that observedGeneration never goes back. Absent in entries of earlier versions: then the
   * running spec's generation.
   */
  observedGeneration?: number;
}

/** Contract: put and remove are durable against a kill -9 of domainmgr once they resolve. */
export interface Ledger {
  load(): Promise<Map<string, LedgerEntry>>;
  put(entry: LedgerEntry): Promise<void>;
  remove(uuid: string): Promise<void>;
}

/**
 * The calls of a journal rewrite that can take long (an fsync on an SD card or eMMC can take
 * hundreds of milliseconds): both run off the event loop. Injected so that tests can hold them.
 */
export interface LedgerFileSystem {
  /** Writes all of `text` at the descriptor's position. */
  write(fd: number, text: string): Promise<void>;
  /** fsync(2). */
  fsync(fd: number): Promise<void>;
}

const writeFd = promisify(writeFile) as (fd: number, text: string) => Promise<void>;
const nodeLedgerFileSystem: LedgerFileSystem = {
  write: (fd, text) => writeFd(fd, text),
  fsync: promisify(fsync),
};

export interface FileLedgerOptions {
  fs?: LedgerFileSystem;
  /** Told when a compaction fails (the journal is then kept as it is, and tried again later). */
  logger?: Logger;
  /** The journal is rewritten past this many lines at least (default 1024). */
  compactMinLines?: number;
}

/** The journal's name under the state directory. */
export const LEDGER_FILE = 'ledger.jsonl';
/** Where an earlier domainmgr kept one file per uuid; taken in and removed by load(). */
const LEGACY_DIR = 'domains';
const LEGACY_FILE = /^[0-9a-f-]{36}\.json$/;
/** A rewrite's temporary file; one left by a crash is removed by load(). */
const REWRITE_FILE = /^ledger\.jsonl\.\d+\.tmp$/;
/** The journal is rewritten when it holds this many times more lines than live entries... */
const COMPACT_FACTOR = 4;
/** ...and at least this many lines. */
const COMPACT_MIN_LINES = 1024;

/**
 * The ledger as one append-only journal, `<stateDir>/ledger.jsonl`: each put is its entry as one
 * JSON line, each remove a `{"uuid":...,"removed":true}` line, appended with one write() to a
 * descriptor kept open. The last line of a uuid wins.
 *
 * Why a journal: the earlier file per uuid (temporary file + rename, two per create) made the
 * filesystem allocate an inode for every write and held the event loop in those calls. An append
 * allocates nothing; it is the one synchronous write left, and it is what put must do before it
 * resolves (the entry is on file before the create that follows it).
 *
 * Crash safety: a kill -9 leaves at worst a torn last line, which load() skips (that put had not
 * resolved). load() then rewrites the journal, so nothing is ever appended after a torn line. The
 * journal is rewritten the same way when it grows past COMPACT_FACTOR times the live entries, so
 * its size follows the number of domains, not their history. Appends are not fsynced: after a
 * power loss no domain is left running, and what is lost is at most the newest lines, which say
 * less than the domains themselves.
 *
 * A rewrite (compaction) never holds the event loop for its write or fsync: the live entries go
 * to a temporary file, written and fsynced off the loop while puts go on appending to the old
 * journal (and are noted). Then, in one synchronous step that no put can enter, the noted lines
 * are appended to the temporary file, it is renamed over the journal, and appends move to it.
 * A crash before the rename leaves the old journal, which holds every line; after it, the new one,
 * which does too. The fsync comes before the rename so that a power loss cannot leave an empty
 * journal behind it.
 */
export class FileLedger implements Ledger {
  readonly #dir: string;
  readonly #path: string;
  readonly #fs: LedgerFileSystem;
  readonly #log: Logger | undefined;
  readonly #compactMinLines: number;
  /** The live entries, the journal's fold; kept for the rewrite (entries are not copied). */
  readonly #entries = new Map<string, LedgerEntry>();
  #fd: number | null = null;
  #lines = 0;
  #loaded = false;
  /** The rewrite in progress, if any. */
  #rewriting: Promise<void> | null = null;
  /** Lines appended to the old journal since the rewrite took its snapshot. */
  #sinceSnapshot: string[] | null = null;
  /** After a failed compaction, the next waits for this many lines. */
  #compactAgainAt = 0;
  /**
   * The journal may end in a torn line (an append that failed part way, a full disk, or a torn
   * line load() could not rewrite away): the next append starts with a newline, so that the
   * torn line stays a line of its own, which the fold skips, and never corrupts the next entry.
   */
  #mayBeTorn = false;
  #dropped: DroppedLine[] = [];

  constructor(stateDir: string, options: FileLedgerOptions = {}) {
    this.#dir = stateDir;
    this.#path = join(stateDir, LEDGER_FILE);
    this.#fs = options.fs ?? nodeLedgerFileSystem;
    this.#log = options.logger;
    this.#compactMinLines = options.compactMinLines ?? COMPACT_MIN_LINES;
  }

  /**
   * Reads the journal: every intact line is kept, a torn or foreign one is dropped and reported
   * (the log, and dropped()). Then the journal is rewritten without them. A state directory that
   * cannot be written (full, read-only) does not stop the load: the entries are still read, the
   * rewrite waits for a later compaction, and the puts that follow fail until the disk heals.
   */
  async load(): Promise<Map<string, LedgerEntry>> {
    await this.#rewriting;
    mkdirSync(this.#dir, { recursive: true });
    this.#closeJournal();
    this.#entries.clear();
    this.#dropped = [];
    for (const f of readdirSync(this.#dir)) {
      if (REWRITE_FILE.test(f)) this.#tryWrite(() => rmSync(join(this.#dir, f), { force: true }));
    }
    const legacy = join(this.#dir, LEGACY_DIR);
    const hadLegacy = existsSync(legacy);
    if (hadLegacy) for (const e of readLegacy(legacy)) this.#entries.set(e.uuid, e);
    if (existsSync(this.#path)) {
      const text = readFileSync(this.#path, 'utf8');
      foldJournal(text, this.#entries, this.#dropped);
      this.#mayBeTorn = text !== '' && !text.endsWith('\n');
    }
    if (this.#dropped.length > 0) {
      this.#log?.warn(
        { dropped: this.#dropped.length, lines: this.#dropped.slice(0, 10) },
        'ledger journal: dropped lines that are torn or not entries (intact entries kept)',
      );
    }
    let rewritten = true;
    try {
      await this.#rewrite();
      this.#mayBeTorn = false;
    } catch (e) {
      rewritten = false;
      this.#compactAgainAt = this.#lines + this.#compactMinLines;
      this.#log?.error(
        { err: e instanceof Error ? e.message : String(e), dir: this.#dir },
        'the state directory cannot be written: the ledger is read, new entries fail until it can',
      );
    }
    // Only once the journal holds them: a crash before this line leaves the old files to be
    // read again.
    if (hadLegacy && rewritten) rmSync(legacy, { recursive: true, force: true });
    this.#loaded = true;
    return new Map(this.#entries);
  }

  /** The lines the last load() dropped (torn or not entries), with their line numbers. */
  dropped(): readonly DroppedLine[] {
    return this.#dropped;
  }

  async put(entry: LedgerEntry): Promise<void> {
    this.#append(`${JSON.stringify(entry)}\n`);
    this.#entries.set(entry.uuid, entry);
    this.#compactIfDue();
  }

  async remove(uuid: string): Promise<void> {
    // Once loaded, the fold is the whole journal: a uuid it lacks has no line to cancel.
    if (this.#loaded && !this.#entries.has(uuid)) return;
    this.#append(`${JSON.stringify({ uuid, removed: true })}\n`);
    this.#entries.delete(uuid);
    this.#compactIfDue();
  }

  /** Resolves when no rewrite is in progress (one started in the background by a put). */
  async settled(): Promise<void> {
    while (this.#rewriting !== null) await this.#rewriting;
  }

  /** Closes the journal's descriptor (a later put opens it again). */
  close(): void {
    this.#closeJournal();
  }

  #append(line: string): void {
    if (this.#fd === null) {
      // A put before load() (not done by the engine), after close(), or after a load that could
      // not rewrite the journal: append to what is there.
      mkdirSync(this.#dir, { recursive: true });
      this.#fd = openSync(this.#path, 'a', 0o600);
    }
    const text = this.#mayBeTorn ? `\n${line}` : line;
    try {
      writeFileSync(this.#fd, text); // on a descriptor: writes it all, at the end ('a')
    } catch (e) {
      // Part of it may be on file (ENOSPC after some bytes): the put rejects, and the next
      // append starts on a line of its own.
      this.#mayBeTorn = true;
      throw e;
    }
    this.#mayBeTorn = false;
    this.#lines++;
    this.#sinceSnapshot?.push(line);
  }

  /** A clean-up write that may fail on a read-only or full directory without harm. */
  #tryWrite(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#log?.warn({ err: e instanceof Error ? e.message : String(e) }, 'ledger clean-up failed');
    }
  }

  #compactIfDue(): void {
    if (!this.#loaded || this.#rewriting !== null) return;
    const limit = Math.max(this.#compactMinLines, COMPACT_FACTOR * this.#entries.size, this.#compactAgainAt);
    if (this.#lines <= limit) return;
    this.#rewrite().catch((e: unknown) => {
      this.#compactAgainAt = this.#lines + this.#compactMinLines;
      this.#log?.error(
        { err: e instanceof Error ? e.message : String(e) },
        'rewriting the ledger journal failed',
      );
    });
  }

  /** The journal replaced by the live entries, one line each, plus what was appended meanwhile. */
  #rewrite(): Promise<void> {
    const run = this.#rewriteNow();
    // What load() and settled() wait for: the end, whatever it was (the caller hears of a failure).
    this.#rewriting = run.then(
      () => {
        this.#rewriting = null;
      },
      () => {
        this.#rewriting = null;
      },
    );
    return run;
  }

  async #rewriteNow(): Promise<void> {
    const tmp = `${this.#path}.${process.pid}.tmp`;
    let text = '';
    for (const e of this.#entries.values()) text += `${JSON.stringify(e)}\n`;
    const snapshotLines = this.#entries.size;
    this.#sinceSnapshot = [];
    const fd = openSync(tmp, 'w', 0o600);
    try {
      await this.#fs.write(fd, text);
      await this.#fs.fsync(fd);
      // From here to the end, synchronous: no put lands between these steps.
      const since = this.#sinceSnapshot ?? [];
      this.#sinceSnapshot = null;
      if (since.length > 0) writeFileSync(fd, since.join(''));
      renameSync(tmp, this.#path);
      const wasOpen = this.#fd !== null || !this.#loaded;
      this.#closeJournal();
      if (wasOpen) this.#fd = openSync(this.#path, 'a', 0o600);
      this.#lines = snapshotLines + since.length;
    } catch (e) {
      this.#sinceSnapshot = null;
      rmSync(tmp, { force: true });
      throw e;
    } finally {
      closeSync(fd);
    }
  }

  #closeJournal(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

/** A journal line load() dropped: its 1-based number and its start. */
export interface DroppedLine {
  line: number;
  excerpt: string;
}

/**
 * Folds journal text into `into`: the last line of each uuid wins; a torn or foreign line is
 * skipped (and told to `dropped` when given).
 */
export function foldJournal(
  text: string,
  into: Map<string, LedgerEntry>,
  dropped?: DroppedLine[],
): Map<string, LedgerEntry> {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '') continue;
    const drop = () => dropped?.push({ line: i + 1, excerpt: line.slice(0, 80) });
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      drop(); // a torn line: its put never resolved
      continue;
    }
    const { uuid, removed } = (typeof o === 'object' && o !== null ? o : {}) as {
      uuid?: unknown;
      removed?: unknown;
    };
    if (typeof uuid !== 'string' || !isEntryLine(o as Record<string, unknown>)) {
      drop();
      continue;
    }
    if (removed === true) into.delete(uuid);
    else into.set(uuid, o as LedgerEntry);
  }
  return into;
}

/** A removal, or an entry with the fields the worker reads (anything else is not ours). */
function isEntryLine(o: Record<string, unknown>): boolean {
  if (o.removed === true) return true;
  return (
    typeof o.name === 'string' &&
    (LEDGER_PHASES as readonly unknown[]).includes(o.phase) &&
    typeof o.restartCounter === 'number' &&
    typeof o.purgeCounter === 'number'
  );
}

/** An earlier domainmgr's files, one per uuid; a torn or foreign file is not ours to trust. */
function readLegacy(dir: string): LedgerEntry[] {
  const out: LedgerEntry[] = [];
  for (const f of readdirSync(dir)) {
    if (!LEGACY_FILE.test(f)) continue;
    try {
      const e = JSON.parse(readFileSync(join(dir, f), 'utf8')) as LedgerEntry;
      if (typeof e.uuid === 'string') out.push(e);
    } catch {
      // skipped: the domain, if any, is then "not ours"
    }
  }
  return out;
}
