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
  realRoots: (fs: RealPathFs) => Promise<ResolvedRoots> = (f) => resolveRoots(allowedRoots, f),
): Promise<DomainSpec> {
  const wanted = storagePaths(spec);
  if (wanted.length === 0) return spec;
  // The roots and every path at once: each realpath is a round trip to libuv's pool.
  const [{ roots }, resolved] = await Promise.all([
    realRoots(fs),
    Promise.all(wanted.map(({ path }) => resolve(fs, path))),
  ]);
  const shownRoots = allowedRoots.length === 0 ? '(none configured)' : allowedRoots.join(', ');
  const problems: string[] = [];
  const real = new Map<string, string>();
  for (const [i, { field, path }] of wanted.entries()) {
    const r = resolved[i] as Resolved;
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
  monotonic: () => number = () => performance.now(),
): Hypervisor {
  const roots = cachedRoots(allowedRoots, monotonic);
  const createPaused: Hypervisor['createPaused'] = async (spec) =>
    hypervisor.createPaused(await resolveStoragePaths(spec, allowedRoots, fs, roots));
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

/** The allowed roots as resolved: those that exist, and whether every one did. */
export interface ResolvedRoots {
  roots: readonly string[];
  complete: boolean;
}

/** Each allowed root resolved with realpath; a root that does not exist holds nothing. */
export async function resolveRoots(allowedRoots: readonly string[], fs: RealPathFs): Promise<ResolvedRoots> {
  const all = await Promise.all(allowedRoots.map((r) => resolve(fs, r)));
  const roots = all.flatMap((r) => ('real' in r ? [r.real] : []));
  return { roots, complete: roots.length === all.length };
}

/**
 * How long resolved roots are reused. The roots are an operator's folders, not a guest's: a burst of
 * creates resolves them once instead of once per create. A root re-pointed by its operator is seen
 * within this time; until then the old place is still the root: paths under the new target are
 * refused, and what lies in the old place is still allowed, as it was a moment before. A set with a
 * root that did not resolve is not kept, so a root made after a refusal counts at the next create.
 */
export const ROOTS_REUSE_MS = 5_000;

/** resolveRoots, reused for ROOTS_REUSE_MS when every root resolved. */
export function cachedRoots(
  allowedRoots: readonly string[],
  monotonic: () => number,
): (fs: RealPathFs) => Promise<ResolvedRoots> {
  let kept: { at: number; roots: Promise<ResolvedRoots> } | null = null;
  return (fs) => {
    const now = monotonic();
    if (kept !== null && now - kept.at < ROOTS_REUSE_MS) return kept.roots;
    const roots = resolveRoots(allowedRoots, fs);
    const entry = { at: now, roots };
    kept = entry;
    // Concurrent creates share the one in flight; an incomplete set is dropped once it is known.
    void roots.then((r) => {
      if (!r.complete && kept === entry) kept = null;
    });
    return roots;
  };
}

type Resolved = { real: string } | { code: string };

async function resolve(fs: RealPathFs, path: string): Promise<Resolved> {
  try {
    return { real: await fs.realpath(path) };
  } catch (e) {
    return { code: (e as NodeJS.ErrnoException).code ?? String(e) };
  }
}
