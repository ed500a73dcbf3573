import {
  type PermissionSet,
  ROLES,
  type Role,
  rolePermissions,
  serverPermissionsBlock,
} from '../../bus/permissions.js';
import { contractStreamConfig, STREAM_KINDS } from '../../bus/streams.js';
import { SubjectError } from '../../bus/subjects.js';
import { Deadline, EXIT, usageError } from '../cli-support.js';
import { withFleet } from '../fleet-reads.js';
import type { CommandContext, CommandSpec } from './command.js';

/**
 * `domainctl permissions`: the NATS permissions of a role (pkg/bus/permissions.ts), and
 * `domainctl streams`: the streams a node with `nats.manageStreams: false` expects, printed or
 * created by an administrator. docs/security.md explains both.
 */

const SECOND = 1000;

/** `--node` given any number of times, each possibly a comma list. */
function nodeList(ctx: CommandContext): string[] {
  const raw = ctx.values.node as unknown;
  const given = Array.isArray(raw) ? (raw as string[]) : typeof raw === 'string' ? [raw] : [];
  return given.flatMap((v) => v.split(',')).map((v) => v.trim());
}

function permissionsFor(ctx: CommandContext): PermissionSet {
  const role = ctx.values.role;
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role))
    throw usageError(
      `--role must be one of ${ROLES.join(', ')}${role === undefined ? '' : `, not ${JSON.stringify(role)}`}`,
    );
  try {
    return rolePermissions(ctx.loaded.config.nats.prefix, role as Role, nodeList(ctx));
  } catch (e) {
    if (e instanceof SubjectError) throw usageError(e.message);
    throw e;
  }
}

const permissions: CommandSpec = {
  name: 'permissions',
  summary: 'print the NATS permissions of a role (node, controller, operator)',
  description: [
    'Prints the least permissions a NATS user of the role needs under the configured prefix:',
    '  --role node --node ID          one edge node (run it with nats.manageStreams false)',
    '  --role controller [--node ID]  publishes configs (to every node, or to the nodes given), reads statuses',
    '  --role operator                reads configs and statuses, publishes nothing',
    '-o json prints {"publish": {"allow": [...], "deny": [...]}, "subscribe": {...}};',
    '-o server prints a nats-server `permissions { ... }` block for a static user.',
    'Nothing is sent to NATS. docs/security.md explains every entry.',
  ],
  args: [],
  options: {
    role: { type: 'string', arg: 'node|controller|operator', help: 'the role' },
    node: {
      type: 'string',
      arg: 'ID',
      multiple: true,
      help: 'node id (repeat, or a comma list, for a controller)',
    },
    output: { type: 'string', short: 'o', arg: 'json|server', help: 'output format (default json)' },
  },
  defaultTimeoutMs: () => 30 * SECOND,
  async run(ctx) {
    const format = ctx.values.output ?? 'json';
    if (format !== 'json' && format !== 'server')
      throw usageError(`-o must be json or server, not ${JSON.stringify(format)}`);
    const set = permissionsFor(ctx);
    ctx.output.out(format === 'json' ? JSON.stringify(set, null, 2) : serverPermissionsBlock(set));
    return EXIT.ok;
  },
};

const streams: CommandSpec = {
  name: 'streams',
  summary: 'print (or create) the streams of the prefix',
  description: [
    'Prints the configuration of the three streams of the prefix (config, status, lease) as JSON (a list; each item is what',
    '`nats stream add --config FILE` takes), as domainmgr creates them. With --create, creates the',
    'missing ones and checks them all, as domainmgr does at start with nats.manageStreams true: an',
    "administrator's step before starting nodes with nats.manageStreams false (the node role may not create streams).",
  ],
  args: [],
  options: {
    create: { type: 'boolean', help: 'create the streams when missing, and check them' },
  },
  defaultTimeoutMs: () => 30 * SECOND,
  async run(ctx) {
    const { prefix, replicas } = ctx.loaded.config.nats;
    if (ctx.values.create !== true) {
      ctx.output.out(
        JSON.stringify(
          STREAM_KINDS.map((kind) => contractStreamConfig(prefix, kind, replicas)),
          null,
          2,
        ),
      );
      return EXIT.ok;
    }
    const deadline = new Deadline(ctx.timeoutMs);
    const names = await withFleet(ctx, deadline, (fleet) =>
      fleet.ensureStreams(deadline.remaining(), replicas),
    );
    ctx.output.out(`streams ${names.config}, ${names.status} and ${names.lease} are in place`);
    return EXIT.ok;
  },
};

export const SECURITY_COMMANDS: readonly CommandSpec[] = [permissions, streams];
