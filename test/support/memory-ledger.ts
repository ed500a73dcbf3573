import type { Ledger, LedgerEntry } from '../../pkg/reconcile/ledger.js';

/** A Ledger for tests that want no disk: what was put is what load returns (copied, like a file). */
export class MemoryLedger implements Ledger {
  readonly entries = new Map<string, LedgerEntry>();
  async load(): Promise<Map<string, LedgerEntry>> {
    return new Map(this.entries);
  }
  async put(entry: LedgerEntry): Promise<void> {
    this.entries.set(entry.uuid, structuredClone(entry));
  }
  async remove(uuid: string): Promise<void> {
    this.entries.delete(uuid);
  }
}
