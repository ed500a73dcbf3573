import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection, PermissionViolationError, type Status } from '@nats-io/transport-node';
import { natsAuthOptions } from '../../pkg/bus/auth.js';
import { nodeConsumerName, nodeInboxPrefix, type PermissionSet } from '../../pkg/bus/permissions.js';
import { streamName } from '../../pkg/bus/subjects.js';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import { natsConfig, randomPrefix } from '../bus/support/fixtures.js';
import { assertBuilt, ctl, expectNoStack, uuidN, vmDoc } from '../domainctl/support.js';
import { DomainmgrProcess } from '../support/domainmgr-process.js';
import { type SimHostHandle, startSimHost } from '../support/sim-host.js';
import { AuthServer, JwtOperator, jwtPermissions } from './support/auth-server.js';

/**
 * The roles of the contract proven on a real nats-server: one user per role made from
 * `domainctl permissions` output (a static-user `permissions { }` block, or JWT user permissions
 * from `-o json`), an admin that creates the streams, two real domainmgr on simulated hosts
 * running with `--manage-streams false`, and every refusal asserted as the server's permissions
 * violation.
 */

jest.setTimeout(240_000);

type Nats = DomainmgrConfig['nats'];
type Who = 'admin' | 'node1' | 'node2' | 'controller' | 'controller1' | 'operator';

interface Fleet {
  server: AuthServer;
  prefix: string;
  /** The authentication of each user, as configuration keys. */
  auth: Record<Who, Partial<Nats>>;
  /** The same as domainctl / domainmgr flags. */
  flags: Record<Who, string[]>;
}

async function permissionsFromCli(
  prefix: string,
  args: string[],
  output: 'json' | 'server',
): Promise<string> {
  const r = await ctl(['permissions', '--prefix', prefix, ...args, '-o', output]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

const ROLE_ARGS: Record<Exclude<Who, 'admin'>, string[]> = {
  node1: ['--role', 'node', '--node', 'node1'],
  node2: ['--role', 'node', '--node', 'node2'],
  controller: ['--role', 'controller'],
  controller1: ['--role', 'controller', '--node', 'node1'],
  operator: ['--role', 'operator'],
};
const USERS = Object.keys(ROLE_ARGS) as Exclude<Who, 'admin'>[];

async function staticFleet(prefix: string): Promise<Fleet> {
  const entries = ['{ user: admin, password: "admin-pw" }'];
  for (const who of USERS) {
    const block = await permissionsFromCli(prefix, ROLE_ARGS[who], 'server');
    entries.push(`{ user: ${who}, password: "pw-${who}",\n${block}\n}`);
  }
  const server = await AuthServer.start(`authorization { users: [\n${entries.join('\n')}\n] }\n`);
  const auth = {} as Fleet['auth'];
  const flags = {} as Fleet['flags'];
  for (const who of ['admin', ...USERS] as Who[]) {
    const file = server.file(`${who}.pw`, `${who === 'admin' ? 'admin-pw' : `pw-${who}`}\n`);
    auth[who] = { user: who, passwordFile: file };
    flags[who] = ['--nats-user', who, '--nats-password-file', file];
  }
  return { server, prefix, auth, flags };
}

async function jwtFleet(prefix: string): Promise<Fleet> {
  const operator = await JwtOperator.create();
  const server = await AuthServer.start(operator.conf);
  const auth = {} as Fleet['auth'];
  const flags = {} as Fleet['flags'];
  for (const who of ['admin', ...USERS] as Who[]) {
    const perms =
      who === 'admin'
        ? {}
        : jwtPermissions(
            JSON.parse(await permissionsFromCli(prefix, ROLE_ARGS[who], 'json')) as PermissionSet,
          );
    const file = server.file(`${who}.creds`, await operator.userCreds(who, perms));
    auth[who] = { credentials: file };
    flags[who] = ['--nats-credentials', file];
  }
  return { server, prefix, auth, flags };
}

/** A raw client with a user's credentials and, for a node, the node's inbox prefix. */
async function rawClient(fleet: Fleet, who: Who, inboxPrefix?: string): Promise<NatsConnection> {
  return connect({
    ...natsAuthOptions({ ...natsConfig(fleet.server.url, fleet.prefix), ...fleet.auth[who] }),
    servers: fleet.server.url,
    ...(inboxPrefix === undefined ? {} : { inboxPrefix }),
    timeout: 10_000,
  });
}

/** Watches a connection's errors, so that an asynchronous permissions violation can be awaited. */
class Violations {
  readonly seen: PermissionViolationError[] = [];
  constructor(nc: NatsConnection) {
    void (async () => {
      for await (const s of nc.status() as AsyncIterable<Status>)
        if (s.type === 'error' && s.error instanceof PermissionViolationError) this.seen.push(s.error);
    })();
  }

  /** Waits for the server's violation of `operation` on `subject`; fails (saying what was seen) otherwise. */
  async expect(operation: 'publish' | 'subscription', subject: string): Promise<PermissionViolationError> {
    const until = Date.now() + 10_000;
    for (;;) {
      const hit = this.seen.find((e) => e.operation === operation && e.subject === subject);
      if (hit !== undefined) return hit;
      if (Date.now() > until)
        throw new Error(
          `no permissions violation for ${operation} ${subject}; seen: ${this.seen.map((e) => e.message).join('; ')}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** The promise rejects with the server's permissions violation for a publish to `subject`. */
async function expectRefused(what: Promise<unknown>, subject: string): Promise<void> {
  const err = await what.then(
    () => null,
    (e: unknown) => e,
  );
  const chain: unknown[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 5; e = e.cause) chain.push(e);
  const violation = chain.find((e): e is PermissionViolationError => e instanceof PermissionViolationError);
  if (violation === undefined)
    throw new Error(`expected a permissions violation for ${subject}, got ${String(err)}`);
  expect(violation.operation).toBe('publish');
  expect(violation.subject).toBe(subject);
}

describe.each([
  ['static users', staticFleet],
  ['JWT operator mode', jwtFleet],
])('least-privilege roles on a real nats-server (%s)', (_, makeFleet) => {
  let fleet: Fleet;
  let work: string;
  const sims: SimHostHandle[] = [];
  const nodes: DomainmgrProcess[] = [];
  let kernel: string;
  let images: string;

  const ctlAs = (who: Who, args: string[]) =>
    ctl(['--nats', fleet.server.url, '--prefix', fleet.prefix, ...fleet.flags[who], ...args]);

  beforeAll(async () => {
    assertBuilt();
    fleet = await makeFleet(randomPrefix());
    work = mkdtempSync(join(tmpdir(), 'domainmgr-roles-'));
    images = join(work, 'images');
    mkdirSync(images);
    kernel = join(images, 'vmlinuz');
    writeFileSync(kernel, 'kernel');

    // The admin creates the streams; the nodes may not.
    const created = await ctlAs('admin', ['streams', '--create']);
    expect(created.stderr).toBe('');
    expect(created.stdout.trim()).toBe(
      `streams ${streamName(fleet.prefix, 'config')}, ${streamName(fleet.prefix, 'status')} and ${streamName(fleet.prefix, 'lease')} are in place`,
    );

    for (const nodeId of ['node1', 'node2'] as const) {
      const sim = startSimHost();
      sims.push(sim);
      const node = DomainmgrProcess.start({
        backend: 'xl',
        nodeId,
        prefix: fleet.prefix,
        stateDir: join(work, nodeId),
        natsUrl: fleet.server.url,
        sim,
        allowedRoots: [images],
        extraArgs: ['--manage-streams', 'false', ...fleet.flags[nodeId]],
      });
      nodes.push(node);
    }
    for (const node of nodes) await node.waitReady(60_000);
  });

  afterAll(async () => {
    for (const node of nodes) {
      node.kill('SIGTERM');
      await node.waitExit(30_000).catch(() => undefined);
    }
    for (const sim of sims) await sim.stop();
    await fleet?.server.destroy();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  test('node1 and node2 each run their domain to RUNNING and report it; the operator reads it all', async () => {
    for (const [i, nodeId] of [
      [1, 'node1'],
      [2, 'node2'],
    ] as const) {
      const file = join(work, `vm${i}.json`);
      writeFileSync(file, JSON.stringify(vmDoc(i, kernel)));
      const r = await ctlAs('controller', [
        'apply',
        '-f',
        file,
        '--node',
        nodeId,
        '--wait',
        '--timeout',
        '90s',
      ]);
      expectNoStack(r);
      expect(r.code).toBe(0);
    }
    const get = await ctlAs('operator', ['get', '-o', 'json']);
    expectNoStack(get);
    expect(get.code).toBe(0);
    const rows = (JSON.parse(get.stdout) as { nodeId: string; uuid: string; state: string }[])
      .map((s) => `${s.nodeId} ${s.uuid} ${s.state}`)
      .sort();
    expect(rows).toEqual([`node1 ${uuidN(1)} RUNNING`, `node2 ${uuidN(2)} RUNNING`]);
    const nodesOut = await ctlAs('operator', ['nodes', '-o', 'json']);
    expect(nodesOut.code).toBe(0);
    expect((JSON.parse(nodesOut.stdout) as { nodeId: string }[]).map((n) => n.nodeId).sort()).toEqual([
      'node1',
      'node2',
    ]);
    const watch = await ctlAs('operator', ['watch', '--current', '-o', 'json', '--timeout', '3s']);
    expectNoStack(watch);
    expect(watch.code).toBe(0);
    expect(watch.stdout).toContain(uuidN(1));
    expect(watch.stdout).toContain(uuidN(2));
    for (const node of nodes)
      expect(node.logsWhere((l) => l.level === 'error' || l.level === 'fatal').map((l) => l.msg)).toEqual([]);
  });

  test('the operator cannot publish a config: apply fails with exit 3 and one authorization line', async () => {
    const file = join(work, 'op.json');
    writeFileSync(file, JSON.stringify(vmDoc(3, kernel)));
    const r = await ctlAs('operator', ['apply', '-f', file, '--node', 'node1']);
    expectNoStack(r);
    // Compared together, so that a wrong exit code shows what domainctl said.
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 3,
      stderr: `domainctl: not authorized: Permissions Violation for Publish to "${fleet.prefix}.node1.config.${uuidN(3)}"\n`,
    });
  });

  test('a controller restricted to node1 publishes to node1 but not to node2', async () => {
    const file = join(work, 'c1.json');
    writeFileSync(file, JSON.stringify(vmDoc(4, kernel, { activate: false })));
    const ok = await ctlAs('controller1', ['apply', '-f', file, '--node', 'node1']);
    expectNoStack(ok);
    expect(ok.code).toBe(0);
    const refused = await ctlAs('controller1', ['apply', '-f', file, '--node', 'node2']);
    expectNoStack(refused);
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({
      code: 3,
      stderr: `domainctl: not authorized: Permissions Violation for Publish to "${fleet.prefix}.node2.config.${uuidN(4)}"\n`,
    });
  });

  describe("with node1's credentials, the server refuses", () => {
    let nc: NatsConnection;
    let jsm: JetStreamManager;
    let violations: Violations;
    const config = () => streamName(fleet.prefix, 'config');
    const status = () => streamName(fleet.prefix, 'status');

    beforeAll(async () => {
      nc = await rawClient(fleet, 'node1', nodeInboxPrefix(fleet.prefix, 'node1'));
      violations = new Violations(nc);
      jsm = await jetstreamManager(nc);
    });
    afterAll(async () => {
      await nc?.close();
    });

    test("subscribing to node2's configs, or to every inbox", async () => {
      for (const subject of [`${fleet.prefix}.node2.config.*`, `${fleet.prefix}.*.config.*`, '_INBOX.>']) {
        nc.subscribe(subject);
        await violations.expect('subscription', subject);
      }
    });

    test("creating a consumer on node2's configs (under any name) or pulling from node2's consumer", async () => {
      const filter = `${fleet.prefix}.node2.config.*`;
      for (const name of ['snoop', nodeConsumerName('node1'), nodeConsumerName('node2')])
        await expectRefused(
          jsm.consumers.add(config(), { name, filter_subject: filter }),
          `$JS.API.CONSUMER.CREATE.${config()}.${name}.${filter}`,
        );
      await expectRefused(
        jsm.consumers.add(config(), { name: 'all', filter_subject: `${fleet.prefix}.*.config.*` }),
        `$JS.API.CONSUMER.CREATE.${config()}.all.${fleet.prefix}.*.config.*`,
      );
      const next = `$JS.API.CONSUMER.MSG.NEXT.${config()}.${nodeConsumerName('node2')}`;
      await expectRefused(nc.request(next, JSON.stringify({ batch: 1 }), { timeout: 5_000 }), next);
      await expectRefused(
        jsm.streams.getMessage(config(), { last_by_subj: `${fleet.prefix}.node2.config.${uuidN(2)}` }),
        `$JS.API.STREAM.MSG.GET.${config()}`,
      );
    });

    test('publishing a status or NodeStatus for node2', async () => {
      const js = jetstream(nc);
      for (const subject of [`${fleet.prefix}.node2.status.${uuidN(2)}`, `${fleet.prefix}.node2.node`])
        await expectRefused(js.publish(subject, '{}', { timeout: 5_000 }), subject);
    });

    test('publishing any config, its own node included', async () => {
      const js = jetstream(nc);
      for (const node of ['node1', 'node2']) {
        const subject = `${fleet.prefix}.${node}.config.${uuidN(9)}`;
        await expectRefused(js.publish(subject, '', { timeout: 5_000 }), subject);
      }
    });

    test('purging or deleting either stream', async () => {
      for (const stream of [config(), status()]) {
        await expectRefused(jsm.streams.purge(stream), `$JS.API.STREAM.PURGE.${stream}`);
        await expectRefused(jsm.streams.delete(stream), `$JS.API.STREAM.DELETE.${stream}`);
      }
    });

    test("deleting node2's consumer", async () => {
      const name = nodeConsumerName('node2');
      await expectRefused(
        jsm.consumers.delete(config(), name),
        `$JS.API.CONSUMER.DELETE.${config()}.${name}`,
      );
    });

    test('and after all that both nodes still run their domains', async () => {
      const get = await ctlAs('operator', ['get', '-o', 'json']);
      expect(get.code).toBe(0);
      const states = (JSON.parse(get.stdout) as { uuid: string; state: string }[])
        .filter((s) => s.uuid === uuidN(1) || s.uuid === uuidN(2))
        .map((s) => s.state);
      expect(states).toEqual(['RUNNING', 'RUNNING']);
    });
  });
});
