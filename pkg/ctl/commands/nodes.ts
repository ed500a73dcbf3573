import type { NodeStatus } from '../../../types/generated/node-status.js';
import { type check, validateNodeStatusSchema } from '../../schema/validators.js';
import { Deadline, EXIT, parseDuration } from '../cli-support.js';
import { decodeAll, decodeWith, withFleet } from '../fleet-reads.js';
import { nodeTable, renderData } from '../format.js';
import { type CommandSpec, DEFAULT_TIMEOUT_MS, OUTPUT, SECOND } from './command.js';
import { outputFormat } from './inputs.js';

export const nodes: CommandSpec = {
  name: 'nodes',
  summary: 'show the NodeStatus of every node',
  description: [
    'Reads the NodeStatus of every node from the status stream. Columns: NODE BACKEND READY',
    'DOMAINS (counts by state) FREE MEM VERSION AGE (uptime of its domainmgr). READY is Ready,',
    'NotReady, or Unknown when the last NodeStatus is older than --stale-after.',
  ],
  args: [],
  options: {
    output: OUTPUT,
    'stale-after': {
      type: 'string',
      arg: 'DURATION',
      help: 'a NodeStatus older than this means READY Unknown (default 90s: three default periods)',
    },
  },
  defaultTimeoutMs: () => DEFAULT_TIMEOUT_MS,
  async run(ctx) {
    const deadline = new Deadline(ctx.timeoutMs);
    const format = outputFormat(ctx, ['table', 'json', 'yaml']);
    const stale =
      typeof ctx.values['stale-after'] === 'string'
        ? parseDuration(ctx.values['stale-after'], 'stale-after')
        : 90 * SECOND;
    return withFleet(ctx, deadline, async (fleet) => {
      const list = decodeAll(ctx.output, await fleet.nodeStatuses(undefined, deadline.remaining()), (m) =>
        decodeWith<NodeStatus>(m, validateNodeStatusSchema as Parameters<typeof check<NodeStatus>>[0]),
      ).sort((a, b) => a.nodeId.localeCompare(b.nodeId));
      if (format !== 'table') ctx.output.out(renderData(list, format));
      else if (list.length === 0)
        ctx.output.err(`No nodes have reported on prefix ${ctx.loaded.config.nats.prefix}.`);
      else ctx.output.out(nodeTable(list, Date.now(), stale));
      return EXIT.ok;
    });
  },
};
