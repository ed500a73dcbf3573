import type { DomainmgrConfig } from '../../types/generated/config.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { CommandRunner } from '../runner/command-runner.js';

/** What every backend is built from; the registry passes the same deps to whichever it builds. */
export interface BackendDeps {
  /** The only way a backend starts a process. */
  runner: CommandRunner;
  logger: Logger;
  config: DomainmgrConfig;
  clock: Clock;
}
