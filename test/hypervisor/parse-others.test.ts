import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ToolOutputParseError } from '../../pkg/hypervisor/parse/parse-error.js';
import { parseRktStatus } from '../../pkg/hypervisor/parse/rkt-status.js';
import { parseVmadmList } from '../../pkg/hypervisor/parse/vmadm-list.js';
import { hostInfoFromXlInfo, parseXlInfo } from '../../pkg/hypervisor/parse/xl-info.js';
import { vmadmState } from '../../pkg/hypervisor/states.js';
import { projectRoot } from '../../pkg/project-files.js';

const pad = (key: string, value: string) => `${key.padEnd(23)}: ${value}`;

describe('parseXlInfo / hostInfoFromXlInfo', () => {
  const info = [
    pad('host', 'edge-1'),
    pad('release', '6.1.0-18-amd64'),
    pad('nr_cpus', '8'),
    pad('total_memory', '32651'),
    pad('free_memory', '20480'),
    pad('xen_major', '4'),
    pad('xen_minor', '17'),
    pad('xen_extra', '.3'),
    pad('xen_version', '4.17.3'),
    pad('xen_commandline', 'placeholder dom0_mem=4096M,max:4096M console=com1'),
    pad('cc_compile_date', 'Tue Jan 16 10:00:00 UTC 2024'),
    '',
  ].join('\n');

  test('key : value lines with values holding colons', () => {
    const fields = parseXlInfo(info);
    expect(fields.get('cc_compile_date')).toBe('Tue Jan 16 10:00:00 UTC 2024');
    expect(fields.get('xen_commandline')).toBe('placeholder dom0_mem=4096M,max:4096M console=com1');
    expect(hostInfoFromXlInfo(fields)).toEqual({
      totalMemoryMiB: 32651,
      freeMemoryMiB: 20480,
      nrCpus: 8,
      hypervisorVersion: 'Xen 4.17.3',
    });
  });

  test('the version falls back to major.minor+extra', () => {
    const fields = parseXlInfo(info.replace(/^xen_version.*$/m, ''));
    expect(hostInfoFromXlInfo(fields).hypervisorVersion).toBe('Xen 4.17.3');
  });

  test('the real Xen 4.17 capture (test/fixtures/real-xen/xl-info.txt)', () => {
    const text = readFileSync(join(projectRoot, 'test/fixtures/real-xen/xl-info.txt'), 'utf8');
    const stdout = /\n--- stdout\n([\s\S]*?)--- stderr\n/.exec(text)?.[1] ?? '';
    const fields = parseXlInfo(stdout);
    expect(fields.size).toBe(34);
    expect(fields.get('xen_changeset')).toBe(''); // an empty value
    expect(fields.get('xen_caps')).toBe('xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64');
    expect(fields.get('cc_compile_date')).toBe('Wed Nov  4 16:52:28 UTC 2026');
    expect(fields.get('virt_caps')).toBe('pv hvm hap gnttab-v1 gnttab-v2');
    expect(hostInfoFromXlInfo(fields)).toEqual({
      totalMemoryMiB: 2047,
      freeMemoryMiB: 872,
      nrCpus: 2,
      hypervisorVersion: 'Xen 4.17.7',
    });
  });

  test('a missing memory field or a garbage line is an error', () => {
    expect(() => hostInfoFromXlInfo(parseXlInfo(info.replace(/^free_memory.*$/m, '')))).toThrow(
      /free_memory/,
    );
    expect(() => parseXlInfo(`${info}garbage without a colon\n`)).toThrow(ToolOutputParseError);
    expect(() => parseXlInfo(`${info}garbage without a colon\n`)).toThrow(/line 12/);
  });
});

describe('parseRktStatus', () => {
  const line =
    '{"name":"6f1c8f2e-9a8b-4c1d-8e2f-3a4b5c6d7e8f","state":"running","networks":[],"app_names":["app"],"apps":[],"created_at":1700000000,"started_at":1700000005}';

  test('the one-line JSON, uuid under name, no pid', () => {
    expect(parseRktStatus(line)).toEqual({
      podUuid: '6f1c8f2e-9a8b-4c1d-8e2f-3a4b5c6d7e8f',
      state: 'running',
      createdAt: 1700000000,
      startedAt: 1700000005,
    });
  });

  test.each([
    ['exited garbage', 'exited garbage'],
    ['aborted prepare', 'aborted prepare'],
  ])('state %s is known', (state, expected) => {
    expect(parseRktStatus(line.replace('"running"', JSON.stringify(state))).state).toBe(expected);
  });

  test.each([
    ['not JSON', 'status: problem retrieving pod', /not JSON/],
    ['null', 'null', /not a JSON object/],
    ['no name', '{"state":"running"}', /no pod uuid/],
    ['unknown state', line.replace('"running"', '"sleeping"'), /unknown pod state "sleeping"/],
  ])('%s is an error', (_what, text, message) => {
    expect(() => parseRktStatus(text)).toThrow(message);
  });
});

describe('parseVmadmList', () => {
  test('parsable rows, `-` for missing values, colons kept in the alias', () => {
    const text = [
      '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9:OS:256:running:web-1',
      '11111111-2222-4333-8444-555555555555:BHYV:2048:stopped:-',
      '22222222-3333-4444-8555-666666666666:LX:-:failed:odd:alias',
      '',
    ].join('\n');
    expect(parseVmadmList(text)).toEqual([
      {
        uuid: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
        type: 'OS',
        ramMiB: 256,
        state: 'running',
        alias: 'web-1',
      },
      {
        uuid: '11111111-2222-4333-8444-555555555555',
        type: 'BHYV',
        ramMiB: 2048,
        state: 'stopped',
        alias: null,
      },
      {
        uuid: '22222222-3333-4444-8555-666666666666',
        type: 'LX',
        ramMiB: null,
        state: 'failed',
        alias: 'odd:alias',
      },
    ]);
  });

  test('no VMs is an empty list', () => {
    expect(parseVmadmList('')).toEqual([]);
  });

  test.each([
    ['too few fields', '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9:OS:256', /expected uuid:type:ram:state:alias/],
    ['a header line', 'UUID  TYPE  RAM  STATE  ALIAS', /expected|not a uuid/],
    ['ram not a number', '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9:OS:lots:running:x', /ram is not a number/],
  ])('%s is an error naming the line', (_what, text, message) => {
    expect(() => parseVmadmList(`\n${text}\n`)).toThrow(message);
    expect(() => parseVmadmList(`\n${text}\n`)).toThrow(/line 2/);
  });
});

describe('vmadmState', () => {
  test.each([
    ['running', 'running'],
    ['stopped', 'shutdown'],
    ['installed', 'shutdown'],
    ['failed', 'crashed'],
    ['provisioning', 'transitional'],
    ['stopping', 'transitional'],
    ['shutting_down', 'transitional'],
    ['down', 'transitional'],
    ['ready', 'transitional'],
    ['receiving', 'transitional'],
    ['configured', 'transitional'],
    ['incomplete', 'transitional'],
  ])('%s -> %s', (state, expected) => {
    expect(vmadmState(state)).toBe(expected);
  });

  test('an unknown state is an error, not a guess', () => {
    expect(() => vmadmState('hibernating')).toThrow(/not a vmadm state/);
  });
});
