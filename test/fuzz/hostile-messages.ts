import { join } from 'node:path';
import fc from 'fast-check';
import { xlSpecCheck } from '../../pkg/hypervisor/xl.js';
import { readProjectJson } from '../../pkg/project-files.js';
import { decodeConfigMessage, MAX_MESSAGE_BYTES } from '../../pkg/schema/domain-config-message.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';

/**
 * Hostile config messages for the fuzz campaign, generated with fast-check: violations derived
 * by walking the DomainConfig JSON Schema in types/ (the source of truth: every constrained field
 * gets a value breaking its type, range, pattern, enum, length or item count), random mutations
 * of valid configs, and the shapes a parser meets in the wild (non-JSON, huge, deep, unicode,
 * prototype-pollution keys, numbers at the limits, duplicate keys, a subject uuid that is not
 * the payload's, subjects that are no uuid at all).
 *
 * An arbitrary yields a Recipe; the driver turns it into a message with a fresh uuid of its own
 * (so every message has its own status subject) and knows from the recipe what must follow.
 */

/** What the node must answer. */
export type Expectation =
  /** Accepted: statuses reach observedGeneration `generation` in the state activate/paused ask. */
  | { kind: 'valid'; generation: number; activate: boolean; paused: boolean }
  /**
   * REJECTED with a `config` error whose message contains `names` (a JSON pointer, or what is
   * wrong with the message as a whole); null: any config error (a random mutation breaking
   * more than one rule in ways only the validator can tell apart).
   */
  | { kind: 'invalid'; names: string | null }
  /** The subject's last token is no uuid: no status at all, nothing on the host. */
  | { kind: 'ignored' };

export interface MessageContext {
  /** A fresh uuid for the subject. */
  uuid: string;
  /** Another fresh uuid (the payload's, in a subject/payload mismatch). */
  otherUuid: string;
  /** The allowed storage root holding the dummy kernel `vmlinuz` and disk `disk0.raw`. */
  images: string;
  /** The message's index in the run: makes valid names unique on the host. */
  index: number;
}

export interface HostileMessage {
  /** What kind of hostility (for the report and for replaying). */
  label: string;
  /** The config subject's last token. */
  token: string;
  payload: Uint8Array;
  expect: Expectation;
  /** Uuids in the message that must never reach the hypervisor. */
  forbidden: string[];
  /** A random mutation's edited fields: an invalid result's error names one of them. */
  touched?: string[];
  /**
   * A valid config with activate false, published (and HALTED at `generation`) before this
   * message: the invalid message is then an update, which must leave that config in force.
   */
  before?: { payload: Uint8Array; generation: number };
}

export interface Recipe {
  label: string;
  build(ctx: MessageContext): HostileMessage;
}

const enc = new TextEncoder();

// ---------------------------------------------------------------- the schema, read from types/

interface SchemaNode {
  type?: string | string[];
  $ref?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  required?: string[];
}

const configSchema = readProjectJson('types/domain-config.schema.json') as SchemaNode;
const definitions = (
  readProjectJson('types/definitions.schema.json') as { definitions: Record<string, SchemaNode> }
).definitions;

function resolve(node: SchemaNode): SchemaNode {
  if (node.$ref === undefined) return node;
  const name = node.$ref.slice(node.$ref.lastIndexOf('/') + 1);
  const def = definitions[name];
  if (def === undefined) throw new Error(`schema $ref ${node.$ref} names no definition`);
  return { ...def, ...node, $ref: undefined };
}

/** A field of the schema with its constraints: `/memoryMiB`, `/vifs`, `/vifs/0/mac`, ... */
export interface SchemaField {
  pointer: string;
  /** Top-level property, and the item property for `/array/0/prop`. */
  key: string;
  itemKey?: string;
  node: SchemaNode;
}

/** Every property of DomainConfig and of its array items, as the schema states them. */
export function schemaFields(): SchemaField[] {
  const out: SchemaField[] = [];
  for (const [key, raw] of Object.entries(configSchema.properties ?? {})) {
    const node = resolve(raw);
    out.push({ pointer: `/${key}`, key, node });
    const items = node.items === undefined ? undefined : resolve(node.items);
    for (const [itemKey, itemRaw] of Object.entries(items?.properties ?? {}))
      out.push({ pointer: `/${key}/0/${itemKey}`, key, itemKey, node: resolve(itemRaw) });
  }
  return out;
}

/** The schema's pattern as ajv runs it (unicode regexps). */
function patternOf(node: SchemaNode): RegExp | null {
  return node.pattern === undefined ? null : new RegExp(node.pattern, 'u');
}

const jsonTypeOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;

/** A JSON value of a type the node does not allow (as JSON text: numbers beyond doubles too). */
function wrongType(node: SchemaNode): fc.Arbitrary<string> {
  const allowed = new Set([node.type ?? []].flat());
  if (allowed.has('number')) allowed.add('integer');
  return fc
    .oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom<unknown>(null, true, false, '', '1', 1.5, -1, [], {}, [1], { a: 1 }),
    )
    .filter((v) => !allowed.has(jsonTypeOf(v)) && !(allowed.has('number') && typeof v === 'number'))
    .map((v) => JSON.stringify(v));
}

/** JSON text of values that break one constraint of `node` other than its type. */
function breaksConstraint(node: SchemaNode): fc.Arbitrary<string>[] {
  const arbs: fc.Arbitrary<string>[] = [];
  const type = [node.type ?? []].flat()[0];
  if (type === 'integer') {
    const lo = node.minimum ?? Number.MIN_SAFE_INTEGER;
    const hi = node.maximum ?? Number.MAX_SAFE_INTEGER;
    arbs.push(
      fc.constantFrom(
        String(lo - 1),
        String(hi + 1),
        // Past the integers a double holds exactly, past doubles (Infinity), and fractions.
        '9007199254740993',
        '1e999',
        '-1e999',
        `${lo}.5`,
        '0.1',
        '-0.0000001',
      ),
      fc.integer({ min: -(2 ** 31), max: lo - 1 }).map(String),
    );
    if (hi < Number.MAX_SAFE_INTEGER) arbs.push(fc.integer({ min: hi + 1, max: 2 ** 31 }).map(String));
  }
  if (type === 'string') {
    if (node.enum !== undefined) {
      const allowed = new Set(node.enum);
      arbs.push(
        fc
          .oneof(
            fc.string({ maxLength: 12 }),
            fc.constantFrom(...node.enum.map((e) => String(e).toUpperCase())),
          )
          .filter((s) => !allowed.has(s))
          .map((s) => JSON.stringify(s)),
      );
    }
    const re = patternOf(node);
    if (re !== null) {
      arbs.push(
        fc
          .oneof(
            fc.string({ unit: 'binary', maxLength: 40 }),
            fc.string({ unit: 'grapheme', maxLength: 20 }),
            fc.constantFrom(
              '',
              '-x',
              '-rf',
              'relative/path',
              '/a/../b',
              '/a/./b',
              '/a\nb',
              'a\u0000b',
              '\u007f',
              'ＡＢＣ',
              'ǅ',
              '٣',
              '0000:00:02.8',
              'ff:ff:ff:ff:ff',
              'xvd',
              '^',
              'all,',
              '🙂',
              '\ud800',
            ),
          )
          .filter((s) => !re.test(s))
          .map((s) => JSON.stringify(s)),
      );
    }
    if (node.format === 'ip') arbs.push(fc.constantFrom('"256.1.1.1"', '"1.2.3"', '"::g"', '"10.0.0.1/24"'));
    if (node.maxLength !== undefined) {
      const long = `/${'a'.repeat(node.maxLength)}`;
      arbs.push(fc.constant(JSON.stringify(long)));
    }
  }
  if (type === 'array' && node.maxItems !== undefined) {
    // Too many items, each of them valid or not (the count is what must be named).
    arbs.push(fc.constant(JSON.stringify(Array.from({ length: node.maxItems + 1 }, () => ({})))));
  }
  if (type === 'boolean') arbs.push(fc.constantFrom('"true"', '1', '0', '"false"'));
  return arbs;
}

// ---------------------------------------------------------------- valid configs

/** A DomainConfig the simulated xl host can run: the dummy kernel and disk of `images`. */
export function baseConfig(ctx: MessageContext): DomainConfig {
  return {
    uuid: ctx.uuid,
    name: `fz${ctx.index}`,
    generation: 1,
    activate: false,
    type: 'vm',
    virtualizationMode: 'pvh',
    memoryMiB: 32,
    maxMemoryMiB: 64,
    vcpus: 1,
    kernel: join(ctx.images, 'vmlinuz'),
    cmdline: 'console=hvc0',
    vifs: [{ bridge: 'xenbr0' }],
    disks: [{ path: join(ctx.images, 'disk0.raw'), format: 'raw', vdev: 'xvda' }],
  };
}

/** What the schema's `text` rule forbids: C0 controls and DEL. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/gu;

/** Text without control characters: any unicode, astral planes and lone surrogates included. */
const anyText = (maxLength: number) =>
  fc
    .string({ unit: 'binary', maxLength })
    .map((s) => s.replace(CONTROL_CHARACTERS, ''))
    .filter((s) => s.length <= maxLength);

const nameSuffix = fc.stringMatching(/^[A-Za-z0-9_.-]{0,20}$/);

/** Overrides that keep a config valid and runnable: values across each field's allowed range. */
const validOverrides = fc.record(
  {
    generation: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
    activate: fc.boolean(),
    paused: fc.boolean(),
    restartCounter: fc.oneof(fc.nat(5), fc.constant(Number.MAX_SAFE_INTEGER)),
    purgeCounter: fc.oneof(fc.nat(5), fc.constant(Number.MAX_SAFE_INTEGER)),
    memoryMiB: fc.integer({ min: 16, max: 64 }),
    vcpus: fc.integer({ min: 1, max: 2 }),
    cpus: fc.constantFrom('all', '0-1', '0,1', '0-3,^2'),
    cmdline: anyText(200),
    restartPolicy: fc.constantFrom('always', 'on-failure', 'never'),
    disableVifOffload: fc.boolean(),
    mac: fc.constantFrom('00:16:3e:00:00:01', '02:AB:cd:00:10:ff'),
    ip: fc.oneof(fc.ipV4(), fc.ipV6()),
  },
  { requiredKeys: ['generation', 'activate', 'memoryMiB'] },
);

type OverridesValue = typeof validOverrides extends fc.Arbitrary<infer T> ? T : never;

function validConfig(ctx: MessageContext, o: OverridesValue, suffix: string): DomainConfig {
  const doc = baseConfig(ctx);
  doc.name = `fz${ctx.index}${suffix}`.slice(0, 64);
  doc.generation = o.generation;
  doc.activate = o.activate;
  doc.memoryMiB = o.memoryMiB;
  doc.maxMemoryMiB = o.memoryMiB * 2;
  if (o.paused !== undefined) doc.paused = o.paused;
  if (o.restartCounter !== undefined) doc.restartCounter = o.restartCounter;
  if (o.purgeCounter !== undefined) doc.purgeCounter = o.purgeCounter;
  if (o.vcpus !== undefined) doc.vcpus = o.vcpus;
  if (o.cpus !== undefined) doc.cpus = o.cpus;
  if (o.cmdline !== undefined) doc.cmdline = o.cmdline;
  if (o.restartPolicy !== undefined) doc.restartPolicy = o.restartPolicy as DomainConfig['restartPolicy'];
  if (o.disableVifOffload !== undefined) doc.disableVifOffload = o.disableVifOffload;
  const vif: NonNullable<DomainConfig['vifs']>[number] = { bridge: 'xenbr0' };
  if (o.mac !== undefined) vif.mac = o.mac;
  if (o.ip !== undefined) vif.ip = o.ip;
  doc.vifs = [vif];
  return doc;
}

function validExpect(doc: DomainConfig): Expectation {
  return { kind: 'valid', generation: doc.generation, activate: doc.activate, paused: doc.paused ?? false };
}

function message(
  label: string,
  ctx: MessageContext,
  payload: string | Uint8Array,
  expect: Expectation,
  forbidden: string[] = expect.kind === 'valid' ? [] : [ctx.uuid],
): HostileMessage {
  return {
    label,
    token: ctx.uuid,
    payload: typeof payload === 'string' ? enc.encode(payload) : payload,
    expect,
    forbidden,
  };
}

const invalid = (names: string | null): Expectation => ({ kind: 'invalid', names });

/** A valid config, its fields spread across their allowed values (unicode command lines included). */
export const validRecipe: fc.Arbitrary<Recipe> = fc.tuple(validOverrides, nameSuffix).map(([o, suffix]) => ({
  label: 'valid',
  build: (ctx) => {
    const doc = validConfig(ctx, o, suffix);
    return message('valid', ctx, JSON.stringify(doc), validExpect(doc));
  },
}));

/** Valid, halted (nothing to run), every number at its schema limit. */
const validAtLimits: fc.Arbitrary<Recipe> = fc.constant({
  label: 'valid numbers at their limits',
  build: (ctx) => {
    const doc: DomainConfig = {
      ...baseConfig(ctx),
      generation: Number.MAX_SAFE_INTEGER,
      restartCounter: Number.MAX_SAFE_INTEGER,
      purgeCounter: Number.MAX_SAFE_INTEGER,
      memoryMiB: 4194304,
      maxMemoryMiB: 4194304,
      vcpus: 512,
      maxVcpus: 512,
      activate: false,
    };
    return message('valid numbers at their limits', ctx, JSON.stringify(doc), validExpect(doc));
  },
});

// ---------------------------------------------------------------- invalid: from the schema

/** Splices `valueJson` into the base config at `field` (as text: 1e999 stays 1e999). */
function withField(ctx: MessageContext, field: SchemaField, valueJson: string): string {
  const doc = baseConfig(ctx) as unknown as Record<string, unknown>;
  const marker = `"@@fuzz-${ctx.index}@@"`;
  if (field.itemKey === undefined) {
    doc[field.key] = JSON.parse(marker);
  } else {
    const items = Array.isArray(doc[field.key]) ? (doc[field.key] as Record<string, unknown>[]) : [];
    const first: Record<string, unknown> =
      items[0] === undefined ? (field.key === 'pciDevices' ? { bdf: '0000:00:02.0' } : {}) : { ...items[0] };
    first[field.itemKey] = JSON.parse(marker);
    doc[field.key] = [first, ...items.slice(1)];
  }
  return JSON.stringify(doc).replace(marker, () => valueJson);
}

/** For every constrained field of the schema: a value breaking its type or one of its rules. */
export const schemaViolation: fc.Arbitrary<Recipe> = fc.oneof(
  ...schemaFields().map((field) =>
    fc.oneof(wrongType(field.node), ...breaksConstraint(field.node)).map(
      (valueJson): Recipe => ({
        label: `schema: ${field.pointer}`,
        build: (ctx) =>
          message(`schema: ${field.pointer}`, ctx, withField(ctx, field, valueJson), invalid(field.pointer)),
      }),
    ),
  ),
);

const requiredKeys = configSchema.required ?? [];

/** A required field left out. */
const missingRequired: fc.Arbitrary<Recipe> = fc.constantFrom(...requiredKeys).map((key) => ({
  label: `missing /${key}`,
  build: (ctx) => {
    const doc = baseConfig(ctx) as unknown as Record<string, unknown>;
    delete doc[key];
    return message(`missing /${key}`, ctx, JSON.stringify(doc), invalid(`/${key} is required`));
  },
}));

/** JSON pointer escaping of one key. */
const pointerKey = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * An unknown key, at the top or in an array item: prototype-pollution keys, unicode, the empty
 * key, a long key; its value a random JSON value, or one that would pollute a prototype.
 */
const unknownKey: fc.Arbitrary<Recipe> = fc
  .tuple(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString'),
      },
      { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
      { weight: 1, arbitrary: fc.constantFrom('', '~/', 'a/b', 'UUID', 'memorymib', 'k'.repeat(20_000)) },
    ),
    fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.constantFrom(
        '{"polluted":true,"activate":true}',
        '{"prototype":{"polluted":true}}',
        '{"__proto__":{"polluted":true}}',
      ),
    ),
    fc.constantFrom('', 'vifs', 'disks'),
  )
  .filter(([key, , where]) => where !== '' || !Object.hasOwn(configSchema.properties ?? {}, key))
  .filter(
    ([key, , where]) =>
      where === '' || !['bridge', 'mac', 'ip', 'vifName', 'path', 'format', 'vdev', 'readOnly'].includes(key),
  )
  .map(([key, valueJson, where]) => ({
    label: `unknown key${where === '' ? '' : ` in /${where}/0`}`,
    build: (ctx) => {
      const text = JSON.stringify(baseConfig(ctx));
      const entry = `${JSON.stringify(key)}:${valueJson}`;
      let payload: string;
      if (where === '') payload = `{${entry},${text.slice(1)}`;
      else {
        const at = text.indexOf(`"${where}":[{`) + where.length + 5;
        payload = `${text.slice(0, at)}${entry},${text.slice(at)}`;
      }
      const pointer = `${where === '' ? '' : `/${where}/0`}/${pointerKey(key)}`;
      return message(`unknown key ${where}`, ctx, payload, invalid(pointer.slice(0, 200)));
    },
  }));

/** The subject's uuid is not the payload's: rejected on the subject's, nothing under either. */
const uuidMismatch: fc.Arbitrary<Recipe> = fc.constantFrom('other', 'upper', 'nil').map((how) => ({
  label: `payload uuid ${how}`,
  build: (ctx) => {
    const payloadUuid =
      how === 'other'
        ? ctx.otherUuid
        : how === 'upper'
          ? ctx.uuid.toUpperCase()
          : '00000000-0000-0000-0000-000000000000';
    const doc = { ...baseConfig(ctx), uuid: payloadUuid, activate: true };
    return {
      ...message(`payload uuid ${how}`, ctx, JSON.stringify(doc), invalid('/uuid')),
      forbidden: [ctx.uuid, ctx.otherUuid],
    };
  },
}));

/** Bytes that are no JSON document: random, truncated, invalid UTF-8, JSON's near relatives. */
const notJson: fc.Arbitrary<Recipe> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => ({
    label: 'random bytes',
    build: (ctx: MessageContext) => message('random bytes', ctx, bytes, invalid(null)),
  })),
  fc.double({ min: 0, max: 1, noNaN: true }).map((cut) => ({
    label: 'truncated JSON',
    build: (ctx: MessageContext) => {
      const text = JSON.stringify(baseConfig(ctx));
      // Cut anywhere but at the end (and never to nothing: the empty payload is a delete).
      const at = Math.max(1, Math.min(text.length - 1, Math.floor(cut * text.length)));
      return message('truncated JSON', ctx, text.slice(0, at), invalid('not valid JSON'));
    },
  })),
  fc
    .constantFrom(
      { bytes: [0xc3, 0x28], names: 'not valid JSON' },
      { bytes: [0xff, 0xfe, 0x7b, 0x7d], names: 'not valid JSON' },
      { bytes: [0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d], names: 'not valid JSON' },
      // A UTF-8 byte order mark is dropped by the decoder (WHATWG): `{}` is then read.
      { bytes: [0xef, 0xbb, 0xbf, 0x7b, 0x7d], names: '/uuid is required' },
    )
    .map(({ bytes, names }) => ({
      label: 'invalid UTF-8',
      build: (ctx: MessageContext) => message('invalid UTF-8', ctx, new Uint8Array(bytes), invalid(names)),
    })),
  fc
    .constantFrom(
      "{'uuid': 1}",
      '{"a":NaN}',
      '{"a":Infinity}',
      '{"a":1,}',
      '{"a":01}',
      '{"a":"\\x41"}',
      '{} {}',
      '// comment\n{}',
      '\u0000',
      ' ',
    )
    .map((text) => ({
      label: 'JSON look-alike',
      build: (ctx: MessageContext) => message('JSON look-alike', ctx, text, invalid('not valid JSON')),
    })),
  fc.constantFrom('null', 'true', '0', '"config"', '[]', '[{}]', '-1e999').map((text) => ({
    label: 'JSON, not an object',
    build: (ctx: MessageContext) => message('JSON, not an object', ctx, text, invalid('(document)')),
  })),
);

/** Over the message limit, exactly at it, and big but under it (a field past its maxLength). */
const huge: fc.Arbitrary<Recipe> = fc.constantFrom(-1, 0, 1, 100_000).map((over) => ({
  label: over > 0 ? 'huge: over the limit' : 'huge: at the limit',
  build: (ctx: MessageContext) => {
    const doc = baseConfig(ctx);
    const bare = JSON.stringify({ ...doc, cmdline: '' }).length;
    const size = over === 100_000 ? MAX_MESSAGE_BYTES + 100_000 : MAX_MESSAGE_BYTES + over;
    doc.cmdline = 'x'.repeat(size - bare);
    const text = JSON.stringify(doc);
    return message(
      over > 0 ? 'huge: over the limit' : 'huge: at the limit',
      ctx,
      text,
      invalid(over > 0 ? 'over the limit' : '/cmdline'),
    );
  },
}));

/** As many unknown keys as fit under the limit: every one an error, the report capped. */
const manyKeys: fc.Arbitrary<Recipe> = fc.integer({ min: 1000, max: 15_000 }).map((n) => ({
  label: 'many unknown keys',
  build: (ctx: MessageContext) => {
    const text = JSON.stringify(baseConfig(ctx));
    const keys = Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',');
    return message(
      'many unknown keys',
      ctx,
      `{${keys},${text.slice(1)}`,
      invalid('/k0 is not a known field'),
    );
  },
}));

/** Nesting as deep as the message limit allows, in a known field, an unknown one, or as the document. */
const deep: fc.Arbitrary<Recipe> = fc
  .tuple(
    fc.integer({ min: 100, max: 120_000 }),
    fc.constantFrom('vifs', 'disks', 'x', 'document'),
    fc.boolean(),
  )
  .map(([depth, where, objects]) => ({
    label: `deep nesting (${where})`,
    build: (ctx: MessageContext) => {
      const open = objects ? '{"a":' : '[';
      const close = objects ? '}' : ']';
      const n = Math.min(depth, Math.floor((MAX_MESSAGE_BYTES - 2000) / (open.length + close.length)));
      const nested = `${open.repeat(n)}0${close.repeat(n)}`;
      if (where === 'document')
        return message(
          'deep nesting (document)',
          ctx,
          nested,
          invalid(objects ? '/uuid is required' : '(document)'),
        );
      const text = JSON.stringify(baseConfig(ctx));
      // `x` is unknown; vifs and disks come again at the end, and JSON.parse keeps the last.
      const payload =
        where === 'x' ? `{"x":${nested},${text.slice(1)}` : `${text.slice(0, -1)},"${where}":${nested}}`;
      const names =
        where === 'x' ? '/x is not a known field' : objects ? `/${where} must be an array` : `/${where}/0`;
      return message(`deep nesting (${where})`, ctx, payload, invalid(names));
    },
  }));

/** Unicode where the schema wants ASCII: names, bridges, uuids of look-alike digits. */
const unicode: fc.Arbitrary<Recipe> = fc
  .tuple(
    fc.constantFrom('/name', '/vifs/0/bridge', '/uuid', '/disks/0/vdev', '/cmdline'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }).filter((s) => /\P{ASCII}/u.test(s)),
  )
  .map(([pointer, text]) => ({
    label: `unicode ${pointer}`,
    build: (ctx: MessageContext) => {
      const doc = baseConfig(ctx);
      const vif = (doc.vifs ?? [])[0];
      const disk = (doc.disks ?? [])[0];
      if (pointer === '/name') doc.name = `fz${text}`;
      else if (pointer === '/vifs/0/bridge' && vif) vif.bridge = text;
      else if (pointer === '/disks/0/vdev' && disk) disk.vdev = `xvd${text}`;
      else if (pointer === '/uuid')
        doc.uuid = ctx.uuid.replace(/[0-9]/g, (d) => String.fromCodePoint(0xff10 + Number(d)));
      // A control character among the unicode: the one thing text may not hold.
      else doc.cmdline = `${text}\u0007${text}`;
      return message(`unicode ${pointer}`, ctx, JSON.stringify(doc), invalid(pointer));
    },
  }));

/** A key given twice: the last one wins in JSON.parse, valid or not. */
const duplicateKeys: fc.Arbitrary<Recipe> = fc
  .tuple(fc.constantFrom('memoryMiB', 'uuid', 'activate', 'generation', 'name'), fc.boolean())
  .map(([key, badLast]) => ({
    label: `duplicate key ${key} (${badLast ? 'bad' : 'good'} last)`,
    build: (ctx: MessageContext) => {
      const doc = baseConfig(ctx);
      const bad = JSON.stringify(key === 'activate' ? 'yes' : key === 'name' ? '../x' : -1);
      const text = JSON.stringify(doc);
      const payload = badLast ? `${text.slice(0, -1)},"${key}":${bad}}` : `{"${key}":${bad},${text.slice(1)}`;
      return message(`duplicate key ${key}`, ctx, payload, badLast ? invalid(`/${key}`) : validExpect(doc));
    },
  }));

/** Rules across fields that the schema cannot state (pkg/schema/semantics.ts). */
const crossField: fc.Arbitrary<Recipe> = fc
  .constantFrom(
    { names: '/maxMemoryMiB', over: { memoryMiB: 64, maxMemoryMiB: 32 } },
    { names: '/maxVcpus', over: { vcpus: 4, maxVcpus: 2 } },
    { names: '/cpus', over: { cpus: '3-1' } },
    {
      names: '/vifs/1/mac',
      over: {
        vifs: [
          { bridge: 'xenbr0', mac: '00:16:3e:00:00:01' },
          { bridge: 'xenbr0', mac: '00:16:3E:00:00:01' },
        ],
      },
    },
    { names: '/vifs/0/mac', over: { vifs: [{ bridge: 'xenbr0', mac: '01:00:5e:00:00:01' }] } },
    { names: '/kernel', over: { kernel: '/etc/passwd' } },
    { names: '/disks/0/path', over: { disks: [{ path: '/dev/sda', format: 'raw' }] } },
    { names: '/image', over: { type: 'container', virtualizationMode: undefined } },
    { names: '/virtualizationMode', over: { type: 'container', image: 'sha512-abc' } },
  )
  .map(({ names, over }) => ({
    label: `cross-field ${names}`,
    build: (ctx: MessageContext) => {
      const doc = { ...baseConfig(ctx), ...over, activate: true };
      return message(`cross-field ${names}`, ctx, JSON.stringify(doc), invalid(names));
    },
  }));

/** Subjects whose last token is no lower-case uuid: ignored (logged), no status. */
const notUuidSubject: fc.Arbitrary<Recipe> = fc
  .oneof(
    fc.constantFrom('upper', 'v0', 'word'),
    fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
    // Any printable unicode a subject token may hold (no space, dot or wildcard).
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((t) => /^[^\s.*>]+$/u.test(t)),
  )
  .map((how) => ({
    label: 'subject token not a uuid',
    build: (ctx: MessageContext) => {
      const token =
        how === 'upper'
          ? ctx.uuid.toUpperCase()
          : how === 'v0'
            ? `${ctx.uuid.slice(0, 14)}0${ctx.uuid.slice(15)}`
            : how === 'word'
              ? 'not-a-uuid'
              : `${how}-${ctx.index}`;
      const doc = { ...baseConfig(ctx), activate: true };
      return {
        ...message('subject token not a uuid', ctx, JSON.stringify(doc), { kind: 'ignored' }),
        token,
        forbidden: [ctx.uuid],
      };
    },
  }));

// ---------------------------------------------------------------- mutations of valid configs

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** One edit of a document: returns the top-level key it touched. */
type Mutation = (doc: Record<string, Json>) => string;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat(30).map(
    (i): Mutation =>
      (doc) => {
        const keys = Object.keys(doc);
        const k = keys[i % keys.length] as string;
        delete doc[k];
        return k;
      },
  ),
  fc.tuple(fc.nat(30), fc.jsonValue({ maxDepth: 2 })).map(
    ([i, v]): Mutation =>
      (doc) => {
        const keys = Object.keys(doc);
        const k = keys[i % keys.length] as string;
        doc[k] = v as Json;
        return k;
      },
  ),
  fc.tuple(fc.constantFrom('vifs', 'disks'), fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })).map(
    ([arr, key, v]): Mutation =>
      (doc) => {
        const items = doc[arr];
        if (
          Array.isArray(items) &&
          items[0] !== null &&
          typeof items[0] === 'object' &&
          !Array.isArray(items[0])
        )
          (items[0] as Record<string, Json>)[key] = v as Json;
        return arr;
      },
  ),
);

/**
 * What the node decides about a payload on the xl backend, from its pure parts: the decoder
 * (size, JSON, the schema in types/, cross-field rules, the subject's uuid) and the xl backend's
 * spec check. Used only for random mutations, whose validity no recipe can know in advance; the
 * service test then checks the real process answers the same, and acts only on the valid ones.
 */
export function classify(payload: Uint8Array, uuid: string, images: string): Expectation {
  const m = decodeConfigMessage(payload, uuid, [images]);
  if (m.kind === 'invalid') return invalid(null);
  if (m.kind === 'delete') throw new Error('a recipe made an empty payload (a delete)');
  if (xlSpecCheck(m.spec).problems.length > 0) return invalid(null);
  return { kind: 'valid', generation: m.spec.generation, activate: m.spec.activate, paused: m.spec.paused };
}

/**
 * A valid config with one to three random edits (a key removed, a value replaced by any JSON
 * value, a key added to an array item). Invalid results must be rejected with an error naming
 * one of the edited fields; valid ones must converge.
 */
export const mutatedConfig: fc.Arbitrary<Recipe> = fc
  .tuple(validOverrides, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([o, muts]) => ({
    label: 'mutated valid config',
    build: (ctx: MessageContext) => {
      const doc = JSON.parse(JSON.stringify(validConfig(ctx, { ...o, activate: false }, ''))) as Record<
        string,
        Json
      >;
      const touched = [...new Set(muts.map((m) => m(doc)))];
      const payload = enc.encode(JSON.stringify(doc));
      const expect = classify(payload, ctx.uuid, ctx.images);
      return {
        ...message('mutated valid config', ctx, payload, expect),
        touched: touched.map((k) => `/${pointerKey(k)}`),
      };
    },
  }));

/**
 * An invalid update of a domain that has a valid, halted config: the node keeps the valid one
 * (state and observedGeneration unchanged), says why in a config error, and runs nothing.
 */
const invalidUpdate: fc.Arbitrary<Recipe> = fc
  .tuple(schemaViolation, fc.integer({ min: 1, max: 1000 }))
  .map(([violation, generation]) => ({
    label: `update: ${violation.label}`,
    build: (ctx: MessageContext) => {
      const before = { ...baseConfig(ctx), generation };
      const bad = violation.build(ctx);
      return {
        ...bad,
        label: `update: ${bad.label}`,
        before: { payload: enc.encode(JSON.stringify(before)), generation },
      };
    },
  }));

/** Every kind of hostile message, weighted so that most are cheap to answer and a few run. */
export const hostileRecipe: fc.Arbitrary<Recipe> = fc.oneof(
  { weight: 30, arbitrary: schemaViolation },
  { weight: 15, arbitrary: mutatedConfig },
  { weight: 5, arbitrary: missingRequired },
  { weight: 10, arbitrary: unknownKey },
  { weight: 5, arbitrary: uuidMismatch },
  { weight: 10, arbitrary: notJson },
  { weight: 2, arbitrary: huge },
  { weight: 3, arbitrary: deep },
  { weight: 5, arbitrary: unicode },
  { weight: 4, arbitrary: duplicateKeys },
  { weight: 5, arbitrary: crossField },
  { weight: 2, arbitrary: notUuidSubject },
  { weight: 1, arbitrary: validAtLimits },
  { weight: 1, arbitrary: manyKeys },
  { weight: 5, arbitrary: invalidUpdate },
  { weight: 3, arbitrary: validRecipe },
);
