import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { errors } from '@nats-io/transport-node';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import { ctl } from '../domainctl/support.js';
import type { LogLine } from '../support/domainmgr-process.js';
import { NatsCluster } from '../support/nats-cluster.js';
import { eventually, newUuid, TestNode } from './support/node.js';

/**
 * Five domainmgr, each on its own simulated xl host, against a 3-server JetStream cluster whose
 * streams (R3) an administrator made with `domainctl streams --create --nats-replicas 3`; the nodes
 * run with `--manage-streams false`, as the node role must. While 250 configs (150 creates, then
 * 60 updates and 40 deletes) are published, the server leading the config stream is SIGKILLed,
 * and later (after it came back) the one leading the status stream. Every config JetStream
 * acknowledged must be acted on, every domain must end in its desired state with its newest
 * status stored, no domain may run twice, every domainmgr must ride it out in the same process,
 * and the streams must be back at full replication once the killed servers are restarted.
 */

jest.setTimeout(240_000);

const NODES = 5;
const DOMAINS_PER_NODE = 30;
/** Per node: the first 6 domains are halted (activate false), the next 6 get more memory, the next 8 are deleted. */
const HALTED = 6;
const RESIZED = 6;
const DELETED = 8;
/** Kill the config stream's leader once this many creates are acknowledged. */
const KILL_CONFIG_LEADER_AFTER = 75;
/** Kill the status stream's leader once this many updates and deletes are acknowledged. */
const KILL_STATUS_LEADER_AFTER = 30;
/** A publish is retried until acknowledged for this long (elections take seconds). */
const PUBLISH_RETRY_MS = 60_000;

type Want = { state: DomainStatus['state']; generation: number };
interface Step {
  node: TestNode;
  uuid: string;
  doc: DomainConfig | null;
  want: Want;
}

describe('5 domainmgr on a 3-server JetStream cluster that loses its stream leaders mid-churn', () => {
  let cluster: NatsCluster;
  const nodes: TestNode[] = [];
  const prefix = `t${randomBytes(5).toString('hex')}`;
  const names = {
    config: `${prefix.toUpperCase()}_CONFIG`,
    status: `${prefix.toUpperCase()}_STATUS`,
    lease: `${prefix.toUpperCase()}_LEASE`,
  };
  /** The newest acknowledged config per uuid, as the final state it asks for. */
  const desired = new Map<string, { node: TestNode; want: Want }>();
  const killed: { what: string; server: number }[] = [];

  beforeAll(async () => {
    cluster = await NatsCluster.start();
    const created = await ctl([
      '--nats',
      cluster.urls.join(','),
      '--prefix',
      prefix,
      '--nats-replicas',
      '3',
      'streams',
      '--create',
    ]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    for (let i = 0; i < NODES; i++) {
      nodes.push(
        await TestNode.create('xl', {
          natsUrl: cluster.urls.join(','),
          identity: { prefix, nodeId: `n${i}` },
          extraArgs: ['--manage-streams', 'false'],
        }),
      );
    }
    for (const node of nodes) node.spawn();
    for (const node of nodes) await node.service.waitReady(60_000);
  });

  afterAll(async () => {
    for (const node of nodes) await node.destroy().catch(() => undefined);
    await cluster?.stop();
  });

  test('streams are R3 as configured, every config acknowledged is acted on, nothing runs twice', async () => {
    for (const stream of Object.values(names)) {
      const replication = await cluster.waitFullReplication(stream);
      expect(replication.replicas).toHaveLength(2);
    }
    const pids = () => nodes.map((n) => n.dm?.pid);
    const pidsAtStart = pids();

    // Phase 1: 150 creates; the config stream's leader dies after the 75th acknowledgement.
    const creates: Step[] = [];
    const uuids = nodes.map(() => Array.from({ length: DOMAINS_PER_NODE }, () => newUuid()));
    for (let k = 0; k < DOMAINS_PER_NODE; k++)
      nodes.forEach((node, i) => {
        const uuid = uuids[i]?.[k] as string;
        creates.push({
          node,
          uuid,
          doc: node.doc(uuid, `c${i}-${k}`),
          want: { state: 'RUNNING', generation: 1 },
        });
      });
    let configLeaderKill: Promise<void> | undefined;
    await publishAll(creates, (acked) => {
      if (acked === KILL_CONFIG_LEADER_AFTER) configLeaderKill = killLeader('config', names.config);
    });
    await configLeaderKill;
    await restartKilled();

    // Phase 2: 60 updates and 40 deletes; the status stream's leader dies after the 30th.
    const changes: Step[] = [];
    for (let k = 0; k < HALTED + RESIZED + DELETED; k++)
      nodes.forEach((node, i) => {
        const uuid = uuids[i]?.[k] as string;
        const name = `c${i}-${k}`;
        if (k < HALTED)
          changes.push({
            node,
            uuid,
            doc: node.doc(uuid, name, { generation: 2, activate: false }),
            want: { state: 'HALTED', generation: 2 },
          });
        else if (k < HALTED + RESIZED)
          changes.push({
            node,
            uuid,
            doc: node.doc(uuid, name, { generation: 2, memoryMiB: 384 }),
            want: { state: 'RUNNING', generation: 2 },
          });
        else changes.push({ node, uuid, doc: null, want: { state: 'DELETED', generation: 1 } });
      });
    let statusLeaderKill: Promise<void> | undefined;
    await publishAll(changes, (acked) => {
      if (acked === KILL_STATUS_LEADER_AFTER) statusLeaderKill = killLeader('status', names.status);
    });
    await statusLeaderKill;
    expect(desired.size).toBe(NODES * DOMAINS_PER_NODE);
    expect(killed.map((k) => k.what)).toEqual(['config', 'status']);

    // Every acknowledged config acted on: each domain ends in its desired state, and the status
    // stream holds that newest status.
    for (const [uuid, { node, want }] of desired) {
      const matches = (s: DomainStatus) =>
        s.state === want.state && (want.state === 'DELETED' || s.observedGeneration === want.generation);
      await node.ctl.waitForStatus(uuid, matches, 90_000);
      // The test's own read may time out while the status stream's new leader settles (seen once
      // in CI): that is "not read yet", asked again, not a failure of domainmgr's.
      await eventually(
        `the stored status of ${uuid} is ${want.state}`,
        () =>
          node.ctl.storedStatus(uuid).catch((e: unknown) => {
            if (e instanceof errors.TimeoutError) return null;
            throw e;
          }),
        (s) => s !== null && matches(s),
        30_000,
      );
    }

    // Nothing runs twice: on each host every guest is one of that node's running domains, once.
    for (const node of nodes) {
      const guests = await node.hostDomains();
      const running = [...desired]
        .filter(([, d]) => d.node === node && d.want.state === 'RUNNING')
        .map(([u]) => u);
      expect(guests.map((g) => g.uuid).sort()).toEqual(running.sort());
    }

    // Every domainmgr rode the failovers out in the same process, and saw them.
    expect(pids()).toEqual(pidsAtStart);
    for (const node of nodes) {
      expect(node.dm?.exited).toBeNull();
      expect(node.service.logsWhere((l) => l.level === 'fatal' || l.msg === 'domainmgr failed')).toEqual([]);
      expect(node.service.logsWhere(failoverSeen)).not.toEqual([]);
    }

    await restartKilled();
    for (const stream of Object.values(names)) {
      const replication = await cluster.waitFullReplication(stream);
      expect(replication.replicas.every((r) => r.current && !r.offline)).toBe(true);
    }
  });

  /** Publishes each step (retried until acknowledged), in order; `after` sees the running count. */
  async function publishAll(steps: Step[], after: (acked: number) => void): Promise<void> {
    let acked = 0;
    for (const step of steps) {
      await step.node.ctl.apply(step.uuid, step.doc, PUBLISH_RETRY_MS);
      desired.set(step.uuid, { node: step.node, want: step.want });
      after(++acked);
    }
  }

  async function killLeader(what: string, stream: string): Promise<void> {
    const server = await cluster.leaderOf(stream);
    killed.push({ what, server });
    await cluster.kill(server);
  }

  async function restartKilled(): Promise<void> {
    for (const { server } of killed) if (!cluster.isRunning(server)) await cluster.restart(server);
    for (const stream of Object.values(names)) await cluster.waitFullReplication(stream);
  }
});

/** A log line by which a domainmgr shows it noticed a server or a stream leader going away. */
function failoverSeen(l: LogLine): boolean {
  return (
    l.msg === 'disconnected from NATS' ||
    l.msg === 'reconnected to NATS' ||
    l.msg === 'config consumer heartbeats missed' ||
    l.msg === 'JetStream not available, retrying' ||
    l.msg === 'cannot publish status, retrying' ||
    (typeof l.msg === 'string' && /lease (lost|write failed)/.test(l.msg))
  );
}
