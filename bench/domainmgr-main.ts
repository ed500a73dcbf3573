/**
 * domainmgr as the benchmark runs it when a scenario injects something: the product service
 * (runService, configured by domainmgr's own flags and environment) with what the options before
 * `--` ask for:
 *
 *   node dist/bench/domainmgr-main.js [--eve-style] [--no-spawn] [--spawn-log FILE] -- <domainmgr flags>
 *
 *   --eve-style       EVE's domainmgr's strategy over the xl backend (lib/eve-style-hypervisor.ts);
 *                     pass `--create-concurrency 1` among domainmgr's flags for EVE's one create
 *                     at a time.
 *   --no-spawn        the runner that hands each command to the simulated host's daemon over a
 *                     socket (lib/sim-direct-runner.ts) instead of starting a process. The CPU per
 *                     domain, less what the socket calls cost (the floor's "sim-direct" mode), is
 *                     what everything but spawning costs. The host is the one DOMAINMGR_SIM_DIR names.
 *   --spawn-log FILE  a line per command, with its start time (lib/spawn-log-runner.ts).
 */
import { systemClock } from '../pkg/clock.js';
import { loadConfig } from '../pkg/config/load-config.js';
import { createLogger } from '../pkg/log/logger.js';
import { packageVersion } from '../pkg/project-files.js';
import type { CommandRunner } from '../pkg/runner/command-runner.js';
import { productRunner, runService } from '../pkg/service/run-service.js';
import { EveStyleHypervisor } from './lib/eve-style-hypervisor.js';
import { SimDirectRunner } from './lib/sim-direct-runner.js';
import { SpawnLogRunner } from './lib/spawn-log-runner.js';

const argv = process.argv.slice(2);
const split = argv.indexOf('--');
if (split < 0) throw new Error('domainmgr-main: usage: [options] -- <domainmgr flags>');
const own = argv.slice(0, split);
const eveStyle = own.includes('--eve-style');
const noSpawn = own.includes('--no-spawn');
const logAt = own.indexOf('--spawn-log');
const spawnLogFile = logAt < 0 ? undefined : own[logAt + 1];
if (logAt >= 0 && (spawnLogFile === undefined || spawnLogFile.startsWith('--')))
  throw new Error('domainmgr-main: --spawn-log needs a file');
const unknown = own.filter(
  (a, i) => !['--eve-style', '--no-spawn', '--spawn-log'].includes(a) && i !== logAt + 1,
);
if (unknown.length > 0) throw new Error(`domainmgr-main: unknown option ${unknown[0]}`);
const simDir = process.env.DOMAINMGR_SIM_DIR;
if (noSpawn && !simDir) throw new Error('domainmgr-main: --no-spawn needs DOMAINMGR_SIM_DIR');

const { config } = loadConfig(argv.slice(split + 1), process.env);
const logger = createLogger(config.log.level);
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());
/** What was injected, to close once the service has stopped. */
const injected: { spawnLog?: SpawnLogRunner; eve?: EveStyleHypervisor } = {};
const code = await runService({
  config,
  logger,
  version: packageVersion,
  signal: stop.signal,
  makeRunner: (o) => {
    const runner: CommandRunner = noSpawn
      ? new SimDirectRunner(simDir as string, o.observer)
      : productRunner(config, o, systemClock);
    if (spawnLogFile === undefined) return runner;
    injected.spawnLog = new SpawnLogRunner(runner, spawnLogFile);
    return injected.spawnLog;
  },
  ...(eveStyle
    ? {
        wrapHypervisor: (backend, deps) => {
          injected.eve = new EveStyleHypervisor(backend, deps);
          return injected.eve;
        },
      }
    : {}),
});
injected.eve?.close();
await injected.spawnLog?.close();
logger.flush();
process.exit(code);
