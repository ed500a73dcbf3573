import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../pkg/project-files.js';

export const SIM_BIN = join(projectRoot, 'sim', 'bin');

/** A fresh simulated host in a temp directory (its daemon starts on the first call). */
export interface BenchSimHost {
  dir: string;
  env: NodeJS.ProcessEnv;
  simctl(...args: string[]): string;
  daemonPid(): number | null;
  stop(): void;
}

export function freshSimHost(label: string): BenchSimHost {
  const dir = mkdtempSync(join(tmpdir(), `domainmgr-bench-${label}-`));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${SIM_BIN}:${process.env.PATH ?? ''}`,
    DOMAINMGR_SIM_DIR: dir,
    DOMAINMGR_SIM_IDLE_MS: String(30 * 60 * 1000),
    // domainmgr (and the 2-spawn floor) find the host's xenstored here, as libxenstore would.
    XENSTORED_PATH: join(dir, 'xenstored', 'socket'),
  };
  const simctl = (...args: string[]): string => {
    const r = spawnSync(join(SIM_BIN, 'simctl'), args, { env, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`simctl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  };
  const daemonPid = (): number | null => {
    try {
      const pid = Number(readFileSync(join(dir, 'daemon.port'), 'utf8').split(' ')[2]);
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };
  // Room for thousands of small guests: 1 TiB of host memory.
  simctl('config', 'totalMemoryMiB=1048576');
  return {
    dir,
    env,
    simctl,
    daemonPid,
    stop() {
      const pid = daemonPid();
      spawnSync(join(SIM_BIN, 'simctl'), ['stop'], { env, timeout: 10_000 });
      if (pid !== null) {
        const alive = (): boolean => {
          try {
            process.kill(pid, 0);
            return true;
          } catch {
            return false;
          }
        };
        const deadline = Date.now() + 10_000;
        while (alive() && Date.now() < deadline) spawnSync('sleep', ['0.02']);
        if (alive()) process.kill(pid, 'SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
