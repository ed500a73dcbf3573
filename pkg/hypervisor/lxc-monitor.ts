import { backoffDelay } from '../backoff.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { CommandRunner, StreamingProcess } from '../runner/command-runner.js';
import type { ChangeWatch } from './hypervisor.js';
import type { LxcStateName } from './parse/lxc-ls.js';
import { parseLxcMonitorLine } from './parse/lxc-monitor.js';

/**
 * States a listing reads as transitional: a line saying one of them brings nothing to list, and
 * the settled state follows within milliseconds (an init's death prints `exited with status`,
 * STOPPING, STOPPED ~10 ms apart). Listing on them would spend the listing, and the gap after it,
 * just before the line that matters.
 */
const IN_BETWEEN: ReadonlySet<LxcStateName> = new Set(['STARTING', 'STOPPING', 'FREEZING']);

/**
 * How long the engine waits after a line before it lists (ChangeWatch.settleMs): more than the
 * ~10 ms between the lines one change of state prints, so that they cost one listing.
 */
export const LXC_MONITOR_SETTLE_MS = 20;

/** Restart delays of an lxc-monitor that ended: doubled per restart from the first, capped. */
export const MONITOR_RESTART_FIRST_MS = 200;
export const MONITOR_RESTART_MAX_MS = 30_000;
/** A monitor that ran this long before it ended counts as healthy: the next restart is quick again. */
const MONITOR_HEALTHY_MS = 60_000;

export interface MonitorWatchDeps {
  runner: CommandRunner;
  clock: Clock;
  logger: Logger;
}

/**
 * Keeps one `lxc-monitor` process running over `argv` (all containers of one container path) and
 * calls `onChange` for every line it prints that a listing would read differently: a settled
 * state (RUNNING, STOPPED, FROZEN, THAWED, ABORTING), with the container's name; or a line it does
 * not know (logged), without a name; not for an init's exit or a state in between, whose settled
 * state follows. When the process ends it is
 * started again with backoff and logged; once it is back, `onChange` is called once more, without a
 * name, since changes to any container while it was down went unseen. The caller
 * lists on each call, so the listing decides what a change means; the periodic listing covers
 * the gaps. A runner that cannot stream gives no feed (logged): the periodic listing only.
 */
export function watchLxcMonitor(
  deps: MonitorWatchDeps,
  argv: readonly string[],
  onChange: (name?: string) => void,
): ChangeWatch {
  const { runner, clock, logger: log } = deps;
  if (runner.stream === undefined) {
    log.info(
      { argv },
      'this runner cannot keep lxc-monitor running: state changes wait for the periodic listing',
    );
    return { close() {}, live: false, settleMs: LXC_MONITOR_SETTLE_MS };
  }
  const stream = runner.stream.bind(runner);
  let closed = false;
  let restarts = 0;
  let current: StreamingProcess | null = null;
  let timer: TimerHandle | null = null;

  const onLine = (line: string) => {
    if (closed) return;
    const event = parseLxcMonitorLine(line);
    if (event === null) {
      log.warn({ argv, line }, 'lxc-monitor printed a line it does not know');
      onChange();
    } else if (event.kind === 'state' && !IN_BETWEEN.has(event.state)) onChange(event.name);
  };
  const launch = (restarted: boolean) => {
    timer = null;
    if (closed) return;
    const startedAt = clock.monotonic();
    const process = stream(argv, onLine);
    current = process;
    if (restarted) {
      log.info({ argv, restarts }, 'lxc-monitor restarted');
      onChange();
    }
    void process.ended.then((end) => {
      if (current === process) current = null;
      if (closed) return;
      if (clock.monotonic() - startedAt >= MONITOR_HEALTHY_MS) restarts = 0;
      const delayMs = backoffDelay(restarts, MONITOR_RESTART_FIRST_MS, MONITOR_RESTART_MAX_MS);
      restarts += 1;
      log.warn(
        { argv, exitCode: end.exitCode, signal: end.signal, stderr: end.stderr.trim(), restartInMs: delayMs },
        'lxc-monitor ended; restarting it (until then the periodic listing sees changes)',
      );
      timer = clock.schedule(delayMs, () => launch(true));
    });
  };
  launch(false);
  return {
    settleMs: LXC_MONITOR_SETTLE_MS,
    /** While lxc-monitor is not running, changes go unseen: the engine lists at the probe interval. */
    get live() {
      return current !== null;
    },
    close() {
      closed = true;
      if (timer !== null) clock.cancel(timer);
      current?.stop();
    },
  };
}
