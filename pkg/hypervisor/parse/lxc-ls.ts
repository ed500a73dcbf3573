import type { ObservedState } from '../hypervisor.js';
import { ToolOutputParseError } from './parse-error.js';

/** The columns the lxc backend asks for, in this order: `lxc-ls -f -F <these>`. */
export const LXC_LS_COLUMNS = ['NAME', 'STATE', 'PID'] as const;

/** LXC's container states (lxc_state_t). */
export const LXC_STATES = [
  'STOPPED',
  'STARTING',
  'RUNNING',
  'STOPPING',
  'ABORTING',
  'FREEZING',
  'FROZEN',
  'THAWED',
] as const;
export type LxcStateName = (typeof LXC_STATES)[number];

export interface LxcLsRow {
  name: string;
  state: LxcStateName;
  /** The init's pid on the host; null when lxc-ls prints `-` (not running). */
  pid: number | null;
}

/**
 * Parses `lxc-ls -f -F NAME,STATE,PID`: a header row naming the columns, then one row per
 * container, columns separated by blanks and padded (a trailing blank too), `-` for an empty
 * value. A path without containers prints nothing at all, not even the header. Pure.
 */
export function parseLxcLs(stdout: string): LxcLsRow[] {
  const lines = stdout
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .map((text, index) => ({ text, number: index + 1 }))
    .filter((l) => l.text.trim() !== '');
  const header = lines.shift();
  if (header === undefined) return [];
  const columns = header.text.trim().split(/\s+/);
  if (columns.join(',') !== LXC_LS_COLUMNS.join(',')) {
    throw new ToolOutputParseError(
      'lxc-ls',
      header.number,
      header.text,
      `expected header ${LXC_LS_COLUMNS.join(' ')}`,
    );
  }
  return lines.map(({ text, number }) => {
    const fields = text.trim().split(/\s+/);
    if (fields.length !== LXC_LS_COLUMNS.length) {
      throw new ToolOutputParseError('lxc-ls', number, text, `expected ${LXC_LS_COLUMNS.length} columns`);
    }
    const [name, state, pid] = fields as [string, string, string];
    if (!(LXC_STATES as readonly string[]).includes(state)) {
      throw new ToolOutputParseError('lxc-ls', number, text, `unknown state ${state}`);
    }
    if (pid !== '-' && !/^[1-9]\d*$/.test(pid)) {
      throw new ToolOutputParseError('lxc-ls', number, text, 'pid is not a number');
    }
    return { name, state: state as LxcStateName, pid: pid === '-' ? null : Number(pid) };
  });
}

/**
 * What domainmgr last did to a container, kept in a file beside its config (see lxc.ts): LXC's
 * own listing says STOPPED alike for a container never started, one stopped on request, and one
 * whose init died, and only domainmgr knows which.
 */
export type LxcMark = 'defined' | 'started' | 'stopping' | 'rebooting';

/**
 * How a container's init ended, as lxc-start's log (`-l INFO`) tells it: LXC logs
 * `Child <PID> ended on signal NAME(N)` or `Child <PID> ended on error (N)`, and nothing when the
 * init exited 0. `unknown`: the log does not show the init started at all (no log, another level).
 */
export type InitEnd =
  | { kind: 'signal'; name: string; signal: number; said: string }
  /** `said`: LXC's line, null for an init that exited 0 (LXC logs nothing then). */
  | { kind: 'exit'; code: number; said: string | null }
  | { kind: 'unknown' };

/**
 * The last end of an init in an lxc-start log (a container rebooted by LXC ends several inits in
 * one log: the last one counts). Pure.
 */
export function lastInitEnd(log: string): InitEnd {
  let end: InitEnd = { kind: 'unknown' };
  for (const line of log.split('\n')) {
    if (/ - Started ".*" with pid "\d+"$/.test(line)) end = { kind: 'exit', code: 0, said: null };
    const signal = / - (Child <\d+> ended on signal (\w+)\((\d+)\))$/.exec(line);
    if (signal !== null)
      end = { kind: 'signal', name: signal[2] ?? '', signal: Number(signal[3]), said: signal[1] ?? '' };
    const error = / - (Child <\d+> ended on error \((\d+)\))$/.exec(line);
    if (error !== null) end = { kind: 'exit', code: Number(error[2]), said: error[1] ?? '' };
  }
  return end;
}

/**
 * How the init ended, in words for a status error, quoting LXC's own line (or, when the log has no
 * end of the init, its first ERROR, `firstError`). Pure.
 */
export function initEndText(end: InitEnd, firstError: string | null = null): string {
  switch (end.kind) {
    case 'signal':
      return `init ended on signal ${end.signal} (LXC: ${end.said})`;
    case 'exit':
      return `init exited with status ${end.code}${end.said === null ? '' : ` (LXC: ${end.said})`}`;
    case 'unknown':
      return `LXC's log does not say how the init ended${firstError === null ? '' : ` (LXC: ${firstError})`}`;
  }
}

/** SIGINT: how the kernel ends a PID namespace's init that called reboot(2) to power off or halt. */
const POWEROFF_SIGNAL = 2;

/**
 * An LXC state mapped to ObservedState, with domainmgr's mark for a stopped container and, for one
 * domainmgr started, how its init ended. Pure.
 * - RUNNING, THAWED: running; FROZEN: paused.
 * - STOPPED: `defined` (created, not started yet) is paused, as a Xen domain made by `create -p`;
 *   `stopping` (domainmgr asked it to stop) is shutdown; `rebooting` is transitional;
 *   `started` or no mark: the init ended while it should run. An init that powered the guest off
 *   or halted it (inside a container reboot(2) ends the init with SIGINT) or exited 0 is shutdown,
 *   a guest poweroff; killed by any other signal, exited non-zero, or an end the log does not
 *   show is crashed. LXC cannot tell a guest poweroff from a SIGINT sent to the init from the
 *   host: both read shutdown.
 * - STARTING, STOPPING, ABORTING, FREEZING: transitional.
 */
export function lxcObservedState(
  state: LxcStateName,
  mark: LxcMark | null,
  end: InitEnd = { kind: 'unknown' },
): ObservedState {
  switch (state) {
    case 'RUNNING':
    case 'THAWED':
      return 'running';
    case 'FROZEN':
      return 'paused';
    case 'STOPPED':
      switch (mark) {
        case 'defined':
          return 'paused';
        case 'stopping':
          return 'shutdown';
        case 'rebooting':
          return 'transitional';
        default:
          return guestStoppedItself(end) ? 'shutdown' : 'crashed';
      }
    default:
      return 'transitional';
  }
}

function guestStoppedItself(end: InitEnd): boolean {
  if (end.kind === 'signal') return end.signal === POWEROFF_SIGNAL;
  return end.kind === 'exit' && end.code === 0;
}
