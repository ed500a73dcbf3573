import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../pkg/project-files.js';

const run = promisify(execFile);

// The README's first command, as a user runs it (without a terminal it stops after showing the
// statuses). It uses the built project, the local NATS and a fresh simulated host per backend.
describe('scripts/demo.sh', () => {
  test.each([
    ['xl', ['db', 'web']],
    ['rkt', ['app', 'worker']],
    ['vmadm', ['bhyve', 'zone']],
    // Real containers through LXC 5 (root): the demo installs lxc when missing.
    ['lxc', ['shell', 'web']],
  ])(
    '--backend %s brings the example domains to RUNNING',
    async (backend, names) => {
      const { stdout } = await run('bash', [join(projectRoot, 'scripts/demo.sh'), '--backend', backend], {
        cwd: projectRoot,
        // Above the demo's own bounds (60 s per apply, 20 s to stop), so it fails with its own words.
        timeout: 170_000,
      });
      for (const name of names) {
        expect(stdout).toMatch(new RegExp(`^${name} \\([0-9a-f-]{36}\\): RUNNING at generation 1$`, 'm'));
        expect(stdout).toMatch(new RegExp(`^demo-${backend}\\s+${name}\\s+[0-9a-f-]{36}\\s+RUNNING\\s`, 'm'));
      }
      expect(stdout).toContain('stopping domainmgr');
    },
    200_000,
  );
});
