/**
 * The wire format between sim/shim/shim.bash and the daemon (see the shim for the picture).
 * Request: NUL-terminated fields DMSIM1, token, tool, cwd, n_env, env..., argc, args...,
 * stdin_len, then stdin_len raw bytes. Reply: "<exit> <out bytes> <err bytes>\n", stdout, stderr.
 */

export const MAGIC = 'DMSIM1';

export interface Request {
  token: string;
  tool: string;
  cwd: string;
  env: Record<string, string>;
  args: string[];
  /** The caller's stdin for the commands that read it; null when not forwarded (or a terminal). */
  stdin: string | null;
}

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** Parses a complete request from buf, or returns null when more bytes are needed. */
export function parseRequest(buf: Buffer): Request | null {
  let pos = 0;
  const field = (): string | null => {
    const end = buf.indexOf(0, pos);
    if (end < 0) return null;
    const s = buf.toString('utf8', pos, end);
    pos = end + 1;
    return s;
  };
  const count = (): number | null => {
    const s = field();
    if (s === null) return null;
    if (!/^\d+$/.test(s)) throw new ProtocolError(`bad count ${JSON.stringify(s)}`);
    return Number(s);
  };
  const magic = field();
  if (magic === null) return null;
  if (magic !== MAGIC) throw new ProtocolError('not a simulator request');
  const token = field();
  const tool = field();
  const cwd = field();
  if (token === null || tool === null || cwd === null) return null;
  const nEnv = count();
  if (nEnv === null) return null;
  const env: Record<string, string> = {};
  for (let i = 0; i < nEnv; i++) {
    const kv = field();
    if (kv === null) return null;
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const argc = count();
  if (argc === null) return null;
  const args: string[] = [];
  for (let i = 0; i < argc; i++) {
    const a = field();
    if (a === null) return null;
    args.push(a);
  }
  const stdinLen = count();
  if (stdinLen === null) return null;
  if (buf.length < pos + stdinLen) return null;
  // The shim says whether it forwarded stdin (DMSIM_STDIN=data), left it alone (none) or found
  // a terminal there (tty); only the first is data.
  const stdin = env.DMSIM_STDIN === 'data' ? buf.toString('utf8', pos, pos + stdinLen) : null;
  delete env.DMSIM_STDIN;
  return { token, tool, cwd, env, args, stdin };
}

export function encodeReply(exitCode: number, stdout: string, stderr: string): Buffer {
  const out = Buffer.from(stdout, 'utf8');
  const err = Buffer.from(stderr, 'utf8');
  return Buffer.concat([Buffer.from(`${exitCode} ${out.length} ${err.length}\n`), out, err]);
}

/** Sent when the request carries another daemon's token: the shim then starts the right one. */
export const WRONG_DAEMON = Buffer.from('WRONG 0 0\n');

/**
 * The client's half, as the shim writes it: a request with `stdin` null is sent as not forwarded
 * (DMSIM_STDIN=none). For callers in Node that talk to the daemon without a shim (the benchmark's
 * no-spawn runner); parseRequest(encodeRequest(r)) gives r back.
 */
export function encodeRequest(req: Request): Buffer {
  const stdin = Buffer.from(req.stdin ?? '', 'utf8');
  const env = [
    `DMSIM_STDIN=${req.stdin === null ? 'none' : 'data'}`,
    ...Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
  ];
  const fields = [MAGIC, req.token, req.tool, req.cwd, String(env.length), ...env];
  fields.push(String(req.args.length), ...req.args, String(stdin.length));
  return Buffer.concat([Buffer.from(`${fields.join('\0')}\0`, 'utf8'), stdin]);
}

/** Parses a complete reply (encodeReply's format); null when it is not one (WRONG_DAEMON, truncated). */
export function parseReply(buf: Buffer): { exitCode: number; stdout: string; stderr: string } | null {
  const nl = buf.indexOf(10);
  if (nl < 0) return null;
  const m = /^(\d+) (\d+) (\d+)$/.exec(buf.toString('utf8', 0, nl));
  if (!m) return null;
  const [olen, elen] = [Number(m[2]), Number(m[3])];
  if (buf.length < nl + 1 + olen + elen) return null;
  return {
    exitCode: Number(m[1]),
    stdout: buf.toString('utf8', nl + 1, nl + 1 + olen),
    stderr: buf.toString('utf8', nl + 1 + olen, nl + 1 + olen + elen),
  };
}
