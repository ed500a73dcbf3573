import { CommandFailedError, CommandNotFoundError, CommandTimeoutError } from '../../pkg/runner/errors.js';
import { FakeRunner } from '../support/fake-runner.js';

describe('FakeRunner', () => {
  test('answers by argv prefix, later rules first, and records calls', async () => {
    const f = new FakeRunner().on(['xl'], { stdout: 'any' }).on(['xl', 'domid'], { stdout: '7\n' });
    expect((await f.run(['xl', 'domid', 'vm1'])).stdout).toBe('7\n');
    expect((await f.run(['xl', 'list'])).stdout).toBe('any');
    expect(f.argvs).toEqual([
      ['xl', 'domid', 'vm1'],
      ['xl', 'list'],
    ]);
  });

  test('applies the real runner failure rules', async () => {
    const f = new FakeRunner()
      .on(['fail'], { exitCode: 3, stderr: 'boom\n' })
      .on(['slow'], { timeout: true })
      .on(['gone'], { notFound: true });
    await expect(f.run(['fail'])).rejects.toBeInstanceOf(CommandFailedError);
    expect((await f.run(['fail'], { acceptExitCodes: [3] })).exitCode).toBe(3);
    await expect(f.run(['slow'], { timeoutMs: 5 })).rejects.toBeInstanceOf(CommandTimeoutError);
    await expect(f.run(['gone'])).rejects.toBeInstanceOf(CommandNotFoundError);
  });

  test('an unscripted command fails loudly', async () => {
    await expect(new FakeRunner().run(['rm', '-rf', '/'])).rejects.toThrow(
      'FakeRunner: no answer scripted for rm -rf /',
    );
  });

  test('answers can be computed from argv and options', async () => {
    const f = new FakeRunner().on(['cat'], (_argv, o) => ({ stdout: o.input ?? '' }));
    expect((await f.run(['cat'], { input: 'x' })).stdout).toBe('x');
  });
});
