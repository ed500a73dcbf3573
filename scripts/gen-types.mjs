#!/usr/bin/env node
// Derives the TypeScript types of the messages and of the configuration from their JSON Schemas
// (types/*.schema.json, config/config.schema.json), so the schemas stay the one source of truth.
// `--check` regenerates in memory and fails when the committed files differ (run by the tests).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const definitions = JSON.parse(readFileSync(join(root, 'types/definitions.schema.json'), 'utf8')).definitions;

const targets = [
  ['types/domain-config.schema.json', 'types/generated/domain-config.ts'],
  ['types/domain-status.schema.json', 'types/generated/domain-status.ts'],
  ['types/node-status.schema.json', 'types/generated/node-status.ts'],
  ['config/config.schema.json', 'types/generated/config.ts'],
];

// Shared definitions are referenced as "definitions.schema.json#/definitions/X"; inline them, so the
// generator needs no resolver (the schemas' $id base is not a URL to fetch).
function inline(node) {
  if (Array.isArray(node)) return node.map(inline);
  if (node === null || typeof node !== 'object') return node;
  if (typeof node.$ref === 'string' && node.$ref.startsWith('definitions.schema.json#/definitions/')) {
    const name = node.$ref.slice('definitions.schema.json#/definitions/'.length);
    const { $ref: _ref, ...rest } = node;
    return inline({ ...definitions[name], ...rest });
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, inline(v)]));
}

const stale = [];
for (const [src, out] of targets) {
  const schema = inline(JSON.parse(readFileSync(join(root, src), 'utf8')));
  delete schema.$id;
  const ts = await compile(schema, schema.title, {
    bannerComment: `/* Generated from ${src} by scripts/gen-types.mjs: do not edit; run \`npm run gen:types\`. */`,
    additionalProperties: false,
    declareExternallyReferenced: true,
    format: true,
    style: { singleQuote: true, printWidth: 110 },
  });
  const path = join(root, out);
  if (check) {
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {}
    if (current !== ts) stale.push(out);
  } else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, ts);
  }
}
if (stale.length) {
  console.error(`generated types are stale: ${stale.join(', ')}; run \`npm run gen:types\``);
  process.exit(1);
}
