import { OPTIONS } from '../config/options.js';
import type { OptionDef } from './commands/command.js';

/**
 * domainctl's NATS authentication flags: the same names, variables and help as domainmgr's
 * (pkg/config/options.ts), passed on to the shared configuration loader.
 */
export const NATS_AUTH_FLAGS = [
  'nats-user',
  'nats-password',
  'nats-password-file',
  'nats-token',
  'nats-token-file',
  'nats-nkey-seed-file',
  'nats-tls-ca-file',
  'nats-tls-cert-file',
  'nats-tls-key-file',
] as const;

export const NATS_AUTH_OPTIONS: Record<string, OptionDef> = Object.fromEntries(
  NATS_AUTH_FLAGS.map((flag) => {
    const spec = OPTIONS.find((o) => o.flag === flag);
    if (spec === undefined) throw new Error(`option table has no --${flag}`);
    return [flag, { type: 'string', arg: 'VALUE', help: `${spec.help} [${spec.env}]` }];
  }),
);
