/* Generated from types/node-status.schema.json by scripts/gen-types.mjs: do not edit; run `npm run gen:types`. */

/**
 * State of one node's domainmgr, published on <prefix>.<nodeId>.node at start, on change and every nodeStatusInterval.
 */
export interface NodeStatus {
  nodeId: string;
  backend: 'xl' | 'rkt' | 'vmadm' | 'lxc';
  version: string;
  startedAt: string;
  updatedAt: string;
  /**
   * The agent instance acting for the node (one agent per node: the holder of the node's lease). Absent from agents older than v1.1.
   */
  instance?: {
    /**
     * Random per process start.
     */
    id: string;
    /**
     * The host name the agent runs on.
     */
    host: string;
    pid: number;
  };
  /**
   * Connected to NATS, host verified, initial desired state taken in.
   */
  ready: boolean;
  verify: {
    ok: boolean;
    problems: string[];
  };
  host: {
    totalMemoryMiB: number;
    freeMemoryMiB: number;
    nrCpus: number;
    hypervisorVersion: string;
  };
  /**
   * Number of domains in each state.
   */
  domains: {
    [k: string]: number;
  };
}
