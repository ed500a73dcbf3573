import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  elf64LoadRange,
  type KernelLoadRange,
  pvKernelAllocError,
  readElf64LoadRange,
} from '../../sim/xen/pv-kernel.js';
import { elf64Header, type Phdr64, removeTempDirs, tempDir } from './helpers.js';

afterAll(() => removeTempDirs());

const readerOf = (buf: Uint8Array) => (offset: number, length: number) =>
  buf.subarray(offset, offset + length);

// Debian's 6.1.0 amd64 vmlinux (the payload of vmlinuz-6.1.0-56-amd64), `readelf -lW`: the
// per-cpu segment is linked at virtual address 0, its physical address is in line with the rest.
const DEBIAN_61: Phdr64[] = [
  { flags: 5, vaddr: 0xffffffff81000000n, paddr: 0x1000000n, memsz: 0x18ea9f0n },
  { flags: 6, vaddr: 0xffffffff82a00000n, paddr: 0x2a00000n, memsz: 0x644000n },
  { flags: 6, vaddr: 0x0n, paddr: 0x3044000n, memsz: 0x35000n },
  { flags: 7, vaddr: 0xffffffff83079000n, paddr: 0x3079000n, memsz: 0x1987000n },
  { type: 4, flags: 4, vaddr: 0xffffffff824c1990n, paddr: 0x24c1990n, memsz: 0x1f8n }, // PT_NOTE
];

describe('elf64LoadRange: the physical load range libelf computes', () => {
  const table: [string, Uint8Array, KernelLoadRange | null][] = [
    [
      'Debian 6.1 vmlinux: 0x1000000..0x4a00000',
      elf64Header(DEBIAN_61),
      { pstart: 0x1000000n, pend: 0x4a00000n },
    ],
    [
      'big-endian: the same range',
      elf64Header(DEBIAN_61, { bigEndian: true }),
      { pstart: 0x1000000n, pend: 0x4a00000n },
    ],
    [
      'segments in any order; the end is the highest paddr + memsz, not the last one',
      elf64Header([
        { vaddr: 0x3000n, paddr: 0x3000n, memsz: 0x10n },
        { vaddr: 0x1000n, paddr: 0x1000n, memsz: 0x5000n },
      ]),
      { pstart: 0x1000n, pend: 0x6000n },
    ],
    [
      'a PT_LOAD without R, W or X is not loadable',
      elf64Header([
        { flags: 0, vaddr: 0n, paddr: 0n, memsz: 0x100000n },
        { vaddr: 0x200000n, paddr: 0x200000n, memsz: 0x1000n },
      ]),
      { pstart: 0x200000n, pend: 0x201000n },
    ],
    ['only a PT_NOTE: nothing to load', elf64Header([{ type: 4, vaddr: 0n, paddr: 0n, memsz: 0x10n }]), null],
    ['no program headers', elf64Header([]), null],
    [
      'ELF32: not parsed',
      (() => {
        const b = elf64Header(DEBIAN_61);
        b[4] = 1;
        return b;
      })(),
      null,
    ],
    [
      'program header table cut off by the end of the file',
      elf64Header(DEBIAN_61).subarray(0, 64 + 56 * 4),
      null,
    ],
    ['a bzImage (MZ header, no ELF magic)', Buffer.from(`MZ${'\0'.repeat(0x200)}HdrS`, 'latin1'), null],
    ['a test dummy kernel', Buffer.from('dummy kernel\n'), null],
    ['an empty file', Buffer.alloc(0), null],
  ];
  test.each(table)('%s', (_name, bytes, expected) => {
    expect(elf64LoadRange(readerOf(bytes))).toEqual(expected);
  });

  test('reads the ELF header and the program headers only', () => {
    const reads: [number, number][] = [];
    const bytes = elf64Header(DEBIAN_61);
    elf64LoadRange((offset, length) => {
      reads.push([offset, length]);
      return bytes.subarray(offset, offset + length);
    });
    expect(reads).toEqual([
      [0, 64],
      [64, 56 * DEBIAN_61.length],
    ]);
  });

  test('readElf64LoadRange on files: ELF64, dummy, missing, a directory', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'vmlinux'), elf64Header(DEBIAN_61));
    writeFileSync(join(dir, 'dummy'), 'not a kernel\n');
    expect(readElf64LoadRange(join(dir, 'vmlinux'))).toEqual({ pstart: 0x1000000n, pend: 0x4a00000n });
    expect(readElf64LoadRange(join(dir, 'dummy'))).toBeNull();
    expect(readElf64LoadRange(join(dir, 'nosuch'))).toBeNull();
    expect(readElf64LoadRange(dir)).toBeNull();
  });
});

describe("pvKernelAllocError: libxc's xc_dom_chk_alloc_pages for the padding and kernel segments", () => {
  const debian: KernelLoadRange = { pstart: 0x1000000n, pend: 0x4a00000n }; // 0x3a00 pages at pfn 0x1000
  const tooLarge = (seg: string, pages: string, total: string, end: string) =>
    'xc: error: panic: xg_dom_core.c:536: xc_dom_chk_alloc_pages: ' +
    `segment ${seg} too large (${pages} > ${total} - ${end} pages): Out of memory\n`;
  const table: [string, number, KernelLoadRange, string | null][] = [
    // the real capture, xl-create-memory-below-kernel.txt
    ['Debian kernel, 64 MiB (real capture)', 64, debian, tooLarge('kernel', '0x3a00', '0x4000', '0x1000')],
    ['Debian kernel, 73 MiB: one MiB short', 73, debian, tooLarge('kernel', '0x3a00', '0x4900', '0x1000')],
    ['Debian kernel, 74 MiB: exactly fits', 74, debian, null],
    ['Debian kernel, 128 MiB (the tests)', 128, debian, null],
    [
      'Debian kernel, 16 MiB: padding fits, kernel larger than memory',
      16,
      debian,
      tooLarge('kernel', '0x3a00', '0x1000', '0x1000'),
    ],
    [
      'Debian kernel, 8 MiB: the padding to 16 MiB fails first',
      8,
      debian,
      tooLarge('padding', '0x1000', '0x800', '0x0'),
    ],
    ['Debian kernel, 0 MiB', 0, debian, tooLarge('padding', '0x1000', '0x0', '0x0')],
    [
      'partial last page counts as a page',
      1,
      { pstart: 0n, pend: 0x100001n },
      tooLarge('kernel', '0x101', '0x100', '0x0'),
    ],
    ['loaded at 0, exactly 1 MiB in 1 MiB', 1, { pstart: 0n, pend: 0x100000n }, null],
    ['unaligned start: another libxc error, not emulated', 1, { pstart: 0x800n, pend: 0x10000000n }, null],
    [
      'hex is lowercase, unpadded',
      1024,
      { pstart: 0xab000n, pend: 0x4000cd000n },
      tooLarge('kernel', '0x400022', '0x40000', '0xab'),
    ],
  ];
  test.each(table)('%s', (_name, memMiB, range, expected) => {
    expect(pvKernelAllocError(memMiB, range)).toBe(expected);
  });
});
