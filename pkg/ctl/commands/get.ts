import type { DomainStatus } from '../../../types/generated/domain-status.js';
import { isValidUuid } from '../../bus/subjects.js';
import { CliError, Deadline, EXIT } from '../cli-support.js';
import {
  ambiguous,
  domainStatuses,
  notADomainUuid,
  resolveDomain,
  where,
  withFleet,
} from '../fleet-reads.js';
import { byNodeAndName, domainTable, renderData } from '../format.js';
import { type CommandSpec, DEFAULT_TIMEOUT_MS, NODE, OUTPUT } from './command.js';
import { nodeFlag, outputFormat } from './inputs.js';

export const get: CommandSpec = {
  name: 'get',
  summary: 'show the current status of domains',
  description: [
    'Reads the current DomainStatus of every domain (or of one, by uuid or name) from the status',
    'stream. Table columns: NODE NAME UUID STATE GEN (observed generation) DOMID RESTARTS',
    'AGE (time in the current state) ERROR. Deleted domains are listed only with --deleted or when',
    'asked for by uuid or name. -o json/yaml prints the statuses as published: one object when a',
    'domain is named, a list otherwise.',
  ],
  args: [{ name: 'UUID|NAME', required: false }],
  options: {
    node: NODE,
    output: OUTPUT,
    deleted: { type: 'boolean', help: 'also list DELETED domains' },
  },
  defaultTimeoutMs: () => DEFAULT_TIMEOUT_MS,
  async run(ctx) {
    const deadline = new Deadline(ctx.timeoutMs);
    const format = outputFormat(ctx, ['table', 'json', 'yaml']);
    const ref = ctx.args[0];
    const nodeId = nodeFlag(ctx);
    return withFleet(ctx, deadline, async (fleet) => {
      let statuses: DomainStatus[];
      if (ref === undefined) {
        statuses = await domainStatuses(ctx, fleet, deadline, nodeId === undefined ? {} : { nodeId });
        if (ctx.values.deleted !== true) statuses = statuses.filter((s) => s.state !== 'DELETED');
      } else {
        statuses = await resolveDomain(ctx, fleet, deadline, ref, nodeId);
        if (statuses.length === 0)
          throw (
            notADomainUuid(ref) ??
            new CliError(
              EXIT.failed,
              `no domain ${isValidUuid(ref) ? ref : `named ${JSON.stringify(ref)}`} on ${where(ctx, nodeId)}`,
            )
          );
        if (statuses.length > 1 && format !== 'table') throw ambiguous(ref, statuses);
      }
      statuses.sort(byNodeAndName);
      if (format !== 'table') {
        ctx.output.out(renderData(ref === undefined ? statuses : statuses[0], format));
      } else if (statuses.length === 0) {
        ctx.output.err(`No domains on ${where(ctx, nodeId)}.`);
      } else {
        ctx.output.out(domainTable(statuses, Date.now()));
      }
      return EXIT.ok;
    });
  },
};
