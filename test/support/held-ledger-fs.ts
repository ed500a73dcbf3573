import { fsync, writeFile } from 'node:fs';
import { promisify } from 'node:util';
import type { LedgerFileSystem } from '../../pkg/reconcile/ledger.js';

const writeFd = promisify(writeFile) as (fd: number, text: string) => Promise<void>;
const fsyncFd = promisify(fsync);

/**
 * The ledger's filesystem layer with fsyncs that wait for the test: while `holding`, each fsync
 * is parked until release() (or fail()) lets it go, as a slow SD card would keep it.
 */
export class HeldLedgerFs implements LedgerFileSystem {
  holding = false;
  readonly #parked: { fd: number; go: () => void; fail: (e: Error) => void }[] = [];
  #onPark: (() => void) | null = null;

  write(fd: number, text: string): Promise<void> {
    return writeFd(fd, text);
  }

  fsync(fd: number): Promise<void> {
    if (!this.holding) return fsyncFd(fd);
    return new Promise((resolve, reject) => {
      this.#parked.push({ fd, go: () => fsyncFd(fd).then(resolve, reject), fail: reject });
      this.#onPark?.();
    });
  }

  get parked(): number {
    return this.#parked.length;
  }

  /** Resolves once an fsync is parked. */
  whenParked(): Promise<void> {
    if (this.#parked.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onPark = () => {
        this.#onPark = null;
        resolve();
      };
    });
  }

  /** Lets every parked fsync run, and stops holding. */
  release(): void {
    this.holding = false;
    for (const p of this.#parked.splice(0)) p.go();
  }

  /** Fails every parked fsync with `error`. */
  fail(error: Error): void {
    for (const p of this.#parked.splice(0)) p.fail(error);
  }
}
