import type { DomainStatus } from '../../types/generated/domain-status.js';
import {
  type FleetClient,
  FleetError,
  FleetTimeoutError,
  NatsUnreachableError,
  openFleetClient,
  permissionViolation,
  type StoredMessage,
} from '../bus/fleet-client.js';
import { isValidUuid, SubjectError } from '../bus/subjects.js';
import { DOMAIN_UUID_RULE, isUuidText } from '../schema/uuid.js';
import { check, validateDomainStatusSchema } from '../schema/validators.js';
import { CliError, type Deadline, EXIT, type Output, usageError } from './cli-support.js';
import { type CommandContext, SECOND } from './commands/command.js';

/**
 * What the commands read from the fleet: a connection whose failures become one-line errors,
 * statuses decoded and checked against their schema, and a domain found by uuid or name.
 */
export async function withFleet<T>(
  ctx: CommandContext,
  deadline: Deadline,
  fn: (fleet: FleetClient) => Promise<T>,
): Promise<T> {
  const { nats } = ctx.loaded.config;
  let fleet: FleetClient;
  try {
    fleet = await openFleetClient({
      nats,
      connectTimeoutMs: Math.min(deadline.remaining(), 10 * SECOND),
    });
  } catch (e) {
    if (e instanceof NatsUnreachableError) throw new CliError(EXIT.unreachable, e.message);
    if (e instanceof SubjectError) throw usageError(e.message);
    throw e;
  }
  try {
    return await fn(fleet);
  } catch (e) {
    const refused = permissionViolation(e);
    if (refused !== null) throw new CliError(EXIT.unreachable, `not authorized: ${refused.message}`);
    if (e instanceof FleetTimeoutError) throw new CliError(EXIT.timeout, `timed out: ${e.message}`);
    if (e instanceof FleetError) throw new CliError(EXIT.failed, e.message);
    if (e instanceof SubjectError) throw usageError(e.message);
    throw e;
  } finally {
    await fleet.close().catch(() => undefined);
  }
}

export type Decoded<T> = { ok: true; value: T; message: StoredMessage } | { ok: false; why: string };

export function decodeDomainStatus(m: StoredMessage): Decoded<DomainStatus> {
  return decodeWith(m, validateDomainStatusSchema as Parameters<typeof check<DomainStatus>>[0]);
}

export function decodeWith<T>(m: StoredMessage, validate: Parameters<typeof check<T>>[0]): Decoded<T> {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(m.data));
  } catch {
    return { ok: false, why: 'not JSON' };
  }
  const r = check(validate, doc);
  return r.ok ? { ok: true, value: r.value, message: m } : { ok: false, why: r.errors.join('; ') };
}

/** Valid statuses; the others are reported once each on stderr and left out. */
export function decodeAll<T>(
  out: Output,
  messages: StoredMessage[],
  decode: (m: StoredMessage) => Decoded<T>,
): T[] {
  const values: T[] = [];
  for (const m of messages) {
    const d = decode(m);
    if (d.ok) values.push(d.value);
    else out.err(`domainctl: warning: skipping ${m.subject} (seq ${m.seq}): not a valid status: ${d.why}`);
  }
  return values;
}

export async function domainStatuses(
  ctx: CommandContext,
  fleet: FleetClient,
  deadline: Deadline,
  filter: { nodeId?: string; uuid?: string },
): Promise<DomainStatus[]> {
  const msgs = await fleet.domainStatuses(filter, deadline.remaining());
  return decodeAll(ctx.output, msgs, decodeDomainStatus);
}

/**
 * A domain named by uuid or name, through the status stream. A name matching several domains is
 * a usage error (give the uuid or --node); statuses of deleted domains only count when nothing
 * else matches.
 */
export async function resolveDomain(
  ctx: CommandContext,
  fleet: FleetClient,
  deadline: Deadline,
  ref: string,
  nodeId: string | undefined,
): Promise<DomainStatus[]> {
  const byUuid = isValidUuid(ref);
  const statuses = await domainStatuses(ctx, fleet, deadline, {
    ...(nodeId === undefined ? {} : { nodeId }),
    ...(byUuid ? { uuid: ref } : {}),
  });
  const matches = byUuid ? statuses : statuses.filter((s) => s.name === ref);
  const live = matches.filter((s) => s.state !== 'DELETED');
  return live.length > 0 ? live : matches;
}

export function ambiguous(ref: string, matches: DomainStatus[]): CliError {
  const list = matches.map((s) => `${s.nodeId}/${s.uuid}`).join(', ');
  return usageError(
    `${JSON.stringify(ref)} names ${matches.length} domains (${list}): give the uuid or --node`,
  );
}

/**
 * A reference that looks like a uuid but is not the contract's (upper case, or not RFC 4122) and
 * named no domain: nodes ignore config subjects that do not end in a domain uuid, so a command on
 * it could only wait in vain. Refused at once, as a usage error.
 */
export function notADomainUuid(ref: string): CliError | null {
  if (!isUuidText(ref.toLowerCase()) || isValidUuid(ref)) return null;
  return usageError(
    `${JSON.stringify(ref)} is not ${DOMAIN_UUID_RULE} and names no domain (nodes ignore configs on such a subject)`,
  );
}

export function where(ctx: CommandContext, nodeId: string | undefined): string {
  return `${nodeId === undefined ? '' : `node ${nodeId}, `}prefix ${ctx.loaded.config.nats.prefix}`;
}
