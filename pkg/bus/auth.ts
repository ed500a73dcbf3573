import { readFileSync } from 'node:fs';
import {
  type Authenticator,
  AuthorizationError,
  type ConnectionOptions,
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  UserAuthenticationExpiredError,
  usernamePasswordAuthenticator,
} from '@nats-io/transport-node';
import type { DomainmgrConfig } from '../../types/generated/config.js';

/**
 * How domainmgr and domainctl authenticate to NATS: one of user and password, a token, an nkey
 * seed, or a `.creds` file (user JWT and seed), each optionally over TLS with a CA and a client
 * certificate (mutual TLS). Secrets given as files are read again at every connect and
 * reconnect, so that a rotated password, token, seed or `.creds` file is used without a restart
 * (the client calls its authenticator once per connection attempt).
 */
export type NatsAuthConfig = Pick<
  DomainmgrConfig['nats'],
  | 'servers'
  | 'user'
  | 'password'
  | 'passwordFile'
  | 'token'
  | 'tokenFile'
  | 'nkeySeedFile'
  | 'credentials'
  | 'tls'
>;

/** The configured authentication cannot be used; the message names the key and the problem. */
export class NatsAuthConfigError extends Error {
  constructor(
    message: string,
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The server refused the credentials (or they expired): retrying with the same ones cannot help. */
export class NatsAuthRefusedError extends Error {
  constructor(
    readonly method: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`NATS refused the credentials (${method}): ${reason}`, options);
    this.name = new.target.name;
  }
}

/** A URL that carries `user:password@` or `token@` in front of the host. */
const URL_CREDENTIALS = /^(?:[a-z]+:\/\/)?[^/@\s]*@/i;

/**
 * What is wrong with the authentication keys, as sentences naming the keys; empty when usable.
 * Pure: looks at the values only (the files are checked by checkNatsAuthFiles).
 *
 * A server URL with credentials in it is refused: nats.js v3 ignores them (the server sees no
 * user), and a secret in a URL ends up in process lists, logs and `--print-config`.
 */
export function natsAuthProblems(nats: NatsAuthConfig): string[] {
  const problems: string[] = [];
  for (const url of nats.servers) {
    if (URL_CREDENTIALS.test(url))
      problems.push(
        'nats.servers: a server URL must not carry credentials (user:password@ or token@, which the NATS client ' +
          'ignores); use nats.user with nats.password or nats.passwordFile, or nats.token / nats.tokenFile',
      );
  }
  const set = (v: string | null | undefined) => v !== null && v !== undefined && v !== '';
  if (set(nats.password) && set(nats.passwordFile))
    problems.push('give nats.password or nats.passwordFile, not both');
  if (set(nats.token) && set(nats.tokenFile)) problems.push('give nats.token or nats.tokenFile, not both');
  if (set(nats.user) && !set(nats.password) && !set(nats.passwordFile))
    problems.push('nats.user needs nats.password or nats.passwordFile');
  if (!set(nats.user) && (set(nats.password) || set(nats.passwordFile)))
    problems.push(`${set(nats.password) ? 'nats.password' : 'nats.passwordFile'} needs nats.user`);
  const methods = [
    set(nats.user) ? 'nats.user' : null,
    set(nats.token) || set(nats.tokenFile) ? (set(nats.token) ? 'nats.token' : 'nats.tokenFile') : null,
    set(nats.nkeySeedFile) ? 'nats.nkeySeedFile' : null,
    set(nats.credentials) ? 'nats.credentials' : null,
  ].filter((m): m is string => m !== null);
  if (methods.length > 1)
    problems.push(`${methods.join(' and ')} are different authentication methods: give only one`);
  const tls = nats.tls ?? {};
  if (set(tls.certFile) !== set(tls.keyFile))
    problems.push(
      `${set(tls.certFile) ? 'nats.tls.certFile needs nats.tls.keyFile' : 'nats.tls.keyFile needs nats.tls.certFile'}`,
    );
  return problems;
}

/** The key naming the configured authentication method, for messages ("none" without one). */
export function natsAuthMethod(nats: NatsAuthConfig): string {
  if (nats.credentials) return `nats.credentials ${nats.credentials}`;
  if (nats.nkeySeedFile) return `nats.nkeySeedFile ${nats.nkeySeedFile}`;
  if (nats.tokenFile) return `nats.tokenFile ${nats.tokenFile}`;
  if (nats.token) return 'nats.token';
  if (nats.user)
    return `nats.user ${nats.user} with ${nats.passwordFile ? `nats.passwordFile ${nats.passwordFile}` : 'nats.password'}`;
  if (nats.tls?.certFile) return `nats.tls.certFile ${nats.tls.certFile}`;
  return 'no credentials';
}

/**
 * Reads every file the authentication names once, as a connect would, and checks what it holds:
 * not empty, an nkey seed that signs, a `.creds` file with a user JWT and a seed, TLS files that
 * exist. Throws NatsAuthConfigError naming the key, the file and the problem (never the content).
 */
export function checkNatsAuthFiles(nats: NatsAuthConfig): void {
  const files: [string, string | null | undefined][] = [
    ['nats.passwordFile', nats.passwordFile],
    ['nats.tokenFile', nats.tokenFile],
    ['nats.nkeySeedFile', nats.nkeySeedFile],
    ['nats.credentials', nats.credentials],
    ['nats.tls.caFile', nats.tls?.caFile],
    ['nats.tls.certFile', nats.tls?.certFile],
    ['nats.tls.keyFile', nats.tls?.keyFile],
  ];
  for (const [key, file] of files) {
    if (file === null || file === undefined || file === '') continue;
    const text = readSecretFile(key, file);
    if (key === 'nats.nkeySeedFile')
      trySign(key, file, () => nkeyAuthenticator(new TextEncoder().encode(text)));
    if (key === 'nats.credentials')
      trySign(key, file, () => credsAuthenticator(new TextEncoder().encode(text)));
  }
}

function trySign(key: string, file: string, make: () => Authenticator): void {
  try {
    const auth = make()('check') as { sig?: string };
    if (typeof auth.sig !== 'string' || auth.sig === '') throw new Error('no signature');
  } catch (e) {
    const what =
      key === 'nats.credentials' ? 'a .creds file (user JWT and nkey seed)' : 'an nkey seed (SU...)';
    throw new NatsAuthConfigError(`${key}: ${file} does not hold ${what}`, key, { cause: e });
  }
}

/**
 * The file's text (without its trailing newline for a password or token, trimmed for a seed,
 * whole for a `.creds` file, whose parser wants it as written); NatsAuthConfigError when unreadable or empty.
 */
function readSecretFile(key: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
    throw new NatsAuthConfigError(`${key}: cannot read ${file}: ${why}`, key, { cause: e });
  }
  if (text.trim() === '') throw new NatsAuthConfigError(`${key}: ${file} is empty`, key);
  if (key === 'nats.nkeySeedFile') return text.trim();
  return key === 'nats.passwordFile' || key === 'nats.tokenFile' ? text.replace(/\r?\n$/, '') : text;
}

export interface NatsAuthOptionsHooks {
  /** A secret file could not be read at a (re)connect; the attempt goes on without the secret. */
  onFileError?: (error: NatsAuthConfigError) => void;
}

/**
 * Connection options for the configured authentication and TLS. File-based secrets are read by
 * the authenticator, i.e. at each connection attempt. A file that cannot be read then is reported
 * through `hooks.onFileError` and the attempt is made with an empty secret, which the server
 * refuses: the client keeps trying, and picks the file up once it is back.
 */
export function natsAuthOptions(
  nats: NatsAuthConfig,
  hooks: NatsAuthOptionsHooks = {},
): Partial<ConnectionOptions> {
  const fromFile = (key: string, file: string) => (): string => {
    try {
      return readSecretFile(key, file);
    } catch (e) {
      if (e instanceof NatsAuthConfigError) hooks.onFileError?.(e);
      return '';
    }
  };
  const bytes = (read: () => string) => (): Uint8Array => new TextEncoder().encode(read());
  const out: Partial<ConnectionOptions> = {};
  if (nats.credentials)
    out.authenticator = credsAuthenticator(bytes(fromFile('nats.credentials', nats.credentials)));
  else if (nats.nkeySeedFile)
    out.authenticator = nkeyAuthenticator(bytes(fromFile('nats.nkeySeedFile', nats.nkeySeedFile)));
  else if (nats.tokenFile) out.authenticator = tokenAuthenticator(fromFile('nats.tokenFile', nats.tokenFile));
  else if (nats.token) out.authenticator = tokenAuthenticator(nats.token);
  else if (nats.user) {
    const password = nats.passwordFile
      ? fromFile('nats.passwordFile', nats.passwordFile)
      : (nats.password ?? '');
    out.authenticator = usernamePasswordAuthenticator(nats.user, password);
  }
  const { caFile, certFile, keyFile } = nats.tls ?? {};
  // No file, no TLS options: a `tls://` server URL or a server that requires TLS still gets TLS.
  if (caFile || certFile || keyFile) {
    out.tls = {
      ...(caFile ? { caFile } : {}),
      ...(certFile ? { certFile } : {}),
      ...(keyFile ? { keyFile } : {}),
    };
  }
  return out;
}

/** The server's refusal of the credentials in an error's cause chain (null for a network problem). */
export function authRefusal(err: unknown): Error | null {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof AuthorizationError || e instanceof UserAuthenticationExpiredError) return e;
  }
  return null;
}
