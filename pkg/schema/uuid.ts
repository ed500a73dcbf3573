import { readProjectJson } from '../project-files.js';

const definitions = (
  readProjectJson('types/definitions.schema.json') as {
    definitions: { uuid: { pattern: string; 'x-rule': string } };
  }
).definitions;

/**
 * The contract's domain uuid, exactly as the schema states it (types/definitions.schema.json,
 * `uuid`): a lower-case RFC 4122 uuid. A config subject whose last token is not one is ignored
 * by the engine, so every other place (subjects, domainctl) asks this one question.
 */
const DOMAIN_UUID = new RegExp(definitions.uuid.pattern);

/** The schema's wording of the domain uuid rule ("a lower-case RFC 4122 uuid"). */
export const DOMAIN_UUID_RULE: string = definitions.uuid['x-rule'];

export function isDomainUuid(text: string): boolean {
  return DOMAIN_UUID.test(text);
}

/**
 * A uuid as the tools print one: 8-4-4-4-12 lower-case hex digits, any version or variant (Xen's
 * Domain-0 has the all-zero uuid, other domains on a host need not be ours). For parsing tool
 * output and telling a uuid-like argument from a name, never for a domain's identity.
 */
export const UUID_TEXT = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

const UUID_TEXT_ONLY = new RegExp(`^${UUID_TEXT}$`);

export function isUuidText(text: string): boolean {
  return UUID_TEXT_ONLY.test(text);
}
