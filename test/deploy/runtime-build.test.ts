import { execFile } from 'node:child_process';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../pkg/project-files.js';

// `npm run build` (tsconfig.build.json) makes the dist/ that the runtime image ships. Test doubles
// (test/support) and the benchmark's injections (bench/) have their own build (tsconfig.bench.json):
// if product code imported one of them, tsc would compile it into the runtime build anyway.

test('the runtime build compiles no file from test/ or bench/', async () => {
  const tsc = join(projectRoot, 'node_modules', '.bin', 'tsc');
  const { stdout } = await promisify(execFile)(tsc, ['-p', 'tsconfig.build.json', '--listFilesOnly'], {
    cwd: projectRoot,
    maxBuffer: 16 * 2 ** 20,
  });
  const ours = stdout
    .split('\n')
    .filter((f) => f !== '')
    .map((f) => relative(projectRoot, f).split(sep).join('/'))
    .filter((f) => !f.startsWith('node_modules/') && !f.startsWith('..'));
  const top = new Set(ours.map((f) => f.split('/')[0]));
  expect(top).toEqual(new Set(['cmd', 'pkg', 'types', 'sim']));
  expect(ours).toEqual(expect.arrayContaining(['cmd/domainmgr.ts', 'pkg/service/run-service.ts']));
});
