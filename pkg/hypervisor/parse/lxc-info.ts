import { LXC_STATES, type LxcStateName } from './lxc-ls.js';
import { ToolOutputParseError } from './parse-error.js';

export interface LxcInfo {
  state: LxcStateName;
  /** The init's pid on the host; null when not running (lxc-info prints no PID line then). */
  pid: number | null;
}

/**
 * Parses `lxc-info -s -p` of one container: `State:` and, while it runs, `PID:` lines, each a
 * label, blanks and the value (`State:          RUNNING`). A missing or unknown state is an error
 * naming the line. Pure.
 */
export function parseLxcInfo(stdout: string): LxcInfo {
  let state: LxcStateName | null = null;
  let pid: number | null = null;
  for (const [index, raw] of stdout.split('\n').entries()) {
    const line = raw.replace(/\r$/, '');
    const m = /^(State|PID):\s+(\S+)\s*$/.exec(line);
    if (m === null) continue;
    const value = m[2] ?? '';
    if (m[1] === 'State') {
      if (!(LXC_STATES as readonly string[]).includes(value))
        throw new ToolOutputParseError('lxc-info', index + 1, line, `unknown state ${value}`);
      state = value as LxcStateName;
    } else {
      if (!/^[1-9]\d*$/.test(value))
        throw new ToolOutputParseError('lxc-info', index + 1, line, 'pid is not a number');
      pid = Number(value);
    }
  }
  if (state === null) throw new ToolOutputParseError('lxc-info', null, stdout, 'no State line');
  return { state, pid };
}
