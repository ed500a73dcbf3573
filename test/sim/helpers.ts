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

/** A program header of elf64Header(): PT_LOAD (type 1) with R (flags 4) unless given. */
export interface Phdr64 {
  type?: number;
  flags?: number;
  vaddr: bigint;
  paddr: bigint;
  memsz: bigint;
}

/**
 * An ELF64 executable that is only its header and program headers: every segment has
 * p_filesz 0, so a kernel of any geometry is a few hundred bytes.
 */
export function elf64Header(phdrs: readonly Phdr64[], opts: { bigEndian?: boolean } = {}): Buffer {
  const little = !opts.bigEndian;
  const buf = Buffer.alloc(64 + 56 * phdrs.length);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  buf.set([0x7f, 0x45, 0x4c, 0x46, 2, little ? 1 : 2, 1], 0); // magic, ELFCLASS64, data, EV_CURRENT
  v.setUint16(0x10, 2, little); // ET_EXEC
  v.setUint16(0x12, 62, little); // EM_X86_64
  v.setUint32(0x14, 1, little);
  v.setBigUint64(0x20, 64n, little); // e_phoff
  v.setUint16(0x34, 64, little); // e_ehsize
  v.setUint16(0x36, 56, little); // e_phentsize
  v.setUint16(0x38, phdrs.length, little);
  phdrs.forEach((p, i) => {
    const at = 64 + 56 * i;
    v.setUint32(at, p.type ?? 1, little);
    v.setUint32(at + 4, p.flags ?? 4, little);
    v.setBigUint64(at + 0x10, p.vaddr, little);
    v.setBigUint64(at + 0x18, p.paddr, little);
    v.setBigUint64(at + 0x28, p.memsz, little); // p_offset and p_filesz stay 0
  });
  return buf;
}
