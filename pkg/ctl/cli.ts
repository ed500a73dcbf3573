import { parseArgs } from 'node:util';
import { ConfigError, type LoadedConfig, loadConfig } from '../config/load-config.js';
import { errorText } from '../error-text.js';
import { redactSecrets } from '../log/redact.js';
import { packageVersion } from '../project-files.js';
import { NATS_AUTH_FLAGS } from './auth-flags.js';
import { CliError, EXIT, type Output, parseDuration, usageError } from './cli-support.js';
import {
  COMMANDS,
  type CommandContext,
  type CommandSpec,
  GLOBAL_OPTIONS,
  type OptionDef,
} from './commands/index.js';

/**
 * domainctl's command line: `domainctl [global options] COMMAND [options] [args]`, global options
 * accepted anywhere. Parses, loads the configuration the way domainmgr does (config file, then
 * DOMAINMGR_* variables, then flags, with the same names), and runs the command. Returns the exit
 * code; every failure is one line on stderr, never a stack trace.
 */
export interface CliEnvironment {
  env: NodeJS.ProcessEnv;
  output: Output;
  /** Aborted by SIGINT/SIGTERM. */
  signal: AbortSignal;
  readStdin: () => Promise<string>;
}

export async function runCli(argv: readonly string[], environment: CliEnvironment): Promise<number> {
  const { output } = environment;
  try {
    return await dispatch(argv, environment);
  } catch (e) {
    if (e instanceof CliError) {
      output.err(`domainctl: ${redactSecrets(e.message)}`);
      return e.code;
    }
    output.err(`domainctl: internal error: ${redactSecrets(errorText(e))}`);
    return EXIT.failed;
  }
}

async function dispatch(argv: readonly string[], environment: CliEnvironment): Promise<number> {
  const { output } = environment;
  const commandName = findCommand(argv);
  if (commandName === undefined) {
    const first = parse(argv, GLOBAL_OPTIONS, 'domainctl', { version: { type: 'boolean' } });
    if (first.values.version === true) {
      output.out(`domainctl ${packageVersion}`);
      return EXIT.ok;
    }
    if (first.values.help === true) {
      output.out(mainUsage());
      return EXIT.ok;
    }
    throw usageError('missing command (try domainctl --help)');
  }
  if (commandName === 'help') {
    const topic = argv.filter((a) => !a.startsWith('-'))[1];
    const spec = topic === undefined ? undefined : COMMANDS.find((c) => c.name === topic);
    output.out(spec === undefined ? mainUsage() : commandUsage(spec));
    return EXIT.ok;
  }
  if (commandName === 'version') {
    output.out(`domainctl ${packageVersion}`);
    return EXIT.ok;
  }
  const spec = COMMANDS.find((c) => c.name === commandName);
  if (spec === undefined)
    throw usageError(`unknown command ${JSON.stringify(commandName)} (try domainctl --help)`);
  const options: Record<string, OptionDef> = { ...GLOBAL_OPTIONS, ...spec.options };
  const parsed = parse(argv, options, `domainctl ${spec.name}`);
  if (parsed.values.help === true) {
    output.out(commandUsage(spec));
    return EXIT.ok;
  }
  const args = parsed.positionals.slice(1);
  if (args.length > spec.args.length)
    throw usageError(`${spec.name}: unexpected argument ${JSON.stringify(args[spec.args.length])}`);
  for (const [i, a] of spec.args.entries()) {
    if (a.required && args[i] === undefined) throw usageError(`${spec.name}: missing ${a.name}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const loaded = loadConfiguration(values, environment.env);
  const explicitTimeout = typeof values.timeout === 'string';
  const timeoutMs = explicitTimeout
    ? parseDuration(values.timeout as string, 'timeout')
    : spec.defaultTimeoutMs(values);
  const context: CommandContext = {
    values,
    args,
    loaded,
    timeoutMs,
    explicitTimeout,
    output,
    signal: environment.signal,
    readStdin: environment.readStdin,
  };
  return await spec.run(context);
}

/** The first argument that is not an option or an option's value. */
function findCommand(argv: readonly string[]): string | undefined {
  const all: Record<string, OptionDef> = { ...GLOBAL_OPTIONS };
  for (const c of COMMANDS) Object.assign(all, c.options);
  const { tokens } = parseArgs({
    args: [...argv],
    options: all,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const t of tokens ?? []) if (t.kind === 'positional') return t.value;
  return undefined;
}

function parse(
  argv: readonly string[],
  options: Record<string, OptionDef>,
  program: string,
  extra: Record<string, OptionDef> = {},
) {
  try {
    return parseArgs({
      args: [...argv],
      options: { ...options, ...extra },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    const text = typeof (e as { message?: unknown }).message === 'string' ? (e as Error).message : String(e);
    throw usageError(`${program}: ${text.split('. ')[0]}`);
  }
}

/**
 * domainmgr's configuration, built as domainmgr builds it (config/default.json, --config or
 * DOMAINMGR_CONFIG, DOMAINMGR_* variables, then flags) from the flags domainctl shares with it.
 */
function loadConfiguration(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): LoadedConfig {
  const forwarded: string[] = [];
  const forward = (flag: string, value: unknown) => {
    if (typeof value === 'string') forwarded.push(`--${flag}`, value);
  };
  if (typeof values.creds === 'string' && typeof values['nats-credentials'] === 'string')
    throw usageError('give --creds or --nats-credentials, not both');
  forward('nats-credentials', values.creds ?? values['nats-credentials']);
  for (const flag of [...SHARED_FLAGS, ...NATS_AUTH_FLAGS]) forward(flag, values[flag]);
  try {
    return loadConfig(forwarded, env);
  } catch (e) {
    if (e instanceof ConfigError) throw usageError(e.message);
    throw e;
  }
}

/** Flags domainctl passes to domainmgr's configuration loader under the same names. */
const SHARED_FLAGS = [
  'config',
  'nats',
  'prefix',
  'nats-replicas',
  'backend',
  'state-dir',
  'allowed-roots',
  'xl',
  'xenstore-write',
  'rkt',
  'vmadm',
  'rkt-stage1',
] as const;

function optionLines(options: Record<string, OptionDef>): string[] {
  return Object.entries(options)
    .filter(([, o]) => o.help !== undefined)
    .map(([name, o]) => {
      const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`;
      return `  ${flag.padEnd(34)} ${o.help}`;
    });
}

export function mainUsage(): string {
  return [
    'usage: domainctl [global options] COMMAND [options]',
    '',
    'Publishes desired domains to domainmgr nodes over NATS JetStream and reads their status.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
    `  ${'version'.padEnd(10)} print the version`,
    '',
    'Global options (the same names as domainmgr; flags win over DOMAINMGR_* variables and --config):',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Exit codes: 0 ok, 1 failed, 2 usage or unreadable input, 3 NATS unreachable, 4 timed out.',
    '`domainctl COMMAND --help` describes a command; docs/domainctl.md has the details.',
  ].join('\n');
}

export function commandUsage(spec: CommandSpec): string {
  const args = spec.args.map((a) => (a.required ? a.name : `[${a.name}]`)).join(' ');
  return [
    `usage: domainctl ${spec.name} ${[args, '[options]'].filter((s) => s !== '').join(' ')}`,
    '',
    ...spec.description,
    '',
    'Options:',
    ...optionLines(spec.options),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
  ].join('\n');
}
