import type { DomainConfig } from '../../types/generated/domain-config.js';
import { type DomainSpec, toDomainSpec } from './domain-spec.js';
import { checkDomainConfigSemantics } from './semantics.js';
import { check, validateDomainConfigSchema } from './validators.js';

/** The contract's cap on one message. */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/** What a config message on `<prefix>.<node>.config.<uuid>` asks for. */
export type ConfigMessage =
  | { kind: 'delete' }
  | { kind: 'config'; spec: DomainSpec }
  /** Never acted on. `generation` and `name` are what could be read of the document, for status. */
  | { kind: 'invalid'; errors: string[]; name?: string; generation?: number };

/**
 * Decodes and validates one config message: size, JSON, schema, cross-field rules, and the uuid
 * against the subject's. Pure and total: any byte string gives an answer, never an exception.
 */
export function decodeConfigMessage(
  payload: Uint8Array,
  subjectUuid: string,
  allowedRoots?: readonly string[],
): ConfigMessage {
  if (payload.length === 0) return { kind: 'delete' };
  if (payload.length > MAX_MESSAGE_BYTES) {
    return {
      kind: 'invalid',
      errors: [`message is ${payload.length} bytes, over the limit of ${MAX_MESSAGE_BYTES}`],
    };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch (e) {
    const why = e instanceof SyntaxError ? e.message : 'it is not valid UTF-8';
    return { kind: 'invalid', errors: [`message is not valid JSON: ${why}`] };
  }
  const hints = readHints(doc);
  const checked = check(validateDomainConfigSchema, doc);
  if (!checked.ok) return { kind: 'invalid', errors: checked.errors, ...hints };
  const config: DomainConfig = checked.value;
  const problems = checkDomainConfigSemantics(config, allowedRoots);
  if (config.uuid !== subjectUuid)
    problems.unshift(`/uuid must equal the subject's last token (${subjectUuid})`);
  if (problems.length > 0) return { kind: 'invalid', errors: problems, ...hints };
  return { kind: 'config', spec: toDomainSpec(config) };
}

function readHints(doc: unknown): { name?: string; generation?: number } {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return {};
  const { name, generation } = doc as Record<string, unknown>;
  const hints: { name?: string; generation?: number } = {};
  if (typeof name === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) hints.name = name;
  if (typeof generation === 'number' && Number.isSafeInteger(generation) && generation >= 1) {
    hints.generation = generation;
  }
  return hints;
}
