import type { ErrorObject } from 'ajv';

/** At most this many sentences are reported for one document; the rest are counted. */
const MAX_SENTENCES = 10;

/**
 * Turns ajv errors into sentences an operator can act on, each naming the field by its JSON
 * pointer and the rule it broke: `/vifs/0/mac must match xx:xx:xx:xx:xx:xx`. Pure.
 */
export function describeErrors(errors: readonly ErrorObject[]): string[] {
  const sentences: string[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    // `anyOf` failures repeat what its branches said; the branches' sentences are clearer.
    if (e.keyword === 'anyOf') continue;
    const s = describeError(e);
    if (seen.has(s)) continue;
    seen.add(s);
    sentences.push(s);
  }
  if (sentences.length > MAX_SENTENCES) {
    const extra = sentences.length - MAX_SENTENCES;
    return [...sentences.slice(0, MAX_SENTENCES), `(and ${extra} more)`];
  }
  return sentences;
}

function describeError(e: ErrorObject): string {
  const at = e.instancePath === '' ? '(document)' : e.instancePath;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${join(e.instancePath, String(p.additionalProperty))} is not a known field`;
    case 'required':
      return `${join(e.instancePath, String(p.missingProperty))} is required`;
    case 'type':
      return `${at} must be ${article(String(p.type))}`;
    case 'pattern': {
      const rule = (e.parentSchema as { 'x-rule'?: string } | undefined)?.['x-rule'];
      return `${at} must match ${rule ?? `the pattern ${String(p.pattern)}`}`;
    }
    case 'enum':
      return `${at} must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `${at} must be ${JSON.stringify(p.allowedValue)}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${at} must be ${String(p.comparison)} ${String(p.limit)}`;
    case 'maxLength':
      return `${at} must be at most ${String(p.limit)} characters long`;
    case 'minLength':
      return Number(p.limit) === 1
        ? `${at} must not be empty`
        : `${at} must be at least ${String(p.limit)} characters long`;
    case 'maxItems':
      return `${at} must have at most ${String(p.limit)} items`;
    case 'minItems':
      return `${at} must have at least ${String(p.limit)} item${Number(p.limit) === 1 ? '' : 's'}`;
    case 'format':
      return `${at} must be ${formatName(String(p.format))}`;
    case 'propertyNames':
      return `${at} has a key that is not allowed (${String(p.propertyName)})`;
    default:
      return `${at} ${e.message ?? 'is invalid'}`;
  }
}

function join(base: string, key: string): string {
  return `${base}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

function article(type: string): string {
  const types = type.split(',');
  const named = types.map((t) => (t === 'integer' || t === 'object' || t === 'array' ? `an ${t}` : `a ${t}`));
  return named.join(' or ').replace('a null', 'null');
}

function formatName(format: string): string {
  switch (format) {
    case 'date-time':
      return 'an RFC 3339 date-time';
    case 'ip':
      return 'an IPv4 or IPv6 address';
    default:
      return `a valid ${format}`;
  }
}
