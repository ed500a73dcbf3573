import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { errorText } from '../error-text.js';

/**
 * Where `tool` would be run from: itself when it holds a slash, else the first executable match
 * on `path` (the PATH the commands will see). Null when there is none.
 */
export async function findExecutable(tool: string, path = process.env.PATH ?? ''): Promise<string | null> {
  const candidates = tool.includes('/')
    ? [tool]
    : path
        .split(delimiter)
        .filter((d) => d !== '')
        .map((d) => join(d, tool));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here, or not executable: try the next one
    }
  }
  return null;
}

/** A readable problem for each tool that cannot be run; empty when all can. */
export async function checkTools(tools: Readonly<Record<string, string>>): Promise<string[]> {
  const problems: string[] = [];
  for (const [role, tool] of Object.entries(tools)) {
    if ((await findExecutable(tool)) === null) {
      problems.push(
        tool.includes('/')
          ? `${role}: ${tool} is missing or not executable`
          : `${role}: ${tool} is not found on PATH or not executable`,
      );
    }
  }
  return problems;
}

/** A problem when `dir` cannot be created or written; null when it can. */
export async function checkWritableDir(dir: string): Promise<string | null> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
    return null;
  } catch (error) {
    return `state directory ${dir} is not writable: ${errorText(error)}`;
  }
}
