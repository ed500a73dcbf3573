import { type DestinationStream, type Logger, pino } from 'pino';
import { redactSecrets } from './redact.js';

export type { Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * The one way this project makes a logger: pino JSON lines on stdout (or on `destination`, which
 * tests use to read the log as data). Components take a child logger with their own bindings.
 * Every line passes through redactSecrets on its way out, so that no server URL with credentials
 * reaches a log, whichever component or library error put it there.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'domainmgr' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: redactSecrets },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A logger that drops everything, for code paths and tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
