import { NatsAuthRefusedError } from '../pkg/bus/auth.js';
import { ConfigError, loadConfig, printableConfig, usage } from '../pkg/config/load-config.js';
import { createLogger } from '../pkg/log/logger.js';
import { packageVersion } from '../pkg/project-files.js';

/**
 * domainmgr's entry point. Exit codes: 0 done, 1 failed at run time, 2 invalid configuration or
 * command line (one line on stderr naming the key and the problem, never a stack trace).
 */
async function main(argv: string[]): Promise<number> {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(argv, process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`domainmgr: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (loaded.help) {
    process.stdout.write(`${usage('domainmgr')}\n`);
    return 0;
  }
  if (loaded.version) {
    process.stdout.write(`domainmgr ${packageVersion}\n`);
    return 0;
  }
  if (loaded.printConfig) {
    process.stdout.write(`${printableConfig(loaded.config)}\n`);
    return 0;
  }
  if (loaded.positionals.length > 0) {
    process.stderr.write(
      `domainmgr: invalid command line: unexpected argument ${JSON.stringify(loaded.positionals[0])}\n`,
    );
    return 2;
  }
  const logger = createLogger(loaded.config.log.level);
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) {
      logger.warn({ signal }, 'second signal: exiting at once');
      logger.flush();
      process.exit(1);
    }
    logger.info({ signal }, 'signal received');
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    // The service (engine, backends, bus, metrics) is loaded only to run it: --help, --version
    // and --print-config answer without it, which matters on slow edge storage.
    const { runService } = await import('../pkg/service/run-service.js');
    return await runService({
      config: loaded.config,
      logger,
      version: packageVersion,
      signal: stop.signal,
    });
  } catch (e) {
    if (e instanceof NatsAuthRefusedError) {
      // Wrong credentials at start are a configuration error: exit 2, one line.
      logger.fatal({ err: e.message }, 'domainmgr failed');
      process.stderr.write(`domainmgr: ${e.message}\n`);
      return 2;
    }
    logger.fatal({ err: e instanceof Error ? e.message : String(e) }, 'domainmgr failed');
    return 1;
  } finally {
    logger.flush();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; should a stray handle keep the loop alive, exit anyway.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (e: unknown) => {
    process.stderr.write(`domainmgr: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
