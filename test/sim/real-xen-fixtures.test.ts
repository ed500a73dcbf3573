import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { projectRoot } from '../../pkg/project-files.js';
import { type RunResult, type SimHostHandle, startSimHost } from '../support/sim-host.js';
import { elf64Header, removeTempDirs, until, writeCfg } from './helpers.js';

/**
 * Replays the real Xen 4.17 captures (test/fixtures/real-xen/*.txt, written by
 * test/xen/real-xen.test.ts against Debian's xl 4.17.7) on a fresh simulated host: each case
 * builds the same situation (same cfg, same order of creates, so the same domids), runs the
 * same command and compares exit code, stdout and stderr with the capture, exactly, after the
 * normalisations the case names. The only normalisations used:
 *   - CPU_TIME: the Time(s) column of `xl list` rows (cpu seconds differ run to run);
 *   - XL_INFO_HOST: `xl info` values that describe the capture's machine or build (cpu model,
 *     memory of the QEMU box, kernel, compile stamps), see xlInfoShape below.
 * Domids, uuids, macs and memory figures are NOT normalised: the cases reproduce them (the
 * host is configured like the capture's dom0: 2 cpus, Domain-0 1024 MiB, 2047 MiB in all).
 */

const FIXTURES = join(projectRoot, 'test', 'fixtures', 'real-xen');

interface Capture {
  command: string;
  code: number;
  stdout: string;
  stderr: string;
}

function readCapture(name: string): Capture {
  const text = readFileSync(join(FIXTURES, `${name}.txt`), 'utf8');
  const m = /^\$ (.*)\n--- exit (\d+)\n--- stdout\n([\s\S]*?)--- stderr\n([\s\S]*)$/.exec(text);
  if (!m) throw new Error(`${name}.txt is not in the capture format`);
  return { command: m[1] as string, code: Number(m[2]), stdout: m[3] as string, stderr: m[4] as string };
}

type Normalise = (s: string) => string;
const AS_IS: Normalise = (s) => s;

/** The %8.1f cpu-time field of an `xl list` row (after the six state letters and two spaces). */
const CPU_TIME: Normalise = (s) =>
  s.replace(/^(.{40} [ \d]{5} [ \d]{5} [ \d]{5} {5}[-rbpscd]{6} {2})[ \d]{5}\d\.\d/gm, '$1<cpu-sec>');

// The cfg the real run used (test/xen/real-xen.test.ts, "real xl 4.17 facts"): the same file.
const FACTS_CFG = readFileSync(join(projectRoot, 'test', 'fixtures', 'real-xen', 'facts-g1.cfg'), 'utf8');
const REAL_CFG_PATH = '/tmp/facts-g1.cfg';
const OFFLOAD_KEYS = ['feature-sg', 'feature-gso-tcpv4', 'feature-gso-tcpv6', 'feature-ipv6-csum-offload'];

/**
 * The guest kernel the cfg names (Debian's 58 MB vmlinux in the real run) as a synthetic ELF64
 * of the same geometry, derived from xl-create-memory-below-kernel.txt: its kernel segment of
 * 0x3a00 pages starts at pfn 0x1000. Only the ELF and program headers (p_filesz 0). Like the
 * real one it has a per-cpu segment linked at virtual address 0 (libxc goes by physical
 * addresses), and its last segment ends inside its last page.
 */
function guestKernel(): { path: string; image: Buffer } {
  const path = /^kernel = "(.*)"$/m.exec(FACTS_CFG)?.[1];
  const m = /segment kernel too large \(0x([0-9a-f]+) > 0x[0-9a-f]+ - 0x([0-9a-f]+) pages\)/.exec(
    readCapture('xl-create-memory-below-kernel').stderr,
  );
  if (!path || !m) throw new Error('facts-g1.cfg names no kernel, or the capture has no kernel segment');
  const pstart = BigInt(`0x${m[2]}`) << 12n;
  const pend = pstart + (BigInt(`0x${m[1]}`) << 12n);
  const KERNEL_MAP = 0xffffffff80000000n; // Linux's __START_KERNEL_map
  const image = elf64Header([
    { flags: 5, vaddr: KERNEL_MAP + pstart, paddr: pstart, memsz: 0x1000n },
    { flags: 6, vaddr: 0n, paddr: pstart + 0x1000n, memsz: 0x1000n }, // .data..percpu
    { flags: 7, vaddr: KERNEL_MAP + pend - 0x1000n, paddr: pend - 0x1000n, memsz: 0xff0n },
  ]);
  return { path, image };
}

let h: SimHostHandle;
let cfgPath: string;

beforeAll(() => {
  h = startSimHost();
  cfgPath = writeCfg(FACTS_CFG, 'facts-g1.cfg');
  // The cfg stays byte for byte the real one: its absolute kernel path is a file of the simulated
  // host's own filesystem ($DOMAINMGR_SIM_DIR/rootfs, sim/README.md), which xl create reads.
  const kernel = guestKernel();
  const file = join(h.dir, 'rootfs', kernel.path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, kernel.image);
});
afterAll(async () => {
  await h.stop();
  removeTempDirs();
});
beforeEach(async () => {
  await h.simctl(['reset']);
  // The capture's dom0 (xl-info.txt): 2 cpus, dom0_mem=1024M, 2047 MiB. Short boot phase and a
  // short ack timeout keep the cases fast; everything else keeps its default.
  await h.simctl([
    'config',
    'nrCpus=2',
    'dom0MemoryMiB=1024',
    'totalMemoryMiB=2047',
    'hostname=dom0',
    'bootBusyMs=100',
    'shutdownDelayMs=100',
    'shutdownAckTimeoutMs=400',
  ]);
});

/** Runs a captured command on the simulated host; the real cfg path becomes our temp copy. */
async function replay(argv: readonly string[]): Promise<RunResult> {
  return h.run(argv.map((a) => (a === REAL_CFG_PATH ? cfgPath : a)));
}

function fixCfgPath(s: string): string {
  return s.split(cfgPath).join(REAL_CFG_PATH);
}

/** The simulator's outcome equals the capture's, after `norm` on both sides. */
async function expectCapture(name: string, argv: readonly string[], norm: Normalise = AS_IS): Promise<void> {
  const cap = readCapture(name);
  expect(cap.command).toBe(argv.join(' '));
  const r = await replay(argv);
  expect({
    code: r.code,
    stdout: norm(fixCfgPath(r.stdout)),
    stderr: norm(fixCfgPath(r.stderr)),
  }).toEqual({ code: cap.code, stdout: norm(cap.stdout), stderr: norm(cap.stderr) });
}

async function ok(argv: readonly string[]): Promise<RunResult> {
  const r = await replay(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

const create = (...extra: string[]) => ok(['xl', 'create', '-p', REAL_CFG_PATH, ...extra]);

async function stateOf(name: string): Promise<string | undefined> {
  const r = await h.run(['xl', 'list', name]);
  return r.stdout.split('\n')[1]?.slice(40).trim().split(/\s+/)[3];
}

/** Created, offload keys zeroed, unpaused and booted (vifs connected), as in the real run. */
async function runningGuest(): Promise<void> {
  await create();
  await ok(['xenstore-write', ...OFFLOAD_KEYS.flatMap((k) => [`/local/domain/0/backend/vif/1/0/${k}`, '0'])]);
  await ok(['xl', 'unpause', 'facts-g1']);
  await until(async () => (await stateOf('facts-g1')) === '-b----', 5000, 'guest booted');
}

// ---- the cases -------------------------------------------------------------------------------

/** Fixtures the test cannot replay on the simulated host, and why. */
const NOT_REPLAYED: Record<string, string> = {
  'xl-sysrq-crash':
    '`xl sysrq` is not emulated; `simctl crash` stands in for the guest crash (see xl-list-v-crashed)',
};

const CASES: Record<string, () => Promise<void>> = {
  'xl-create-p': async () => {
    await expectCapture('xl-create-p', ['xl', 'create', '-p', REAL_CFG_PATH]);
  },
  'xl-domid': async () => {
    await create();
    await expectCapture('xl-domid', ['xl', 'domid', 'facts-g1']);
  },
  'xl-list-paused': async () => {
    await create();
    // Time 0.0 while paused: compared as is.
    await expectCapture('xl-list-paused', ['xl', 'list', 'facts-g1']);
  },
  'xenstore-ls-vif-backend-after-create': async () => {
    await create();
    await expectCapture('xenstore-ls-vif-backend-after-create', [
      'xenstore-ls',
      '-fp',
      '/local/domain/0/backend/vif/1/0',
    ]);
  },
  'xenstore-write-offload': async () => {
    await create();
    await expectCapture('xenstore-write-offload', [
      'xenstore-write',
      ...OFFLOAD_KEYS.flatMap((k) => [`/local/domain/0/backend/vif/1/0/${k}`, '0']),
    ]);
  },
  'xl-unpause': async () => {
    await create();
    await expectCapture('xl-unpause', ['xl', 'unpause', 'facts-g1']);
  },
  'xenstore-ls-vif-backend-connected': async () => {
    await runningGuest();
    await expectCapture('xenstore-ls-vif-backend-connected', [
      'xenstore-ls',
      '-fp',
      '/local/domain/0/backend/vif/1/0',
    ]);
  },
  'xl-list-v': async () => {
    await runningGuest();
    await expectCapture('xl-list-v', ['xl', 'list', '-v'], CPU_TIME);
  },
  'xl-list': async () => {
    await runningGuest();
    await expectCapture('xl-list', ['xl', 'list'], CPU_TIME);
  },
  'xl-list-l': async () => {
    await runningGuest();
    await expectCapture('xl-list-l', ['xl', 'list', '-l', 'facts-g1']);
  },
  'xl-info': async () => {
    await runningGuest();
    const cap = readCapture('xl-info');
    expect(cap.command).toBe('xl info');
    const r = await h.run(['xl', 'info']);
    expect({ code: r.code, stdout: xlInfoShape(r.stdout), stderr: r.stderr }).toEqual({
      code: cap.code,
      stdout: xlInfoShape(cap.stdout),
      stderr: cap.stderr,
    });
  },
  'xl-mem-set': async () => {
    await runningGuest();
    await expectCapture('xl-mem-set', ['xl', 'mem-set', 'facts-g1', '160']);
    // What the real run checked right after: the target in xenstore, in KiB.
    expect((await h.run(['xenstore-read', '/local/domain/1/memory/target'])).stdout).toBe('163840\n');
  },
  'xl-create-name-in-use': async () => {
    await runningGuest();
    await expectCapture('xl-create-name-in-use', ['xl', 'create', '-p', REAL_CFG_PATH]);
  },
  'xl-create-memory-beyond-free': async () => {
    await runningGuest();
    await replay(['xl', 'create', '-p', REAL_CFG_PATH]); // the name-in-use failure before it: domid 2
    await expectCapture('xl-create-memory-beyond-free', [
      'xl',
      'create',
      '-p',
      REAL_CFG_PATH,
      'name="facts-big"',
      'memory=8000',
      'maxmem=8000',
    ]);
    // nothing is left behind, and the failed creates used up domids 2 and 3
    expect((await h.run(['xl', 'list', 'facts-big'])).code).toBe(1);
    await ok(['xl', 'create', '-p', REAL_CFG_PATH, 'name="after"']);
    expect((await h.run(['xl', 'domid', 'after'])).stdout).toBe('4\n');
  },
  'xl-create-memory-below-kernel': async () => {
    await runningGuest();
    // the two failed creates before it in the real run: name in use (domid 2), memory beyond free (3)
    expect((await replay(['xl', 'create', '-p', REAL_CFG_PATH])).code).toBe(3);
    const big = ['name="facts-big"', 'memory=8000', 'maxmem=8000'];
    expect((await replay(['xl', 'create', '-p', REAL_CFG_PATH, ...big])).code).toBe(3);
    await expectCapture('xl-create-memory-below-kernel', [
      'xl',
      'create',
      '-p',
      REAL_CFG_PATH,
      'name="facts-small"',
      'memory=64',
      'maxmem=64',
    ]);
    // nothing is left behind, the failed create used up domid 4, and the kernel's end decides:
    // 0x1000 + 0x3a00 pages is exactly 74 MiB, 73 MiB is one short
    expect((await h.run(['xl', 'list', 'facts-small'])).code).toBe(1);
    const short = await replay(['xl', 'create', '-p', REAL_CFG_PATH, 'name="short"', 'memory=73']);
    expect({ code: short.code, stderr: short.stderr.split('\n')[1] }).toEqual({
      code: 3,
      stderr:
        'xc: error: panic: xg_dom_core.c:536: xc_dom_chk_alloc_pages: segment kernel too large (0x3a00 > 0x4900 - 0x1000 pages): Out of memory',
    });
    await ok(['xl', 'create', '-p', REAL_CFG_PATH, 'name="fits"', 'memory=74']);
    expect((await h.run(['xl', 'domid', 'fits'])).stdout).toBe('6\n');
  },
  'xl-N-create': async () => {
    await expectCapture('xl-N-create', ['xl', '-N', 'create', REAL_CFG_PATH]);
  },
  'xl-shutdown': async () => {
    await runningGuest();
    await expectCapture('xl-shutdown', ['xl', 'shutdown', 'facts-g1']);
    await until(async () => (await stateOf('facts-g1')) === '---s--', 5000, 'poweroff state');
  },
  'xl-list-v-poweroff': async () => {
    await runningGuest();
    await ok(['xl', 'mem-set', 'facts-g1', '160']);
    await ok(['xl', 'shutdown', 'facts-g1']);
    await until(async () => (await stateOf('facts-g1')) === '---s--', 5000, 'poweroff state');
    await expectCapture('xl-list-v-poweroff', ['xl', 'list', '-v', 'facts-g1'], CPU_TIME);
  },
  'xl-shutdown-already-shut-down': async () => {
    await runningGuest();
    await ok(['xl', 'shutdown', 'facts-g1']);
    await until(async () => (await stateOf('facts-g1')) === '---s--', 5000, 'poweroff state');
    const started = Date.now();
    await expectCapture('xl-shutdown-already-shut-down', ['xl', 'shutdown', 'facts-g1']);
    // It blocks for the ack timeout first (real: about 60 s; shortened to 400 ms here).
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  },
  'xl-destroy-shut-down': async () => {
    await runningGuest();
    await ok(['xl', 'shutdown', 'facts-g1']);
    await until(async () => (await stateOf('facts-g1')) === '---s--', 5000, 'poweroff state');
    await expectCapture('xl-destroy-shut-down', ['xl', 'destroy', 'facts-g1']);
    expect((await h.run(['xl', 'list', 'facts-g1'])).code).toBe(1);
  },
  'xl-list-v-crashed': async () => {
    await runningGuest();
    await ok(['xl', 'mem-set', 'facts-g1', '160']);
    await h.simctl(['crash', 'facts-g1']);
    await expectCapture('xl-list-v-crashed', ['xl', 'list', '-v', 'facts-g1'], CPU_TIME);
  },
  'xl-destroy': async () => {
    await runningGuest();
    await h.simctl(['crash', 'facts-g1']);
    await expectCapture('xl-destroy', ['xl', 'destroy', 'facts-g1']);
  },
  // errors: a fresh host is enough (nothing named nosuch, no domid 999)
  'xl-list-missing-name': () => expectCapture('xl-list-missing-name', ['xl', 'list', 'nosuch']),
  'xl-list-missing-domid': () => expectCapture('xl-list-missing-domid', ['xl', 'list', '999']),
  'xl-domid-missing': () => expectCapture('xl-domid-missing', ['xl', 'domid', 'nosuch']),
  'xl-domid-numeric': () => expectCapture('xl-domid-numeric', ['xl', 'domid', '0']),
  'xl-destroy-missing-name': () => expectCapture('xl-destroy-missing-name', ['xl', 'destroy', 'nosuch']),
  'xl-destroy-missing-domid': () => expectCapture('xl-destroy-missing-domid', ['xl', 'destroy', '999']),
  'xl-shutdown-missing-name': () => expectCapture('xl-shutdown-missing-name', ['xl', 'shutdown', 'nosuch']),
  'xl-shutdown-missing-domid': () => expectCapture('xl-shutdown-missing-domid', ['xl', 'shutdown', '999']),
  'xl-pause-missing-domid': () => expectCapture('xl-pause-missing-domid', ['xl', 'pause', '999']),
  'xl-unpause-missing-domid': () => expectCapture('xl-unpause-missing-domid', ['xl', 'unpause', '999']),
  'xl-mem-set-missing-domid': () =>
    expectCapture('xl-mem-set-missing-domid', ['xl', 'mem-set', '999', '100']),
  'xl-mem-set-bad-size': () => expectCapture('xl-mem-set-bad-size', ['xl', 'mem-set', '0', '2gb']),
  'xl-create-unreadable': async () => {
    expect(existsSync('/tmp/nosuch.cfg')).toBe(false);
    await expectCapture('xl-create-unreadable', ['xl', 'create', '/tmp/nosuch.cfg']);
  },
  'xenstore-write-odd': () => expectCapture('xenstore-write-odd', ['xenstore-write', 'a']),
  'xenstore-read-missing': () => expectCapture('xenstore-read-missing', ['xenstore-read', '/nosuch']),
  'xenstore-write-missing-domain': async () => {
    await runningGuest();
    await expectCapture('xenstore-write-missing-domain', [
      'xenstore-write',
      '/local/domain/0/backend/vif/999/0/feature-sg',
      '0',
    ]);
    // ... and the path is there now
    expect((await h.run(['xenstore-read', '/local/domain/0/backend/vif/999/0/feature-sg'])).stdout).toBe(
      '0\n',
    );
  },
};

/**
 * `xl info` with the values that describe the capture's machine or Xen build replaced by their
 * shape; every key, the order, the padding and all other values stay exact.
 */
const XL_INFO_HOST: Record<string, RegExp> = {
  cpu_mhz: /^\d+\.\d{3}$/,
  hw_caps: /^([0-9a-f]{8}:){7}[0-9a-f]{8}$/,
  free_memory: /^\d+$/, // what is left depends on Xen's own use of the box's memory
  xen_commandline: /dom0_mem=1024M,max:1024M/,
  cc_compile_date: /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}$/,
  build_id: /^[0-9a-f]{40}$/,
};

function xlInfoShape(stdout: string): string {
  return stdout.replace(/^(\S+)( +: )(.*)$/gm, (line, key: string, sep: string, value: string) => {
    const re = XL_INFO_HOST[key];
    if (!re) return line;
    return `${key}${sep}${re.test(value) ? `<${key}>` : `<unexpected ${key}: ${value}>`}`;
  });
}

describe('the simulator replays the real Xen 4.17 captures', () => {
  test('every capture is either replayed or listed with the reason it is not', () => {
    const files = readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.txt'))
      .map((f) => f.slice(0, -4))
      .sort();
    expect(files).toEqual([...Object.keys(CASES), ...Object.keys(NOT_REPLAYED)].sort());
  });

  for (const [name, run] of Object.entries(CASES)) test(name, run, 20_000);

  test('xl-sysrq-crash (not replayed): silent, exit 0', () => {
    const cap = readCapture('xl-sysrq-crash');
    expect(cap).toEqual({ command: 'xl sysrq facts-g1 c', code: 0, stdout: '', stderr: '' });
  });

  test('the ack timeout defaults to the real 60 s', async () => {
    await h.simctl(['reset']);
    const cfg = JSON.parse(await h.simctl(['config'])) as { shutdownAckTimeoutMs: number };
    expect(cfg.shutdownAckTimeoutMs).toBe(60_000);
  });
});
