import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { hubStatusStream } from '../../pkg/bus/site-streams.js';
import { contractStreamConfig, ensureStreams } from '../../pkg/bus/streams.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { projectRoot } from '../../pkg/project-files.js';
import { check, validateDomainStatusSchema, validateNodeStatusSchema } from '../../pkg/schema/validators.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { NodeStatus } from '../../types/generated/node-status.js';
import { type SiteTopology, startSite } from '../support/nats-site.js';
import { assertBuilt, cleanEnv, ctl } from './support.js';

/**
 * domainctl against a fleet: several hundred domains on four nodes, two at a site behind a leaf
 * server (their statuses reach the hub through the hub's source) and two connected to the hub.
 * `get`, `get --node`, `nodes` and `watch` at the hub read the status stream in pages (a handful
 * of requests, not one per domain), and `--node` is filtered by the server.
 */

jest.setTimeout(120_000);

const PER_NODE = 150;
const SITE_NODES = ['site-a', 'site-b'];
const HUB_NODES = ['dc-a', 'dc-b'];
const NODES = [...SITE_NODES, ...HUB_NODES];
const TOTAL = PER_NODE * NODES.length;

function domainStatus(nodeId: string, i: number): DomainStatus {
  const now = new Date().toISOString();
  return {
    uuid: randomUUID(),
    name: `${nodeId}-d${i}`,
    nodeId,
    backend: 'xl',
    state: i % 10 === 0 ? 'HALTED' : 'RUNNING',
    observedGeneration: 1,
    domainName: `${nodeId}-d${i}`,
    domainId: i % 10 === 0 ? null : i + 1,
    activated: i % 10 !== 0,
    bootTime: now,
    lastTransitionTime: now,
    updatedAt: now,
    restartCount: 0,
    vifs: [],
    pciDevices: [],
    pendingChanges: [],
    error: null,
  };
}

function nodeStatus(nodeId: string): NodeStatus {
  const now = new Date().toISOString();
  return {
    nodeId,
    backend: 'xl',
    version: '0.1.0',
    startedAt: now,
    updatedAt: now,
    ready: true,
    verify: { ok: true, problems: [] },
    host: { totalMemoryMiB: 65536, freeMemoryMiB: 1024, nrCpus: 16, hypervisorVersion: '4.17' },
    domains: { RUNNING: PER_NODE - PER_NODE / 10, HALTED: PER_NODE / 10 },
  };
}

async function publishAll(js: JetStreamClient, prefix: string, nodes: string[]): Promise<DomainStatus[]> {
  const out: DomainStatus[] = [];
  for (const n of nodes) {
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < PER_NODE; i++) {
      const s = domainStatus(n, i);
      expect(check(validateDomainStatusSchema, s).ok).toBe(true);
      out.push(s);
      acks.push(js.publish(`${prefix}.${n}.status.${s.uuid}`, JSON.stringify(s)));
    }
    const ns = nodeStatus(n);
    expect(check(validateNodeStatusSchema, ns).ok).toBe(true);
    acks.push(js.publish(`${prefix}.${n}.node`, JSON.stringify(ns)));
    await Promise.all(acks);
  }
  return out;
}

describe('domainctl at the hub of a fleet with several hundred domains', () => {
  const prefix = `t${randomBytes(5).toString('hex')}`;
  let site: SiteTopology;
  let hubNc: NatsConnection;
  let leafNc: NatsConnection;
  let all: DomainStatus[];
  const at = (...args: string[]) =>
    ctl([...args, '--nats', site.hub.url, '--prefix', prefix], { env: cleanEnv() });
  const inMsgs = async () => ((await site.hub.monitor('varz')) as { in_msgs: number }).in_msgs;

  beforeAll(async () => {
    assertBuilt();
    site = await startSite(prefix);
    hubNc = await connect({ servers: site.hub.url });
    leafNc = await connect({ servers: site.leaf.url });
    const hubJsm = await jetstreamManager(hubNc);
    await ensureStreams(hubJsm, { prefix, manageStreams: true, logger: silentLogger });
    const status = contractStreamConfig(prefix, 'status');
    await hubJsm.streams.update(status.name, hubStatusStream(prefix, status, [site.siteDomain]));
    await ensureStreams(await jetstreamManager(leafNc), {
      prefix,
      manageStreams: true,
      logger: silentLogger,
      site: { hubDomain: site.hubDomain, nodeId: SITE_NODES[0] ?? '' },
    });
    all = [
      ...(await publishAll(jetstream(leafNc), prefix, SITE_NODES)),
      ...(await publishAll(jetstream(hubNc), prefix, HUB_NODES)),
    ];
    // Every status and NodeStatus at the hub, the site's through the source.
    const until = performance.now() + 60_000;
    for (;;) {
      const info = await hubJsm.streams.info(status.name);
      if (info.state.num_subjects === TOTAL + NODES.length) break;
      if (performance.now() > until) throw new Error(`hub holds ${info.state.num_subjects} subjects`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  afterAll(async () => {
    await leafNc?.close();
    await hubNc?.close();
    await site?.destroy();
  });

  test('get lists every domain of the fleet, read in pages', async () => {
    const before = await inMsgs();
    const r = await at('get', '-o', 'json');
    const requests = (await inMsgs()) - before;
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout) as DomainStatus[];
    expect(got.map((s) => s.uuid).sort()).toEqual(all.map((s) => s.uuid).sort());
    // One request per domain would be TOTAL messages from the client at least.
    expect(requests).toBeLessThan(TOTAL / 5);
    const table = await at('get');
    expect(table.stdout.trim().split('\n')).toHaveLength(TOTAL + 1);
  });

  test('get --node reads only that node: the server filters', async () => {
    for (const n of [SITE_NODES[1] ?? '', HUB_NODES[0] ?? '']) {
      const before = (await site.hub.monitor('varz')) as { out_msgs: number };
      const r = await at('get', '--node', n, '-o', 'json');
      const after = (await site.hub.monitor('varz')) as { out_msgs: number };
      expect(r.stderr).toBe('');
      const got = JSON.parse(r.stdout) as DomainStatus[];
      expect(got).toHaveLength(PER_NODE);
      expect(new Set(got.map((s) => s.nodeId))).toEqual(new Set([n]));
      // The server sent that node's statuses, not the fleet's.
      expect(after.out_msgs - before.out_msgs).toBeLessThan(TOTAL / 2);
    }
    const one = all[PER_NODE + 7];
    const byName = await at('get', one?.name ?? '', '-o', 'json');
    expect((JSON.parse(byName.stdout) as DomainStatus).uuid).toBe(one?.uuid);
  });

  test('nodes lists the four nodes', async () => {
    const r = await at('nodes', '-o', 'json');
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout) as NodeStatus[];
    expect(got.map((n) => n.nodeId)).toEqual([...NODES].sort());
  });

  test('watch --current at the hub prints every current status, then a site status as it arrives', async () => {
    const child = spawn(
      process.execPath,
      [
        join(projectRoot, 'bin', 'domainctl.js'),
        'watch',
        '--current',
        '-o',
        'json',
        '--node',
        SITE_NODES[0] ?? '',
        '--nats',
        site.hub.url,
        '--prefix',
        prefix,
      ],
      { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: DomainStatus[] = [];
    let partial = '';
    let stderr = '';
    const waiters = new Set<() => void>();
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      const parts = (partial + d).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) if (p !== '') lines.push(JSON.parse(p) as DomainStatus);
      for (const w of waiters) w();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const until = async (n: number) => {
      const deadline = performance.now() + 60_000;
      while (lines.length < n) {
        if (performance.now() > deadline) throw new Error(`watch printed ${lines.length} of ${n}: ${stderr}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, 500);
          waiters.add(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    };
    try {
      await until(PER_NODE);
      expect(new Set(lines.map((s) => s.nodeId))).toEqual(new Set([SITE_NODES[0]]));
      // A change at the site reaches the watch at the hub through the source.
      const changed = { ...all[0], state: 'HALTED', updatedAt: new Date().toISOString() } as DomainStatus;
      await jetstream(leafNc).publish(
        `${prefix}.${changed.nodeId}.status.${changed.uuid}`,
        JSON.stringify(changed),
      );
      await until(PER_NODE + 1);
      expect(lines.at(-1)).toEqual(changed);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});
