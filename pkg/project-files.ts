import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's root folder (the one holding package.json), found from this module's location so
 * that the same code works from the TypeScript sources (tests) and from the build in dist/.
 */
export const projectRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'types'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`domainmgr: cannot find the project root above ${import.meta.url}`);
    dir = up;
  }
})();

/** Reads and parses a JSON file shipped with the project (schemas, default config). */
export function readProjectJson(relativePath: string): unknown {
  return JSON.parse(readFileSync(join(projectRoot, relativePath), 'utf8'));
}

/** The package version, reported in NodeStatus. */
export const packageVersion: string = (readProjectJson('package.json') as { version: string }).version;
