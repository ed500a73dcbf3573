/**
 * The simulated xl's config reader against the real thing: every fixture under
 * test/fixtures/xlcfg goes through Debian's xl 4.17 (`xl -N create`, see scripts/real-xl) and
 * through parseXlCfg; exit code, stderr and the libxl JSON must be identical.
 *
 * Needs `bash scripts/real-xl/setup.sh` once per machine. Without it this suite FAILS (it does not
 * skip): a comparison that silently did not run would prove nothing.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseXlCfg } from '../../sim/xlcfg/parse.js';
import { REAL_XL_SETUP_HINT, realXlAvailable, runRealXlDryCreate } from '../support/real-xl.js';

const FIXTURES = resolve(import.meta.dirname, '..', 'fixtures', 'xlcfg');
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Case {
  name: string;
  text: string;
  extra: string[];
}

function loadCases(): Case[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.cfg'))
    .sort()
    .map((f) => {
      const name = f.replace(/\.cfg$/, '');
      const argsFile = join(FIXTURES, `${name}.args.json`);
      const extra = existsSync(argsFile) ? (JSON.parse(readFileSync(argsFile, 'utf8')) as string[]) : [];
      return { name, text: readFileSync(join(FIXTURES, f), 'utf8'), extra };
    });
}

const cases = loadCases();

/** Whether the config (with its extra lines) sets a uuid; if not, xl makes up a random one. */
function setsUuid(c: Case): boolean {
  return /(^|[\n;])[ \t]*uuid[ \t]*\+?=/.test(`${c.text}\n${c.extra.join('\n')}`);
}

/** Random uuids cannot match: check both are well-formed, then drop them. */
function withoutRandomUuid(json: unknown, c: Case): unknown {
  const copy = structuredClone(json) as { c_info?: { uuid?: unknown } };
  if (!setsUuid(c) && copy.c_info) {
    expect(copy.c_info.uuid).toMatch(UUID_RE);
    delete copy.c_info.uuid;
  }
  return copy;
}

describe('real xl 4.17 is set up', () => {
  it('has scripts/real-xl set up (run it; this suite must not pass without it)', () => {
    if (!realXlAvailable()) {
      throw new Error(`real xl 4.17 is not set up on this machine; run: ${REAL_XL_SETUP_HINT}`);
    }
  });
});

describe('parseXlCfg agrees with real xl -N create', () => {
  it('has a corpus of at least 40 configs, good and bad', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    expect(cases.filter((c) => c.name.startsWith('good-')).length).toBeGreaterThanOrEqual(15);
    expect(cases.filter((c) => c.name.startsWith('bad-')).length).toBeGreaterThanOrEqual(15);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    if (!realXlAvailable()) throw new Error(`real xl is not set up; run: ${REAL_XL_SETUP_HINT}`);
    const real = await runRealXlDryCreate(c.text, c.extra);
    const ours = parseXlCfg(c.text, real.cfgPath, c.extra);

    // xl's create command prints this line before parsing; parseXlCfg leaves it to its caller.
    const parsingLine = `Parsing config from ${real.cfgPath}\n`;
    expect(real.stderr.startsWith(parsingLine)).toBe(true);
    const realStderr = real.stderr.slice(parsingLine.length);

    // Fixture names say what real xl does, so a fixture cannot silently change sides.
    expect(real.exitCode === 0).toBe(c.name.startsWith('good-'));

    if (ours.ok) {
      expect({ exitCode: 0, stderr: ours.warnings.map((l) => `${l}\n`).join('') }).toEqual({
        exitCode: real.exitCode,
        stderr: realStderr,
      });
      expect(real.json).toBeDefined();
      expect(withoutRandomUuid(ours.config, c)).toEqual(withoutRandomUuid(real.json, c));
    } else {
      expect({ exitCode: ours.exitCode, stderr: ours.stderr }).toEqual({
        exitCode: real.exitCode,
        stderr: realStderr,
      });
      expect(real.stdout).toBe('');
    }
  });
});
