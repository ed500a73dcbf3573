import { SimDirectRunner } from '../../bench/lib/sim-direct-runner.js';
import { CommandFailedError } from '../../pkg/runner/errors.js';
import { type SimHostHandle, startSimHost } from '../support/sim-host.js';

// The benchmark's "no spawns" run is only a measure of domainmgr minus its spawns if this runner
// gets from the simulated host exactly what the spawned tools would: same stdout, stderr and exit
// codes, through the same daemon.

let h: SimHostHandle;
let runner: SimDirectRunner;
const seen: { argv: readonly string[]; exitCode: number | null; outcome: string }[] = [];

beforeAll(async () => {
  h = startSimHost();
  await h.simctl(['ping']);
  runner = new SimDirectRunner(h.dir, (e) =>
    seen.push({ argv: e.argv, exitCode: e.exitCode, outcome: e.outcome }),
  );
});
afterAll(async () => {
  await h.stop();
});

test.each([
  [['xl', 'list']],
  [['xl', 'info']],
  [['xenstore-write', '/local/domain/0/name', 'Domain-0']],
])('%j answers as the spawned tool does', async (argv) => {
  const spawned = await h.run(argv);
  const direct = await runner.run(argv);
  expect(spawned.code).toBe(0);
  expect(direct).toMatchObject({ exitCode: 0, stdout: spawned.stdout, stderr: spawned.stderr });
});

test('a failing command rejects with the tool stderr and exit code, as the spawned one exits', async () => {
  const spawned = await h.run(['xl', 'domid', 'no-such-domain']);
  expect(spawned.code).not.toBe(0);
  const err = await runner.run(['xl', 'domid', 'no-such-domain']).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CommandFailedError);
  expect(err).toMatchObject({ exitCode: spawned.code, stderr: spawned.stderr.trimEnd() });
  expect(seen.at(-1)).toEqual({
    argv: ['xl', 'domid', 'no-such-domain'],
    exitCode: spawned.code,
    outcome: 'failed',
  });
});

test('an accepted exit code resolves', async () => {
  const r = await runner.run(['xl', 'domid', 'no-such-domain'], { acceptExitCodes: [1] });
  expect(r.exitCode).toBe(1);
});
