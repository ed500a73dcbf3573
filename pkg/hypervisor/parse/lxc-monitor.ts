import { LXC_STATES, type LxcStateName } from './lxc-ls.js';

/** One line of `lxc-monitor`: a container changed state, or its init exited. */
export type LxcMonitorEvent =
  | { kind: 'state'; name: string; state: LxcStateName }
  /** `status` is what LXC prints: the init's exit code, 0 when a signal ended it. */
  | { kind: 'exit'; name: string; status: number };

const STATE_LINE = /^'(.+)' changed state to \[([A-Z]+)\]$/;
const EXIT_LINE = /^'(.+)' exited with status \[(-?\d+)\]$/;

/**
 * Parses one stdout line of `lxc-monitor` (LXC 5): `'NAME' changed state to [STATE]` or
 * `'NAME' exited with status [N]`. Anything else (an unknown state, another wording) is null:
 * the caller treats it as "something changed" rather than trusting a guess. Pure.
 */
export function parseLxcMonitorLine(line: string): LxcMonitorEvent | null {
  const text = line.replace(/\r$/, '');
  const state = STATE_LINE.exec(text);
  if (state !== null) {
    const [, name, value] = state as unknown as [string, string, string];
    if (!(LXC_STATES as readonly string[]).includes(value)) return null;
    return { kind: 'state', name, state: value as LxcStateName };
  }
  const exit = EXIT_LINE.exec(text);
  if (exit !== null) {
    const [, name, status] = exit as unknown as [string, string, string];
    return { kind: 'exit', name, status: Number(status) };
  }
  return null;
}
