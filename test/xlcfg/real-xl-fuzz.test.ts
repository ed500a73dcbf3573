/**
 * Differential fuzzing against real xl 4.17: configs assembled from hostile fragments (odd
 * numbers, escapes, quotes, separators, comments, stray characters, malformed disk/vif/pci
 * specs) with a fixed seed, each compared like the fixture corpus. The seed makes failures
 * reproducible; XLCFG_FUZZ_CASES and XLCFG_FUZZ_SEED widen a local run.
 * Fails (does not skip) when real xl is not set up: run `bash scripts/real-xl/setup.sh`.
 */
import { parseXlCfg } from '../../sim/xlcfg/parse.js';
import { REAL_XL_SETUP_HINT, realXlAvailable, runRealXlDryCreate } from '../support/real-xl.js';

const CASES = Number(process.env.XLCFG_FUZZ_CASES ?? 300);
const SEED = Number(process.env.XLCFG_FUZZ_SEED ?? 20240611);

/** mulberry32: small deterministic PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = [
  'name',
  'type',
  'uuid',
  'memory',
  'maxmem',
  'vcpus',
  'maxvcpus',
  'cpus',
  'kernel',
  'ramdisk',
  'cmdline',
  'root',
  'extra',
  'bootloader',
  'disk',
  'vif',
  'pci',
  'on_poweroff',
  'on_reboot',
  'on_crash',
  'on_watchdog',
  'tsc_mode',
  'pci_permissive',
  'pci_seize',
  'frob',
  'x.y_z',
];
const NUMBERS = ['0', '1', '2', '8', '010', '0x10', '0x', '1e3', '00', '99999999999999999999', '09', '4096'];
const STRINGS = [
  'vm',
  'pv',
  'pvh',
  'hvm',
  '',
  'p',
  'h',
  'destroy',
  'preserve',
  'restart',
  'coredump-destroy',
  'native',
  '0-3,^1',
  'all',
  '0,2-3',
  '5-2',
  '/boot/k',
  'a b',
  '1024',
  '0x20',
  ' 7',
  '12abc',
  '6f9619ff-8b86-d011-b42d-00c04fc964ff',
  'format=raw,vdev=xvda,target=/x',
  '/d,raw,xvda,rw',
  'vdev=xvdb',
  'phy:/dev/sda,hda:cdrom,r',
  'format=qcow2,vdev=xvdc,access=ro,target=/q,w',
  'mac=00:16:3e:00:00:01,bridge=xenbr0',
  'mac=00:16,bridge=b',
  'bridge=br0,foo=1',
  'type=ioemu,model=e1000',
  'devid=3,mtu=1500',
  'mac=zz',
  '0000:03:00.0',
  '03:00.1@4',
  '04:00.*',
  '05:00.0,seize=1',
  'qq',
  'name=gpu',
];
const ESCAPES = [
  '\\"',
  "\\'",
  '\\\\',
  '\\n',
  '\\t',
  '\\a',
  '\\v',
  '\\101',
  '\\1',
  '\\12x',
  '\\x41',
  '\\q',
  '\\0777',
];
const JUNK = [
  '@',
  '+',
  '(',
  ')',
  '-',
  '.',
  ':',
  'X',
  '$',
  '\r',
  '\\',
  '"',
  "'",
  '#',
  '=',
  '[',
  ']',
  ',',
  ';',
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function quoted(r: () => number): string {
  let body = pick(r, STRINGS);
  if (r() < 0.3) {
    const at = Math.floor(r() * (body.length + 1));
    body = body.slice(0, at) + pick(r, ESCAPES) + body.slice(at);
  }
  const q = r() < 0.7 ? '"' : "'";
  return `${q}${body.replaceAll(q, `\\${q}`)}${q}`;
}

function value(r: () => number, depth: number): string {
  const x = r();
  if (x < 0.35) return pick(r, NUMBERS);
  if (x < 0.75 || depth > 1) return quoted(r);
  const n = Math.floor(r() * 4);
  const items = Array.from({ length: n }, () => value(r, depth + 1));
  const sep = r() < 0.2 ? ',\n' : ', ';
  return `[${items.join(sep)}${r() < 0.3 ? ',' : ''}]`;
}

function statement(r: () => number): string {
  const key = pick(r, KEYS);
  const op = r() < 0.1 ? '+=' : '=';
  let stmt = `${key} ${op} ${value(r, 0)}`;
  if (r() < 0.08) {
    const at = Math.floor(r() * (stmt.length + 1));
    stmt = stmt.slice(0, at) + pick(r, JUNK) + stmt.slice(at);
  }
  if (r() < 0.1) stmt += ` # ${pick(r, STRINGS)}`;
  return stmt;
}

function config(r: () => number): { text: string; extra: string[] } {
  const lines: string[] = [];
  if (r() < 0.85) lines.push('name = "fz"');
  if (r() < 0.8) lines.push('kernel = "/k"');
  const n = 1 + Math.floor(r() * 6);
  for (let i = 0; i < n; i++) lines.push(statement(r));
  let text = '';
  for (const l of lines) text += l + (r() < 0.1 ? ';' : '\n');
  if (r() < 0.15) text = text.replace(/\n$/, '');
  // An argument starting with '-' would be one of xl create's options, not a config line.
  const extra = r() < 0.15 ? [statement(r)].filter((a) => !a.startsWith('-')) : [];
  return { text, extra };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function normalise(json: unknown): unknown {
  const copy = structuredClone(json) as { c_info?: { uuid?: string } };
  // A random (xl-generated) uuid cannot match; a uuid from the cfg is compared by the caller.
  if (copy.c_info?.uuid && UUID_RE.test(copy.c_info.uuid)) copy.c_info.uuid = '<uuid>';
  return copy;
}

describe(`parseXlCfg vs real xl on ${CASES} generated configs (seed ${SEED})`, () => {
  it('agrees on every one', async () => {
    if (!realXlAvailable()) throw new Error(`real xl 4.17 is not set up; run: ${REAL_XL_SETUP_HINT}`);
    const r = rng(SEED);
    const mismatches: string[] = [];
    let accepted = 0;
    let unsupported = 0;
    for (let i = 0; i < CASES; i++) {
      const { text, extra } = config(r);
      const real = await runRealXlDryCreate(text, extra);
      const ours = parseXlCfg(text, real.cfgPath, extra);
      const realStderr = real.stderr.replace(/^Parsing config from [^\n]*\n/, '');
      if (!ours.ok && ours.stderr.includes('xl (simulated):')) {
        unsupported++;
        continue;
      }
      const oursView = ours.ok
        ? { exitCode: 0, stderr: ours.warnings.map((l) => `${l}\n`).join(''), json: normalise(ours.config) }
        : { exitCode: ours.exitCode, stderr: ours.stderr, json: undefined };
      const realView = {
        exitCode: real.exitCode,
        stderr: realStderr,
        json: real.json && normalise(real.json),
      };
      if (ours.ok) accepted++;
      if (JSON.stringify(oursView) !== JSON.stringify(realView)) {
        mismatches.push(
          `#${i} ${JSON.stringify(text)} extra=${JSON.stringify(extra)}\n  real: ${JSON.stringify(realView)}\n  ours: ${JSON.stringify(oursView)}`,
        );
      }
    }
    if (process.env.XLCFG_FUZZ_VERBOSE)
      console.log({ cases: CASES, accepted, unsupported, mismatches: mismatches.length });
    expect({ mismatches: mismatches.length, first: mismatches.slice(0, 4) }).toEqual({
      mismatches: 0,
      first: [],
    });
    // The generator must exercise both outcomes, or the comparison proves little.
    expect(accepted).toBeGreaterThan(CASES / 10);
    expect(CASES - accepted - unsupported).toBeGreaterThan(CASES / 10);
  }, 600_000);
});
