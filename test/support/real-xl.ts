/**
 * Test support: Debian's real xl 4.17, made runnable without Xen by scripts/real-xl/setup.sh.
 * Used to prove that sim/xlcfg reads xl.cfg files exactly as the real binary does.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const REAL_XL_SCRIPT = join(REPO_ROOT, 'scripts', 'real-xl', 'real-xl');
export const REAL_XL_SETUP_HINT = 'bash scripts/real-xl/setup.sh';

function realXlHome(): string {
  return process.env.REAL_XL_HOME ?? join(homedir(), '.cache', 'domainmgr-real-xl');
}

/** True when setup.sh has unpacked xl and built the preload (what scripts/real-xl/real-xl needs). */
export function realXlAvailable(): boolean {
  const home = realXlHome();
  return (
    existsSync(join(home, 'root', 'usr', 'lib', 'xen-4.17', 'bin', 'xl')) &&
    existsSync(join(home, 'preload.so'))
  );
}

export interface RealXlRun {
  /** Exit code; a process killed by a signal reports 128 + signal number, as a shell would. */
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, when it is JSON (the libxl domain config of a dry run). */
  json?: unknown;
  /** The temporary file name xl was given (it appears in xl's messages). */
  cfgPath: string;
}

const SIGNALS: Record<string, number> = { SIGSEGV: 11, SIGABRT: 6, SIGBUS: 7, SIGKILL: 9, SIGTERM: 15 };

/**
 * Writes `cfgText` to a temporary file and runs `real-xl -N create FILE [extra...]` (dry run:
 * parse the config and print the libxl domain config as JSON).
 */
export async function runRealXlDryCreate(cfgText: string, extra: readonly string[] = []): Promise<RealXlRun> {
  const dir = await mkdtemp(join(tmpdir(), 'xlcfg-'));
  const cfgPath = join(dir, 'domain.cfg');
  try {
    await writeFile(cfgPath, cfgText);
    return await new Promise<RealXlRun>((done, fail) => {
      execFile(
        REAL_XL_SCRIPT,
        ['-N', 'create', cfgPath, ...extra],
        { encoding: 'utf8', timeout: 20_000, env: process.env },
        (err, stdout, stderr) => {
          let exitCode = 0;
          if (err) {
            const e = err as NodeJS.ErrnoException & { code?: number | string; signal?: string | null };
            if (typeof e.code === 'number') exitCode = e.code;
            else if (e.signal) exitCode = 128 + (SIGNALS[e.signal] ?? 0);
            else return fail(err);
          }
          let json: unknown;
          try {
            json = stdout.trim() === '' ? undefined : JSON.parse(stdout);
          } catch {
            json = undefined;
          }
          done({ exitCode, stdout, stderr, json, cfgPath });
        },
      );
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
