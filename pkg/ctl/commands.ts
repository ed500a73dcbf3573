import { readFile } from 'node:fs/promises';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { NodeStatus } from '../../types/generated/node-status.js';
import {
  type FleetClient,
  FleetError,
  FleetTimeoutError,
  type Follow,
  NatsUnreachableError,
  openFleetClient,
  type StoredMessage,
} from '../bus/fleet-client.js';
import { isValidNodeId, isValidUuid, SubjectError } from '../bus/subjects.js';
import type { LoadedConfig } from '../config/load-config.js';
import type { BackendName } from '../hypervisor/hypervisor.js';
import { check, validateDomainStatusSchema, validateNodeStatusSchema } from '../schema/validators.js';
import { CliError, Deadline, EXIT, type Output, parseDuration, usageError } from './cli-support.js';
import {
  backendProblems,
  type CheckResult,
  checkEntry,
  configHints,
  type DocumentEntry,
  DocumentError,
  entryLabel,
  parseDocuments,
} from './documents.js';
import {
  byNodeAndName,
  changeKey,
  domainTable,
  nodeTable,
  type OutputFormat,
  renderData,
  statusLine,
} from './format.js';
import { judge, type Target, type Verdict } from './judge.js';
import { planStart, renderPlan } from './plan.js';

export interface OptionDef {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in usage; options without help are accepted but not listed (aliases). */
  help?: string;
  arg?: string;
}

export interface CommandContext {
  values: Record<string, string | boolean | undefined>;
  args: string[];
  loaded: LoadedConfig;
  timeoutMs: number;
  explicitTimeout: boolean;
  output: Output;
  signal: AbortSignal;
  readStdin: () => Promise<string>;
}

export interface CommandSpec {
  name: string;
  summary: string;
  description: string[];
  args: { name: string; required: boolean }[];
  options: Record<string, OptionDef>;
  defaultTimeoutMs(values: CommandContext['values']): number;
  run(ctx: CommandContext): Promise<number>;
}

const SECOND = 1000;
const DEFAULT_TIMEOUT_MS = 30 * SECOND;
const DEFAULT_WAIT_TIMEOUT_MS = 5 * 60 * SECOND;

export const GLOBAL_OPTIONS: Record<string, OptionDef> = {
  nats: { type: 'string', arg: 'URL[,URL]', help: 'NATS servers [DOMAINMGR_NATS_SERVERS]' },
  prefix: { type: 'string', arg: 'P', help: 'subject prefix (default domainmgr) [DOMAINMGR_NATS_PREFIX]' },
  creds: { type: 'string', arg: 'FILE', help: 'NATS credentials (.creds) file [DOMAINMGR_NATS_CREDENTIALS]' },
  'nats-credentials': { type: 'string' },
  config: { type: 'string', arg: 'FILE', help: "domainmgr's configuration file (JSON) [DOMAINMGR_CONFIG]" },
  timeout: {
    type: 'string',
    arg: 'DURATION',
    help: 'time budget of the command, e.g. 10s, 2m (default 30s; 5m with --wait)',
  },
  help: { type: 'boolean', short: 'h', help: 'this text' },
};

const FILE: OptionDef = { type: 'string', short: 'f', arg: 'FILE', help: 'JSON or YAML file; - reads stdin' };
const NODE: OptionDef = { type: 'string', arg: 'N', help: 'node id' };
const ROOTS: OptionDef = {
  type: 'string',
  arg: 'DIR[,DIR]',
  help: 'check disk/kernel paths against these storage roots [DOMAINMGR_STORAGE_ALLOWED_ROOTS]',
};
const OUTPUT: OptionDef = { type: 'string', short: 'o', arg: 'table|json|yaml', help: 'output format' };

// ---------------------------------------------------------------------------------------------
// Shared steps

async function readEntries(ctx: CommandContext): Promise<DocumentEntry[]> {
  const file = ctx.values.file;
  if (typeof file !== 'string' || file === '') throw usageError('missing -f FILE');
  let text: string;
  try {
    text = file === '-' ? await ctx.readStdin() : await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw usageError(`cannot read ${file}: ${code}`);
  }
  try {
    return parseDocuments(text, file === '-' ? '(stdin)' : file);
  } catch (e) {
    if (e instanceof DocumentError) throw usageError(e.message);
    throw e;
  }
}

/** The storage roots to check, when the operator said which (flag, variable or config file). */
function givenRoots(loaded: LoadedConfig): readonly string[] | undefined {
  return loaded.sources.has('storage.allowedRoots') ? loaded.config.storage.allowedRoots : undefined;
}

function givenBackend(loaded: LoadedConfig): BackendName | undefined {
  return loaded.sources.has('backend') ? loaded.config.backend : undefined;
}

function outputFormat(ctx: CommandContext, allowed: readonly OutputFormat[]): OutputFormat {
  const o = ctx.values.output;
  if (o === undefined) return 'table';
  if (typeof o === 'string' && (allowed as readonly string[]).includes(o)) return o as OutputFormat;
  throw usageError(`-o must be one of ${allowed.join(', ')}, not ${JSON.stringify(o)}`);
}

function nodeFlag(ctx: CommandContext): string | undefined {
  const n = ctx.values.node;
  if (n === undefined) return undefined;
  if (typeof n !== 'string' || !isValidNodeId(n))
    throw usageError(`--node ${JSON.stringify(n)} is not a node id ([A-Za-z0-9_-]{1,64})`);
  return n;
}

/** Runs `fn` with a connection; NATS-side failures become one-line errors with their exit code. */
async function withFleet<T>(
  ctx: CommandContext,
  deadline: Deadline,
  fn: (fleet: FleetClient) => Promise<T>,
): Promise<T> {
  const { nats } = ctx.loaded.config;
  let fleet: FleetClient;
  try {
    fleet = await openFleetClient({
      nats,
      connectTimeoutMs: Math.min(deadline.remaining(), 10 * SECOND),
    });
  } catch (e) {
    if (e instanceof NatsUnreachableError) throw new CliError(EXIT.unreachable, e.message);
    if (e instanceof SubjectError) throw usageError(e.message);
    throw e;
  }
  try {
    return await fn(fleet);
  } catch (e) {
    if (e instanceof FleetTimeoutError) throw new CliError(EXIT.timeout, `timed out: ${e.message}`);
    if (e instanceof FleetError) throw new CliError(EXIT.failed, e.message);
    if (e instanceof SubjectError) throw usageError(e.message);
    throw e;
  } finally {
    await fleet.close().catch(() => undefined);
  }
}

type Decoded<T> = { ok: true; value: T; message: StoredMessage } | { ok: false; why: string };

function decodeDomainStatus(m: StoredMessage): Decoded<DomainStatus> {
  return decodeWith(m, validateDomainStatusSchema as Parameters<typeof check<DomainStatus>>[0]);
}

function decodeWith<T>(m: StoredMessage, validate: Parameters<typeof check<T>>[0]): Decoded<T> {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(m.data));
  } catch {
    return { ok: false, why: 'not JSON' };
  }
  const r = check(validate, doc);
  return r.ok ? { ok: true, value: r.value, message: m } : { ok: false, why: r.errors.join('; ') };
}

/** Valid statuses; the others are reported once each on stderr and left out. */
function decodeAll<T>(out: Output, messages: StoredMessage[], decode: (m: StoredMessage) => Decoded<T>): T[] {
  const values: T[] = [];
  for (const m of messages) {
    const d = decode(m);
    if (d.ok) values.push(d.value);
    else out.err(`domainctl: warning: skipping ${m.subject} (seq ${m.seq}): not a valid status: ${d.why}`);
  }
  return values;
}

async function domainStatuses(
  ctx: CommandContext,
  fleet: FleetClient,
  deadline: Deadline,
  filter: { nodeId?: string; uuid?: string },
): Promise<DomainStatus[]> {
  const msgs = await fleet.domainStatuses(filter, deadline.remaining());
  return decodeAll(ctx.output, msgs, decodeDomainStatus);
}

/**
 * A domain named by uuid or name, through the status stream. A name matching several domains is
 * a usage error (give the uuid or --node); statuses of deleted domains only count when nothing
 * else matches.
 */
async function resolveDomain(
  ctx: CommandContext,
  fleet: FleetClient,
  deadline: Deadline,
  ref: string,
  nodeId: string | undefined,
): Promise<DomainStatus[]> {
  const byUuid = isValidUuid(ref);
  const statuses = await domainStatuses(ctx, fleet, deadline, {
    ...(nodeId === undefined ? {} : { nodeId }),
    ...(byUuid ? { uuid: ref } : {}),
  });
  const matches = byUuid ? statuses : statuses.filter((s) => s.name === ref);
  const live = matches.filter((s) => s.state !== 'DELETED');
  return live.length > 0 ? live : matches;
}

function ambiguous(ref: string, matches: DomainStatus[]): CliError {
  const list = matches.map((s) => `${s.nodeId}/${s.uuid}`).join(', ');
  return usageError(
    `${JSON.stringify(ref)} names ${matches.length} domains (${list}): give the uuid or --node`,
  );
}

function where(ctx: CommandContext, nodeId: string | undefined): string {
  return `${nodeId === undefined ? '' : `node ${nodeId}, `}prefix ${ctx.loaded.config.nats.prefix}`;
}

// ---------------------------------------------------------------------------------------------
// Waiting

interface WaitItem {
  label: string;
  nodeId: string;
  uuid: string;
  target: Target;
}

type WaitOutcome = { item: WaitItem; verdict: Verdict; last: DomainStatus | null };

/**
 * Follows each domain's status from its stored one on, printing a line per change, until every
 * judge is done, the deadline passes or the command is interrupted.
 */
async function waitAll(
  ctx: CommandContext,
  fleet: FleetClient,
  deadline: Deadline,
  items: WaitItem[],
  baselineSeq: number,
): Promise<number> {
  const out = ctx.output;
  const follows: Follow[] = [];
  let timedOut = false;
  let interrupted = false;
  const stopAll = async () => {
    for (const f of follows) await f.stop();
  };
  const timer = setTimeout(() => {
    timedOut = true;
    void stopAll();
  }, deadline.remaining());
  const onAbort = () => {
    interrupted = true;
    void stopAll();
  };
  ctx.signal.addEventListener('abort', onAbort);
  try {
    for (const item of items) {
      follows.push(
        await fleet.followDomainStatuses({ nodeId: item.nodeId, uuid: item.uuid }, 'last-per-subject'),
      );
    }
    if (ctx.signal.aborted) onAbort();
    const outcomes = await Promise.all(
      items.map(async (item, i): Promise<WaitOutcome> => {
        const follow = follows[i] as Follow;
        let last: DomainStatus | null = null;
        let shown = '';
        for await (const m of follow) {
          const d = decodeDomainStatus(m);
          if (!d.ok) {
            out.err(`domainctl: warning: skipping ${m.subject} (seq ${m.seq}): not a valid status: ${d.why}`);
            continue;
          }
          last = d.value;
          const key = changeKey(d.value);
          if (key !== shown) {
            shown = key;
            out.out(`  ${statusLine(d.value)}`);
          }
          const verdict = judge(item.target, d.value, m.seq > baselineSeq);
          // Leaving the loop ends this follow (stopping it from inside its own iteration would wait on itself).
          if (verdict.done) return { item, verdict, last };
        }
        return { item, verdict: { done: false }, last };
      }),
    );
    let code: number = EXIT.ok;
    for (const { item, verdict, last } of outcomes) {
      if (verdict.done && verdict.ok) {
        const state = last === null ? '' : ` ${last.state} at generation ${last.observedGeneration}`;
        out.out(`${item.label}:${item.target.kind === 'delete' ? ' DELETED' : state}`);
      } else if (verdict.done) {
        out.err(`domainctl: ${item.label} failed: ${verdict.reason}`);
        code = EXIT.failed;
      } else {
        const seen =
          last === null
            ? 'no status yet'
            : `last seen ${last.state} at generation ${last.observedGeneration}`;
        const why = interrupted ? 'interrupted' : `timed out after ${formatDuration(deadline.totalMs)}`;
        out.err(`domainctl: ${why} waiting for ${item.label} (${seen})`);
        if (code === EXIT.ok) code = interrupted ? EXIT.interrupted : EXIT.timeout;
      }
    }
    if (timedOut && code === EXIT.ok) code = EXIT.timeout;
    return code;
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
    await stopAll();
  }
}

function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function printProblems(out: (text: string) => void, label: string, errors: string[]): void {
  out(`${label}: invalid`);
  for (const e of errors) out(`  - ${e}`);
}

// ---------------------------------------------------------------------------------------------
// Commands

const apply: CommandSpec = {
  name: 'apply',
  summary: 'publish domains from a file (JSON or YAML)',
  description: [
    'Publishes each domain of FILE (one DomainConfig, a list, or YAML documents separated by ---)',
    'with a JetStream publish on <prefix>.<node>.config.<uuid> and reports the stored sequence.',
    "The node is --node, or the item's envelope: {node: N, domain: {...}}; both and different is an error.",
    "Each document is validated first with the service's own validator (and the target node's",
    'backend checks, when the node has reported); nothing is published when one is invalid, unless --force.',
    'With --wait, follows every domain until it reaches its goal at the published generation',
    '(RUNNING, PAUSED or HALTED as activate/paused ask) or fails (REJECTED, BROKEN with an error).',
  ],
  args: [],
  options: {
    file: FILE,
    node: NODE,
    wait: { type: 'boolean', short: 'w', help: 'wait for every domain to reach its goal (or fail)' },
    force: { type: 'boolean', help: 'publish documents that fail validation (the node will reject them)' },
    'allowed-roots': ROOTS,
  },
  defaultTimeoutMs: (v) => (v.wait === true ? DEFAULT_WAIT_TIMEOUT_MS : DEFAULT_TIMEOUT_MS),
  async run(ctx) {
    const deadline = new Deadline(ctx.timeoutMs);
    const out = ctx.output;
    const force = ctx.values.force === true;
    const flagNode = nodeFlag(ctx);
    const entries = await readEntries(ctx);
    const planned = entries.map((entry) => {
      if (entry.node !== undefined && !isValidNodeId(entry.node))
        throw usageError(
          `${entry.where}: node ${JSON.stringify(entry.node)} is not a node id ([A-Za-z0-9_-]{1,64})`,
        );
      if (entry.node !== undefined && flagNode !== undefined && entry.node !== flagNode)
        throw usageError(`${entry.where}: the file says node ${entry.node}, --node says ${flagNode}`);
      const nodeId = entry.node ?? flagNode;
      if (nodeId === undefined)
        throw usageError(
          `${entry.where}: no node for ${entryLabel(entry)}: give --node N or use {node: N, domain: {...}}`,
        );
      const checked = checkEntry(entry, { allowedRoots: givenRoots(ctx.loaded), config: ctx.loaded.config });
      return { entry, nodeId, checked, label: entryLabel(entry) };
    });
    const invalid = planned.filter((p) => !p.checked.ok);
    for (const p of invalid) {
      if (!p.checked.ok)
        printProblems(out.err, `${force ? 'warning: ' : ''}${p.entry.where}: ${p.label}`, p.checked.errors);
    }
    if (invalid.length > 0 && !force)
      throw new CliError(
        EXIT.failed,
        `nothing published: ${invalid.length} invalid document(s) (--force publishes anyway)`,
      );
    for (const p of planned) {
      const uuid = configHints(p.entry.config).uuid;
      if (uuid === undefined || !isValidUuid(uuid))
        throw new CliError(
          EXIT.failed,
          `${p.entry.where}: cannot publish ${p.label}: it has no valid uuid for the subject`,
        );
    }
    return withFleet(ctx, deadline, async (fleet) => {
      // The node's own backend refuses what its checkSpec refuses: check that too, before publishing.
      const nodes = new Map<string, NodeStatus>();
      for (const n of decodeAll(out, await fleet.nodeStatuses(undefined, deadline.remaining()), (m) =>
        decodeWith<NodeStatus>(m, validateNodeStatusSchema as Parameters<typeof check<NodeStatus>>[0]),
      ))
        nodes.set(n.nodeId, n);
      let refused = 0;
      for (const p of planned) {
        const node = nodes.get(p.nodeId);
        if (node === undefined) {
          out.err(
            `domainctl: warning: node ${p.nodeId} has never reported on prefix ${ctx.loaded.config.nats.prefix}: ${p.label} is stored and waits for it`,
          );
          continue;
        }
        if (!p.checked.ok) continue;
        const problems = backendProblems(p.checked.spec, node.backend, ctx.loaded.config);
        if (problems.length > 0) {
          refused++;
          printProblems(
            out.err,
            `${force ? 'warning: ' : ''}${p.entry.where}: ${p.label} (backend ${node.backend} of node ${p.nodeId})`,
            problems,
          );
        }
      }
      if (refused > 0 && !force)
        throw new CliError(
          EXIT.failed,
          `nothing published: ${refused} document(s) the node's backend refuses (--force publishes anyway)`,
        );
      const baseline =
        ctx.values.wait === true ? await fleet.streamLastSeq('status', deadline.remaining()) : 0;
      const waits: WaitItem[] = [];
      for (const p of planned) {
        const hints = configHints(p.entry.config);
        const uuid = hints.uuid as string;
        const ack = await fleet.publishConfig(p.nodeId, uuid, p.entry.payload, deadline.remaining());
        const dup = ack.duplicate ? ' (duplicate)' : '';
        out.out(`${p.label} -> node ${p.nodeId}: stored in ${ack.stream} at seq ${ack.seq}${dup}`);
        waits.push({
          label: p.label,
          nodeId: p.nodeId,
          uuid,
          target: {
            kind: 'apply',
            generation: hints.generation ?? 0,
            activate: hints.activate ?? true,
            paused: hints.paused ?? false,
          },
        });
      }
      if (ctx.values.wait !== true) return EXIT.ok;
      return waitAll(ctx, fleet, deadline, waits, baseline);
    });
  },
};

const del: CommandSpec = {
  name: 'delete',
  summary: 'delete a domain (publishes the empty config)',
  description: [
    'Publishes the empty payload on <prefix>.<node>.config.<uuid>, which deletes the domain.',
    'A NAME is resolved through the status stream; the node comes from the status (or the config',
    'stream) unless --node is given. With --wait, follows the domain until it is DELETED.',
  ],
  args: [{ name: 'UUID|NAME', required: true }],
  options: {
    node: NODE,
    wait: { type: 'boolean', short: 'w', help: 'wait until the domain is DELETED' },
  },
  defaultTimeoutMs: (v) => (v.wait === true ? DEFAULT_WAIT_TIMEOUT_MS : DEFAULT_TIMEOUT_MS),
  async run(ctx) {
    const deadline = new Deadline(ctx.timeoutMs);
    const ref = ctx.args[0] as string;
    const flagNode = nodeFlag(ctx);
    return withFleet(ctx, deadline, async (fleet) => {
      const matches = await resolveDomain(ctx, fleet, deadline, ref, flagNode);
      let uuid: string;
      let nodeId: string;
      let label: string;
      if (matches.length === 1) {
        const s = matches[0] as DomainStatus;
        uuid = s.uuid;
        nodeId = flagNode ?? s.nodeId;
        label = `${s.name} (${s.uuid})`;
      } else if (matches.length > 1) {
        throw ambiguous(ref, matches);
      } else if (isValidUuid(ref)) {
        // No status yet (the node never acted on it): the config stream says where it was sent.
        uuid = ref;
        label = ref;
        const configs = (
          await fleet.configs({ uuid: ref, ...(flagNode ? { nodeId: flagNode } : {}) }, deadline.remaining())
        ).filter((m) => m.data.length > 0);
        const nodes = [...new Set(configs.map((m) => m.parsed?.nodeId ?? '').filter((n) => n !== ''))];
        if (flagNode !== undefined) nodeId = flagNode;
        else if (nodes.length === 1) nodeId = nodes[0] as string;
        else if (nodes.length > 1)
          throw usageError(`${ref} has configs on nodes ${nodes.join(', ')}: give --node`);
        else throw new CliError(EXIT.failed, `no domain ${ref} on ${where(ctx, flagNode)}`);
      } else {
        throw new CliError(EXIT.failed, `no domain named ${JSON.stringify(ref)} on ${where(ctx, flagNode)}`);
      }
      const baseline =
        ctx.values.wait === true ? await fleet.streamLastSeq('status', deadline.remaining()) : 0;
      const ack = await fleet.publishConfig(nodeId, uuid, new Uint8Array(), deadline.remaining());
      ctx.output.out(`${label} -> node ${nodeId}: delete stored in ${ack.stream} at seq ${ack.seq}`);
      if (ctx.values.wait !== true) return EXIT.ok;
      return waitAll(ctx, fleet, deadline, [{ label, nodeId, uuid, target: { kind: 'delete' } }], baseline);
    });
  },
};

const get: CommandSpec = {
  name: 'get',
  summary: 'show the current status of domains',
  description: [
    'Reads the current DomainStatus of every domain (or of one, by uuid or name) from the status',
    'stream. Table columns: NODE NAME UUID STATE GEN (observed generation) DOMID RESTARTS',
    'AGE (time in the current state) ERROR. Deleted domains are listed only with --deleted or when',
    'asked for by uuid or name. -o json/yaml prints the statuses as published: one object when a',
    'domain is named, a list otherwise.',
  ],
  args: [{ name: 'UUID|NAME', required: false }],
  options: {
    node: NODE,
    output: OUTPUT,
    deleted: { type: 'boolean', help: 'also list DELETED domains' },
  },
  defaultTimeoutMs: () => DEFAULT_TIMEOUT_MS,
  async run(ctx) {
    const deadline = new Deadline(ctx.timeoutMs);
    const format = outputFormat(ctx, ['table', 'json', 'yaml']);
    const ref = ctx.args[0];
    const nodeId = nodeFlag(ctx);
    return withFleet(ctx, deadline, async (fleet) => {
      let statuses: DomainStatus[];
      if (ref === undefined) {
        statuses = await domainStatuses(ctx, fleet, deadline, nodeId === undefined ? {} : { nodeId });
        if (ctx.values.deleted !== true) statuses = statuses.filter((s) => s.state !== 'DELETED');
      } else {
        statuses = await resolveDomain(ctx, fleet, deadline, ref, nodeId);
        if (statuses.length === 0)
          throw new CliError(
            EXIT.failed,
            `no domain ${isValidUuid(ref) ? ref : `named ${JSON.stringify(ref)}`} on ${where(ctx, nodeId)}`,
          );
        if (statuses.length > 1 && format !== 'table') throw ambiguous(ref, statuses);
      }
      statuses.sort(byNodeAndName);
      if (format !== 'table') {
        ctx.output.out(renderData(ref === undefined ? statuses : statuses[0], format));
      } else if (statuses.length === 0) {
        ctx.output.err(`No domains on ${where(ctx, nodeId)}.`);
      } else {
        ctx.output.out(domainTable(statuses, Date.now()));
      }
      return EXIT.ok;
    });
  },
};

const watch: CommandSpec = {
  name: 'watch',
  summary: 'print domain status changes as they happen',
  description: [
    'Follows the status stream and prints one line per change of a domain (state, generation,',
    'domid, restarts, pending changes, error); repeats that change nothing shown are left out.',
    '-o json prints every status message as one JSON object per line, for scripts.',
    'Runs until interrupted, or for --timeout when given (then exits 0).',
  ],
  args: [],
  options: {
    node: NODE,
    output: { type: 'string', short: 'o', arg: 'text|json', help: 'output format (default text)' },
    current: { type: 'boolean', help: 'start with the current status of every domain' },
  },
  defaultTimeoutMs: () => DEFAULT_TIMEOUT_MS,
  async run(ctx) {
    const o = ctx.values.output;
    if (o !== undefined && o !== 'text' && o !== 'json')
      throw usageError(`-o must be text or json, not ${JSON.stringify(o)}`);
    const json = o === 'json';
    const nodeId = nodeFlag(ctx);
    const deadline = new Deadline(ctx.explicitTimeout ? ctx.timeoutMs : DEFAULT_TIMEOUT_MS);
    return withFleet(ctx, deadline, async (fleet) => {
      const follow = await fleet.followDomainStatuses(
        nodeId === undefined ? {} : { nodeId },
        ctx.values.current === true ? 'last-per-subject' : 'new',
      );
      let lost = true;
      const end = () => {
        lost = false;
        void follow.stop();
      };
      const timer = ctx.explicitTimeout ? setTimeout(end, ctx.timeoutMs) : null;
      ctx.signal.addEventListener('abort', end);
      if (ctx.signal.aborted) end();
      // The client gave up reconnecting: the follow ends, and so does the watch, with exit 3.
      fleet.closed().then(
        () => void follow.stop(),
        () => void follow.stop(),
      );
      const shown = new Map<string, string>();
      try {
        for await (const m of follow) {
          const d = decodeDomainStatus(m);
          if (!d.ok) {
            ctx.output.err(
              `domainctl: warning: skipping ${m.subject} (seq ${m.seq}): not a valid status: ${d.why}`,
            );
            continue;
          }
          if (json) {
            ctx.output.out(JSON.stringify(d.value));
            continue;
          }
          const key = changeKey(d.value);
          if (shown.get(m.subject) === key) continue;
          shown.set(m.subject, key);
          ctx.output.out(statusLine(d.value, { time: m.time }));
        }
      } finally {
        if (timer !== null) clearTimeout(timer);
        ctx.signal.removeEventListener('abort', end);
      }
      if (lost) throw new CliError(EXIT.unreachable, 'lost the connection to NATS');
      return EXIT.ok;
    });
  },
};

const nodes: CommandSpec = {
  name: 'nodes',
  summary: 'show the NodeStatus of every node',
  description: [
    'Reads the NodeStatus of every node from the status stream. Columns: NODE BACKEND READY',
    'DOMAINS (counts by state) FREE MEM VERSION AGE (uptime of its domainmgr). READY is Ready,',
    'NotReady, or Unknown when the last NodeStatus is older than --stale-after.',
  ],
  args: [],
  options: {
    output: OUTPUT,
    'stale-after': {
      type: 'string',
      arg: 'DURATION',
      help: 'a NodeStatus older than this means READY Unknown (default 90s: three default periods)',
    },
  },
  defaultTimeoutMs: () => DEFAULT_TIMEOUT_MS,
  async run(ctx) {
    const deadline = new Deadline(ctx.timeoutMs);
    const format = outputFormat(ctx, ['table', 'json', 'yaml']);
    const stale =
      typeof ctx.values['stale-after'] === 'string'
        ? parseDuration(ctx.values['stale-after'], 'stale-after')
        : 90 * SECOND;
    return withFleet(ctx, deadline, async (fleet) => {
      const list = decodeAll(ctx.output, await fleet.nodeStatuses(undefined, deadline.remaining()), (m) =>
        decodeWith<NodeStatus>(m, validateNodeStatusSchema as Parameters<typeof check<NodeStatus>>[0]),
      ).sort((a, b) => a.nodeId.localeCompare(b.nodeId));
      if (format !== 'table') ctx.output.out(renderData(list, format));
      else if (list.length === 0)
        ctx.output.err(`No nodes have reported on prefix ${ctx.loaded.config.nats.prefix}.`);
      else ctx.output.out(nodeTable(list, Date.now(), stale));
      return EXIT.ok;
    });
  },
};

const validate: CommandSpec = {
  name: 'validate',
  summary: 'check a file as a node would (offline)',
  description: [
    "Checks every domain of FILE with the service's own validator, on the exact bytes apply would",
    'publish, and prints what a node would answer: "valid", or the errors of its status. Offline.',
    'Disk and kernel paths are checked against storage roots only when they are given',
    '(--allowed-roots, DOMAINMGR_STORAGE_ALLOWED_ROOTS or --config); backend checks only with --backend.',
    'Exit 1 when any document is invalid.',
  ],
  args: [],
  options: {
    file: FILE,
    backend: {
      type: 'string',
      arg: 'xl|rkt|vmadm|lxc',
      help: "also run this backend's checks [DOMAINMGR_BACKEND]",
    },
    'allowed-roots': ROOTS,
  },
  defaultTimeoutMs: () => DEFAULT_TIMEOUT_MS,
  async run(ctx) {
    const entries = await readEntries(ctx);
    const backend = givenBackend(ctx.loaded);
    const roots = givenRoots(ctx.loaded);
    let bad = 0;
    for (const entry of entries) {
      const result: CheckResult = checkEntry(entry, {
        allowedRoots: roots,
        backend,
        config: ctx.loaded.config,
      });
      const errors = result.ok ? [] : [...result.errors];
      if (entry.node !== undefined && !isValidNodeId(entry.node))
        errors.unshift(`node ${JSON.stringify(entry.node)} is not a node id ([A-Za-z0-9_-]{1,64})`);
      const label = `${entry.where}: ${entryLabel(entry)}`;
      if (errors.length === 0) ctx.output.out(`${label}: valid`);
      else {
        bad++;
        printProblems(ctx.output.out, label, errors);
      }
    }
    const skipped = [
      ...(roots === undefined ? ['storage roots'] : []),
      ...(backend === undefined ? ['backend checks'] : []),
    ];
    if (skipped.length > 0)
      ctx.output.err(`domainctl: note: not checked: ${skipped.join(', ')} (see domainctl validate --help)`);
    return bad > 0 ? EXIT.failed : EXIT.ok;
  },
};

const plan: CommandSpec = {
  name: 'plan',
  summary: 'show what a node would run to start the domains of a file (offline)',
  description: [
    'Runs the real backend against a recording runner that runs nothing: prints the files the',
    'backend writes (xl.cfg, rkt seed) and the exact commands, with their environment and stdin',
    '(vmadm JSON), in the order a node runs them to start each domain. Offline. The backend and its',
    'settings (tool paths, state directory, rkt stage1) come from --backend, the flags below,',
    'DOMAINMGR_* variables or --config, as for domainmgr. Invalid documents are reported (exit 1).',
  ],
  args: [],
  options: {
    file: FILE,
    backend: {
      type: 'string',
      arg: 'xl|rkt|vmadm',
      help: 'the backend to plan for (required) [DOMAINMGR_BACKEND]',
    },
    output: { type: 'string', short: 'o', arg: 'text|json', help: 'output format (default text)' },
    'state-dir': { type: 'string', arg: 'DIR', help: "the node's state directory [DOMAINMGR_STATE_DIR]" },
    'allowed-roots': ROOTS,
    xl: { type: 'string', arg: 'PATH', help: 'xl program [DOMAINMGR_TOOLS_XL]' },
    'xenstore-write': { type: 'string', arg: 'PATH', help: 'xenstore-write program' },
    rkt: { type: 'string', arg: 'PATH', help: 'rkt program [DOMAINMGR_TOOLS_RKT]' },
    vmadm: { type: 'string', arg: 'PATH', help: 'vmadm program [DOMAINMGR_TOOLS_VMADM]' },
    'rkt-stage1': { type: 'string', arg: 'PATH', help: 'stage1-xen image [DOMAINMGR_RKT_STAGE1_PATH]' },
  },
  defaultTimeoutMs: () => DEFAULT_TIMEOUT_MS,
  async run(ctx) {
    const o = ctx.values.output;
    if (o !== undefined && o !== 'text' && o !== 'json')
      throw usageError(`-o must be text or json, not ${JSON.stringify(o)}`);
    const backend = givenBackend(ctx.loaded);
    if (backend === undefined) throw usageError('plan: missing --backend xl|rkt|vmadm');
    if (backend === 'lxc') {
      throw usageError(
        'plan: the lxc backend cannot be planned offline yet; check documents with validate --backend lxc',
      );
    }
    const entries = await readEntries(ctx);
    const config = ctx.loaded.config;
    const plans = [];
    let bad = 0;
    for (const entry of entries) {
      const result = checkEntry(entry, { allowedRoots: givenRoots(ctx.loaded), backend, config });
      if (!result.ok) {
        bad++;
        printProblems(ctx.output.err, `${entry.where}: ${entryLabel(entry)}`, result.errors);
        continue;
      }
      plans.push(await planStart(result.spec, backend, config));
    }
    if (o === 'json') ctx.output.out(JSON.stringify(plans, null, 2));
    else if (plans.length > 0) ctx.output.out(plans.map(renderPlan).join('\n\n'));
    return bad > 0 ? EXIT.failed : EXIT.ok;
  },
};

export const COMMANDS: readonly CommandSpec[] = [apply, del, get, watch, nodes, validate, plan];
