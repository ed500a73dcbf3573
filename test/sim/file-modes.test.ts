import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertSimBuilt, runProcess, SIM_BIN_DIR } from '../support/sim-host.js';

// The port file's token lets whoever reads it drive the simulated host; the state names its
// domains. Neither is for other users of the machine, whatever umask the caller has.
describe('the simulated host keeps its folder and files to its owner', () => {
  let base: string;
  let dir: string;
  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    PATH: `${SIM_BIN_DIR}:${process.env.PATH ?? ''}`,
    DOMAINMGR_SIM_DIR: dir,
  });
  beforeAll(() => assertSimBuilt());
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'sim-modes-'));
    dir = join(base, 'host'); // not there yet: the shim makes it
  });
  afterEach(async () => {
    await runProcess([join(SIM_BIN_DIR, 'simctl'), 'stop'], env());
    rmSync(base, { recursive: true, force: true });
  });

  test('a folder made by the first tool call is 0700, the port file and the state 0600', async () => {
    const cfg = join(base, 'm1.cfg');
    writeFileSync(cfg, 'name = "m1"\ntype = "pvh"\nmemory = 64\nkernel = "/boot/vmlinuz"\n');
    const r = await runProcess(['bash', '-c', `umask 022 && xl create ${cfg}`], env());
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: `Parsing config from ${cfg}\n` });
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(dir)).toBe(0o700);
    expect(readFileSync(join(dir, 'daemon.port'), 'utf8')).toMatch(/^\d+ [0-9a-f]{24} \d+\n$/);
    expect(mode(join(dir, 'daemon.port'))).toBe(0o600);
    await runProcess([join(SIM_BIN_DIR, 'simctl'), 'stop'], env()); // stop saves the state
    expect(mode(join(dir, 'state.json'))).toBe(0o600);
    // Nothing the host made can be read by group or others. The stopping daemon removes its port
    // file after `simctl stop` returns: a file gone between the listing and its stat is skipped.
    for (const f of readdirSync(dir, { recursive: true }) as string[]) {
      const st = statSync(join(dir, f), { throwIfNoEntry: false });
      if (st !== undefined) expect({ f, mode: st.mode & 0o077 }).toEqual({ f, mode: 0 });
    }
  });
});
