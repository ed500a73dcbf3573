import { isIP } from 'node:net';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { NodeStatus } from '../../types/generated/node-status.js';
import { readProjectJson } from '../project-files.js';
import { describeErrors } from './error-messages.js';

// ajv-formats is a CommonJS module whose default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

/**
 * One ajv instance, every schema compiled once at module load. Strict mode: a schema with an
 * unknown keyword fails here, at start, not while validating a message.
 * allErrors is on so an operator sees every problem of a document at once; inputs are bounded
 * (256 KiB messages, maxItems and maxLength everywhere) so this stays cheap on hostile input.
 */
const ajv = schemaAjv({ allErrors: true, useDefaults: false });

function schemaAjv(options: { allErrors: boolean; useDefaults: boolean }): Ajv {
  const instance = new Ajv({ strict: true, verbose: true, coerceTypes: false, ...options });
  addFormats(instance);
  instance.addFormat('ip', { type: 'string', validate: (s: string) => isIP(s) !== 0 });
  instance.addKeyword({ keyword: 'x-rule', schemaType: 'string' });
  instance.addSchema(readProjectJson('types/definitions.schema.json') as object);
  return instance;
}

function compile<T>(path: string): ValidateFunction<T> {
  return ajv.compile<T>(readProjectJson(path) as object);
}

export const validateDomainConfigSchema = compile<DomainConfig>('types/domain-config.schema.json');
export const validateDomainStatusSchema = compile<DomainStatus>('types/domain-status.schema.json');
export const validateNodeStatusSchema = compile<NodeStatus>('types/node-status.schema.json');
export const validateConfigSchema = compile<DomainmgrConfig>('config/config.schema.json');

/**
 * The same DomainConfig schema compiled with ajv's useDefaults: validating fills in every
 * `default` the schema states, so the defaults have one source (the schema) and DomainSpec
 * derives from it. Kept apart from the checking validator, which must see a document as given
 * (a container that names a virtualizationMode is rejected; one that does not gets the default).
 * allErrors: every property is visited, so every default is filled even in a document that fails
 * some rule (toDomainSpec stays total; judging the document is the checking validator's job).
 */
const fillDomainConfig = schemaAjv({ allErrors: true, useDefaults: true }).compile<DomainConfig>(
  readProjectJson('types/domain-config.schema.json') as object,
);

/**
 * A copy of a DomainConfig with the schema's defaults filled in; the input is not changed. Fills,
 * never judges: validate with validateDomainConfigSchema first.
 */
export function withSchemaDefaults(config: DomainConfig): DomainConfig {
  const copy = structuredClone(config);
  fillDomainConfig(copy);
  return copy;
}

/** A validation outcome: the typed value, or readable sentences naming each failing field. */
export type Checked<T> = { ok: true; value: T } | { ok: false; errors: string[] };

export function check<T>(validate: ValidateFunction<T>, value: unknown): Checked<T> {
  if (validate(value)) return { ok: true, value };
  return { ok: false, errors: describeErrors(validate.errors as ErrorObject[]) };
}
