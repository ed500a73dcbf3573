import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/**
 * A site's uplink on loopback, for the offline-edge test and bench (docs/fleet.md): a leaf
 * server dials the relay instead of the hub's leafnode port, and cut() stands for the link going
 * down. The hub must advertise the relay as its leafnode address, else the leaf learns the hub's
 * own address and reconnects around the relay.
 */
/** A TCP relay standing for a site's uplink: cut() drops every connection and refuses new ones. */
export class Uplink {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #up = true;

  #port = 0;

  private constructor(targetPort: number) {
    this.#server = createServer((inbound) => this.#relay(inbound, targetPort));
  }

  /** A relay on a free loopback port to `targetPort` on loopback. */
  static async start(targetPort: number): Promise<Uplink> {
    const link = new Uplink(targetPort);
    await new Promise<void>((resolve, reject) => {
      link.#server.once('error', reject);
      link.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = link.#server.address();
    link.#port = typeof address === 'object' && address !== null ? address.port : 0;
    return link;
  }

  /** The loopback port the relay listens on. */
  get port(): number {
    return this.#port;
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
