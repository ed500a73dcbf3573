import type { DomainStatus } from '../../../types/generated/domain-status.js';
import { isValidUuid } from '../../bus/subjects.js';
import { CliError, Deadline, EXIT, usageError } from '../cli-support.js';
import { ambiguous, notADomainUuid, resolveDomain, where, withFleet } from '../fleet-reads.js';
import { waitAll } from '../wait.js';
import { type CommandSpec, DEFAULT_TIMEOUT_MS, DEFAULT_WAIT_TIMEOUT_MS, NODE } from './command.js';
import { nodeFlag } from './inputs.js';

export const del: CommandSpec = {
  name: 'delete',
  summary: 'delete a domain (publishes the empty config)',
  description: [
    'Publishes the empty payload on <prefix>.<node>.config.<uuid>, which deletes the domain.',
    'A NAME is resolved through the status stream; the node comes from the status (or the config',
    'stream) unless --node is given. With --wait, follows the domain until it is DELETED.',
  ],
  args: [{ name: 'UUID|NAME', required: true }],
  options: {
    node: NODE,
    wait: { type: 'boolean', short: 'w', help: 'wait until the domain is DELETED' },
  },
  defaultTimeoutMs: (v) => (v.wait === true ? DEFAULT_WAIT_TIMEOUT_MS : DEFAULT_TIMEOUT_MS),
  async run(ctx) {
    const deadline = new Deadline(ctx.timeoutMs);
    const ref = ctx.args[0] as string;
    const flagNode = nodeFlag(ctx);
    return withFleet(ctx, deadline, async (fleet) => {
      const matches = await resolveDomain(ctx, fleet, deadline, ref, flagNode);
      let uuid: string;
      let nodeId: string;
      let label: string;
      if (matches.length === 1) {
        const s = matches[0] as DomainStatus;
        uuid = s.uuid;
        nodeId = flagNode ?? s.nodeId;
        label = `${s.name} (${s.uuid})`;
      } else if (matches.length > 1) {
        throw ambiguous(ref, matches);
      } else if (isValidUuid(ref)) {
        // No status yet (the node never acted on it): the config stream says where it was sent.
        uuid = ref;
        label = ref;
        const configs = (
          await fleet.configs({ uuid: ref, ...(flagNode ? { nodeId: flagNode } : {}) }, deadline.remaining())
        ).filter((m) => m.data.length > 0);
        const nodes = [...new Set(configs.map((m) => m.parsed?.nodeId ?? '').filter((n) => n !== ''))];
        if (flagNode !== undefined) nodeId = flagNode;
        else if (nodes.length === 1) nodeId = nodes[0] as string;
        else if (nodes.length > 1)
          throw usageError(`${ref} has configs on nodes ${nodes.join(', ')}: give --node`);
        else throw new CliError(EXIT.failed, `no domain ${ref} on ${where(ctx, flagNode)}`);
      } else {
        throw (
          notADomainUuid(ref) ??
          new CliError(EXIT.failed, `no domain named ${JSON.stringify(ref)} on ${where(ctx, flagNode)}`)
        );
      }
      const baseline =
        ctx.values.wait === true ? await fleet.streamLastSeq('status', deadline.remaining()) : 0;
      const ack = await fleet.publishConfig(nodeId, uuid, new Uint8Array(), deadline.remaining());
      ctx.output.out(`${label} -> node ${nodeId}: delete stored in ${ack.stream} at seq ${ack.seq}`);
      if (ctx.values.wait !== true) return EXIT.ok;
      return waitAll(ctx, fleet, deadline, [{ label, nodeId, uuid, target: { kind: 'delete' } }], baseline);
    });
  },
};
