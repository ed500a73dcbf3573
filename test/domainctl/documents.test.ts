import { loadConfig } from '../../pkg/config/load-config.js';
import { checkEntry, DocumentError, entryLabel, parseDocuments } from '../../pkg/ctl/documents.js';
import { decodeConfigMessage } from '../../pkg/schema/domain-config-message.js';

const U1 = '0d000000-0000-4000-8000-000000000001';
const U2 = '0d000000-0000-4000-8000-000000000002';
const config = loadConfig([], {}).config;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('parseDocuments', () => {
  test('JSON: one object, or a list', () => {
    expect(
      parseDocuments(`{"uuid":"${U1}","name":"a"}`, 'x.json').map((e) => [e.where, text(e.payload)]),
    ).toEqual([['x.json', `{"uuid":"${U1}","name":"a"}`]]);
    expect(parseDocuments(`[{"name":"a"},{"name":"b"}]`, 'X.JSON').map((e) => e.where)).toEqual([
      'X.JSON[0]',
      'X.JSON[1]',
    ]);
  });

  test('YAML: documents separated by ---, lists inside, envelopes with a node, empty documents ignored', () => {
    const entries = parseDocuments(
      `name: a\nmemoryMiB: 64\n---\n- node: edge-1\n  domain:\n    name: b\n- name: c\n---\n`,
      'f.yaml',
    );
    expect(entries.map((e) => [e.where, e.node, text(e.payload)])).toEqual([
      ['f.yaml[0]', undefined, '{"name":"a","memoryMiB":64}'],
      ['f.yaml[1]', 'edge-1', '{"name":"b"}'],
      ['f.yaml[2]', undefined, '{"name":"c"}'],
    ]);
  });

  test('YAML 1.2: yes/no/on are strings, so a YAML 1.1 habit fails validation instead of flipping a flag', () => {
    const [e] = parseDocuments('activate: yes\npaused: off\n', 'f.yml');
    expect(e?.config).toEqual({ activate: 'yes', paused: 'off' });
  });

  test.each([
    ['a: [\n', 'f.yaml', /^f\.yaml:\d+:\d+ is not valid YAML: /],
    ['{', 'f.json', /^f\.json is not valid JSON: /],
    ['', 'f.yaml', /^f\.yaml holds no domain$/],
    ['[]', 'f.json', /^f\.json holds no domain$/],
    ['node: 7\ndomain: {}\n', 'f.yaml', /^f\.yaml: "node" must be a string$/],
    [
      'node: a\ndomain: {}\nzone: b\n',
      'f.yaml',
      /^f\.yaml: an envelope holds only "node" and "domain", not "zone"$/,
    ],
  ])('%j in %s is a DocumentError', (input, file, message) => {
    let caught: unknown;
    try {
      parseDocuments(input, file);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DocumentError);
    expect((caught as Error).message).toMatch(message);
  });

  test('labels name what the document has', () => {
    const [a, b, c] = parseDocuments(`[{"uuid":"${U1}","name":"a"},{"name":"b"},7]`, 'x.json');
    expect([a, b, c].map((e) => entryLabel(e as NonNullable<typeof a>))).toEqual([
      `a (${U1})`,
      'b',
      '(no name, no uuid)',
    ]);
  });
});

describe('checkEntry is the service decoder on the published bytes', () => {
  const docs: unknown[] = [
    { uuid: U1, name: 'ok', generation: 1, activate: true, type: 'vm', memoryMiB: 64, kernel: '/persist/k' },
    { uuid: U1, name: 'bad name!', generation: 0, activate: 'yes', type: 'vm', memoryMiB: 64 },
    {
      uuid: U2,
      name: 'x',
      generation: 1,
      activate: true,
      type: 'container',
      memoryMiB: 64,
      virtualizationMode: 'pv',
    },
    { uuid: 'not-a-uuid', name: 'x', generation: 1, activate: true, type: 'vm', memoryMiB: 64 },
    [1, 2],
    'just a string',
  ];
  test.each(docs.map((d, i) => [i, d]))('document %d', (_i, doc) => {
    const [entry] = parseDocuments(JSON.stringify(doc), 'd.json');
    if (entry === undefined) throw new Error('no entry');
    for (const roots of [undefined, ['/persist'], ['/elsewhere']]) {
      const mine = checkEntry(entry, { allowedRoots: roots, config });
      const uuid = (doc as { uuid?: unknown }).uuid;
      const service = decodeConfigMessage(entry.payload, typeof uuid === 'string' ? uuid : '', roots);
      if (service.kind === 'config') expect(mine).toEqual({ ok: true, spec: service.spec });
      else expect(mine).toEqual({ ok: false, errors: service.kind === 'invalid' ? service.errors : [] });
    }
  });

  test("--backend adds exactly the backend's checkSpec problems", () => {
    const [entry] = parseDocuments(JSON.stringify(docs[0]), 'd.json');
    if (entry === undefined) throw new Error('no entry');
    expect(checkEntry(entry, { config, backend: 'xl' }).ok).toBe(true);
    const rkt = checkEntry(entry, { config, backend: 'rkt' });
    expect(rkt.ok).toBe(false);
    expect(rkt.ok ? [] : rkt.errors).toContain(
      '/type "vm" needs the xl or vmadm backend; the rkt backend runs type "container" only',
    );
  });
});
