import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import { checkNatsAuthFiles, NatsAuthConfigError, natsAuthProblems } from '../bus/auth.js';
import { redactSecrets } from '../log/redact.js';
import { readProjectJson } from '../project-files.js';
import { check, validateConfigSchema } from '../schema/validators.js';
import { OPTIONS, type OptionSpec } from './options.js';

export type { DomainmgrConfig } from '../../types/generated/config.js';

/** The configuration cannot be used; the message names the key and its source, never a secret. */
export class ConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(redactSecrets(message), options);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: DomainmgrConfig;
  /** Where each key set outside default.json came from, for messages ("--backend", "DOMAINMGR_X", file). */
  sources: Map<string, string>;
  help: boolean;
  version: boolean;
  /** --print-config: print the effective configuration as JSON and exit. */
  printConfig: boolean;
  /** Arguments after the options (none are expected by domainmgr). */
  positionals: string[];
}

/**
 * Builds the configuration from config/default.json, then the file named by --config or
 * DOMAINMGR_CONFIG, then DOMAINMGR_* variables, then flags; later wins. Validates the result
 * against config/config.schema.json. Throws ConfigError, never anything else, on bad input.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): LoadedConfig {
  const flags = parseFlags(argv);
  const config = structuredClone(readProjectJson('config/default.json')) as Record<string, unknown>;
  const sources = new Map<string, string>();

  const file = (flags.values.config as string | undefined) ?? env.DOMAINMGR_CONFIG;
  if (file !== undefined && file !== '') {
    const fromFile = readConfigFile(file);
    mergeInto(config, fromFile, '', sources, file);
  }
  for (const o of OPTIONS) {
    if (o.key === '') continue;
    const raw = env[o.env];
    if (raw !== undefined) setPath(config, o.key, convert(o, raw, o.env), sources, o.env);
  }
  for (const o of OPTIONS) {
    if (o.key === '') continue;
    const raw = flags.values[o.flag];
    if (raw !== undefined)
      setPath(config, o.key, convert(o, String(raw), `--${o.flag}`), sources, `--${o.flag}`);
  }

  const checked = check(validateConfigSchema, config);
  if (!checked.ok) {
    const first = checked.errors[0] ?? 'invalid';
    throw new ConfigError(`invalid configuration: ${explain(first, sources)}`);
  }
  const result = checked.value;
  if (result.nodeId === '') result.nodeId = defaultNodeId(hostname());
  checkNatsAuth(result.nats, sources);
  if (result.restartBackoff.maxMs < result.restartBackoff.initialMs) {
    throw new ConfigError('invalid configuration: restartBackoff.maxMs must be >= restartBackoff.initialMs');
  }
  return {
    config: result,
    sources,
    help: flags.values.help === true,
    version: flags.values.version === true,
    printConfig: flags.values['print-config'] === true,
    positionals: flags.positionals,
  };
}

/** The NATS authentication keys and the files they name (pkg/bus/auth.ts), as ConfigErrors. */
function checkNatsAuth(nats: DomainmgrConfig['nats'], sources: Map<string, string>): void {
  const problem = natsAuthProblems(nats)[0];
  if (problem !== undefined) throw new ConfigError(`invalid configuration: ${problem}`);
  try {
    checkNatsAuthFiles(nats);
  } catch (e) {
    if (!(e instanceof NatsAuthConfigError)) throw e;
    const from = sources.get(e.key) ?? sources.get(e.key.slice(0, e.key.lastIndexOf('.')));
    throw new ConfigError(
      `invalid configuration: ${e.message}${from === undefined ? '' : ` (from ${from})`}`,
      {
        cause: e,
      },
    );
  }
}

/**
 * The effective configuration as --print-config shows it: JSON, with server credentials and the
 * secrets given as values (nats.password, nats.token) shown as "***". Files are shown by path.
 */
export function printableConfig(config: DomainmgrConfig): string {
  const hidden = (v: string | null | undefined) => (v === null || v === undefined || v === '' ? v : '***');
  const shown = {
    ...config,
    nats: {
      ...config.nats,
      servers: config.nats.servers.map(redactSecrets),
      password: hidden(config.nats.password),
      token: hidden(config.nats.token),
    },
  };
  return JSON.stringify(shown, null, 2);
}

/** The contract's default node id: the host name with every character outside [A-Za-z0-9_-] as '-'. */
export function defaultNodeId(host: string): string {
  const id = host.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
  return id === '' ? 'node' : id;
}

/** Usage text generated from the option table. */
export function usage(program: string): string {
  const lines = OPTIONS.map(
    (o) =>
      `  --${`${o.flag} ${o.kind === 'boolean' ? 'true|false' : 'VALUE'}`.padEnd(38)} ${o.help} [${o.env}]`,
  );
  return [
    `usage: ${program} [options]`,
    '',
    'Options (flags win over DOMAINMGR_* environment, which wins over the --config file):',
    ...lines,
    `  --${'print-config'.padEnd(38)} print the effective configuration (JSON) and exit`,
    `  --${'help'.padEnd(38)} this text`,
    `  --${'version'.padEnd(38)} print the version`,
  ].join('\n');
}

function parseFlags(argv: readonly string[]) {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    help: { type: 'boolean' },
    version: { type: 'boolean' },
    'print-config': { type: 'boolean' },
  };
  for (const o of OPTIONS) options[o.flag] = { type: 'string' };
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (e) {
    // parseArgs' messages name the option ("Unknown option '--bogus'..."); keep the first sentence.
    // (Checked by shape, not instanceof: errors from node's internals may come from another realm.)
    const text =
      typeof (e as { message?: unknown }).message === 'string'
        ? (e as { message: string }).message
        : String(e);
    const msg = text.split('. ')[0];
    throw new ConfigError(`invalid command line: ${msg}`, { cause: e });
  }
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`cannot read configuration file ${file}: ${code}`, { cause: e });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`configuration file ${file} is not valid JSON: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`configuration file ${file} must hold a JSON object`);
  }
  return doc as Record<string, unknown>;
}

function convert(o: OptionSpec, raw: string, from: string): unknown {
  switch (o.kind) {
    case 'string':
      return raw;
    case 'list':
      return raw === '' ? [] : raw.split(',').map((s) => s.trim());
    case 'boolean':
      if (/^(true|1|yes)$/i.test(raw)) return true;
      if (/^(false|0|no)$/i.test(raw)) return false;
      throw new ConfigError(
        `invalid configuration: ${from} must be true or false, not ${JSON.stringify(raw)}`,
      );
    case 'integer':
      if (!/^-?[0-9]+$/.test(raw.trim())) {
        throw new ConfigError(
          `invalid configuration: ${from} must be a whole number, not ${JSON.stringify(raw)}`,
        );
      }
      return Number(raw);
    case 'number':
      if (!/^-?[0-9]+(\.[0-9]+)?$/.test(raw.trim())) {
        throw new ConfigError(`invalid configuration: ${from} must be a number, not ${JSON.stringify(raw)}`);
      }
      return Number(raw);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function mergeInto(
  target: Record<string, unknown>,
  from: Record<string, unknown>,
  base: string,
  sources: Map<string, string>,
  source: string,
): void {
  for (const [k, v] of Object.entries(from)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') {
      throw new ConfigError(`invalid configuration: ${base}${k} is not a known key (in ${source})`);
    }
    const path = `${base}${k}`;
    const current = target[k];
    if (isPlainObject(v) && isPlainObject(current)) {
      mergeInto(current, v, `${path}.`, sources, source);
    } else {
      target[k] = v;
      sources.set(path, source);
    }
  }
}

function setPath(
  target: Record<string, unknown>,
  key: string,
  value: unknown,
  sources: Map<string, string>,
  source: string,
): void {
  const parts = key.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (!isPlainObject(node[p])) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
  sources.set(key, source);
}

/** "/timeouts/commandMs must be >= 100" -> "timeouts.commandMs must be >= 100 (from --command-timeout-ms)". */
function explain(sentence: string, sources: Map<string, string>): string {
  const m = /^(\/\S*)(.*)$/.exec(sentence);
  if (m === null) return sentence;
  const pointer = m[1] ?? '';
  const key = pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
  let from: string | undefined;
  for (
    let k = key;
    k !== '' && from === undefined;
    k = k.includes('.') ? k.slice(0, k.lastIndexOf('.')) : ''
  ) {
    from = sources.get(k);
  }
  return `${key}${m[2] ?? ''}${from === undefined ? '' : ` (from ${from})`}`;
}
