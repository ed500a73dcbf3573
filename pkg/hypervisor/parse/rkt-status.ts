import { ToolOutputParseError } from './parse-error.js';

export const RKT_POD_STATES = [
  'embryo',
  'preparing',
  'aborted prepare',
  'prepared',
  'running',
  'deleting',
  'exited deleting',
  'exited',
  'exited garbage',
  'garbage',
] as const;
export type RktPodState = (typeof RKT_POD_STATES)[number];

export interface RktStatus {
  /** The pod uuid (rkt prints it under `name`; there is no pid field). */
  podUuid: string;
  state: RktPodState;
  createdAt: number | null;
  startedAt: number | null;
}

/** Parses `rkt status --format=json <pod>` (one line of JSON). Pure. */
export function parseRktStatus(stdout: string): RktStatus {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new ToolOutputParseError('rkt status', null, stdout, 'not JSON');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ToolOutputParseError('rkt status', null, stdout, 'not a JSON object');
  }
  const o = doc as Record<string, unknown>;
  if (typeof o.name !== 'string' || o.name === '') {
    throw new ToolOutputParseError('rkt status', null, stdout, 'no pod uuid under "name"');
  }
  const state = o.state;
  if (typeof state !== 'string' || !(RKT_POD_STATES as readonly string[]).includes(state)) {
    throw new ToolOutputParseError('rkt status', null, stdout, `unknown pod state ${JSON.stringify(state)}`);
  }
  const time = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    podUuid: o.name,
    state: state as RktPodState,
    createdAt: time(o.created_at),
    startedAt: time(o.started_at),
  };
}
