/**
 * Every configuration key that can be set from the environment or a flag: one table, so that
 * help text, environment names and flag names cannot drift apart. The first six names are fixed
 * by the wire contract (deployments script them).
 */
export type OptionKind = 'string' | 'integer' | 'number' | 'boolean' | 'list';

export interface OptionSpec {
  /** Dotted path in the configuration object; '' for --config, which is not a key. */
  key: string;
  flag: string;
  env: string;
  kind: OptionKind;
  help: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { key: '', flag: 'config', env: 'DOMAINMGR_CONFIG', kind: 'string', help: 'configuration file (JSON)' },
  {
    key: 'nodeId',
    flag: 'node-id',
    env: 'DOMAINMGR_NODE_ID',
    kind: 'string',
    help: "this node's id (default: host name)",
  },
  {
    key: 'backend',
    flag: 'backend',
    env: 'DOMAINMGR_BACKEND',
    kind: 'string',
    help: 'xl | rkt | vmadm | lxc',
  },
  {
    key: 'nats.servers',
    flag: 'nats',
    env: 'DOMAINMGR_NATS_SERVERS',
    kind: 'list',
    help: 'NATS servers, comma separated',
  },
  {
    key: 'nats.prefix',
    flag: 'prefix',
    env: 'DOMAINMGR_NATS_PREFIX',
    kind: 'string',
    help: 'subject prefix',
  },
  {
    key: 'stateDir',
    flag: 'state-dir',
    env: 'DOMAINMGR_STATE_DIR',
    kind: 'string',
    help: "domainmgr's own state",
  },
  {
    key: 'nats.user',
    flag: 'nats-user',
    env: 'DOMAINMGR_NATS_USER',
    kind: 'string',
    help: 'NATS user (with a password or password file)',
  },
  {
    key: 'nats.password',
    flag: 'nats-password',
    env: 'DOMAINMGR_NATS_PASSWORD',
    kind: 'string',
    help: 'NATS password (prefer --nats-password-file)',
  },
  {
    key: 'nats.passwordFile',
    flag: 'nats-password-file',
    env: 'DOMAINMGR_NATS_PASSWORD_FILE',
    kind: 'string',
    help: 'file holding the NATS password',
  },
  {
    key: 'nats.token',
    flag: 'nats-token',
    env: 'DOMAINMGR_NATS_TOKEN',
    kind: 'string',
    help: 'NATS token (prefer --nats-token-file)',
  },
  {
    key: 'nats.tokenFile',
    flag: 'nats-token-file',
    env: 'DOMAINMGR_NATS_TOKEN_FILE',
    kind: 'string',
    help: 'file holding the NATS token',
  },
  {
    key: 'nats.nkeySeedFile',
    flag: 'nats-nkey-seed-file',
    env: 'DOMAINMGR_NATS_NKEY_SEED_FILE',
    kind: 'string',
    help: 'file holding an nkey user seed',
  },
  {
    key: 'nats.tls.caFile',
    flag: 'nats-tls-ca-file',
    env: 'DOMAINMGR_NATS_TLS_CA_FILE',
    kind: 'string',
    help: 'CA certificate(s) to verify the NATS server',
  },
  {
    key: 'nats.tls.certFile',
    flag: 'nats-tls-cert-file',
    env: 'DOMAINMGR_NATS_TLS_CERT_FILE',
    kind: 'string',
    help: 'client certificate (mutual TLS)',
  },
  {
    key: 'nats.tls.keyFile',
    flag: 'nats-tls-key-file',
    env: 'DOMAINMGR_NATS_TLS_KEY_FILE',
    kind: 'string',
    help: 'client certificate key (mutual TLS)',
  },
  {
    key: 'nats.credentials',
    flag: 'nats-credentials',
    env: 'DOMAINMGR_NATS_CREDENTIALS',
    kind: 'string',
    help: 'NATS credentials (.creds) file',
  },
  {
    key: 'nats.manageStreams',
    flag: 'manage-streams',
    env: 'DOMAINMGR_NATS_MANAGE_STREAMS',
    kind: 'boolean',
    help: 'create missing streams (true) or only check them (false)',
  },
  {
    key: 'storage.allowedRoots',
    flag: 'allowed-roots',
    env: 'DOMAINMGR_STORAGE_ALLOWED_ROOTS',
    kind: 'list',
    help: 'folders disk/kernel paths must lie under, comma separated',
  },
  { key: 'tools.xl', flag: 'xl', env: 'DOMAINMGR_TOOLS_XL', kind: 'string', help: 'xl program' },
  {
    key: 'tools.xenstoreWrite',
    flag: 'xenstore-write',
    env: 'DOMAINMGR_TOOLS_XENSTORE_WRITE',
    kind: 'string',
    help: 'xenstore-write program',
  },
  { key: 'tools.rkt', flag: 'rkt', env: 'DOMAINMGR_TOOLS_RKT', kind: 'string', help: 'rkt program' },
  { key: 'tools.vmadm', flag: 'vmadm', env: 'DOMAINMGR_TOOLS_VMADM', kind: 'string', help: 'vmadm program' },
  {
    key: 'tools.lxcDir',
    flag: 'lxc-dir',
    env: 'DOMAINMGR_TOOLS_LXC_DIR',
    kind: 'string',
    help: 'folder of the lxc-* programs (empty: PATH)',
  },
  {
    key: 'rkt.stage1Path',
    flag: 'rkt-stage1',
    env: 'DOMAINMGR_RKT_STAGE1_PATH',
    kind: 'string',
    help: 'stage1-xen image',
  },
  {
    key: 'probeIntervalMs',
    flag: 'probe-interval-ms',
    env: 'DOMAINMGR_PROBE_INTERVAL_MS',
    kind: 'integer',
    help: 'how often all domains are listed',
  },
  {
    key: 'probeJitter',
    flag: 'probe-jitter',
    env: 'DOMAINMGR_PROBE_JITTER',
    kind: 'number',
    help: 'probe jitter fraction',
  },
  {
    key: 'nodeStatusIntervalMs',
    flag: 'node-status-interval-ms',
    env: 'DOMAINMGR_NODE_STATUS_INTERVAL_MS',
    kind: 'integer',
    help: 'NodeStatus period',
  },
  {
    key: 'timeouts.commandMs',
    flag: 'command-timeout-ms',
    env: 'DOMAINMGR_COMMAND_TIMEOUT_MS',
    kind: 'integer',
    help: 'timeout of any tool call',
  },
  {
    key: 'timeouts.createMs',
    flag: 'create-timeout-ms',
    env: 'DOMAINMGR_CREATE_TIMEOUT_MS',
    kind: 'integer',
    help: 'timeout of a create',
  },
  {
    key: 'timeouts.killGraceMs',
    flag: 'kill-grace-ms',
    env: 'DOMAINMGR_KILL_GRACE_MS',
    kind: 'integer',
    help: 'SIGTERM to SIGKILL grace after a timeout',
  },
  {
    key: 'shutdownGraceMs',
    flag: 'shutdown-grace-ms',
    env: 'DOMAINMGR_SHUTDOWN_GRACE_MS',
    kind: 'integer',
    help: 'graceful shutdown wait before destroy',
  },
  {
    key: 'createConcurrency',
    flag: 'create-concurrency',
    env: 'DOMAINMGR_CREATE_CONCURRENCY',
    kind: 'integer',
    help: 'creates in parallel',
  },
  {
    key: 'lease.ttlMs',
    flag: 'lease-ttl-ms',
    env: 'DOMAINMGR_LEASE_TTL_MS',
    kind: 'integer',
    help: 'lease time: a standby takes over this long after the active agent stopped renewing',
  },
  {
    key: 'restartBackoff.initialMs',
    flag: 'restart-backoff-initial-ms',
    env: 'DOMAINMGR_RESTART_BACKOFF_INITIAL_MS',
    kind: 'integer',
    help: 'first restart delay',
  },
  {
    key: 'restartBackoff.maxMs',
    flag: 'restart-backoff-max-ms',
    env: 'DOMAINMGR_RESTART_BACKOFF_MAX_MS',
    kind: 'integer',
    help: 'longest restart delay',
  },
  {
    key: 'orphanPolicy',
    flag: 'orphan-policy',
    env: 'DOMAINMGR_ORPHAN_POLICY',
    kind: 'string',
    help: 'destroy | keep: our domains with no desired config',
  },
  {
    key: 'onStop',
    flag: 'on-stop',
    env: 'DOMAINMGR_ON_STOP',
    kind: 'string',
    help: 'leave-running | shutdown: domains on SIGTERM',
  },
  { key: 'log.level', flag: 'log-level', env: 'DOMAINMGR_LOG_LEVEL', kind: 'string', help: 'pino log level' },
  {
    key: 'http.listen',
    flag: 'http-listen',
    env: 'DOMAINMGR_HTTP_LISTEN',
    kind: 'string',
    help: 'metrics/health listener host:port ("" disables)',
  },
];
