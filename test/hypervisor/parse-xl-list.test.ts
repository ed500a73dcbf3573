import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ToolOutputParseError } from '../../pkg/hypervisor/parse/parse-error.js';
import { parseXlList } from '../../pkg/hypervisor/parse/xl-list.js';
import { xlState } from '../../pkg/hypervisor/states.js';
import { projectRoot } from '../../pkg/project-files.js';

const fixture = (name: string) => readFileSync(join(projectRoot, 'test/fixtures', name), 'utf8');

const HEADER_V =
  'Name                                        ID   Mem VCPUs\tState\tTime(s)   UUID                            Reason-Code\tSecurity Label';
const HEADER = 'Name                                        ID   Mem VCPUs\tState\tTime(s)';

describe('parseXlList', () => {
  test('the real `xl list` sample (plain format, no uuids)', () => {
    expect(parseXlList(fixture('samples/xl-list.txt'))).toEqual([
      {
        name: 'Domain-0',
        domid: 0,
        memoryMiB: 4095,
        vcpus: 4,
        flags: 'r-----',
        cpuSeconds: 1056.9,
        uuid: null,
        shutdownReason: null,
        securityLabel: null,
      },
      {
        name: 'vm1',
        domid: 7,
        memoryMiB: 511,
        vcpus: 2,
        flags: '-b----',
        cpuSeconds: 2.2,
        uuid: null,
        shutdownReason: null,
        securityLabel: null,
      },
    ]);
  });

  test('`xl list -v` rows in the real printf format, read from the right', () => {
    const rows = parseXlList(fixture('xl-list-v.txt'));
    expect(
      rows.map((r) => [r.name, r.domid, r.memoryMiB, r.flags, r.uuid, r.shutdownReason, r.securityLabel]),
    ).toEqual([
      ['Domain-0', 0, 4095, 'r-----', '00000000-0000-0000-0000-000000000000', null, null],
      ['vm1', 7, 511, '-b----', 'd127f00a-d647-49bb-a39e-509c20832409', null, null],
      ['paused-vm', 8, 1024, '--p---', '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9', null, null],
      ['crashed.vm', 9, 256, '---sc-', '11111111-2222-4333-8444-555555555555', 3, null],
      ['powered_off', 10, 256, '---s--', '22222222-3333-4444-8555-666666666666', 0, null],
      ['dying-vm', 11, 0, '-----d', '33333333-4444-4555-8666-777777777777', null, null],
      [
        'a name with  spaces',
        12,
        128,
        '-b----',
        '44444444-5555-4666-8777-888888888888',
        null,
        'system_u:system_r:domU_t',
      ],
      [
        'this-name-is-exactly-forty-characters-xx',
        13,
        64,
        'r-----',
        '55555555-6666-4777-8888-999999999999',
        null,
        null,
      ],
      [
        'this-name-is-longer-than-forty-characters-by-far',
        14,
        64,
        '-b----',
        '66666666-7777-4888-8999-aaaaaaaaaaaa',
        null,
        null,
      ],
      ['odd-reason', 15, 32, '---s?-', '77777777-8888-4999-8aaa-bbbbbbbbbbbb', 7, null],
    ]);
    expect(rows[7]?.cpuSeconds).toBe(123456.7);
  });

  test('a name that looks like a row tail does not confuse the parser', () => {
    const name = '1 2 3 r----- 1.0';
    const row = `${name.padEnd(40)}    21   512     1     -b----       9.9 88888888-9999-4aaa-8bbb-cccccccccccc        -                -`;
    expect(parseXlList(`${HEADER_V}\n${row}\n`)).toEqual([
      expect.objectContaining({ name, domid: 21, memoryMiB: 512, flags: '-b----', cpuSeconds: 9.9 }),
    ]);
  });

  test('CRLF line ends and blank lines are tolerated', () => {
    const text = fixture('samples/xl-list.txt').replace(/\n/g, '\r\n');
    expect(parseXlList(`\r\n${text}\r\n`).map((r) => r.name)).toEqual(['Domain-0', 'vm1']);
  });

  test('a header only is an empty list (xl always prints Domain-0, but the parser does not invent it)', () => {
    expect(parseXlList(`${HEADER_V}\n`)).toEqual([]);
    expect(parseXlList(`${HEADER}\n`)).toEqual([]);
  });

  test.each([
    ['empty output', '', null, /no header line/],
    ['no header', 'Domain-0  0  4095  4  r-----  1.0\n', 1, /expected the header line/],
    ['a garbage line', `${HEADER_V}\nlibxl: error: something went wrong\n`, 2, /not a domain row/],
    [
      'a plain row under a -v header',
      `${HEADER_V}\n${fixture('samples/xl-list.txt').split('\n')[1]}\n`,
      2,
      /not a domain row/,
    ],
    [
      'bad state letters',
      `${HEADER}\n${'vm'.padEnd(40)}     1   512     1     xb----       1.0\n`,
      2,
      /not a domain row/,
    ],
    [
      'a truncated uuid',
      `${HEADER_V}\n${'vm'.padEnd(40)}     1   512     1     -b----       1.0 d127f00a-d647        -                -\n`,
      2,
      /not a domain row/,
    ],
  ])('%s is a parse error naming the line', (_what, text, line, message) => {
    let error: unknown;
    try {
      parseXlList(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ToolOutputParseError);
    expect((error as ToolOutputParseError).line).toBe(line);
    expect((error as Error).message).toMatch(message);
    if (line !== null) expect((error as Error).message).toContain(`line ${line}`);
  });
});

describe('xlState', () => {
  test.each([
    ['r-----', 'running'],
    ['-b----', 'running'],
    ['------', 'running'],
    ['--p---', 'paused'],
    ['-bp---', 'paused'],
    ['---s--', 'shutdown'],
    ['---sc-', 'crashed'],
    ['--psc-', 'crashed'],
    ['---sw-', 'crashed'],
    ['---s?-', 'crashed'],
    ['---sr-', 'transitional'],
    ['---ss-', 'transitional'],
    ['---sS-', 'transitional'],
    ['-----d', 'transitional'],
    ['---s-c', undefined],
    ['---sc-d', undefined],
  ])('%s -> %s', (flags, state) => {
    if (state === undefined) expect(() => xlState(flags)).toThrow(/not an xl state/);
    else expect(xlState(flags)).toBe(state);
  });

  test('a dying domain is transitional even when it crashed', () => {
    expect(xlState('---scd')).toBe('transitional');
  });
});

/** The stdout section of a real Xen 4.17 capture (test/fixtures/real-xen/, see test/xen/README.md). */
function realStdout(name: string): string {
  const m = /\n--- stdout\n([\s\S]*?)--- stderr\n/.exec(fixture(`real-xen/${name}.txt`));
  if (!m) throw new Error(`${name}.txt: no stdout section`);
  return m[1] as string;
}

describe('parseXlList on the real Xen 4.17 captures', () => {
  const UUID = 'fac75000-0000-4000-8000-000000000001';
  const DOM0 = [
    'Domain-0',
    0,
    1024,
    2,
    'r-----',
    '00000000-0000-0000-0000-000000000000',
    null,
    null,
    'running',
  ];
  test.each([
    ['xl-list-v', [DOM0, ['facts-g1', 1, 128, 1, '-b----', UUID, null, null, 'running']]],
    ['xl-list-v-poweroff', [['facts-g1', 1, 160, 1, '---s--', UUID, 0, null, 'shutdown']]],
    ['xl-list-v-crashed', [['facts-g1', 1, 160, 1, '---sc-', UUID, 3, null, 'crashed']]],
    [
      'xl-list',
      [
        [...DOM0.slice(0, 5), null, null, null, 'running'],
        ['facts-g1', 1, 128, 1, '-b----', null, null, null, 'running'],
      ],
    ],
    ['xl-list-paused', [['facts-g1', 1, 128, 1, '--p---', null, null, null, 'paused']]],
  ])('%s', (name, expected) => {
    const rows = parseXlList(realStdout(name));
    expect(
      rows.map((r) => [
        r.name,
        r.domid,
        r.memoryMiB,
        r.vcpus,
        r.flags,
        r.uuid,
        r.shutdownReason,
        r.securityLabel,
        xlState(r.flags),
      ]),
    ).toEqual(expected);
  });

  test('cpu seconds are read from the real rows', () => {
    expect(parseXlList(realStdout('xl-list-v')).map((r) => r.cpuSeconds)).toEqual([54.3, 4.0]);
    expect(parseXlList(realStdout('xl-list-paused'))[0]?.cpuSeconds).toBe(0);
  });

  test('xl list -l (no backend parser reads it; the JSON holds uuid and memory)', () => {
    const parsed = JSON.parse(realStdout('xl-list-l')) as {
      domid: number;
      config: { c_info: { uuid: string; name: string }; b_info: { target_memkb: number; max_memkb: number } };
    }[];
    expect(parsed.map((d) => [d.domid, d.config.c_info.name, d.config.c_info.uuid])).toEqual([
      [1, 'facts-g1', UUID],
    ]);
    expect(parsed[0]?.config.b_info.target_memkb).toBe(128 * 1024);
    expect(parsed[0]?.config.b_info.max_memkb).toBe(192 * 1024);
  });
});
