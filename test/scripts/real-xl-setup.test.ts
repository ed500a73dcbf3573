import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../pkg/project-files.js';

const run = promisify(execFile);
const SETUP = join(projectRoot, 'scripts', 'real-xl', 'setup.sh');

// setup.sh unpacks Debian's xl into a cache whose programs the tests then run: a cache that
// others can write to would let them run anything as the tester.
describe('scripts/real-xl/setup.sh', () => {
  let base: string;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'real-xl-setup-'));
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  test.each([
    '777',
    '775',
    '757',
  ])('refuses a cache folder of mode %s, before downloading anything', async (octal) => {
    const home = join(base, 'cache');
    await run('mkdir', ['-m', octal, home]);
    chmodSync(home, Number.parseInt(octal, 8)); // whatever the umask
    const err = await run('bash', [SETUP], { env: { ...process.env, REAL_XL_HOME: home } }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(err).toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`${home} must be owned by`) as unknown as string,
    });
    expect(readdirSync(home)).toEqual([]);
  });
});
