import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult, SimHostHandle } from '../support/sim-host.js';

const tempDirs: string[] = [];

/** A fresh temp folder, removed by removeTempDirs(). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'domainmgr-sim-t-'));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Writes an xl config into a fresh temp folder and returns its path. */
export function writeCfg(text: string, name = 'guest.cfg'): string {
  const dir = tempDir();
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

export function pvhCfg(name: string, extra = ''): string {
  return `name = "${name}"\ntype = "pvh"\nmemory = 256\nvcpus = 1\nkernel = "/boot/vmlinuz"\n${extra}`;
}

/** Expects an exact outcome: exit code, stdout and stderr. */
export function expectExact(r: RunResult, code: number, stdout: string, stderr: string): void {
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code, stdout, stderr });
}

export async function xl(h: SimHostHandle, ...args: string[]): Promise<RunResult> {
  return h.run(['xl', ...args]);
}

/** The xl list row of one domain, split into its fields. */
export async function listRow(
  h: SimHostHandle,
  name: string,
): Promise<{ domid: number; mem: number; vcpus: number; state: string; time: number } | null> {
  const r = await h.run(['xl', 'list']);
  for (const line of r.stdout.split('\n').slice(1)) {
    if (line.slice(0, 40).trimEnd() !== name) continue;
    const [domid, mem, vcpus, state, time] = line.slice(40).trim().split(/\s+/);
    return {
      domid: Number(domid),
      mem: Number(mem),
      vcpus: Number(vcpus),
      state: String(state),
      time: Number(time),
    };
  }
  return null;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until check() returns true (or fails the test after timeoutMs). */
export async function until(
  check: () => Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}
