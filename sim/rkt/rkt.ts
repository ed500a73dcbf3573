import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { SimHost } from '../core/host.js';
import type { RktPod } from '../core/state.js';
import { type Invocation, result, type ToolResult } from '../core/types.js';
import { byDomid, destroyDomain } from '../xen/model.js';
import { xlCreate } from '../xl/xl.js';

/**
 * rkt with the stage1-xen stage1: every pod is a Xen domain named by the full pod uuid, created
 * through the simulated `xl create` (with EVE's STAGE1_XL_OPTS / STAGE1_SEED_XL_CFG), and its
 * domid lands in the pod's pid file. Errors are `<subcmd>: <msg>` on stderr, exit 254.
 */

export const DEFAULT_RKT_DIR = '/var/lib/rkt';

/** Where a pod directory physically lives: rkt's default /var/lib/rkt is kept inside the sim dir. */
export function podDir(host: SimHost, dir: string, uuid: string): string {
  const base = dir === DEFAULT_RKT_DIR ? join(host.dir, 'rootfs', 'var', 'lib', 'rkt') : dir;
  return join(base, 'pods', 'run', uuid);
}

function fail(sub: string, msg: string): ToolResult {
  return result(254, '', `${sub}: ${msg}\n`);
}

interface Flags {
  values: Map<string, string>;
  operands: string[];
  error: string | null;
}

/** pflag-style parsing: --name=value, --name value, bare booleans; unknown flags are errors. */
function parseFlags(args: string[], known: Record<string, 'bool' | 'string'>): Flags {
  const values = new Map<string, string>();
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '---' || a === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith('--')) {
      operands.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const kind = known[name];
    if (!kind) return { values, operands, error: `unknown flag: --${name}` };
    if (eq >= 0) values.set(name, a.slice(eq + 1));
    else if (kind === 'bool') values.set(name, 'true');
    else if (i + 1 < args.length) values.set(name, args[++i] as string);
    else return { values, operands, error: `flag needs an argument: --${name}` };
  }
  return { values, operands, error: null };
}

const GLOBAL_FLAGS: Record<string, 'bool' | 'string'> = {
  dir: 'string',
  'insecure-options': 'string',
  debug: 'bool',
  'local-config': 'string',
  'system-config': 'string',
  'user-config': 'string',
  'trust-keys-from-https': 'bool',
};

/** Whether the pod's Xen domain is up: then the pod is running, otherwise it has exited. */
function podState(host: SimHost, pod: RktPod): 'running' | 'exited' {
  if (pod.state !== 'running' || pod.domid === null) return 'exited';
  const d = byDomid(host, pod.domid);
  return d && d.name === pod.uuid && !d.shutdown ? 'running' : 'exited';
}

function findPod(host: SimHost, dir: string, sub: string, arg: string): RktPod | ToolResult {
  // Each --dir is its own pod store.
  const matches = host.state.rkt.pods.filter((p) => p.dir === dir && p.uuid.startsWith(arg.toLowerCase()));
  if (arg === '' || matches.length === 0)
    return fail(sub, `problem retrieving pod: no matches found for "${arg}"`);
  if (matches.length > 1)
    return fail(sub, `problem retrieving pod: ambiguous uuid, ${matches.length} matches`);
  return matches[0] as RktPod;
}

function resolveCaller(inv: Invocation, p: string): string {
  return isAbsolute(p) ? p : resolve(inv.cwd, p);
}

function rktRun(host: SimHost, inv: Invocation, args: string[], dir: string): ToolResult {
  const f = parseFlags(args, {
    ...GLOBAL_FLAGS,
    'stage1-path': 'string',
    'stage1-name': 'string',
    'stage1-url': 'string',
    'stage1-hash': 'string',
    'stage1-from-dir': 'string',
    'uuid-file-save': 'string',
    interactive: 'bool',
    net: 'string',
    dns: 'string',
    hostname: 'string',
    'set-env': 'string',
    volume: 'string',
    mount: 'string',
    'mds-register': 'bool',
    'no-overlay': 'bool',
    'private-users': 'bool',
    'inherit-env': 'bool',
  });
  if (f.error) return fail('run', f.error);
  const image = f.operands[0];
  if (image === undefined) return fail('run', 'must provide at least one image');
  const uuid = randomUUID();
  const uuidFile = f.values.get('uuid-file-save');
  if (uuidFile) {
    try {
      writeFileSync(resolveCaller(inv, uuidFile), uuid);
    } catch (e) {
      return fail('run', `error saving pod UUID to file: ${(e as Error).message}`);
    }
  }
  const now = host.now();
  const pod: RktPod = {
    uuid,
    dir,
    image,
    appName:
      basename(image)
        .replace(/\.aci$/, '')
        .replace(/[^a-z0-9-]/gi, '-')
        .toLowerCase() || 'app',
    state: 'running',
    createdAt: now,
    startedAt: now,
    domid: null,
    interactive: f.values.get('interactive') === 'true',
  };
  host.state.rkt.pods.push(pod);
  host.touch();
  const pdir = podDir(host, dir, uuid);
  mkdirSync(pdir, { recursive: true });
  writeFileSync(join(pdir, 'pid'), '');

  // stage1-xen: build the xl config (EVE's seed first, then the stage1's own lines; the
  // domain is named by the pod uuid) and run `xl create $STAGE1_XL_OPTS`.
  const stderrParts: string[] = [];
  // stage1-xen hard-codes /var/lib/rkt/pods/run: with another --dir it cannot find its pod.
  const stage1Pod = podDir(host, DEFAULT_RKT_DIR, uuid);
  const cfgPath = join(stage1Pod, 'stage1', 'rootfs', 'out.cfg');
  if (dir !== DEFAULT_RKT_DIR) {
    stderrParts.push(
      `cat: ${join(DEFAULT_RKT_DIR, 'pods', 'run', uuid, 'stage1', 'rootfs', 'out.cfg')}: No such file or directory\n`,
    );
  } else {
    let seed = '';
    const seedPath = inv.env.STAGE1_SEED_XL_CFG;
    if (seedPath) {
      try {
        seed = readFileSync(resolveCaller(inv, seedPath), 'utf8');
      } catch (e) {
        stderrParts.push(
          `cat: ${seedPath}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : 'Permission denied'}\n`,
        );
      }
    } else {
      seed = 'memory = 1024\nvcpus = 1\n';
    }
    const stage1Lines = [
      `name = "${uuid}"`,
      `kernel = "${join(DEFAULT_RKT_DIR, 'pods', 'run', uuid, 'stage1', 'rootfs', 'kernel')}"`,
      `extra = "console=hvc0 root=9p"`,
    ];
    mkdirSync(join(stage1Pod, 'stage1', 'rootfs'), { recursive: true });
    writeFileSync(cfgPath, `${seed}\n${stage1Lines.join('\n')}\n`);
    const xlOpts = (inv.env.STAGE1_XL_OPTS ?? '').split(/\s+/).filter(Boolean);
    const created = safeCreate(host, inv, [...xlOpts, cfgPath]);
    stderrParts.push(created.stderr);
    if (created.exitCode === 0) {
      const d = host.state.xen.domains.find((x) => x.name === uuid);
      if (d) {
        d.origin = 'rkt';
        pod.domid = d.domid;
        writeFileSync(join(pdir, 'pid'), String(d.domid));
      }
    }
  }
  if (pod.domid === null) pod.state = 'exited';
  // stage1-xen's run script exits 0 whatever xl create did.
  return result(0, '', stderrParts.join(''));
}

function safeCreate(host: SimHost, inv: Invocation, args: string[]): ToolResult {
  try {
    return xlCreate(host, inv, args, false);
  } catch (e) {
    if (e instanceof Error && 'result' in e) return (e as { result: ToolResult }).result;
    throw e;
  }
}

function statusJson(host: SimHost, pod: RktPod): Record<string, unknown> {
  const state = podState(host, pod);
  const secs = (ms: number | null): number => (ms === null ? 0 : Math.floor(ms / 1000));
  return {
    name: pod.uuid,
    state,
    networks: [],
    app_names: [pod.appName],
    apps: [
      {
        name: pod.appName,
        state,
        image_id: imageId(pod),
        created_at: secs(pod.createdAt),
        started_at: secs(pod.startedAt),
      },
    ],
    created_at: secs(pod.createdAt),
    started_at: secs(pod.startedAt),
  };
}

function imageId(pod: RktPod): string {
  if (pod.image.startsWith('sha512-')) return pod.image;
  let h = 0;
  for (const c of pod.image) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `sha512-${h.toString(16).padStart(8, '0').repeat(8)}`;
}

function rktStatus(host: SimHost, args: string[], dir: string): ToolResult {
  const f = parseFlags(args, { ...GLOBAL_FLAGS, format: 'string', wait: 'string', 'wait-ready': 'string' });
  if (f.error) return fail('status', f.error);
  const arg = f.operands[0];
  if (arg === undefined || f.operands.length > 1) return fail('status', 'must provide the pod UUID');
  const pod = findPod(host, dir, 'status', arg);
  if ('exitCode' in pod) return pod;
  const fmt = f.values.get('format') ?? '';
  if (fmt === 'json') return result(0, `${JSON.stringify(statusJson(host, pod))}\n`);
  if (fmt === 'json-pretty') return result(0, `${JSON.stringify(statusJson(host, pod), null, '\t')}\n`);
  if (fmt !== '') return fail('status', `unknown format "${fmt}"`);
  const state = podState(host, pod);
  const t = (ms: number | null): string => (ms === null ? '' : goTime(ms));
  const lines = [
    `state=${state}`,
    `created=${t(pod.createdAt)}`,
    `started=${t(pod.startedAt)}`,
    'networks=',
    `pid=${state === 'running' && pod.domid !== null ? pod.domid : -1}`,
    `exited=${state === 'exited'}`,
  ];
  return result(0, `${lines.join('\n')}\n`);
}

function goTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)} +0000 UTC`;
}

function rktStop(host: SimHost, args: string[], dir: string): ToolResult {
  const f = parseFlags(args, { ...GLOBAL_FLAGS, force: 'bool', 'uuid-file': 'string' });
  if (f.error) return fail('stop', f.error);
  if (f.operands.length === 0) return fail('stop', 'must provide at least one pod UUID');
  let out = '';
  let err = '';
  let code = 0;
  for (const arg of f.operands) {
    const pod = findPod(host, dir, 'stop', arg);
    if ('exitCode' in pod) {
      err += pod.stderr;
      code = 254;
      continue;
    }
    if (podState(host, pod) !== 'running') {
      err += `pod "${pod.uuid}" is already stopped\n`;
      continue;
    }
    // stage1-xen's stop runs `xl destroy`; with --force it adds a flag xl rejects and
    // swallows the error, so the domain keeps running.
    if (f.values.get('force') !== 'true' && pod.domid !== null) {
      destroyDomain(host, pod.domid);
      pod.state = 'exited';
      host.touch();
    }
    out += `"${pod.uuid}"\n`;
  }
  return result(code, out, err);
}

function rktRm(host: SimHost, args: string[], dir: string): ToolResult {
  const f = parseFlags(args, { ...GLOBAL_FLAGS, 'uuid-file': 'string' });
  if (f.error) return fail('rm', f.error);
  if (f.operands.length === 0) return fail('rm', 'must provide at least one pod UUID');
  let out = '';
  let err = '';
  let code = 0;
  for (const arg of f.operands) {
    const pod = findPod(host, dir, 'rm', arg);
    if ('exitCode' in pod) {
      err += pod.stderr;
      code = 254;
      continue;
    }
    if (podState(host, pod) === 'running') {
      err += `rm: pod "${pod.uuid}" is currently running\n`;
      code = 254;
      continue;
    }
    host.state.rkt.pods = host.state.rkt.pods.filter((p) => p !== pod);
    host.touch();
    rmSync(podDir(host, pod.dir, pod.uuid), { recursive: true, force: true });
    out += `"${pod.uuid}"\n`;
  }
  return result(code, out, err);
}

/** Go's text/tabwriter with '\t' padding (tabwidth 8, padding 1), as rkt list uses it. */
export function tabwrite(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) {
    for (let i = 0; i < r.length - 1; i++) widths[i] = Math.max(widths[i] ?? 0, (r[i] ?? '').length + 1);
  }
  return rows
    .map((r) =>
      r
        .map((c, i) => {
          if (i === r.length - 1) return c;
          const w = Math.ceil((widths[i] ?? 0) / 8) * 8;
          return c + '\t'.repeat(Math.ceil((w - c.length) / 8));
        })
        .join(''),
    )
    .map((l) => `${l}\n`)
    .join('');
}

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.floor((now - ms) / 1000));
  if (s < 60) return `${s} second${s === 1 ? '' : 's'} ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'} ago`;
  const h = Math.floor(m / 60);
  return `${h} hour${h === 1 ? '' : 's'} ago`;
}

function rktList(host: SimHost, args: string[], dir: string): ToolResult {
  const f = parseFlags(args, { ...GLOBAL_FLAGS, 'no-legend': 'bool', full: 'bool', format: 'string' });
  if (f.error) return fail('list', f.error);
  const pods = host.state.rkt.pods.filter((p) => p.dir === dir);
  const fmt = f.values.get('format') ?? '';
  if (fmt === 'json') {
    return result(
      0,
      `${pods.length === 0 ? 'null' : JSON.stringify(pods.map((p) => statusJson(host, p)))}\n`,
    );
  }
  const full = f.values.get('full') === 'true';
  const now = host.now();
  const rows: string[][] = [];
  if (f.values.get('no-legend') !== 'true')
    rows.push(['UUID', 'APP', 'IMAGE NAME', 'STATE', 'CREATED', 'STARTED', 'NETWORKS']);
  for (const p of pods) {
    const when = (ms: number | null): string => (ms === null ? '' : full ? goTime(ms) : ago(ms, now));
    rows.push([
      full ? p.uuid : p.uuid.slice(0, 8),
      p.appName,
      full ? imageId(p) : p.image,
      podState(host, p),
      when(p.createdAt),
      when(p.startedAt),
      '',
    ]);
  }
  return result(0, tabwrite(rows));
}

/** The `rkt` executable. */
export function runRkt(host: SimHost, inv: Invocation): ToolResult {
  // Global flags may precede the subcommand; --dir decides where pods live.
  const args = [...inv.args];
  let dir = DEFAULT_RKT_DIR;
  const pre: string[] = [];
  while (args[0]?.startsWith('--')) pre.push(args.shift() as string);
  const sub = args.shift();
  const all = [...pre, ...args];
  for (let i = 0; i < all.length; i++) {
    const a = all[i] as string;
    if (a.startsWith('--dir=')) dir = a.slice('--dir='.length);
    else if (a === '--dir' && i + 1 < all.length) dir = all[i + 1] as string;
  }
  dir = dir.replace(/\/+$/, '') || '/';
  switch (sub) {
    case 'run':
      return rktRun(host, inv, all, dir);
    case 'status':
      return rktStatus(host, all, dir);
    case 'stop':
      return rktStop(host, all, dir);
    case 'rm':
      return rktRm(host, all, dir);
    case 'list':
      return rktList(host, all, dir);
    case undefined:
      return result(254, '', 'rkt: missing command\n');
    default:
      return result(254, '', `rkt: unknown command "${sub}"\n`);
  }
}
