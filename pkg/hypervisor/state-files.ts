import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes `text` to `path` so that a reader (or a crash) sees either the old file or the whole new
 * one, never a torn write: a temporary file in the same directory, fsynced, then renamed over, so
 * that a power loss cannot leave an empty file behind the rename either.
 */
export async function writeFileAtomic(path: string, text: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/**
 * Writes `text` to `path` in place (created, or truncated and rewritten), synchronously and without
 * fsync. Not atomic: only for a file that is written again before each use, such as the cfg that
 * `xl create` reads at once (a kill -9 mid-write leaves a torn file that the next create
 * overwrites). Why not writeFileAtomic: its temporary file costs the filesystem an inode and a
 * rename per write, and the promise API a thread-pool round trip, on the path of every create; a
 * small write without fsync does not wait for the device.
 */
export function writeScratchFile(path: string, text: string, mode = 0o600): void {
  try {
    writeFileSync(path, text, { encoding: 'utf8', mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, text, { encoding: 'utf8', mode });
  }
}

/** Removes a file; a file that is already gone is fine. */
export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
