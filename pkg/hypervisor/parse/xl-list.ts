import { UUID_TEXT } from '../../schema/uuid.js';
import { ToolOutputParseError } from './parse-error.js';

/** One row of `xl list` / `xl list -v`. */
export interface XlListRow {
  name: string;
  domid: number;
  /** Current plus outstanding memory, MiB, as xl prints it. */
  memoryMiB: number;
  vcpus: number;
  /** The six state letters, e.g. `-b----`, `--ps-c`. */
  flags: string;
  cpuSeconds: number;
  /** Only with `-v`. */
  uuid: string | null;
  /** Only with `-v`: the shutdown reason code, null when the domain is not shut down. */
  shutdownReason: number | null;
  /** Only with `-v`: the security label, null when xl prints `-`. */
  securityLabel: string | null;
}

// xl prints each row as printf("%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f") and, with -v,
// " <uuid>", then " %8x" of the shutdown reason or " %8s" of "-", then " %16s" of the security
// label or "-". A name may hold spaces (libxl does not forbid them), so a row is read from the
// right: everything before the fixed-format tail is the name.
const FLAGS = '([r-][b-][p-][s-][-rscwS?][d-])';
const PLAIN_TAIL = ` +(\\d+) +(\\d+) +(\\d+) +${FLAGS} +(\\d+\\.\\d)`;
const VERBOSE_TAIL = `${PLAIN_TAIL} (${UUID_TEXT}) +([0-9a-f]+|-) +(\\S+)`;
const VERBOSE_ROW = new RegExp(`^(.*\\S)${VERBOSE_TAIL}$`);
const PLAIN_ROW = new RegExp(`^(.*\\S)${PLAIN_TAIL}$`);

/**
 * Parses the stdout of `xl list` or `xl list -v` (the header line says which). Pure. Every line
 * after the header must be a domain row: anything else is an error naming the line, never a
 * silently dropped domain.
 */
export function parseXlList(stdout: string): XlListRow[] {
  const lines = stdout.split('\n');
  let header: string | undefined;
  const rows: XlListRow[] = [];
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    if (header === undefined) {
      if (!/^Name\s+ID\s+Mem\s+VCPUs\s+State\s+Time\(s\)/.test(line)) {
        throw new ToolOutputParseError('xl list', index + 1, line, 'expected the header line');
      }
      header = line;
      return;
    }
    const verbose = /\bUUID\b/.test(header);
    const m = (verbose ? VERBOSE_ROW : PLAIN_ROW).exec(line);
    if (m === null) {
      throw new ToolOutputParseError('xl list', index + 1, line, 'not a domain row');
    }
    rows.push({
      name: m[1] as string,
      domid: Number(m[2]),
      memoryMiB: Number(m[3]),
      vcpus: Number(m[4]),
      flags: m[5] as string,
      cpuSeconds: Number(m[6]),
      uuid: verbose ? (m[7] as string) : null,
      shutdownReason: verbose && m[8] !== '-' ? Number.parseInt(m[8] as string, 16) : null,
      securityLabel: verbose && m[9] !== '-' ? (m[9] as string) : null,
    });
  });
  if (header === undefined) {
    throw new ToolOutputParseError('xl list', null, stdout, 'no header line (xl always lists Domain-0)');
  }
  return rows;
}
