import { errorText } from '../error-text.js';
import type { Logger } from '../log/logger.js';
import {
  XenstoreClient,
  XenstoreConnectionError,
  XenstoreError,
  type XenstoreWatch,
} from '../xenstore/mod.js';
import type { ChangeWatch } from './hypervisor.js';
import { OFFLOAD_KEYS } from './xl-tool.js';

/** Xen's first reserved domid (DOMID_FIRST_RESERVED): the allocator wraps from 0x7fef to 1. */
const DOMID_FIRST_RESERVED = 0x7ff0;
const DOMID_SPAN = DOMID_FIRST_RESERVED - 1;
/** Domids read per round trip when looking for a new domain. */
const LOOKUP_WINDOW = 16;
/** Domids looked at above the floor before giving up (and falling back to `xl domid`). */
const LOOKUP_LIMIT = 256;
/** Round-trip bound of every request: xenstored answers in microseconds, or something is wrong. */
const REQUEST_TIMEOUT_MS = 5000;

/** The domid after d in Xen's allocation order (1 .. 0x7fef, then 1 again). */
export function nextDomid(d: number): number {
  return d >= DOMID_FIRST_RESERVED - 1 ? 1 : d + 1;
}

/** Whether b was allocated after a, on Xen's wrapping domid ring (b within half the ring ahead). */
export function allocatedAfter(b: number, a: number): boolean {
  const ahead = (((b - a) % DOMID_SPAN) + DOMID_SPAN) % DOMID_SPAN;
  return ahead > 0 && ahead < DOMID_SPAN / 2;
}

/** The domids a lookup reads, in order: the LOOKUP_LIMIT ones allocated after `floor`, in windows. */
export function lookupWindows(floor: number): number[][] {
  const windows: number[][] = [];
  let d = floor;
  for (let n = 0; n < LOOKUP_LIMIT; n += LOOKUP_WINDOW) {
    const w: number[] = [];
    for (let i = 0; i < LOOKUP_WINDOW; i++) {
      d = nextDomid(d);
      w.push(d);
    }
    windows.push(w);
  }
  return windows;
}

/** The uuid part of a `/local/domain/<d>/vm` value (`/vm/<uuid>`, or `/vm/<uuid>-<n>`), lower case. */
function vmUuid(vmPath: string): string {
  return vmPath.replace(/^\/vm\//, '').toLowerCase();
}

/**
 * What the Xen layer does through xenstored's socket instead of starting processes: a new
 * domain's domid, the offload keys of its vifs in one transaction, and the domain-death watch.
 * Open it with `XenStore.open()`; null with the reason when the socket is absent or refuses us.
 *
 * The domid lookup. xenstore has no index by name or uuid (`/vm/<uuid>` does not hold the
 * domid), and the DIRECTORY of `/local/domain` no longer fits a reply past ~800 domains (E2BIG).
 * But Xen hands out domids in order (the allocator's rover moves up from the last domid it gave,
 * wrapping to 1 before 0x7ff0), so a domain created after domid F was allocated has a domid
 * after F. The caller takes that floor (`domidFloor()`) before `xl create -p`; the lookup then
 * reads `/local/domain/<d>/name` for the domids after it, 16 per round trip (one write on the
 * socket), and takes the one whose name is ours and whose `vm` is `/vm/<our uuid>`. Domains
 * created meanwhile by others (or failed creates, which use up domids) are skipped; after 256
 * domids without ours it answers null and the caller falls back to `xl domid`. The floor is the
 * most recently allocated domid known: the latest seen in a listing or found by a lookup
 * (`note()`), in allocation order.
 */
export class XenStore {
  readonly #client: XenstoreClient;
  readonly #log: Logger;
  #latest: number | null = null;

  private constructor(client: XenstoreClient, log: Logger) {
    this.#client = client;
    this.#log = log;
  }

  /**
   * Connects and checks that we may read dom0's part of the store; otherwise the reason, for
   * the log and verify (no socket: not a dom0 or xenstored not running; EACCES: not root).
   */
  static async open(
    socketPath: string,
    log: Logger,
  ): Promise<{ store: XenStore; problem: null } | { store: null; problem: string }> {
    let client: XenstoreClient;
    try {
      client = await XenstoreClient.connect({
        ...(socketPath === '' ? {} : { socketPath }),
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        connectTimeoutMs: REQUEST_TIMEOUT_MS,
        unref: true,
      });
    } catch (e) {
      // XenstoreUnavailableError's message names the path and the system's reason already.
      return { store: null, problem: e instanceof Error ? e.message : String(e) };
    }
    try {
      // dom0's own node: readable by a toolstack (its absence is no problem; EACCES is).
      await client.tryRead('/local/domain/0/name');
    } catch (e) {
      await client.close();
      return { store: null, problem: `connected to ${client.socketPath}, but ${errorText(e)}` };
    }
    return { store: new XenStore(client, log), problem: null };
  }

  get socketPath(): string {
    return this.#client.socketPath;
  }

  get connected(): boolean {
    return this.#client.state === 'connected';
  }

  /** Tells the store about domids that exist (a listing, a lookup): the latest becomes the floor. */
  note(domids: Iterable<number>): void {
    for (const d of domids) {
      if (d <= 0 || d >= DOMID_FIRST_RESERVED) continue;
      if (this.#latest === null || allocatedAfter(d, this.#latest)) this.#latest = d;
    }
  }

  /** The floor for a create starting now (see the class comment): 0 when nothing is known yet. */
  domidFloor(): number {
    return this.#latest ?? 0;
  }

  /**
   * The domid of the domain named `name` with uuid `uuid`, created after `floor` was taken; null
   * when not found among the 256 domids after it. Rejects with XenstoreConnectionError when the
   * connection is down (the caller falls back to xl), other XenstoreErrors as they come.
   */
  async findDomid(name: string, uuid: string, floor: number): Promise<number | null> {
    const want = uuid.toLowerCase();
    for (const window of lookupWindows(floor)) {
      const names = await Promise.all(window.map((d) => this.#client.tryRead(`/local/domain/${d}/name`)));
      for (let i = 0; i < window.length; i++) {
        if (names[i] !== name) continue;
        const d = window[i] as number;
        const vm = await this.#client.tryRead(`/local/domain/${d}/vm`);
        // libxl writes vm at create; a domain of that name with another uuid is not ours.
        if (vm !== undefined && vmUuid(vm) !== want && !vmUuid(vm).startsWith(`${want}-`)) continue;
        this.note([d]);
        return d;
      }
    }
    return null;
  }

  /** `/local/domain/<domid>/memory/target` (KiB, as text); undefined when there is none. */
  memoryTargetKiB(domid: number): Promise<string | undefined> {
    return this.#client.tryRead(`/local/domain/${domid}/memory/target`);
  }

  /**
   * Writes 0 to the four offload keys of vifs 0..vifCount-1 of `domid`, in one transaction
   * (redone on EAGAIN). A write below a domid that does not exist would succeed, so the
   * transaction first reads each vif backend's `state`: a missing one fails the whole write.
   */
  async zeroOffload(domid: number, vifCount: number): Promise<void> {
    if (vifCount === 0) return;
    const devids = Array.from({ length: vifCount }, (_, i) => i);
    const base = `/local/domain/0/backend/vif/${domid}`;
    await this.#client.transaction(async (tx) => {
      const states = await Promise.all(devids.map((devid) => tx.tryRead(`${base}/${devid}/state`)));
      const missing = states.indexOf(undefined);
      if (missing >= 0)
        throw new XenstoreError(
          `xenstore: domain ${domid} has no vif backend ${missing} (${base}/${missing}/state missing): the domain or its vif is gone`,
          'READ',
          `${base}/${missing}/state`,
        );
      await Promise.all(
        devids.flatMap((devid) => OFFLOAD_KEYS.map((key) => tx.write(`${base}/${devid}/${key}`, '0'))),
      );
    });
  }

  /**
   * Watches `@releaseDomain` and `@introduceDomain` (see Hypervisor.watchChanges): onChange on
   * each event and on each change of the connection's state. Not live while the connection is
   * down or when a watch could not be registered.
   */
  watchDomains(onChange: () => void): ChangeWatch {
    const client = this.#client;
    const log = this.#log;
    const watches: XenstoreWatch[] = [];
    let closed = false;
    let failed = false;
    const fail = (e: unknown): void => {
      if (closed) return;
      failed = true;
      log.warn({ err: errorText(e) }, 'xenstore domain watch lost: deaths are noticed at the next listing');
      onChange();
    };
    const offState = client.onStateChange((state) => {
      if (state === 'closed') return;
      log.info({ connected: state === 'connected' }, `xenstored connection ${state}`);
      onChange();
    });
    for (const path of ['@releaseDomain', '@introduceDomain']) {
      client
        .watch(path, { onEvent: () => onChange(), onError: fail })
        .then((w) => {
          if (closed) void w.close().catch(() => undefined);
          else watches.push(w);
        })
        .catch(fail);
    }
    return {
      close: () => {
        closed = true;
        offState();
        for (const w of watches.splice(0)) void w.close().catch(() => undefined);
      },
      get live() {
        return !failed && !closed && client.state === 'connected';
      },
    };
  }

  /** Ends the connection. */
  close(): Promise<void> {
    return this.#client.close();
  }
}

/** Whether a failure of the store means "use the commands instead" (the connection is down). */
export function storeUnreachable(e: unknown): boolean {
  return e instanceof XenstoreConnectionError;
}
