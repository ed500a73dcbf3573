/* Generated from types/domain-status.schema.json by scripts/gen-types.mjs: do not edit; run `npm run gen:types`. */

/**
 * Observed state of one domain, published by domainmgr on <prefix>.<nodeId>.status.<uuid> on every change. Owned by the node's domainmgr alone.
 */
export interface DomainStatus {
  uuid: string;
  /**
   * Display name; empty when no valid config was ever seen (REJECTED).
   */
  name: string;
  nodeId: string;
  backend: 'xl' | 'rkt' | 'vmadm' | 'lxc';
  state:
    | 'PENDING'
    | 'CREATING'
    | 'BOOTING'
    | 'RUNNING'
    | 'PAUSED'
    | 'HALTING'
    | 'HALTED'
    | 'BROKEN'
    | 'DELETING'
    | 'DELETED'
    | 'REJECTED';
  /**
   * The config generation this status reflects; 0 when none was ever accepted.
   */
  observedGeneration: number;
  domainName: string | null;
  /**
   * xl domid; null when not running.
   */
  domainId: number | null;
  activated: boolean;
  bootTime: string | null;
  lastTransitionTime: string;
  updatedAt: string;
  restartCount: number;
  vifs: {
    vifName: string;
    mac: string;
    bridge: string;
    ip?: string;
  }[];
  pciDevices: {
    bdf: string;
  }[];
  pendingChanges: string[];
  error: null | {
    message: string;
    source: 'config' | 'hypervisor' | 'timeout' | 'host';
    /**
     * The argv that failed, shell-quoted for reading.
     */
    command?: string;
    exitCode?: number | null;
    /**
     * An excerpt of the command's stderr.
     */
    stderr?: string;
    time: string;
    /**
     * When the restart policy tries again.
     */
    retryAt?: string;
  };
}
