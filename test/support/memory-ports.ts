import type { ConnectionState, StatusSink } from '../../pkg/reconcile/ports.js';
import { check, validateDomainStatusSchema, validateNodeStatusSchema } from '../../pkg/schema/validators.js';
import type { DomainStatus } from '../../types/generated/domain-status.js';
import type { NodeStatus } from '../../types/generated/node-status.js';

/** A StatusSink that keeps every status in order and checks each against its schema. */
export class MemoryStatusSink implements StatusSink {
  readonly domain: DomainStatus[] = [];
  readonly node: NodeStatus[] = [];

  publishDomainStatus(status: DomainStatus): void {
    const r = check(validateDomainStatusSchema, status);
    if (!r.ok) throw new Error(`invalid DomainStatus published: ${r.errors.join('; ')}`);
    this.domain.push(structuredClone(status));
  }

  publishNodeStatus(status: NodeStatus): void {
    const r = check(validateNodeStatusSchema, status);
    if (!r.ok) throw new Error(`invalid NodeStatus published: ${r.errors.join('; ')}`);
    this.node.push(structuredClone(status));
  }

  async flush(): Promise<boolean> {
    return true;
  }

  /** The latest status of a uuid. */
  last(uuid: string): DomainStatus | undefined {
    for (let i = this.domain.length - 1; i >= 0; i--)
      if (this.domain[i]?.uuid === uuid) return this.domain[i];
    return undefined;
  }

  /** The sequence of distinct states a uuid went through. */
  states(uuid: string): string[] {
    const out: string[] = [];
    for (const s of this.domain) if (s.uuid === uuid && out[out.length - 1] !== s.state) out.push(s.state);
    return out;
  }
}

export class FixedConnection implements ConnectionState {
  connected = true;
  #fns: ((c: boolean) => void)[] = [];
  onChange(fn: (c: boolean) => void): () => void {
    this.#fns.push(fn);
    return () => {
      this.#fns = this.#fns.filter((f) => f !== fn);
    };
  }
  set(connected: boolean): void {
    this.connected = connected;
    for (const f of this.#fns) f(connected);
  }
}
