import { extname } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { systemClock } from '../clock.js';
import type { DomainmgrConfig } from '../config/load-config.js';
import type { BackendName } from '../hypervisor/hypervisor.js';
import { createHypervisor } from '../hypervisor/registry.js';
import { silentLogger } from '../log/logger.js';
import type { CommandRunner } from '../runner/command-runner.js';
import { type ConfigMessage, decodeConfigMessage } from '../schema/domain-config-message.js';
import type { DomainSpec } from '../schema/domain-spec.js';

/**
 * domainctl's input files: JSON or YAML, holding one domain or a list of them (a YAML file may
 * also hold several documents separated by `---`). Each item is either a DomainConfig as the
 * contract defines it, published as it is, or an envelope naming the node it goes to:
 *
 *   node: edge-7
 *   domain: { uuid: ..., name: ..., ... }
 *
 * An envelope is recognised by its `domain` key (a DomainConfig has no such field, and rejects
 * unknown fields, so the two cannot be confused). The published payload is the item's JSON
 * encoding, and validation runs on exactly those bytes, with the service's own decoder.
 */

/** The file cannot be read or parsed, or an item has the wrong shape. Exit code 2. */
export class DocumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export interface DocumentEntry {
  /** "file.yaml", or "file.yaml[2]" when the file holds several items (0-based). */
  where: string;
  /** The envelope's node, when it names one. */
  node?: string;
  /** The DomainConfig as parsed (not yet validated: any JSON value). */
  config: unknown;
  /** Exactly what would be published. */
  payload: Uint8Array;
}

/** Parses a file's text into entries. `file` decides the syntax: `.json` is JSON, anything else YAML 1.2. */
export function parseDocuments(text: string, file: string): DocumentEntry[] {
  const values: unknown[] = [];
  if (extname(file).toLowerCase() === '.json') {
    try {
      values.push(JSON.parse(text));
    } catch (e) {
      throw new DocumentError(`${file} is not valid JSON: ${(e as Error).message}`);
    }
  } else {
    const docs = parseAllDocuments(text, { uniqueKeys: true });
    const list = Array.isArray(docs) ? docs : [docs];
    for (const doc of list) {
      const err = doc.errors[0];
      if (err !== undefined) {
        const pos = err.linePos?.[0];
        const at = pos === undefined ? '' : `:${pos.line}:${pos.col}`;
        const reason = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
        throw new DocumentError(`${file}${at} is not valid YAML: ${reason}`);
      }
      const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
      // An empty document (a trailing `---`) is nothing, not a null domain.
      if (value !== null) values.push(value);
    }
  }
  const items = values.flatMap((v) => (Array.isArray(v) ? v : [v]));
  if (items.length === 0) throw new DocumentError(`${file} holds no domain`);
  return items.map((item, i) => toEntry(item, items.length === 1 ? file : `${file}[${i}]`));
}

function toEntry(item: unknown, where: string): DocumentEntry {
  let node: string | undefined;
  let config = item;
  if (item !== null && typeof item === 'object' && !Array.isArray(item) && 'domain' in item) {
    const { node: n, domain, ...rest } = item as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0)
      throw new DocumentError(
        `${where}: an envelope holds only "node" and "domain", not ${extra.map((k) => JSON.stringify(k)).join(', ')}`,
      );
    if (n !== undefined && typeof n !== 'string')
      throw new DocumentError(`${where}: "node" must be a string`);
    node = n;
    config = domain;
  }
  const json = JSON.stringify(config);
  return {
    where,
    ...(node === undefined ? {} : { node }),
    config,
    payload: new TextEncoder().encode(json),
  };
}

/** The fields of a config that domainctl reads before (or without) validation. */
export function configHints(config: unknown): {
  uuid?: string;
  name?: string;
  generation?: number;
  activate?: boolean;
  paused?: boolean;
} {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return {};
  const c = config as Record<string, unknown>;
  return {
    ...(typeof c.uuid === 'string' ? { uuid: c.uuid } : {}),
    ...(typeof c.name === 'string' ? { name: c.name } : {}),
    ...(typeof c.generation === 'number' ? { generation: c.generation } : {}),
    ...(typeof c.activate === 'boolean' ? { activate: c.activate } : {}),
    ...(typeof c.paused === 'boolean' ? { paused: c.paused } : {}),
  };
}

/** "web1 (1111...)", or whatever of it the document has. */
export function entryLabel(entry: DocumentEntry): string {
  const { uuid, name } = configHints(entry.config);
  if (name !== undefined && uuid !== undefined) return `${name} (${uuid})`;
  return name ?? uuid ?? '(no name, no uuid)';
}

export interface CheckOptions {
  /** Check disk and kernel paths against these roots, as a node configured with them does. */
  allowedRoots?: readonly string[];
  /** Also run this backend's checkSpec, as a node running it does before accepting a config. */
  backend?: BackendName;
  /** The configuration the backend is built from (tool names, state dir): only checkSpec runs. */
  config: DomainmgrConfig;
}

export type CheckResult = { ok: true; spec: DomainSpec } | { ok: false; errors: string[] };

/**
 * What a node would say about this entry: the service's decodeConfigMessage on the exact payload
 * (size, JSON, schema, cross-field rules, allowed roots, uuid against the subject), then the
 * backend's checkSpec, which the engine runs next (a failure there is a REJECTED status too).
 * The subject's uuid is the document's own, as domainctl publishes it there.
 */
export function checkEntry(entry: DocumentEntry, options: CheckOptions): CheckResult {
  const uuid = configHints(entry.config).uuid ?? '';
  const message: ConfigMessage = decodeConfigMessage(entry.payload, uuid, options.allowedRoots);
  if (message.kind === 'invalid') return { ok: false, errors: message.errors };
  // A non-empty payload never decodes to a delete; an empty one cannot come out of JSON.stringify.
  if (message.kind === 'delete') return { ok: false, errors: ['(document) is empty'] };
  if (options.backend !== undefined) {
    const problems = backendProblems(message.spec, options.backend, options.config);
    if (problems.length > 0) return { ok: false, errors: problems };
  }
  return { ok: true, spec: message.spec };
}

/** A runner for backends that must not run anything: checkSpec is pure, and this proves it. */
const refusingRunner: CommandRunner = {
  run(argv) {
    return Promise.reject(new Error(`domainctl runs no command here (asked for ${argv.join(' ')})`));
  },
};

/** The backend's own checkSpec, on the real backend object the service would build. */
export function backendProblems(spec: DomainSpec, backend: BackendName, config: DomainmgrConfig): string[] {
  const hv = createHypervisor(backend, {
    runner: refusingRunner,
    logger: silentLogger,
    config: { ...config, backend },
    clock: systemClock,
  });
  return hv.checkSpec(spec);
}
