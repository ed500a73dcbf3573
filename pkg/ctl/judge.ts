import type { DomainStatus } from '../../types/generated/domain-status.js';

/**
 * When `apply --wait` and `delete --wait` are done, as a pure function of one status.
 *
 * apply: the goal is the state the published config asks for (activate false: HALTED; activate
 * with paused: PAUSED; otherwise RUNNING), reached at the published generation. It failed when,
 * at that generation, the domain is REJECTED, BROKEN with an error, DELETED, or settled in
 * another steady state with an error that has no retry planned (e.g. a backend that cannot
 * pause); or when the node is past that generation (a newer config, or ours was stale); or when
 * a status stored after the publish carries a config error (ours was refused).
 *
 * delete: done at DELETED; a delete has nothing that fails for good (domainmgr retries a
 * destroy that failed), so only the timeout ends an unfinished one.
 */
export type Target =
  | { kind: 'apply'; generation: number; activate: boolean; paused: boolean }
  | { kind: 'delete' };

export type Verdict = { done: false } | { done: true; ok: true } | { done: true; ok: false; reason: string };

const WAITING: Verdict = { done: false };
const OK: Verdict = { done: true, ok: true };

export function goalState(target: Extract<Target, { kind: 'apply' }>): DomainStatus['state'] {
  if (!target.activate) return 'HALTED';
  return target.paused ? 'PAUSED' : 'RUNNING';
}

/**
 * `fresh`: the status was stored after the config was published (its status stream sequence is
 * above the stream's last sequence read just before the publish), so a config error in it is
 * about this config and not a leftover of an earlier one.
 */
export function judge(target: Target, s: DomainStatus, fresh: boolean): Verdict {
  if (target.kind === 'delete') return s.state === 'DELETED' ? OK : WAITING;
  const failed = (reason: string): Verdict => ({ done: true, ok: false, reason });
  const errorText = s.error === null ? '' : `: ${s.error.message}`;
  const gen = target.generation;
  if (s.observedGeneration > gen) {
    if (s.error?.source === 'config' && /stale/i.test(s.error.message)) return failed(`refused${errorText}`);
    return failed(
      `the node is at generation ${s.observedGeneration}, past ${gen} (a newer config was applied)`,
    );
  }
  if (fresh && s.state === 'REJECTED') return failed(`REJECTED${errorText}`);
  if (fresh && s.error?.source === 'config') return failed(`config refused${errorText}`);
  if (s.observedGeneration < gen) return WAITING;
  const goal = goalState(target);
  if (s.state === goal) return OK;
  switch (s.state) {
    case 'REJECTED':
      return failed(`REJECTED${errorText}`);
    case 'BROKEN':
      return s.error === null ? WAITING : failed(`BROKEN${errorText}`);
    case 'DELETED':
      return failed('DELETED (a delete was published meanwhile)');
    case 'RUNNING':
    case 'PAUSED':
    case 'HALTED':
      if (s.error !== null && s.error.retryAt === undefined)
        return failed(`${s.state}, not ${goal}${errorText}`);
      return WAITING;
    default:
      return WAITING;
  }
}
