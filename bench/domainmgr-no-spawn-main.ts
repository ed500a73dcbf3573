/**
 * domainmgr for the benchmark's "no spawns" run: the same service (config, NATS, engine, workers,
 * backend, statuses, ledger, cfg files, metrics) with one difference, its command runner, which
 * hands each command to the simulated host's daemon over a socket (bench/lib/sim-direct-runner.ts)
 * instead of starting a process. Its CPU per domain, less what the socket calls cost (the floor's
 * "sim-direct" mode measures that), is what everything but spawning costs. Takes domainmgr's
 * flags; the simulated host is the one DOMAINMGR_SIM_DIR names.
 */
import { loadConfig } from '../pkg/config/load-config.js';
import { createLogger } from '../pkg/log/logger.js';
import { packageVersion } from '../pkg/project-files.js';
import { runService } from '../pkg/service/run-service.js';
import { SimDirectRunner } from './lib/sim-direct-runner.js';

const simDir = process.env.DOMAINMGR_SIM_DIR;
if (!simDir) throw new Error('domainmgr-no-spawn-main: DOMAINMGR_SIM_DIR is required');
const { config } = loadConfig(process.argv.slice(2), process.env);
const logger = createLogger(config.log.level);
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());
const code = await runService({
  config,
  logger,
  version: packageVersion,
  signal: stop.signal,
  makeRunner: (o) => new SimDirectRunner(simDir, o.observer),
});
logger.flush();
process.exit(code);
