import type { LoadedConfig } from '../../config/load-config.js';
import { NATS_AUTH_OPTIONS } from '../auth-flags.js';
import type { Output } from '../cli-support.js';

/**
 * The shape of a domainctl command (its options, arguments, time budget and run function) and
 * the options several commands share. cli.ts parses the command line into a CommandContext.
 */
export interface OptionDef {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in usage; options without help are accepted but not listed (aliases). */
  help?: string;
  arg?: string;
  /** May be given more than once (the value is then a list). */
  multiple?: boolean;
}

export interface CommandContext {
  values: Record<string, string | boolean | undefined>;
  args: string[];
  loaded: LoadedConfig;
  timeoutMs: number;
  explicitTimeout: boolean;
  output: Output;
  signal: AbortSignal;
  readStdin: () => Promise<string>;
}

export interface CommandSpec {
  name: string;
  summary: string;
  description: string[];
  args: { name: string; required: boolean }[];
  options: Record<string, OptionDef>;
  defaultTimeoutMs(values: CommandContext['values']): number;
  run(ctx: CommandContext): Promise<number>;
}

export const SECOND = 1000;
export const DEFAULT_TIMEOUT_MS = 30 * SECOND;
export const DEFAULT_WAIT_TIMEOUT_MS = 5 * 60 * SECOND;

export const GLOBAL_OPTIONS: Record<string, OptionDef> = {
  nats: { type: 'string', arg: 'URL[,URL]', help: 'NATS servers [DOMAINMGR_NATS_SERVERS]' },
  prefix: { type: 'string', arg: 'P', help: 'subject prefix (default domainmgr) [DOMAINMGR_NATS_PREFIX]' },
  'nats-replicas': {
    type: 'string',
    arg: 'N',
    help: 'replicas of the streams `streams --create` makes (default 1) [DOMAINMGR_NATS_REPLICAS]',
  },
  creds: { type: 'string', arg: 'FILE', help: 'NATS credentials (.creds) file [DOMAINMGR_NATS_CREDENTIALS]' },
  'nats-credentials': { type: 'string' },
  ...NATS_AUTH_OPTIONS,
  config: { type: 'string', arg: 'FILE', help: "domainmgr's configuration file (JSON) [DOMAINMGR_CONFIG]" },
  timeout: {
    type: 'string',
    arg: 'DURATION',
    help: 'time budget of the command, e.g. 10s, 2m (default 30s; 5m with --wait)',
  },
  help: { type: 'boolean', short: 'h', help: 'this text' },
};

export const FILE: OptionDef = {
  type: 'string',
  short: 'f',
  arg: 'FILE',
  help: 'JSON or YAML file; - reads stdin',
};
export const NODE: OptionDef = { type: 'string', arg: 'N', help: 'node id' };
export const ROOTS: OptionDef = {
  type: 'string',
  arg: 'DIR[,DIR]',
  help: 'check disk/kernel paths against these storage roots [DOMAINMGR_STORAGE_ALLOWED_ROOTS]',
};
export const OUTPUT: OptionDef = {
  type: 'string',
  short: 'o',
  arg: 'table|json|yaml',
  help: 'output format',
};
