import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, OwnNatsServer } from '../bus/support/nats-server.js';

/**
 * The offline-edge topology of docs/fleet.md on loopback: one hub server (JetStream domain
 * `hub`; the shipped deploy/nats configs run a 3-server hub cluster, one server is enough to
 * test what a site sees) and one site leaf server (its own JetStream domain) whose leaf
 * connection runs through an uplink that the test can cut and restore. The leaf connection
 * carries no subject of the prefix (deny_imports / deny_exports, as deploy/nats/leaf-site.conf):
 * configs reach the site only by the leaf's mirror, statuses reach the hub only by the hub's source.
 */

/** A TCP relay standing for a site's uplink: cut() drops every connection and refuses new ones. */
export class Uplink {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #up = true;

  private constructor(
    readonly port: number,
    targetPort: number,
  ) {
    this.#server = createServer((inbound) => this.#relay(inbound, targetPort));
  }

  static async start(targetPort: number): Promise<Uplink> {
    const link = new Uplink(await freePort(), targetPort);
    await new Promise<void>((resolve, reject) => {
      link.#server.once('error', reject);
      link.#server.listen(link.port, '127.0.0.1', () => resolve());
    });
    return link;
  }

  #relay(inbound: Socket, targetPort: number): void {
    if (!this.#up) {
      inbound.destroy();
      return;
    }
    const outbound = tcpConnect(targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      this.#sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.#sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  }

  get up(): boolean {
    return this.#up;
  }

  /** Drops every relayed connection and refuses new ones until restore(). */
  cut(): void {
    this.#up = false;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#up = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

export interface SiteTopology {
  hub: OwnNatsServer;
  leaf: OwnNatsServer;
  uplink: Uplink;
  hubDomain: string;
  siteDomain: string;
  /** Stops the servers and the uplink, removes their stores and config files. */
  destroy(): Promise<void>;
}

/** Starts the hub, the uplink and the site's leaf; resolves once the leaf connection is up. */
export async function startSite(prefix: string, siteDomain = 'site1'): Promise<SiteTopology> {
  const confDir = mkdtempSync(join(tmpdir(), 'domainmgr-site-conf-'));
  const hubLeafPort = await freePort();
  const uplink = await Uplink.start(hubLeafPort);
  const hubConf = join(confDir, 'hub.conf');
  writeFileSync(
    hubConf,
    [
      'server_name: hub-1',
      'jetstream { domain: hub }',
      // The hub tells a leaf its leafnode address for reconnects; it must name the uplink, else
      // the leaf, once cut off, reconnects around it.
      `leafnodes { listen: "127.0.0.1:${hubLeafPort}", advertise: "127.0.0.1:${uplink.port}" }`,
      '',
    ].join('\n'),
  );
  const hub = await OwnNatsServer.create(['-c', hubConf, '-n', 'hub-1']);
  await hub.start();
  const leafConf = join(confDir, 'leaf.conf');
  writeFileSync(
    leafConf,
    [
      `server_name: ${siteDomain}-leaf`,
      `jetstream { domain: ${siteDomain} }`,
      'leafnodes {',
      '  remotes [ {',
      `    url: "nats-leaf://127.0.0.1:${uplink.port}"`,
      `    deny_imports: ["${prefix}.>"]`,
      `    deny_exports: ["${prefix}.>"]`,
      '  } ]',
      '}',
      '',
    ].join('\n'),
  );
  const leaf = await OwnNatsServer.create(['-c', leafConf, '-n', `${siteDomain}-leaf`]);
  await leaf.start();
  const site: SiteTopology = {
    hub,
    leaf,
    uplink,
    hubDomain: 'hub',
    siteDomain,
    async destroy() {
      await uplink.close();
      await leaf.destroy();
      await hub.destroy();
      rmSync(confDir, { recursive: true, force: true });
    },
  };
  await waitForLeafConnection(site, true);
  return site;
}

/** Waits until the hub counts the site's leaf connection (up) or no longer does (down). */
export async function waitForLeafConnection(
  site: SiteTopology,
  up: boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const leafz = (await site.hub.monitor('leafz')) as { leafnodes?: number };
    if ((leafz.leafnodes ?? 0) > 0 === up) return;
    if (performance.now() > until)
      throw new Error(`the leaf connection did not go ${up ? 'up' : 'down'} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
