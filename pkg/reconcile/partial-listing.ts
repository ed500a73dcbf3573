import type { Listing, ObservedDomain, PartialListing } from '../hypervisor/hypervisor.js';

/**
 * Listings of some domains only (Hypervisor.listSome), as pure functions beside the engine: what
 * the change feed's named changes call for, which workers a listing speaks to, and how a partial
 * listing updates the last full one. The rule all three keep: a partial listing says nothing of a
 * uuid it does not cover; only a full listing may tell a worker its domain is gone.
 */

/**
 * More domains than this named by changes since the last listing of some: a full listing instead
 * (a burst such as every container stopping at once is one `lxc-ls` rather than as many
 * `lxc-info` processes at the same moment).
 */
const MAX_LISTED_SOME = 32;

export type ChangeListing = { kind: 'full' } | { kind: 'some'; uuids: string[] } | { kind: 'none' };

/**
 * The listing that answers the changes named since the last one (named only on a backend that can
 * list some): none when none is named, the named domains alone when they are few, else a full
 * listing. Pure.
 */
export function changeListing(named: ReadonlySet<string>, maxSome = MAX_LISTED_SOME): ChangeListing {
  if (named.size === 0) return { kind: 'none' };
  if (named.size > maxSome) return { kind: 'full' };
  return { kind: 'some', uuids: [...named].sort() };
}

/**
 * For each worker's uuid the listing speaks of, the entries with that uuid: a full listing speaks
 * of every worker (no entry: the domain is absent); a partial one only of the uuids it covers, so
 * a worker it does not cover is left out, never told its domain vanished. Pure.
 */
export function observationsFor(
  listing: Listing | PartialListing,
  workers: Iterable<string>,
): Map<string, ObservedDomain[]> {
  const covers = 'covers' in listing ? new Set(listing.covers) : null;
  const out = new Map<string, ObservedDomain[]>();
  for (const uuid of workers) if (covers === null || covers.has(uuid)) out.set(uuid, []);
  for (const d of listing.domains) {
    if (d.uuid === null) continue;
    out.get(d.uuid)?.push(d);
  }
  return out;
}

/**
 * The full listing with what a partial one saw of the uuids it covers in place of what the full
 * one had; every other entry as it was. The full listing's time stays (it is the age of the oldest
 * entry). Pure.
 */
export function withPartial(full: Listing, partial: PartialListing): Listing {
  const covers = new Set(partial.covers);
  return {
    domains: [
      ...full.domains.filter((d) => d.uuid === null || !covers.has(d.uuid)),
      ...partial.domains.filter((d) => d.uuid !== null && covers.has(d.uuid)),
    ],
    takenAt: full.takenAt,
  };
}
