import type { NodeStatus } from '../../../types/generated/node-status.js';
import { isValidNodeId, isValidUuid } from '../../bus/subjects.js';
import { DOMAIN_UUID_RULE } from '../../schema/uuid.js';
import { type check, validateNodeStatusSchema } from '../../schema/validators.js';
import { CliError, Deadline, EXIT, usageError } from '../cli-support.js';
import { backendProblems, checkEntry, configHints, entryLabel } from '../documents.js';
import { decodeAll, decodeWith, withFleet } from '../fleet-reads.js';
import { type WaitItem, waitAll } from '../wait.js';
import {
  type CommandSpec,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_WAIT_TIMEOUT_MS,
  FILE,
  NODE,
  ROOTS,
} from './command.js';
import { givenRoots, nodeFlag, printProblems, readEntries } from './inputs.js';

export const apply: CommandSpec = {
  name: 'apply',
  summary: 'publish domains from a file (JSON or YAML)',
  description: [
    'Publishes each domain of FILE (one DomainConfig, a list, or YAML documents separated by ---)',
    'with a JetStream publish on <prefix>.<node>.config.<uuid> and reports the stored sequence.',
    "The node is --node, or the item's envelope: {node: N, domain: {...}}; both and different is an error.",
    "Each document is validated first with the service's own validator (and the target node's",
    'backend checks, when the node has reported); nothing is published when one is invalid, unless --force.',
    'With --wait, follows every domain until it reaches its goal at the published generation',
    '(RUNNING, PAUSED or HALTED as activate/paused ask) or fails (REJECTED, BROKEN with an error).',
  ],
  args: [],
  options: {
    file: FILE,
    node: NODE,
    wait: { type: 'boolean', short: 'w', help: 'wait for every domain to reach its goal (or fail)' },
    force: { type: 'boolean', help: 'publish documents that fail validation (the node will reject them)' },
    'allowed-roots': ROOTS,
  },
  defaultTimeoutMs: (v) => (v.wait === true ? DEFAULT_WAIT_TIMEOUT_MS : DEFAULT_TIMEOUT_MS),
  async run(ctx) {
    const deadline = new Deadline(ctx.timeoutMs);
    const out = ctx.output;
    const force = ctx.values.force === true;
    const flagNode = nodeFlag(ctx);
    const entries = await readEntries(ctx);
    const planned = entries.map((entry) => {
      if (entry.node !== undefined && !isValidNodeId(entry.node))
        throw usageError(
          `${entry.where}: node ${JSON.stringify(entry.node)} is not a node id ([A-Za-z0-9_-]{1,64})`,
        );
      if (entry.node !== undefined && flagNode !== undefined && entry.node !== flagNode)
        throw usageError(`${entry.where}: the file says node ${entry.node}, --node says ${flagNode}`);
      const nodeId = entry.node ?? flagNode;
      if (nodeId === undefined)
        throw usageError(
          `${entry.where}: no node for ${entryLabel(entry)}: give --node N or use {node: N, domain: {...}}`,
        );
      const checked = checkEntry(entry, { allowedRoots: givenRoots(ctx.loaded), config: ctx.loaded.config });
      return { entry, nodeId, checked, label: entryLabel(entry) };
    });
    const invalid = planned.filter((p) => !p.checked.ok);
    for (const p of invalid) {
      if (!p.checked.ok)
        printProblems(out.err, `${force ? 'warning: ' : ''}${p.entry.where}: ${p.label}`, p.checked.errors);
    }
    if (invalid.length > 0 && !force)
      throw new CliError(
        EXIT.failed,
        `nothing published: ${invalid.length} invalid document(s) (--force publishes anyway)`,
      );
    for (const p of planned) {
      const uuid = configHints(p.entry.config).uuid;
      if (uuid === undefined || !isValidUuid(uuid))
        throw new CliError(
          EXIT.failed,
          `${p.entry.where}: cannot publish ${p.label}: its uuid is not ${DOMAIN_UUID_RULE}, and the uuid is the subject`,
        );
    }
    return withFleet(ctx, deadline, async (fleet) => {
      // The node's own backend refuses what its checkSpec refuses: check that too, before publishing.
      const nodes = new Map<string, NodeStatus>();
      for (const n of decodeAll(out, await fleet.nodeStatuses(undefined, deadline.remaining()), (m) =>
        decodeWith<NodeStatus>(m, validateNodeStatusSchema as Parameters<typeof check<NodeStatus>>[0]),
      ))
        nodes.set(n.nodeId, n);
      let refused = 0;
      for (const p of planned) {
        const node = nodes.get(p.nodeId);
        if (node === undefined) {
          out.err(
            `domainctl: warning: node ${p.nodeId} has never reported on prefix ${ctx.loaded.config.nats.prefix}: ${p.label} is stored and waits for it`,
          );
          continue;
        }
        if (!p.checked.ok) continue;
        const problems = backendProblems(p.checked.spec, node.backend, ctx.loaded.config);
        if (problems.length > 0) {
          refused++;
          printProblems(
            out.err,
            `${force ? 'warning: ' : ''}${p.entry.where}: ${p.label} (backend ${node.backend} of node ${p.nodeId})`,
            problems,
          );
        }
      }
      if (refused > 0 && !force)
        throw new CliError(
          EXIT.failed,
          `nothing published: ${refused} document(s) the node's backend refuses (--force publishes anyway)`,
        );
      const baseline =
        ctx.values.wait === true ? await fleet.streamLastSeq('status', deadline.remaining()) : 0;
      const waits: WaitItem[] = [];
      for (const p of planned) {
        const hints = configHints(p.entry.config);
        const uuid = hints.uuid as string;
        const ack = await fleet.publishConfig(p.nodeId, uuid, p.entry.payload, deadline.remaining());
        const dup = ack.duplicate ? ' (duplicate)' : '';
        out.out(`${p.label} -> node ${p.nodeId}: stored in ${ack.stream} at seq ${ack.seq}${dup}`);
        waits.push({
          label: p.label,
          nodeId: p.nodeId,
          uuid,
          target: {
            kind: 'apply',
            generation: hints.generation ?? 0,
            activate: hints.activate ?? true,
            paused: hints.paused ?? false,
          },
        });
      }
      if (ctx.values.wait !== true) return EXIT.ok;
      return waitAll(ctx, fleet, deadline, waits, baseline);
    });
  },
};
