/* Generated from config/config.schema.json by scripts/gen-types.mjs: do not edit; run `npm run gen:types`. */

/**
 * domainmgr's configuration: config/default.json, then --config FILE, then DOMAINMGR_* environment, then flags (later wins). Every key, flag and environment variable: the README's Configuration section.
 */
export interface DomainmgrConfig {
  /**
   * This node's id; empty means the host name with every other character replaced by '-'.
   */
  nodeId: string;
  backend: 'xl' | 'rkt' | 'vmadm' | 'lxc';
  nats: {
    /**
     * @minItems 1
     */
    servers: [string, ...string[]];
    prefix: string;
    /**
     * NATS user name; with nats.password or nats.passwordFile.
     */
    user?: string | null;
    /**
     * NATS password (prefer nats.passwordFile: a value here shows in the environment or the process list).
     */
    password?: string | null;
    /**
     * File holding the NATS password, read again at every reconnect.
     */
    passwordFile?: string | null;
    /**
     * NATS token (prefer nats.tokenFile).
     */
    token?: string | null;
    /**
     * File holding the NATS token, read again at every reconnect.
     */
    tokenFile?: string | null;
    /**
     * File holding an nkey user seed (SU...), read again at every reconnect.
     */
    nkeySeedFile?: string | null;
    /**
     * NATS .creds file (user JWT and nkey seed), read again at every reconnect.
     */
    credentials?: string | null;
    tls?: null | {
      /**
       * CA certificate(s) that verify the server.
       */
      caFile?: string | null;
      /**
       * Client certificate (mutual TLS), with keyFile.
       */
      certFile?: string | null;
      /**
       * Client certificate key (mutual TLS).
       */
      keyFile?: string | null;
    };
    /**
     * Create the config and status streams when missing; false: only check they exist.
     */
    manageStreams: boolean;
    /**
     * Replicas of the streams domainmgr creates (num_replicas; 3 on a 3-server JetStream cluster). An existing stream is accepted with any replica count.
     */
    replicas: number;
    /**
     * Set on a node that talks to its site's leaf server: the hub's JetStream domain. The leaf's config stream is then a mirror of the hub's, filtered on this node (created so when missing). docs/fleet.md.
     */
    hubDomain?: string | null;
  };
  stateDir: string;
  storage: {
    /**
     * Disk, kernel and ramdisk paths must lie under one of these.
     */
    allowedRoots: string[];
  };
  /**
   * Tool paths; a bare name is looked up on PATH.
   */
  tools: {
    xl: string;
    xenstoreWrite: string;
    rkt: string;
    vmadm: string;
    /**
     * xenstored's unix socket (xl and rkt backends); empty: $XENSTORED_PATH, else ${XENSTORED_RUNDIR:-/var/run/xenstored}/socket, as libxenstore looks it up.
     */
    xenstoredSocket?: string;
    /**
     * Folder of the lxc-* programs (lxc-start, lxc-ls ...); empty: looked up on PATH.
     */
    lxcDir?: string;
    /**
     * Start commands from a small helper process (a cheaper fork than from domainmgr's own, larger process); false: domainmgr starts them itself.
     */
    spawnHelper?: boolean;
  };
  rkt: {
    stage1Path: string;
    /**
     * rkt's --insecure-options for every rkt run. Empty (the default): rkt checks image signatures. "image" turns the check off, an explicit choice for nodes whose images are not signed.
     */
    insecureOptions: string;
  };
  /**
   * Period of the listing of all domains when the backend has no change watch (or its watch is down, e.g. xenstored's connection lost).
   */
  probeIntervalMs: number;
  /**
   * Period of the listing while the backend's change watch is up (xl, rkt: xenstored's @releaseDomain / @introduceDomain): a slow resync, since every change triggers a listing of its own.
   */
  resyncIntervalMs: number;
  /**
   * xl: how long a running domain may be missing from listings before it counts as gone. xl's monitor restarts a rebooting guest (on_reboot = restart) by destroying it and creating it again 2 s later, so a domain missing for less than this is taken for a reboot in progress. Other backends never rebuild a domain and ignore it.
   */
  rebuildGraceMs: number;
  /**
   * Each probe interval is shortened at random by up to this fraction (never lengthened: probeIntervalMs bounds how long a crash goes unnoticed).
   */
  probeJitter: number;
  nodeStatusIntervalMs: number;
  timeouts: {
    /**
     * Any tool call.
     */
    commandMs: number;
    /**
     * xl create, rkt run, vmadm create.
     */
    createMs: number;
    /**
     * After a timeout's SIGTERM, SIGKILL follows after this.
     */
    killGraceMs: number;
  };
  /**
   * How long a graceful shutdown may take before the domain is destroyed.
   */
  shutdownGraceMs: number;
  createConcurrency: number;
  lease: {
    /**
     * Lease time of the one-agent-per-node lease: a standby takes over this long after the active agent's last renewal; the active agent stops acting a quarter of it earlier.
     */
    ttlMs: number;
  };
  restartBackoff: {
    initialMs: number;
    maxMs: number;
  };
  /**
   * A domain of ours with no desired config: destroy it, or keep it running and report it.
   */
  orphanPolicy: 'destroy' | 'keep';
  /**
   * What SIGTERM does to running domains (xend's on_xend_stop).
   */
  onStop: 'leave-running' | 'shutdown';
  log: {
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  };
  http: {
    listen: string;
  };
}
