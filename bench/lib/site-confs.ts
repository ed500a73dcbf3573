/**
 * nats-server configuration texts of the offline-edge topology on loopback (docs/fleet.md,
 * deploy/nats/ for the production files), shared by the offline-edge test and bench: a hub with
 * JetStream domain `hub` whose leafnode port is reached through an uplink relay, and a site leaf
 * with its own JetStream domain that keeps `<prefix>.>` off the uplink.
 */

export const HUB_DOMAIN = 'hub';

/** The hub: leafnode listener on `leafPort`, advertised as the relay's `uplinkPort`. */
export function hubConf(leafPort: number, uplinkPort: number): string {
  return [
    'server_name: hub-1',
    `jetstream { domain: ${HUB_DOMAIN} }`,
    // The hub tells a leaf its leafnode address for reconnects; it must name the uplink, else
    // the leaf, once cut off, reconnects around it.
    `leafnodes { listen: "127.0.0.1:${leafPort}", advertise: "127.0.0.1:${uplinkPort}" }`,
    '',
  ].join('\n');
}

/** A site's leaf server: JetStream domain `siteDomain`, its remote the relay on `uplinkPort`. */
export function leafConf(siteDomain: string, uplinkPort: number, prefix: string): string {
  return [
    `server_name: ${siteDomain}-leaf`,
    `jetstream { domain: ${siteDomain} }`,
    'leafnodes {',
    '  remotes [ {',
    `    url: "nats-leaf://127.0.0.1:${uplinkPort}"`,
    `    deny_imports: ["${prefix}.>"]`,
    `    deny_exports: ["${prefix}.>"]`,
    '  } ]',
    '}',
    '',
  ].join('\n');
}
