import { CliError, Deadline, EXIT, usageError } from '../cli-support.js';
import { decodeDomainStatus, withFleet } from '../fleet-reads.js';
import { changeKey, statusLine } from '../format.js';
import { type CommandSpec, DEFAULT_TIMEOUT_MS, NODE } from './command.js';
import { nodeFlag } from './inputs.js';

export const watch: CommandSpec = {
  name: 'watch',
  summary: 'print domain status changes as they happen',
  description: [
    'Follows the status stream and prints one line per change of a domain (state, generation,',
    'domid, restarts, pending changes, error); repeats that change nothing shown are left out.',
    '-o json prints every status message as one JSON object per line, for scripts.',
    'Runs until interrupted, or for --timeout when given (then exits 0).',
  ],
  args: [],
  options: {
    node: NODE,
    output: { type: 'string', short: 'o', arg: 'text|json', help: 'output format (default text)' },
    current: { type: 'boolean', help: 'start with the current status of every domain' },
  },
  defaultTimeoutMs: () => DEFAULT_TIMEOUT_MS,
  async run(ctx) {
    const o = ctx.values.output;
    if (o !== undefined && o !== 'text' && o !== 'json')
      throw usageError(`-o must be text or json, not ${JSON.stringify(o)}`);
    const json = o === 'json';
    const nodeId = nodeFlag(ctx);
    const deadline = new Deadline(ctx.explicitTimeout ? ctx.timeoutMs : DEFAULT_TIMEOUT_MS);
    return withFleet(ctx, deadline, async (fleet) => {
      const follow = await fleet.followDomainStatuses(
        nodeId === undefined ? {} : { nodeId },
        ctx.values.current === true ? 'last-per-subject' : 'new',
      );
      let lost = true;
      const end = () => {
        lost = false;
        void follow.stop();
      };
      const timer = ctx.explicitTimeout ? setTimeout(end, ctx.timeoutMs) : null;
      ctx.signal.addEventListener('abort', end);
      if (ctx.signal.aborted) end();
      // The client gave up reconnecting: the follow ends, and so does the watch, with exit 3.
      fleet.closed().then(
        () => void follow.stop(),
        () => void follow.stop(),
      );
      const shown = new Map<string, string>();
      try {
        for await (const m of follow) {
          const d = decodeDomainStatus(m);
          if (!d.ok) {
            ctx.output.err(
              `domainctl: warning: skipping ${m.subject} (seq ${m.seq}): not a valid status: ${d.why}`,
            );
            continue;
          }
          if (json) {
            ctx.output.out(JSON.stringify(d.value));
            continue;
          }
          const key = changeKey(d.value);
          if (shown.get(m.subject) === key) continue;
          shown.set(m.subject, key);
          ctx.output.out(statusLine(d.value, { time: m.time }));
        }
      } finally {
        if (timer !== null) clearTimeout(timer);
        ctx.signal.removeEventListener('abort', end);
      }
      if (lost) throw new CliError(EXIT.unreachable, 'lost the connection to NATS');
      return EXIT.ok;
    });
  },
};
