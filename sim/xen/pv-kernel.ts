import { closeSync, openSync, readSync } from 'node:fs';

/**
 * What libxc does with a PV guest's kernel before the guest exists: how many pages its segment
 * takes and whether they fit in the guest's memory. Pure parsing and arithmetic, plus one small
 * reader that looks at the ELF header and program headers only (a few KB, never the image).
 *
 * Only ELF64 files are understood. Anything else (a bzImage, a gzipped vmlinux, a test's dummy
 * kernel) gives null: real libxc would decompress it and check it the same way, but its size is
 * unknown without decompressing, so the simulator does not check it at all.
 */

/** The physical load range of the kernel, as libelf's elf_parse_binary computes it. */
export interface KernelLoadRange {
  /** Lowest p_paddr of the loadable program headers. */
  pstart: bigint;
  /** Highest p_paddr + p_memsz of the loadable program headers. */
  pend: bigint;
}

/** Reads up to `length` bytes at `offset` (fewer at the end of the file). */
export type ReadAt = (offset: number, length: number) => Uint8Array;

const EHDR64_SIZE = 64;
const PHDR64_SIZE = 56;
const PT_LOAD = 1;
const PF_RWX = 7;
/** More program headers than this is not a kernel we parse (Linux has 5). */
const MAX_PHDR_BYTES = 64 * 1024;

/**
 * The load range of an ELF64 image from its program headers, or null if the bytes are not an
 * ELF64 file with a sane program header table and at least one loadable segment.
 *
 * libelf uses the *physical* addresses: x86-64 Linux links its per-cpu segment at p_vaddr 0, so
 * a range over p_vaddr would span the whole address space. A segment is loadable when it is
 * PT_LOAD with any of the R/W/X flags (elf_phdr_is_loadable).
 */
export function elf64LoadRange(read: ReadAt): KernelLoadRange | null {
  const ehdr = read(0, EHDR64_SIZE);
  if (ehdr.length < EHDR64_SIZE) return null;
  if (ehdr[0] !== 0x7f || ehdr[1] !== 0x45 || ehdr[2] !== 0x4c || ehdr[3] !== 0x46) return null;
  if (ehdr[4] !== 2) return null; // ELFCLASS64
  const data = ehdr[5];
  if (data !== 1 && data !== 2) return null; // ELFDATA2LSB / ELFDATA2MSB
  const little = data === 1;
  const eh = new DataView(ehdr.buffer, ehdr.byteOffset, ehdr.byteLength);
  const phoff = eh.getBigUint64(0x20, little);
  const phentsize = eh.getUint16(0x36, little);
  const phnum = eh.getUint16(0x38, little);
  if (phnum === 0 || phentsize < PHDR64_SIZE) return null;
  const tableBytes = phnum * phentsize;
  if (tableBytes > MAX_PHDR_BYTES || phoff > BigInt(Number.MAX_SAFE_INTEGER - tableBytes)) return null;
  const table = read(Number(phoff), tableBytes);
  if (table.length < tableBytes) return null; // libelf: phdr overflow
  const ph = new DataView(table.buffer, table.byteOffset, table.byteLength);
  let pstart: bigint | null = null;
  let pend = 0n;
  for (let i = 0; i < phnum; i++) {
    const at = i * phentsize;
    if (ph.getUint32(at, little) !== PT_LOAD || (ph.getUint32(at + 4, little) & PF_RWX) === 0) continue;
    const paddr = ph.getBigUint64(at + 0x18, little);
    const memsz = ph.getBigUint64(at + 0x28, little);
    if (pstart === null || paddr < pstart) pstart = paddr;
    if (paddr + memsz > pend) pend = paddr + memsz;
  }
  return pstart === null ? null : { pstart, pend };
}

/** elf64LoadRange of a file, reading only what it needs; null if the file cannot be read. */
export function readElf64LoadRange(file: string): KernelLoadRange | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    return elf64LoadRange((offset, length) => {
      const buf = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    });
  } catch {
    return null; // a directory, an I/O error: not a kernel we can look at
  } finally {
    closeSync(fd);
  }
}

const PAGE_SHIFT = 12n;
const PAGE_MASK = (1n << PAGE_SHIFT) - 1n;
const hex = (n: bigint): string => `0x${n.toString(16)}`;

/**
 * The panic line libxc prints when a PV guest of `memMiB` MiB cannot hold the kernel, or null
 * when it can. xc_dom_build_image: virt_alloc_end starts at the kernel's VIRT_BASE, so the
 * kernel segment is preceded by a "padding" segment up to its first page; each segment goes
 * through xc_dom_chk_alloc_pages (xg_dom_core.c), which refuses `pages` when
 * `pages > total_pages`, `pfn_alloc_end > total_pages` or `pages > total_pages - pfn_alloc_end`.
 * total_pages is memory in MiB * 256 (xc_dom_mem_init with target_memkb / 1024).
 *
 * This assumes Linux's Xen ELF notes (VIRT_BASE set, no ELF_PADDR_OFFSET, so the padding is
 * pstart's page count). Only the kernel is checked: the ramdisk, start info, p2m list and page
 * tables libxc places after it are not. A kernel that does not start on a page boundary makes
 * xc_dom_alloc_pad fail with another message; that is not emulated (null).
 */
export function pvKernelAllocError(memMiB: number, range: KernelLoadRange): string | null {
  if ((range.pstart & PAGE_MASK) !== 0n) return null;
  const totalPages = BigInt(Math.max(0, Math.floor(memMiB))) << 8n;
  const padding = range.pstart >> PAGE_SHIFT;
  const kernel = (range.pend - range.pstart + PAGE_MASK) >> PAGE_SHIFT;
  return (
    chkAllocPages('padding', padding, totalPages, 0n) ?? chkAllocPages('kernel', kernel, totalPages, padding)
  );
}

function chkAllocPages(name: string, pages: bigint, totalPages: bigint, pfnAllocEnd: bigint): string | null {
  if (pages <= totalPages && pfnAllocEnd <= totalPages && pages <= totalPages - pfnAllocEnd) return null;
  return (
    'xc: error: panic: xg_dom_core.c:536: xc_dom_chk_alloc_pages: ' +
    `segment ${name} too large (${hex(pages)} > ${hex(totalPages)} - ${hex(pfnAllocEnd)} pages): Out of memory\n`
  );
}
