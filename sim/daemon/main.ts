/**
 * Entry point of the simulator daemon: `node dist/sim/daemon/main.js <sim-dir>`. The shims in
 * sim/bin start it on demand; nobody needs to run it by hand.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { SimDaemon } from './server.js';

const DEFAULT_IDLE_MS = 15 * 60 * 1000;

const dirArg = process.argv[2] ?? process.env.DOMAINMGR_SIM_DIR;
if (!dirArg) {
  process.stderr.write('usage: main.js <sim-dir>  (or DOMAINMGR_SIM_DIR)\n');
  process.exit(2);
}
const dir = resolve(dirArg);
// The port file holds the token that lets a process drive this host, and the state the host's
// domains: readable by the owner only, however the daemon was started.
process.umask(0o077);
mkdirSync(dir, { recursive: true, mode: 0o700 });
const idleEnv = process.env.DOMAINMGR_SIM_IDLE_MS;
const idleMs = idleEnv !== undefined && /^\d+$/.test(idleEnv) ? Number(idleEnv) : DEFAULT_IDLE_MS;
const persistEnv = process.env.DOMAINMGR_SIM_PERSIST_MS;
const persistDelayMs = persistEnv !== undefined && /^\d+$/.test(persistEnv) ? Number(persistEnv) : 0;
const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} pid ${process.pid}: ${line}\n`);
};

const daemon = new SimDaemon({ dir, idleMs, log, persistDelayMs });
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => daemon.stop());
daemon.listen().catch((e: unknown) => {
  log(`cannot listen: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
