import { createHash, randomBytes } from 'node:crypto';
import { mkdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandRunner } from '../runner/command-runner.js';
import { isUnderRoot } from '../schema/semantics.js';
import { HypervisorError } from './hypervisor.js';

/**
 * The root filesystem of an lxc container, from the spec's `image`: a folder is used as it is, a
 * tar archive is unpacked once into a cache under the state directory and used from there. Either
 * way the container mounts it as the lower layer of an overlay (its own changes go to a folder of
 * its own), so the image is never written to and many containers share one.
 */

/** Whether `path` is one of `roots` or lies under one (string test on absolute, normalised paths). */
export function isUnder(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => isUnderRoot(path, root));
}

/**
 * Tar member names that would land outside the folder they are unpacked into: absolute names and
 * names with a `..` segment. Pure; `listing` is `tar -tf`'s output, one name per line.
 */
export function unsafeTarMembers(listing: string): string[] {
  return listing
    .split('\n')
    .filter((name) => name !== '')
    .filter((name) => name.startsWith('/') || name.split('/').includes('..'));
}

export interface ImageDeps {
  runner: CommandRunner;
  tar: string;
  /** Where unpacked archives are kept: `<stateDir>/lxc-images`. */
  cacheDir: string;
  allowedRoots: readonly string[];
  timeoutMs: number;
}

/**
 * The folder to use as the container's lower layer, for `image`. Refuses (HypervisorError, nothing
 * written) an image that is not under an allowed root once symlinks are resolved, is neither a
 * folder nor a file, or is an archive with a member that would land outside its folder. An archive
 * is unpacked into a temporary folder beside its cache entry and renamed into place only when
 * complete, so a failure or a kill leaves no cache entry behind.
 */
export async function resolveImage(image: string, deps: ImageDeps): Promise<string> {
  const refuse = (why: string) => new HypervisorError('create', `image ${image} ${why}`);
  if (!image.startsWith('/')) throw refuse('is not an absolute path');
  if (!isUnder(image, deps.allowedRoots))
    throw refuse(
      `does not lie under an allowed storage root (${deps.allowedRoots.join(', ') || 'none configured'})`,
    );
  let real: string;
  try {
    real = await realpath(image);
  } catch {
    throw refuse('does not exist');
  }
  if (!isUnder(real, deps.allowedRoots))
    throw refuse(`resolves to ${real}, outside the allowed storage roots`);
  const info = await stat(real);
  if (info.isDirectory()) return real;
  if (!info.isFile()) throw refuse('is neither a folder nor a file');

  const key = createHash('sha256')
    .update(`${real}\0${info.size}\0${info.mtimeMs}`)
    .digest('hex')
    .slice(0, 32);
  const folder = join(deps.cacheDir, key);
  if (await exists(join(folder, '.domainmgr-unpacked'))) return join(folder, 'rootfs');

  const listing = await deps.runner.run([deps.tar, '-tf', real], { timeoutMs: deps.timeoutMs });
  const unsafe = unsafeTarMembers(listing.stdout);
  if (unsafe.length > 0) {
    throw refuse(
      `is refused: ${unsafe.length} member(s) would land outside its folder (${unsafe
        .slice(0, 3)
        .map((m) => JSON.stringify(m))
        .join(', ')})`,
    );
  }
  await mkdir(deps.cacheDir, { recursive: true, mode: 0o700 });
  const tmp = join(deps.cacheDir, `.${key}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(join(tmp, 'rootfs'), { recursive: true, mode: 0o755 });
    await deps.runner.run([deps.tar, '-xf', real, '-C', join(tmp, 'rootfs'), '--numeric-owner'], {
      timeoutMs: deps.timeoutMs,
    });
    await writeFile(join(tmp, '.domainmgr-unpacked'), `${real}\n`);
    await rm(folder, { recursive: true, force: true });
    await rename(tmp, folder);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  return join(folder, 'rootfs');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
