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
 * An LXC state mapped to ObservedState, with domainmgr's mark for a stopped container. Pure.
 * - RUNNING, THAWED: running; FROZEN: paused.
 * - STOPPED: `defined` (created, not started yet) is paused, as a Xen domain made by `create -p`;
 *   `stopping` (domainmgr asked it to stop) is shutdown; `rebooting` is transitional;
 *   `started` or no mark is crashed: its init died while it should run. LXC's listing cannot tell
 *   a guest poweroff from a crash, so both read crashed (the restart policy's `on-failure` then
 *   restarts a guest that powered itself off).
 * - STARTING, STOPPING, ABORTING, FREEZING: transitional.
 */
export function lxcObservedState(state: LxcStateName, mark: LxcMark | null): ObservedState {
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
          return 'crashed';
      }
    default:
      return 'transitional';
  }
}
