import { errorText } from '../../pkg/error-text.js';
import { commandFailure } from '../../pkg/hypervisor/command-failure.js';
import { HypervisorError } from '../../pkg/hypervisor/hypervisor.js';
import { CommandFailedError, CommandTimeoutError } from '../../pkg/runner/errors.js';

const failed = new CommandFailedError('xl create -p /c.cfg exited with 3: name in use', {
  argv: ['xl', 'create', '-p', '/c.cfg'],
  exitCode: 3,
  stderr: 'name in use',
  durationMs: 5,
});
const timedOut = new CommandTimeoutError({ argv: ['rkt', 'run', 'sha512-1'], durationMs: 9, timeoutMs: 100 });

describe('errorText: the one error-to-text of domainmgr and domainctl', () => {
  test.each<[string, unknown, string]>([
    ['a plain error', new Error('disk full'), 'disk full'],
    ['a thrown string', 'boom', 'boom'],
    ['a thrown object', { code: 7 }, '[object Object]'],
    ['null', null, 'null'],
    [
      'a failed command: command, exit code, stderr',
      failed,
      'xl create -p /c.cfg failed (exit 3): name in use',
    ],
    ['a timed-out command', timedOut, 'rkt run sha512-1 timed out after 100 ms'],
    [
      'a wrapper whose message does not say its cause',
      new Error('cannot connect', { cause: new Error('connect ECONNREFUSED 127.0.0.1:4222') }),
      'cannot connect <- connect ECONNREFUSED 127.0.0.1:4222',
    ],
    [
      'a HypervisorError that already repeats its command failure',
      commandFailure('create', failed, 'creating web'),
      'create: creating web: xl create -p /c.cfg failed (exit 3): name in use',
    ],
    [
      'a chain of causes, each said once',
      new HypervisorError('list', 'list failed', {
        cause: new Error('read failed', { cause: new Error('EIO') }),
      }),
      'list failed <- read failed <- EIO',
    ],
  ])('%s', (_name, error, text) => {
    expect(errorText(error)).toBe(text);
  });

  test('no stack trace, whatever the error', () => {
    const e = new Error('x', { cause: new TypeError('y') });
    expect(errorText(e)).not.toMatch(/\n\s+at /);
  });
});
