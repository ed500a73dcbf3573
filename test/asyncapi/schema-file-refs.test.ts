import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { projectRoot, readProjectJson } from '../../pkg/project-files.js';

/**
 * docs/asyncapi.yaml references the message schemas by file, and AsyncAPI tools resolve $refs by
 * file location, not by $id. So every cross-file $ref in types/ must name a file that exists next
 * to the referring one, and that file's $id must end in the same name (so ajv, which resolves by
 * $id, lands on the same schema).
 */
const files = readdirSync(join(projectRoot, 'types')).filter((f) => f.endsWith('.schema.json'));

function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) refs(n, out);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

test('the message schemas are there', () => {
  expect(files.sort()).toEqual([
    'definitions.schema.json',
    'domain-config.schema.json',
    'domain-status.schema.json',
    'node-status.schema.json',
  ]);
});

test.each(
  files.filter((f) => f !== 'definitions.schema.json'),
)('%s: every cross-file $ref names an existing file whose $id ends the same', (file) => {
  const crossFile = refs(readProjectJson(`types/${file}`)).filter((r) => !r.startsWith('#'));
  expect(crossFile.length).toBeGreaterThan(0); // each message schema uses the shared definitions
  for (const ref of crossFile) {
    const target = ref.split('#')[0] as string;
    const path = join(dirname(join(projectRoot, 'types', file)), target);
    expect({ ref, exists: existsSync(path) }).toEqual({ ref, exists: true });
    const id = (readProjectJson(`types/${target}`) as { $id: string }).$id;
    expect(id.endsWith(`/${target}`)).toBe(true);
  }
});
