import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AsyncAPIDocumentInterface, type Diagnostic, fromFile, Parser } from '@asyncapi/parser';
import { projectRoot, readProjectJson } from '../../pkg/project-files.js';

/**
 * docs/asyncapi.yaml against the AsyncAPI parser (Spectral rules of the spec, $refs resolved by
 * file path as any AsyncAPI tool resolves them) and against the wire contract.
 */

const DOC = join(projectRoot, 'docs/asyncapi.yaml');
/** The project's copy of the wire contract (v1.1), as docs/contract.md names it. */
const CONTRACT = join(projectRoot, 'test', 'fixtures', 'contract', 'CONTRACT.md');

/** The subjects of the contract (v1.1), in its notation; checked against the contract file below. */
const CONTRACT_SUBJECTS = [
  '<prefix>.<nodeId>.config.<uuid>',
  '<prefix>.<nodeId>.status.<uuid>',
  '<prefix>.<nodeId>.node',
];

let document: AsyncAPIDocumentInterface;
let diagnostics: Diagnostic[];

beforeAll(async () => {
  const out = await fromFile(new Parser(), DOC).parse();
  diagnostics = out.diagnostics;
  if (out.document === undefined) {
    throw new Error(`not parsed:\n${diagnostics.map((d) => `${d.code}: ${d.message}`).join('\n')}`);
  }
  document = out.document;
}, 60_000);

const byId = <T extends { id(): string }>(items: T[], id: string): T => {
  const found = items.find((i) => i.id() === id);
  if (found === undefined) throw new Error(`no ${id} among ${items.map((i) => i.id()).join(', ')}`);
  return found;
};

test('the parser reports nothing: no error, warning, information or hint', () => {
  expect(
    diagnostics.map((d) => ({ severity: d.severity, code: d.code, message: d.message, path: d.path })),
  ).toEqual([]);
  expect(document.version()).toBe('3.1.0');
});

test('every subject of the contract is a channel, with one parameter per placeholder', () => {
  const addresses = document
    .channels()
    .all()
    .map((c) => c.address());
  const expected = CONTRACT_SUBJECTS.map((s) => s.replace(/<(\w+)>/g, '{$1}'));
  expect(addresses.sort()).toEqual([...expected].sort());
  for (const channel of document.channels().all()) {
    const placeholders = [...(channel.address() ?? '').matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    expect(
      channel
        .parameters()
        .all()
        .map((p) => p.id()),
    ).toEqual(placeholders);
  }
});

test('the subject list above is the one in CONTRACT.md', () => {
  const text = readFileSync(CONTRACT, 'utf8');
  const table = text.slice(text.indexOf('## Subjects and streams'), text.indexOf('## DomainConfig'));
  const subjects = [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
  expect(subjects).toEqual(CONTRACT_SUBJECTS);
});

test('the prefix parameter defaults to the default nats.prefix', () => {
  const defaults = readProjectJson('config/default.json') as { nats: { prefix: string } };
  for (const channel of document.channels().all()) {
    const prefix = byId(channel.parameters().all(), 'prefix').json() as { default?: string };
    expect(prefix.default).toBe(defaults.nats.prefix);
  }
});

test('operations: domainmgr receives config and sends both statuses; the other roles do the opposite', () => {
  const ops = document
    .operations()
    .all()
    .map((o) => ({
      action: o.action(),
      channels: o
        .channels()
        .all()
        .map((c) => c.id()),
      tags: o
        .tags()
        .all()
        .map((t) => t.name()),
      messages: o
        .messages()
        .all()
        .map((m) => m.id()),
    }));
  const of = (tag: string) =>
    ops
      .filter((o) => o.tags.includes(tag))
      .map(({ action, channels, messages }) => ({ action, channels, messages }))
      .sort((a, b) => a.channels[0]?.localeCompare(b.channels[0] ?? '') ?? 0);
  expect(of('domainmgr')).toEqual([
    { action: 'receive', channels: ['domainConfig'], messages: ['domainConfig', 'domainDelete'] },
    { action: 'send', channels: ['domainStatus'], messages: ['domainStatus'] },
    { action: 'send', channels: ['nodeStatus'], messages: ['nodeStatus'] },
  ]);
  expect(of('controller')).toEqual([
    { action: 'send', channels: ['domainConfig'], messages: ['domainConfig', 'domainDelete'] },
    { action: 'receive', channels: ['domainStatus'], messages: ['domainStatus'] },
    { action: 'receive', channels: ['nodeStatus'], messages: ['nodeStatus'] },
  ]);
  expect(of('operator')).toEqual([
    { action: 'receive', channels: ['domainStatus'], messages: ['domainStatus'] },
    { action: 'receive', channels: ['nodeStatus'], messages: ['nodeStatus'] },
  ]);
});

/**
 * A schema file with its references to the shared definitions replaced by their targets, as a
 * draft-07 resolver does ($ref replaces the whole object; sibling keywords are ignored).
 */
function resolvedFile(path: string): unknown {
  const defs = (readProjectJson('types/definitions.schema.json') as { definitions: Record<string, unknown> })
    .definitions;
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    const ref = (node as { $ref?: unknown }).$ref;
    if (typeof ref === 'string') {
      const m = /^definitions\.schema\.json#\/definitions\/(\w+)$/.exec(ref);
      if (!m) throw new Error(`unexpected $ref ${ref} in ${path}`);
      return walk(defs[m[1] as string]);
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v)]));
  };
  return walk(readProjectJson(path));
}

/** The parser tags every schema node with x-parser-* keys; they are not part of the schema. */
function withoutParserKeys(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutParserKeys);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k]) => !k.startsWith('x-parser-'))
      .map(([k, v]) => [k, withoutParserKeys(v)]),
  );
}

test.each([
  ['domainConfig', 'types/domain-config.schema.json'],
  ['domainStatus', 'types/domain-status.schema.json'],
  ['nodeStatus', 'types/node-status.schema.json'],
])('message %s carries exactly the JSON Schema of %s, its $refs resolved', (id, file) => {
  const message = byId(document.messages().all(), id);
  expect(message.contentType()).toBe('application/json');
  const payload = message.payload()?.json() as { schemaFormat: string; schema: unknown };
  expect(payload.schemaFormat).toBe('application/schema+json;version=draft-07');
  expect(JSON.stringify(payload.schema)).not.toContain('"$ref"');
  expect(withoutParserKeys(payload.schema)).toEqual(resolvedFile(file));
});

test('the document references the schema files and copies none of them', () => {
  const text = readFileSync(DOC, 'utf8');
  for (const file of ['domain-config', 'domain-status', 'node-status']) {
    expect(text).toContain(`$ref: '../types/${file}.schema.json'`);
  }
  expect(text).not.toMatch(/pattern:|additionalProperties:|required:/);
});

test('delete: a message with no payload, described as an empty body', () => {
  const del = byId(document.messages().all(), 'domainDelete');
  expect(del.hasPayload()).toBe(false);
  expect(del.description()).toContain('empty (zero bytes');
  const channel = byId(document.channels().all(), 'domainConfig');
  expect(channel.description()).toContain('**empty (zero bytes)** deletes the domain');
});
