import type { HostInfo } from '../hypervisor.js';
import { ToolOutputParseError } from './parse-error.js';

/**
 * Parses `xl info`: `key : value` lines with the key padded to 23 columns. The key has no
 * spaces; the value is everything after the first colon (values such as the compile date hold
 * colons themselves). Pure.
 */
export function parseXlInfo(stdout: string): Map<string, string> {
  const fields = new Map<string, string>();
  stdout.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    const m = /^([a-z_][a-z0-9_]*) *: ?(.*)$/.exec(line);
    if (m === null) throw new ToolOutputParseError('xl info', index + 1, line, 'not a "key : value" line');
    fields.set(m[1] as string, (m[2] as string).trim());
  });
  return fields;
}

/** The HostInfo of a parsed `xl info` (memory is in MiB there already). */
export function hostInfoFromXlInfo(fields: ReadonlyMap<string, string>): HostInfo {
  const number = (key: string): number => {
    const text = fields.get(key);
    const value = text === undefined ? Number.NaN : Number(text);
    if (text === undefined || text === '' || !Number.isFinite(value)) {
      throw new ToolOutputParseError('xl info', null, text ?? '', `missing or non-numeric ${key}`);
    }
    return value;
  };
  const version =
    fields.get('xen_version') ??
    (fields.has('xen_major')
      ? `${fields.get('xen_major')}.${fields.get('xen_minor')}${fields.get('xen_extra') ?? ''}`
      : undefined);
  if (version === undefined || version === '') {
    throw new ToolOutputParseError('xl info', null, '', 'missing xen_version');
  }
  return {
    totalMemoryMiB: number('total_memory'),
    freeMemoryMiB: number('free_memory'),
    nrCpus: number('nr_cpus'),
    hypervisorVersion: `Xen ${version}`,
  };
}
