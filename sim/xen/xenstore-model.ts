import type { SimHost } from '../core/host.js';
import type { XenDomain } from '../core/state.js';

/**
 * The simulated xenstore: a flat map of absolute paths to values. A directory exists when it
 * has a value or any path below it; the keys a real toolstack and netback create for a guest are
 * written at create and removed at destroy.
 */

/**
 * What Linux netback (6.1) advertises on a vif backend, in the order it writes them: the real
 * capture `test/fixtures/real-xen/xenstore-ls-vif-backend-after-create.txt`. Netfront treats a
 * missing key as 0.
 */
export const NETBACK_FEATURES: Readonly<Record<string, string>> = {
  'feature-sg': '1',
  'feature-gso-tcpv4': '1',
  'feature-gso-tcpv6': '1',
  'feature-ipv6-csum-offload': '1',
  'feature-rx-copy': '1',
  'feature-xdp-headroom': '1',
  'feature-rx-flip': '0',
  'feature-multicast-control': '1',
  'feature-dynamic-multicast-control': '1',
  'feature-split-event-channels': '1',
  'multi-queue-max-queues': '2',
  'feature-ctrl-ring': '1',
};

/** XenbusState values the simulated vif ends pass through. */
export const XENBUS_INIT_WAIT = '2';
export const XENBUS_CONNECTED = '4';

export function normalisePath(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

export function xsRead(host: SimHost, path: string): string | undefined {
  return host.state.xen.xenstore[normalisePath(path)];
}

/**
 * Each store's directories (every proper ancestor of a key) with how many keys lie below them,
 * so that whether a node without a value exists costs a map lookup, as in xenstored's tree,
 * rather than a scan of every key: a scan is O(keys) and, for an object this large, V8 sorts its
 * keys on each Object.keys (about 45,000 keys at 1,000 domains; a domid lookup reads up to 16
 * missing nodes per create). Built on first use from the store (which may come from state.json);
 * kept by xsWrite and xsRemoveTree, the only writers.
 */
const directoryIndexes = new WeakMap<Record<string, string>, Map<string, number>>();

function directoryIndex(store: Record<string, string>): Map<string, number> {
  let index = directoryIndexes.get(store);
  if (index === undefined) {
    index = new Map();
    for (const k of Object.keys(store)) countUnderAncestors(index, k, 1);
    directoryIndexes.set(store, index);
  }
  return index;
}

/** Adds delta to the count of every proper ancestor of `key` but the root. */
function countUnderAncestors(index: Map<string, number>, key: string, delta: 1 | -1): void {
  for (let i = key.lastIndexOf('/'); i > 0; i = key.lastIndexOf('/', i - 1)) {
    const dir = key.slice(0, i);
    const n = (index.get(dir) ?? 0) + delta;
    if (n > 0) index.set(dir, n);
    else index.delete(dir);
  }
}

export function xsWrite(host: SimHost, path: string, value: string): void {
  const p = normalisePath(path);
  const store = host.state.xen.xenstore;
  if (!Object.hasOwn(store, p)) {
    const index = directoryIndexes.get(store);
    if (index !== undefined) countUnderAncestors(index, p, 1);
  }
  store[p] = value;
  host.touch();
  host.emit({ type: 'xenstore-change', path: p, removed: null });
}

/** Whether the path is a node: has a value or children. */
export function xsExists(host: SimHost, path: string): boolean {
  const p = normalisePath(path);
  if (p === '/') return true;
  const store = host.state.xen.xenstore;
  return Object.hasOwn(store, p) || directoryIndex(store).has(p);
}

/** The direct children of a directory, sorted as xenstored lists them (insertion order there). */
export function xsChildren(host: SimHost, path: string): string[] {
  const p = normalisePath(path);
  const prefix = p === '/' ? '/' : `${p}/`;
  const seen = new Set<string>();
  for (const k of Object.keys(host.state.xen.xenstore)) {
    if (!k.startsWith(prefix)) continue;
    const rest = k.slice(prefix.length);
    const head = rest.split('/')[0];
    if (head) seen.add(head);
  }
  return [...seen];
}

export function xsRemoveTree(host: SimHost, path: string): void {
  const p = normalisePath(path);
  const prefix = `${p}/`;
  const store = host.state.xen.xenstore;
  const index = directoryIndexes.get(store);
  const removed: string[] = [];
  for (const k of Object.keys(store)) {
    if (k === p || k.startsWith(prefix)) {
      delete store[k];
      if (index !== undefined) countUnderAncestors(index, k, -1);
      removed.push(k);
    }
  }
  host.touch();
  if (removed.length > 0) host.emit({ type: 'xenstore-change', path: p, removed });
}

export function writeDomainKeys(host: SimHost, d: XenDomain): void {
  const base = `/local/domain/${d.domid}`;
  xsWrite(host, `${base}/name`, d.name);
  xsWrite(host, `${base}/domid`, String(d.domid));
  xsWrite(host, `${base}/vm`, `/vm/${d.uuid}`);
  xsWrite(host, `${base}/memory/target`, String(d.targetMemKiB));
  xsWrite(host, `${base}/memory/static-max`, String(d.maxMemKiB));
  xsWrite(host, `/vm/${d.uuid}/name`, d.name);
  xsWrite(host, `/vm/${d.uuid}/uuid`, d.uuid);
  const nics = Array.isArray(d.config.nics) ? (d.config.nics as Record<string, unknown>[]) : [];
  for (const nic of nics) {
    const devid = Number(nic.devid);
    const back = `/local/domain/0/backend/vif/${d.domid}/${devid}`;
    const front = `${base}/device/vif/${devid}`;
    xsWrite(host, `${back}/frontend`, front);
    xsWrite(host, `${back}/frontend-id`, String(d.domid));
    xsWrite(host, `${back}/online`, '1');
    xsWrite(host, `${back}/state`, XENBUS_INIT_WAIT);
    xsWrite(host, `${back}/script`, '/etc/xen/scripts/vif-bridge');
    xsWrite(host, `${back}/mac`, String(nic.mac ?? ''));
    if (typeof nic.bridge === 'string') xsWrite(host, `${back}/bridge`, nic.bridge);
    xsWrite(host, `${back}/handle`, String(devid));
    xsWrite(host, `${back}/type`, 'vif');
    // The hotplug script (vif-bridge) runs during create, before xl returns.
    xsWrite(host, `${back}/hotplug-status`, 'connected');
    for (const [k, v] of Object.entries(NETBACK_FEATURES)) xsWrite(host, `${back}/${k}`, v);
    xsWrite(host, `${front}/backend`, back);
    xsWrite(host, `${front}/backend-id`, '0');
    xsWrite(host, `${front}/state`, '1');
    xsWrite(host, `${front}/handle`, String(devid));
    xsWrite(host, `${front}/mac`, String(nic.mac ?? ''));
  }
}

export function removeDomainKeys(host: SimHost, domid: number): void {
  const vmPath = xsRead(host, `/local/domain/${domid}/vm`);
  xsRemoveTree(host, `/local/domain/${domid}`);
  xsRemoveTree(host, `/local/domain/0/backend/vif/${domid}`);
  if (vmPath) xsRemoveTree(host, vmPath);
}

/**
 * The guest's netfront has booted and connected: both ends of every vif go to Connected (4), as
 * they do on real Xen some seconds after unpause (`xenstore-ls-vif-backend-connected.txt`).
 */
export function connectVifs(host: SimHost, d: XenDomain): void {
  for (const devid of d.vifs) {
    const back = `/local/domain/0/backend/vif/${d.domid}/${devid}`;
    const front = `/local/domain/${d.domid}/device/vif/${devid}`;
    if (xsRead(host, `${back}/state`) === undefined) continue;
    if (xsRead(host, `${back}/state`) !== XENBUS_CONNECTED) xsWrite(host, `${back}/state`, XENBUS_CONNECTED);
    if (xsRead(host, `${front}/state`) !== XENBUS_CONNECTED)
      xsWrite(host, `${front}/state`, XENBUS_CONNECTED);
  }
}
