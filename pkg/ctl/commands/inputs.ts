import { readFile } from 'node:fs/promises';
import { isValidNodeId } from '../../bus/subjects.js';
import type { LoadedConfig } from '../../config/load-config.js';
import type { BackendName } from '../../hypervisor/hypervisor.js';
import { usageError } from '../cli-support.js';
import { type DocumentEntry, DocumentError, parseDocuments } from '../documents.js';
import type { OutputFormat } from '../format.js';
import type { CommandContext } from './command.js';

/** What the commands read from their flags and files, checked, as usage errors when wrong. */
export async function readEntries(ctx: CommandContext): Promise<DocumentEntry[]> {
  const file = ctx.values.file;
  if (typeof file !== 'string' || file === '') throw usageError('missing -f FILE');
  let text: string;
  try {
    text = file === '-' ? await ctx.readStdin() : await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw usageError(`cannot read ${file}: ${code}`);
  }
  try {
    return parseDocuments(text, file === '-' ? '(stdin)' : file);
  } catch (e) {
    if (e instanceof DocumentError) throw usageError(e.message);
    throw e;
  }
}

/** The storage roots to check, when the operator said which (flag, variable or config file). */
export function givenRoots(loaded: LoadedConfig): readonly string[] | undefined {
  return loaded.sources.has('storage.allowedRoots') ? loaded.config.storage.allowedRoots : undefined;
}

export function givenBackend(loaded: LoadedConfig): BackendName | undefined {
  return loaded.sources.has('backend') ? loaded.config.backend : undefined;
}

export function outputFormat(ctx: CommandContext, allowed: readonly OutputFormat[]): OutputFormat {
  const o = ctx.values.output;
  if (o === undefined) return 'table';
  if (typeof o === 'string' && (allowed as readonly string[]).includes(o)) return o as OutputFormat;
  throw usageError(`-o must be one of ${allowed.join(', ')}, not ${JSON.stringify(o)}`);
}

export function nodeFlag(ctx: CommandContext): string | undefined {
  const n = ctx.values.node;
  if (n === undefined) return undefined;
  if (typeof n !== 'string' || !isValidNodeId(n))
    throw usageError(`--node ${JSON.stringify(n)} is not a node id ([A-Za-z0-9_-]{1,64})`);
  return n;
}

export function printProblems(out: (text: string) => void, label: string, errors: string[]): void {
  out(`${label}: invalid`);
  for (const e of errors) out(`  - ${e}`);
}
