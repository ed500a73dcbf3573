import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './state-files.js';

/**
 * The rkt backend's domain uuid -> pod uuid map, one JSON file under the state directory
 * (`<stateDir>/rkt/pods.json`), so that a restarted domainmgr still knows which stage1-xen Xen
 * domain (named by its pod uuid) belongs to which domain.
 *
 * Read once, then kept in memory; every change rewrites the whole file atomically (temp file +
 * rename), one change at a time, so concurrent creates cannot lose each other's entries.
 */
export class PodMap {
  readonly #path: string;
  #entries: Map<string, string> | undefined;
  #writes: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.#path = path;
  }

  get path(): string {
    return this.#path;
  }

  /** The pod of a domain, if any. */
  async podOf(domainUuid: string): Promise<string | undefined> {
    return (await this.#load()).get(domainUuid);
  }

  /** pod uuid -> domain uuid, for mapping a listing back. */
  async byPod(): Promise<Map<string, string>> {
    const entries = await this.#load();
    return new Map([...entries].map(([domain, pod]) => [pod, domain]));
  }

  async set(domainUuid: string, podUuid: string): Promise<void> {
    await this.#change((m) => m.set(domainUuid, podUuid));
  }

  async delete(domainUuid: string): Promise<void> {
    await this.#change((m) => m.delete(domainUuid));
  }

  async #load(): Promise<Map<string, string>> {
    if (this.#entries !== undefined) return this.#entries;
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      text = '{}';
    }
    const doc: unknown = JSON.parse(text);
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      throw new Error(`${this.#path} is not a JSON object of domain uuid -> pod uuid`);
    }
    const entries = new Map<string, string>();
    for (const [domain, pod] of Object.entries(doc)) {
      if (typeof pod !== 'string') throw new Error(`${this.#path}: pod of ${domain} is not a string`);
      entries.set(domain, pod);
    }
    // Another caller may have loaded while we awaited: keep the first map, it may hold changes.
    this.#entries ??= entries;
    return this.#entries;
  }

  #change(edit: (m: Map<string, string>) => void): Promise<void> {
    const next = this.#writes.then(async () => {
      // Edit a copy: memory changes only once the file holds the change.
      const entries = new Map(await this.#load());
      edit(entries);
      const doc = Object.fromEntries([...entries].sort(([a], [b]) => a.localeCompare(b)));
      await writeFileAtomic(this.#path, `${JSON.stringify(doc, null, 2)}\n`);
      this.#entries = entries;
    });
    // A failed write must not block every later change; the caller still sees its own failure.
    this.#writes = next.catch(() => {});
    return next;
  }
}
