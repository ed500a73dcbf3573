import { realpath } from 'node:fs/promises';
import type { DomainSpec } from '../schema/domain-spec.js';
import { isUnderRoot } from '../schema/semantics.js';
import { type Hypervisor, HypervisorError } from './hypervisor.js';

/**
 * `storage.allowedRoots` as the host sees it at create time. The schema's check (semantics.ts)
 * compares the strings a config names, which is all `domainctl validate` can do offline; but a
 * symlink under an allowed root can name any host file or block device, and xl, blkback and
 * qemu follow it. So right before each create the kernel, ramdisk and disk paths are resolved
 * with realpath, the roots too, and the resolved path must lie under a resolved root. A path
 * that does not exist (yet) is refused: nothing can be said about where it will point.
 *
 * The backend is then given the resolved paths, so that what was checked is what it opens (a
 * symlink swapped after the check changes nothing). Device symlinks resolve too: a disk named
 * /dev/mapper/vg-lv is /dev/dm-N, and the roots must name where the devices really are.
 */

/** The filesystem calls the check makes; injected so that tests can count or hold them. */
export interface RealPathFs {
  realpath(path: string): Promise<string>;
}

const nodeRealPathFs: RealPathFs = { realpath: (p) => realpath(p) };

/** A create refused because a path of the spec is missing or resolves outside every root. */
export class StoragePathError extends HypervisorError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('create', problems.join('; '));
    this.name = 'StoragePathError';
    this.problems = problems;
  }
}

/** The host paths a guest is given, each with the spec field (JSON pointer) that names it. */
export function storagePaths(spec: DomainSpec): { field: string; path: string }[] {
  const out: { field: string; path: string }[] = [];
  if (spec.kernel !== undefined) out.push({ field: '/kernel', path: spec.kernel });
  if (spec.ramdisk !== undefined) out.push({ field: '/ramdisk', path: spec.ramdisk });
  spec.disks.forEach((d, i) => {
    out.push({ field: `/disks/${i}/path`, path: d.path });
  });
  return out;
}

/**
 * The spec with its storage paths resolved, when each resolves under a resolved root; otherwise
 * StoragePathError naming every field and path that does not. A root that does not exist holds
 * nothing. Never rejects with anything else.
 */
export async function resolveStoragePaths(
  spec: DomainSpec,
  allowedRoots: readonly string[],
  fs: RealPathFs = nodeRealPathFs,
): Promise<DomainSpec> {
  const wanted = storagePaths(spec);
  if (wanted.length === 0) return spec;
  const roots = (await Promise.all(allowedRoots.map((r) => resolve(fs, r)))).flatMap((r) =>
    'real' in r ? [r.real] : [],
  );
  const shownRoots = allowedRoots.length === 0 ? '(none configured)' : allowedRoots.join(', ');
  const problems: string[] = [];
  const real = new Map<string, string>();
  for (const { field, path } of wanted) {
    const r = await resolve(fs, path);
    if (!('real' in r)) {
      problems.push(
        r.code === 'ENOENT' || r.code === 'ENOTDIR'
          ? `${field} ${path} does not exist on this host`
          : `${field} ${path} cannot be resolved (${r.code})`,
      );
    } else if (!roots.some((root) => isUnderRoot(r.real, root))) {
      problems.push(
        `${field} ${path} resolves to ${r.real}, which is not under an allowed storage root: ${shownRoots}`,
      );
    } else {
      real.set(path, r.real);
    }
  }
  if (problems.length > 0) throw new StoragePathError(problems);
  const at = (p: string) => real.get(p) ?? p;
  return {
    ...spec,
    ...(spec.kernel === undefined ? {} : { kernel: at(spec.kernel) }),
    ...(spec.ramdisk === undefined ? {} : { ramdisk: at(spec.ramdisk) }),
    disks: spec.disks.map((d) => ({ ...d, path: at(d.path) })),
  };
}

/**
 * `hypervisor` with every createPaused preceded by resolveStoragePaths, and given the resolved
 * spec; every other member is the backend's own. The service wraps its backend with it, so the
 * check runs inside the create transaction, after the ledger entry and right before the tool.
 */
export function confineStorage(
  hypervisor: Hypervisor,
  allowedRoots: readonly string[],
  fs: RealPathFs = nodeRealPathFs,
): Hypervisor {
  const createPaused: Hypervisor['createPaused'] = async (spec) =>
    hypervisor.createPaused(await resolveStoragePaths(spec, allowedRoots, fs));
  // A Proxy rather than a class that forwards each member: the interface has a dozen members
  // and only one changes here; everything else reaches the backend bound to it.
  return new Proxy(hypervisor, {
    get(target, key) {
      if (key === 'createPaused') return createPaused;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function resolve(fs: RealPathFs, path: string): Promise<{ real: string } | { code: string }> {
  try {
    return { real: await fs.realpath(path) };
  } catch (e) {
    return { code: (e as NodeJS.ErrnoException).code ?? String(e) };
  }
}
