import { apply } from './apply.js';
import type { CommandSpec } from './command.js';
import { del } from './delete.js';
import { get } from './get.js';
import { nodes } from './nodes.js';
import { plan } from './plan.js';
import { SECURITY_COMMANDS } from './security.js';
import { validate } from './validate.js';
import { watch } from './watch.js';

export { type CommandContext, type CommandSpec, GLOBAL_OPTIONS, type OptionDef } from './command.js';

/** Every domainctl command, in the order of the usage text; one module each in this folder. */
export const COMMANDS: readonly CommandSpec[] = [
  apply,
  del,
  get,
  watch,
  nodes,
  validate,
  plan,
  ...SECURITY_COMMANDS,
];
