import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { FleetClient, Follow } from '../bus/fleet-client.js';
import { type Deadline, EXIT } from './cli-support.js';
import type { CommandContext } from './commands/command.js';
import { decodeDomainStatus } from './fleet-reads.js';
import { changeKey, statusLine } from './format.js';
import { judge, type Target, type Verdict } from './judge.js';

/** --wait: following domains' statuses until each reaches its goal, fails, or time runs out. */
export interface WaitItem {
  label: string;
  nodeId: string;
  uuid: string;
  target: Target;
}

export type WaitOutcome = { item: WaitItem; verdict: Verdict; last: DomainStatus | null };

/**
 * Follows each domain's status from its stored one on, printing a line per change, until every
 * judge is done, the deadline passes or the command is interrupted.
 */
export async function waitAll(
  ctx: CommandContext,
  fleet: FleetClient,
  deadline: Deadline,
  items: WaitItem[],
  baselineSeq: number,
): Promise<number> {
  const out = ctx.output;
  const follows: Follow[] = [];
  let timedOut = false;
  let interrupted = false;
  const stopAll = async () => {
    for (const f of follows) await f.stop();
  };
  const timer = setTimeout(() => {
    timedOut = true;
    void stopAll();
  }, deadline.remaining());
  const onAbort = () => {
    interrupted = true;
    void stopAll();
  };
  ctx.signal.addEventListener('abort', onAbort);
  try {
    for (const item of items) {
      follows.push(
        await fleet.followDomainStatuses({ nodeId: item.nodeId, uuid: item.uuid }, 'last-per-subject'),
      );
    }
    if (ctx.signal.aborted) onAbort();
    const outcomes = await Promise.all(
      items.map(async (item, i): Promise<WaitOutcome> => {
        const follow = follows[i] as Follow;
        let last: DomainStatus | null = null;
        let shown = '';
        for await (const m of follow) {
          const d = decodeDomainStatus(m);
          if (!d.ok) {
            out.err(`domainctl: warning: skipping ${m.subject} (seq ${m.seq}): not a valid status: ${d.why}`);
            continue;
          }
          last = d.value;
          const key = changeKey(d.value);
          if (key !== shown) {
            shown = key;
            out.out(`  ${statusLine(d.value)}`);
          }
          const verdict = judge(item.target, d.value, m.seq > baselineSeq);
          // Leaving the loop ends this follow (stopping it from inside its own iteration would wait on itself).
          if (verdict.done) return { item, verdict, last };
        }
        return { item, verdict: { done: false }, last };
      }),
    );
    let code: number = EXIT.ok;
    for (const { item, verdict, last } of outcomes) {
      if (verdict.done && verdict.ok) {
        const state = last === null ? '' : ` ${last.state} at generation ${last.observedGeneration}`;
        out.out(`${item.label}:${item.target.kind === 'delete' ? ' DELETED' : state}`);
      } else if (verdict.done) {
        out.err(`domainctl: ${item.label} failed: ${verdict.reason}`);
        code = EXIT.failed;
      } else {
        const seen =
          last === null
            ? 'no status yet'
            : `last seen ${last.state} at generation ${last.observedGeneration}`;
        const why = interrupted ? 'interrupted' : `timed out after ${formatDuration(deadline.totalMs)}`;
        out.err(`domainctl: ${why} waiting for ${item.label} (${seen})`);
        if (code === EXIT.ok) code = interrupted ? EXIT.interrupted : EXIT.timeout;
      }
    }
    if (timedOut && code === EXIT.ok) code = EXIT.timeout;
    return code;
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
    await stopAll();
  }
}

export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
