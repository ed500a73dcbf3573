import { atoi } from './c-strings.js';

/**
 * xl's disk specification parser (libxlutil's flex scanner for `disk = [ '...' ]` entries),
 * reimplemented rule by rule with flex's choice: the longest match wins, ties go to the earlier
 * rule, and trailing context (`/...`) counts towards the length. Both the keyword form
 * (`format=raw, vdev=xvda, access=rw, target=/path`, where target= swallows the rest) and the
 * positional legacy form (`/path,raw,xvda,rw`, `phy:/dev/sdb,hdc:cdrom,r`) are covered.
 */

export interface LibxlDisk {
  backend_domname?: string;
  pdev_path?: string;
  vdev?: string;
  backend?: string;
  format?: string;
  script?: string;
  removable?: number;
  readwrite?: number;
  is_cdrom?: number;
  direct_io_safe?: boolean;
  discard_enable?: 'True' | 'False';
  colo_enable?: 'True' | 'False';
  colo_host?: string;
  colo_port?: number;
  colo_export?: string;
  active_disk?: string;
  hidden_disk?: string;
  trusted?: 'True' | 'False';
  specification?: string;
  grant_usage?: 'True' | 'False';
}

interface DiskState {
  disk: LibxlDisk;
  format: string;
  backend: string;
  specification: string;
  isCdrom: number;
  readwrite: number;
  hadDeprPrefix: boolean;
  accessSet: boolean;
  err: boolean;
}

type Rule = {
  /** Regex for the whole pattern including trailing context; group 1 (if any) is yytext. */
  re: RegExp;
  /** Returns 'stop' where the flex action returns (ends scanning). */
  action: (st: DiskState, text: string, ctx: DiskCtx) => unknown;
};

interface DiskCtx {
  err(erroneous: string | null, message: string): void;
}

const DOT = '[^\\n]';

function strip(text: string, delim: string): string {
  return text.endsWith(delim) ? text.slice(0, -1) : text;
}

function fromEquals(text: string): string {
  return text.slice(text.indexOf('=') + 1);
}

function saveString(
  st: DiskState,
  ctx: DiskCtx,
  what: string,
  key:
    | 'pdev_path'
    | 'vdev'
    | 'script'
    | 'backend_domname'
    | 'colo_host'
    | 'colo_export'
    | 'active_disk'
    | 'hidden_disk',
  value: string,
): void {
  const cur = st.disk[key];
  if (cur !== undefined && cur !== '') {
    ctx.err(value, `${what} respecified`);
    return;
  }
  st.disk[key] = value;
}

function dset(
  st: DiskState,
  ctx: DiskCtx,
  member: 'format' | 'backend' | 'specification',
  str: string,
  v: string,
) {
  if (st[member] !== 'unknown' && st[member] !== v) ctx.err(str, `${member} respecified`);
  else st[member] = v;
}

function setAccess(st: DiskState, ctx: DiskCtx, str: string): void {
  if (str === 'r' || str === 'ro') st.readwrite = 0;
  else if (str === 'rw' || str === 'w' || str === '') st.readwrite = 1;
  else ctx.err(str, 'unknown value for access');
}

const FORMATS: Record<string, string> = {
  '': 'raw',
  raw: 'raw',
  qcow: 'qcow',
  qcow2: 'qcow2',
  vhd: 'vhd',
  empty: 'empty',
  qed: 'qed',
};

function setFormat(st: DiskState, ctx: DiskCtx, str: string): void {
  const f = FORMATS[str];
  if (f !== undefined) dset(st, ctx, 'format', str, f);
  else ctx.err(str, 'unknown value for format');
}

function vdevAndDevtype(st: DiskState, ctx: DiskCtx, str: string): boolean {
  const colon = str.lastIndexOf(':');
  if (colon < 0) return false;
  saveString(st, ctx, 'vdev', 'vdev', str.slice(0, colon));
  const type = str.slice(colon + 1);
  if (type === 'cdrom') st.isCdrom = 1;
  else if (type === 'disk') st.isCdrom = 0;
  else ctx.err(type, 'unknown deprecated type');
  return true;
}

const kv = (key: string) => new RegExp(`^${key}=[^,]*,?`);
const flag = (word: string) => new RegExp(`^${word},?`);
const prefix = (alts: string) => new RegExp(`^((?:${alts}):)${DOT}*`);

const RULES: Rule[] = [
  { re: /^([ \t\n]+)(?:[^ \t\n][^\n]*)?/, action: () => undefined },
  { re: kv('format'), action: (st, t, c) => setFormat(st, c, fromEquals(strip(t, ','))) },
  {
    re: flag('cdrom'),
    action: (st) => {
      st.isCdrom = 1;
    },
  },
  {
    re: flag('devtype=cdrom'),
    action: (st) => {
      st.isCdrom = 1;
    },
  },
  {
    re: flag('devtype=disk'),
    action: (st) => {
      st.isCdrom = 0;
    },
  },
  { re: kv('devtype'), action: (_st, t, c) => c.err(t, 'unknown value for type') },
  { re: kv('access'), action: (st, t, c) => setAccess(st, c, fromEquals(strip(t, ','))) },
  {
    re: kv('backend'),
    action: (st, t, c) => saveString(st, c, 'backend', 'backend_domname', fromEquals(strip(t, ','))),
  },
  {
    re: kv('backendtype'),
    action: (st, t, c) => {
      const v = fromEquals(strip(t, ','));
      if (['phy', 'tap', 'qdisk', 'standalone'].includes(v)) dset(st, c, 'backend', v, v);
      else c.err(v, 'unknown value for backendtype');
    },
  },
  {
    re: kv('specification'),
    action: (st, t, c) => {
      const v = fromEquals(strip(t, ','));
      if (v === 'xen' || v === 'virtio') dset(st, c, 'specification', v, v);
      else c.err(v, 'unknown value for specification');
    },
  },
  { re: kv('vdev'), action: (st, t, c) => saveString(st, c, 'vdev', 'vdev', fromEquals(strip(t, ','))) },
  {
    re: kv('script'),
    action: (st, t, c) => saveString(st, c, 'script', 'script', fromEquals(strip(t, ','))),
  },
  {
    re: flag('direct-io-safe'),
    action: (st) => {
      st.disk.direct_io_safe = true;
    },
  },
  {
    re: flag('discard'),
    action: (st) => {
      st.disk.discard_enable = 'True';
    },
  },
  {
    re: flag('no-discard'),
    action: (st) => {
      st.disk.discard_enable = 'False';
    },
  },
  {
    re: flag('colo'),
    action: (st) => {
      st.disk.colo_enable = 'True';
    },
  },
  {
    re: flag('no-colo'),
    action: (st) => {
      st.disk.colo_enable = 'False';
    },
  },
  {
    re: kv('colo-host'),
    action: (st, t, c) => saveString(st, c, 'colo-host', 'colo_host', fromEquals(strip(t, ','))),
  },
  {
    re: kv('colo-port'),
    action: (st, t, c) => {
      const v = fromEquals(strip(t, ','));
      const port = atoi(v);
      if (port) st.disk.colo_port = port;
      else c.err(v, 'unknown value for colo_port');
    },
  },
  {
    re: kv('colo-export'),
    action: (st, t, c) => saveString(st, c, 'colo-export', 'colo_export', fromEquals(strip(t, ','))),
  },
  {
    re: kv('active-disk'),
    action: (st, t, c) => saveString(st, c, 'active-disk', 'active_disk', fromEquals(strip(t, ','))),
  },
  {
    re: kv('hidden-disk'),
    action: (st, t, c) => saveString(st, c, 'hidden-disk', 'hidden_disk', fromEquals(strip(t, ','))),
  },
  {
    re: flag('trusted'),
    action: (st) => {
      st.disk.trusted = 'True';
    },
  },
  {
    re: flag('untrusted'),
    action: (st) => {
      st.disk.trusted = 'False';
    },
  },
  {
    re: flag('grant_usage=1'),
    action: (st) => {
      st.disk.grant_usage = 'True';
    },
  },
  {
    re: flag('grant_usage=0'),
    action: (st) => {
      st.disk.grant_usage = 'False';
    },
  },
  {
    re: new RegExp(`^target=${DOT}*`),
    action: (st, t, c) => saveString(st, c, 'target', 'pdev_path', fromEquals(strip(t, ','))),
  },
  { re: /^[a-z][-a-z0-9]*=[^,],?/, action: (_st, t, c) => c.err(t, 'unknown parameter') },
  {
    re: prefix('raw|qcow2?|vhd'),
    action: (st, t, c) => {
      st.hadDeprPrefix = true;
      setFormat(st, c, strip(t, ':'));
    },
  },
  {
    re: prefix('iscsi|e?nbd|drbd'),
    action: (st, t, c) => {
      st.hadDeprPrefix = true;
      saveString(st, c, 'script', 'script', `block-${strip(t, ':')}`);
    },
  },
  {
    re: prefix('tapdisk'),
    action: (st) => {
      st.hadDeprPrefix = true;
    },
  },
  {
    re: prefix('tap2?'),
    action: (st) => {
      st.hadDeprPrefix = true;
    },
  },
  {
    re: prefix('aio'),
    action: (st) => {
      st.hadDeprPrefix = true;
    },
  },
  {
    re: prefix('ioemu'),
    action: (st) => {
      st.hadDeprPrefix = true;
    },
  },
  {
    re: prefix('file'),
    action: (st) => {
      st.hadDeprPrefix = true;
    },
  },
  {
    re: prefix('phy'),
    action: (st) => {
      st.hadDeprPrefix = true;
    },
  },
  {
    re: /^([a-z][a-z0-9]*:)(?:[^a-z0-9\n][^\n]*)?/,
    action: (_st, t, c) => {
      c.err(t, 'unknown deprecated disk prefix');
      return 'stop';
    },
  },
  {
    // [^=,]*,|[^=,]+,? : both alternatives are tried below and the longer kept.
    re: /^(?:[^=,]*,|[^=,]+,?)/,
    action: (st, t, c) => {
      const text = strip(t, ',');
      const d = st.disk;
      if (st.err) return undefined;
      if (d.pdev_path === undefined) {
        saveString(st, c, 'target', 'pdev_path', text);
      } else if (!st.hadDeprPrefix && st.format === 'unknown') {
        if (d.pdev_path === '' && vdevAndDevtype(st, c, text)) st.format = 'empty';
        else setFormat(st, c, text);
      } else if (d.vdev === undefined) {
        if (!vdevAndDevtype(st, c, text)) saveString(st, c, 'vdev', 'vdev', text);
      } else if (!st.accessSet) {
        st.accessSet = true;
        setAccess(st, c, text);
      } else {
        c.err(text, 'too many positional parameters');
        return 'stop';
      }
      return undefined;
    },
  },
];

/** Length flex would match for a rule at the start of `rest`, and the yytext part of it. */
function ruleMatch(rule: Rule, rest: string): { total: number; text: string } | null {
  if (rule === RULES[RULES.length - 1]) {
    const a = /^[^=,]*,/.exec(rest)?.[0] ?? '';
    const b = /^[^=,]+,?/.exec(rest)?.[0] ?? '';
    const best = a.length >= b.length ? a : b;
    return best.length > 0 ? { total: best.length, text: best } : null;
  }
  const m = rule.re.exec(rest);
  if (!m || m[0].length === 0) return null;
  return { total: m[0].length, text: m[1] ?? m[0] };
}

/**
 * Parses one disk spec. Error lines go to `report` exactly as xl prints them (`source` is the
 * config file name); returns the libxl disk, or null when xl would exit 1.
 */
export function parseDiskSpec(spec: string, source: string, report: string[]): LibxlDisk | null {
  const st: DiskState = {
    disk: {},
    format: 'unknown',
    backend: 'unknown',
    specification: 'unknown',
    isCdrom: 0,
    readwrite: 1,
    hadDeprPrefix: false,
    accessSet: false,
    err: false,
  };
  const ctx: DiskCtx = {
    err(erroneous, message) {
      const near = erroneous === null ? '' : `: near \`${erroneous}'`;
      report.push(`${source}: config parsing error in disk specification: ${message}${near} in \`${spec}'\n`);
      st.err = true;
    },
  };
  let pos = 0;
  while (pos < spec.length) {
    const rest = spec.slice(pos);
    let best: { rule: Rule; total: number; text: string } | null = null;
    for (const rule of RULES) {
      const m = ruleMatch(rule, rest);
      if (m && (!best || m.total > best.total)) best = { rule, ...m };
    }
    if (!best) {
      // `.` then <LEXERR>.* : the rest of the line is "bad disk syntax". When nothing follows,
      // flex reaches end of input first and the error is never reported.
      const text = /^[^\n]*/.exec(rest.slice(1))?.[0] ?? '';
      if (text.length > 0) ctx.err(rest[0] + text, 'bad disk syntax');
      break;
    }
    pos += best.text.length;
    if (best.rule.action(st, best.text, ctx) === 'stop') break;
  }
  if (st.err) return null;

  const d = st.disk;
  let format = st.format === 'unknown' ? 'raw' : st.format;
  let readwrite = st.readwrite;
  let removable = 0;
  if (st.isCdrom) {
    removable = 1;
    readwrite = 0;
    if (d.pdev_path === undefined || d.pdev_path === '') format = 'empty';
  }
  if (d.vdev === undefined) {
    ctx.err(null, 'no vdev specified');
    return null;
  }
  if (d.pdev_path === undefined && !removable) {
    ctx.err(null, 'no target specified (and device not removable)');
    return null;
  }
  const out: LibxlDisk = {};
  if (d.backend_domname !== undefined) out.backend_domname = d.backend_domname;
  if (d.pdev_path !== undefined) out.pdev_path = d.pdev_path;
  out.vdev = d.vdev;
  if (st.backend !== 'unknown') out.backend = st.backend;
  out.format = format;
  if (d.script !== undefined) out.script = d.script;
  if (removable) out.removable = removable;
  if (readwrite) out.readwrite = readwrite;
  if (st.isCdrom) out.is_cdrom = st.isCdrom;
  for (const k of [
    'direct_io_safe',
    'discard_enable',
    'colo_enable',
    'colo_host',
    'colo_port',
    'colo_export',
    'active_disk',
    'hidden_disk',
    'trusted',
    'grant_usage',
  ] as const) {
    if (d[k] !== undefined) (out as Record<string, unknown>)[k] = d[k];
  }
  if (st.specification !== 'unknown') out.specification = st.specification;
  return out;
}
