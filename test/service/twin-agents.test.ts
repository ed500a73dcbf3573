import { jest } from '@jest/globals';
import { OwnNatsServer } from '../bus/support/nats-server.js';
import { DomainmgrProcess, type LogLine, type Readiness } from '../support/domainmgr-process.js';
import { eventually, newUuid, TestNode } from './support/node.js';

/**
 * One agent per node id (contract v1.1): real domainmgr processes with one node id, on a
 * nats-server of the test's own (so that it can be stopped), with a 3 s lease.
 */

jest.setTimeout(120_000);

const LEASE = ['--lease-ttl-ms', '3000'];
const N = 4;

const isStandby = (r: Readiness): boolean =>
  r.status === 503 && r.reasons.some((x) => x.startsWith('standby'));

/** Log lines that show an agent acted on the host or the bus for a domain. */
function actions(dm: DomainmgrProcess): LogLine[] {
  return dm.logsWhere((l) => l.msg === 'state' || l.msg === 'ready');
}

describe('two agents with one node id', () => {
  let server: OwnNatsServer;
  let hostA: TestNode;
  let hostB: TestNode;
  const uuids = Array.from({ length: N }, () => newUuid());
  /** The controller publishes one config for the node: its paths (host A's images) must be allowed on B too. */
  const sharedRoots = (): string[] => [hostA.images, hostB.images];

  beforeAll(async () => {
    server = await OwnNatsServer.create();
    await server.start();
    hostA = await TestNode.create('xl', { natsUrl: server.url, extraArgs: LEASE });
    hostB = await TestNode.create('xl', {
      natsUrl: server.url,
      extraArgs: LEASE,
      identity: { prefix: hostA.prefix, nodeId: hostA.nodeId },
    });
  });

  afterAll(async () => {
    await hostB?.destroy();
    await hostA?.destroy();
    await server?.destroy();
  });

  test('the second is a standby: it acts on nothing and says why', async () => {
    const a = await hostA.start({ extraArgs: ['--on-stop', 'shutdown'] });
    const b = hostB.spawn({ allowedRoots: sharedRoots() });
    await b.waitForLog('standby', (l) => l.msg === 'standby');
    for (const [i, u] of uuids.entries()) await hostA.ctl.apply(u, hostA.doc(u, `twin-${i}`));
    for (const u of uuids) await hostA.ctl.waitForStatus(u, (s) => s.state === 'RUNNING', 30_000);

    expect((await hostA.hostDomains()).map((d) => d.uuid).sort()).toEqual([...uuids].sort());
    expect(await hostB.hostDomains()).toEqual([]);
    expect(actions(b)).toEqual([]);
    expect(isStandby(await b.readyz())).toBe(true);
    expect((await a.readyz()).status).toBe(200);
    expect(await b.metric('domainmgr_lease_held')).toBe(0);
    expect(await a.metric('domainmgr_lease_held')).toBe(1);
    // The first agent's consumer is untouched: a config published now still reaches it.
    const extra = newUuid();
    await hostA.ctl.apply(extra, hostA.doc(extra, 'twin-extra'));
    await hostA.ctl.waitForStatus(extra, (s) => s.state === 'RUNNING', 30_000);
    await hostA.ctl.apply(extra, null);
    await hostA.ctl.waitForStatus(extra, (s) => s.state === 'DELETED', 30_000);
    const node = await hostA.ctl.waitForNodeStatus((n) => n.instance !== undefined);
    expect(node.instance?.pid).toBe(a.pid);
  });

  test('SIGTERM: the active one releases the lease and the standby takes over at once', async () => {
    const a = hostA.service;
    const b = hostB.service;
    expect(await hostA.stopService()).toEqual({ code: 0, signal: null });
    expect(a.logsWhere((l) => l.msg === 'lease released')).toHaveLength(1);
    const acquired = await b.waitForLog('lease acquired', (l) => l.msg === 'lease acquired', 10_000);
    // Released, not expired: the standby did not wait for the lease time.
    expect(acquired.why).toBe('free');
    await b.waitReady(30_000);
    // A stopped its domains on its way out (--on-stop shutdown); B runs them on its own host.
    for (const u of uuids)
      await hostB.ctl.waitForStatus(u, (s) => s.state === 'RUNNING' && s.domainId !== null, 30_000);
    await eventually(
      'every domain on exactly one host',
      async () => [await hostA.hostDomains(), await hostB.hostDomains()],
      ([onA, onB]) =>
        onA?.length === 0 &&
        onB
          ?.map((d) => d.uuid)
          .sort()
          .join() === [...uuids].sort().join(),
      30_000,
    );
    const node = await hostB.ctl.waitForNodeStatus((n) => n.instance?.pid === b.pid);
    expect(node.instance?.host).toBeTruthy();
  });

  describe('on one host', () => {
    let second: DomainmgrProcess | null = null;
    afterAll(async () => {
      second?.kill('SIGKILL');
      await second?.waitExit(10_000).catch(() => undefined);
    });

    const startSecond = (): DomainmgrProcess =>
      DomainmgrProcess.start({
        backend: 'xl',
        nodeId: hostB.nodeId,
        prefix: hostB.prefix,
        stateDir: hostB.stateDir,
        natsUrl: hostB.natsUrl,
        sim: hostB.sim,
        allowedRoots: sharedRoots(),
        extraArgs: LEASE,
      });

    test('SIGKILL: the standby takes over after the lease time and adopts without a create', async () => {
      const b = hostB.service;
      second = startSecond();
      await second.waitForLog('standby', (l) => l.msg === 'standby');
      const before = await placed(hostB);
      b.kill('SIGKILL');
      await b.waitExit(10_000);
      const acquired = await second.waitForLog('lease acquired', (l) => l.msg === 'lease acquired', 15_000);
      expect(acquired.why).toBe('expired');
      await second.waitReady(30_000);
      await hostB.ctl.waitForNodeStatus((n) => n.instance?.pid === second?.pid, 15_000);
      await eventually(
        'the new agent reports every domain RUNNING',
        async () => (await hostB.ctl.nodeStatus())?.domains.RUNNING,
        (n) => n === N,
        30_000,
      );
      // Adopted: the same domains with the same domids, nothing created.
      expect(await placed(hostB)).toEqual(before);
      expect(second.logsWhere((l) => l.msg === 'state' && l.to === 'CREATING')).toEqual([]);
    });

    test('the old one started again stays standby', async () => {
      const again = hostB.spawn({ allowedRoots: sharedRoots() });
      await again.waitForLog('standby', (l) => l.msg === 'standby');
      expect(isStandby(await again.readyz())).toBe(true);
      expect(actions(again)).toEqual([]);
      // It keeps looking for longer than a lease time, and stays standby: the lease is renewed.
      await again.waitForLog(
        'a few looks at the lease',
        () => second !== null && leaseRenewals(second) >= 8,
        20_000,
      );
      expect(isStandby(await again.readyz())).toBe(true);
      expect(again.logsWhere((l) => l.msg === 'lease acquired')).toEqual([]);
    });

    test('partition: the agent cut from NATS longer than the lease stops acting; after it, exactly one acts', async () => {
      const active = second as DomainmgrProcess;
      const standby = hostB.service;
      const before = await placed(hostB);
      await server.stop();
      await active.waitForLog('lease lost', (l) => l.msg === 'lease lost: not acting', 15_000);
      await eventually(
        'readyz not ready',
        () => active.readyz(),
        (r) => r.status === 503,
        10_000,
      );
      await server.start();
      const acting = await eventually(
        'exactly one agent acting',
        async () => [await active.readyz(), await standby.readyz()],
        (rs) => rs.filter((r) => r.status === 200).length === 1 && rs.filter(isStandby).length === 1,
        30_000,
      );
      expect(acting.filter((r) => r.status === 200)).toHaveLength(1);
      // Whoever acts now adopted the domains: nothing was created or stopped on the host.
      expect(await placed(hostB)).toEqual(before);
      for (const dm of [active, standby])
        expect(dm.logsWhere((l) => l.msg === 'state' && l.to === 'CREATING')).toEqual([]);
    });
  });
});

/** The guests on a host as uuid and domid, sorted: what a re-create would change. */
async function placed(node: TestNode): Promise<string[]> {
  return (await node.hostDomains()).map((d) => `${d.uuid}/${String(d.domid)}`).sort();
}

/** How many times the active agent renewed its lease, read from its debug log. */
function leaseRenewals(dm: DomainmgrProcess): number {
  return dm.logsWhere((l) => l.msg === 'lease renewed').length;
}
