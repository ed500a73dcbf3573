import { isUuidText } from '../../schema/uuid.js';
import { ToolOutputParseError } from './parse-error.js';

/** The columns the vmadm backend asks for, in this order: `vmadm list -p -H -o <these>`. */
export const VMADM_LIST_FIELDS = ['uuid', 'type', 'ram', 'state', 'alias'] as const;

export interface VmadmListRow {
  uuid: string;
  /** OS, LX, KVM or BHYV. */
  type: string;
  /** MiB; null when vmadm prints `-`. */
  ramMiB: number | null;
  state: string;
  /** null when vmadm prints `-`. */
  alias: string | null;
}

/**
 * Parses `vmadm list -p -H -o uuid,type,ram,state,alias`: one VM per line, fields joined by `:`,
 * `-` for a missing value. The alias is last, so a colon inside it stays part of it. Pure.
 */
export function parseVmadmList(stdout: string): VmadmListRow[] {
  const rows: VmadmListRow[] = [];
  stdout.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    const parts = line.split(':');
    if (parts.length < VMADM_LIST_FIELDS.length) {
      throw new ToolOutputParseError(
        'vmadm list',
        index + 1,
        line,
        `expected ${VMADM_LIST_FIELDS.join(':')}`,
      );
    }
    const [uuid, type, ram, state] = parts as [string, string, string, string];
    const alias = parts.slice(4).join(':');
    if (!isUuidText(uuid))
      throw new ToolOutputParseError('vmadm list', index + 1, line, 'first field is not a uuid');
    if (ram !== '-' && !/^\d+$/.test(ram)) {
      throw new ToolOutputParseError('vmadm list', index + 1, line, 'ram is not a number');
    }
    if (state === '' || state === '-')
      throw new ToolOutputParseError('vmadm list', index + 1, line, 'no state');
    rows.push({
      uuid,
      type,
      ramMiB: ram === '-' ? null : Number(ram),
      state,
      alias: alias === '-' || alias === '' ? null : alias,
    });
  });
  return rows;
}
