import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HUB_DOMAIN, hubConf, leafConf } from '../../bench/lib/site-confs.js';
import { Uplink } from '../../bench/lib/uplink.js';
import { freePort, OwnNatsServer } from '../bus/support/nats-server.js';

/**
 * The offline-edge topology of docs/fleet.md on loopback: one hub server (JetStream domain
 * `hub`; the shipped deploy/nats configs run a 3-server hub cluster, one server is enough to
 * test what a site sees) and one site leaf server (its own JetStream domain) whose leaf
 * connection runs through an uplink that the test can cut and restore. The leaf connection
 * carries no subject of the prefix (deny_imports / deny_exports, as deploy/nats/leaf-site.conf):
 * configs reach the site only by the leaf's mirror, statuses reach the hub only by the hub's source.
 */

export { Uplink };

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
  const hubConfFile = join(confDir, 'hub.conf');
  writeFileSync(hubConfFile, hubConf(hubLeafPort, uplink.port));
  const hub = await OwnNatsServer.create(['-c', hubConfFile, '-n', 'hub-1']);
  await hub.start();
  const leafConfFile = join(confDir, 'leaf.conf');
  writeFileSync(leafConfFile, leafConf(siteDomain, uplink.port, prefix));
  const leaf = await OwnNatsServer.create(['-c', leafConfFile, '-n', `${siteDomain}-leaf`]);
  await leaf.start();
  const site: SiteTopology = {
    hub,
    leaf,
    uplink,
    hubDomain: HUB_DOMAIN,
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
