import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import { parseListen } from './listen-address.js';
import type { Metrics } from './metrics.js';

/** What the service says about itself; read on every /healthz and /readyz request. */
export interface HealthReport {
  /** false when the service knows it is wedged and should be restarted. */
  live: boolean;
  /** true once connected to NATS, host verified and the initial desired state taken in. */
  ready: boolean;
  /** Why not ready (or not live), in words an operator can act on; served as is. */
  reasons?: string[];
  /** Anything else worth showing (connection, verify problems...); served as is on /readyz. */
  detail?: Record<string, unknown>;
}

export interface HttpServerOptions {
  /** `host:port` from config `http.listen` (the caller skips starting when it is ""). */
  listen: string;
  metrics: Pick<Metrics, 'registry'>;
  health: () => HealthReport;
  logger: Logger;
  /**
   * The event loop is sampled every `sampleIntervalMs` (default 1000); /healthz fails while the
   * latest delay exceeds `maxLagMs` (default 2000). domainmgr does all its hypervisor work in
   * child processes, so a loop stalled this long is a defect, not load. A stall longer than
   * maxLagMs + sampleIntervalMs always shows; a shorter one past maxLagMs may fall between samples.
   * Each sample wakes an idle process, which costs CPU (metrics.ts says how much): hence 1 s.
   */
  eventLoop?: { sampleIntervalMs?: number; maxLagMs?: number };
}

export interface HttpServer {
  /** Where it listens; with port 0 in `listen`, the port the system chose. */
  address: { host: string; port: number };
  /** Stops listening and drops open (keep-alive) connections. */
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The metrics and health endpoint, on node:http alone: GET (and HEAD) /metrics, /healthz,
 * /readyz; 404 for any other path, 405 for other methods. Resolves once listening; rejects when
 * the address cannot be bound (in use, not local).
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { host, port } = parseListen(options.listen);
  const log = options.logger.child({ component: 'http' });
  const loop = new LoopMonitor(options.eventLoop?.sampleIntervalMs ?? 1000);
  const maxLagMs = options.eventLoop?.maxLagMs ?? 2000;

  const routes: Record<string, (res: ServerResponse) => Promise<void> | void> = {
    '/metrics': async (res) => {
      const text = await options.metrics.registry.metrics();
      send(res, 200, options.metrics.registry.contentType, text);
    },
    '/healthz': (res) => {
      const lagMs = loop.lagMs();
      const h = readHealth(options.health, log);
      const reasons = [...(h.live ? [] : (h.reasons ?? ['the service reports itself not live']))];
      if (lagMs > maxLagMs) reasons.push(`event loop delayed ${lagMs} ms (limit ${maxLagMs} ms)`);
      const ok = reasons.length === 0;
      sendJson(res, ok ? 200 : 503, {
        status: ok ? 'ok' : 'unhealthy',
        live: h.live,
        eventLoopLagMs: lagMs,
        ...(ok ? {} : { reasons }),
      });
    },
    '/readyz': (res) => {
      const h = readHealth(options.health, log);
      const reasons = h.ready ? [] : (h.reasons ?? ['the service reports itself not ready']);
      sendJson(res, h.ready ? 200 : 503, {
        status: h.ready ? 'ready' : 'not ready',
        ready: h.ready,
        reasons,
        ...(h.detail === undefined ? {} : { detail: h.detail }),
      });
    },
  };

  const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
    req.resume(); // no endpoint reads a body; drain whatever came
    handle(req, res).catch((error: unknown) => {
      log.error({ err: error, path: req.url }, 'http handler failed');
      if (!res.headersSent) sendJson(res, 500, { status: 'error', error: String(error) });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const route = routes[path];
    log.debug({ method: req.method, path }, 'http request');
    if (route === undefined) return sendJson(res, 404, { status: 'not found', path });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, { status: 'method not allowed', method: req.method });
    }
    await route(res);
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    loop.stop();
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`http.listen ${options.listen}: cannot listen (${code ?? String(error)})`, {
      cause: error,
    });
  }
  server.on('error', (error) => log.error({ err: error }, 'http server error'));
  const bound = server.address() as AddressInfo;
  const address = { host: bound.address, port: bound.port };
  log.info({ address }, 'serving /metrics, /healthz, /readyz');

  return {
    address,
    close: async () => {
      loop.stop();
      const closed = new Promise<void>((resolve, reject) =>
        server.close((e) => (e === undefined ? resolve() : reject(e))),
      );
      server.closeAllConnections();
      await closed;
    },
  };
}

function readHealth(health: () => HealthReport, log: Logger): HealthReport {
  try {
    return health();
  } catch (error) {
    log.error({ err: error }, 'health report failed');
    return { live: false, ready: false, reasons: [`health report failed: ${String(error)}`] };
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  // HEAD: same headers, no body (node:http drops the body of a HEAD response itself).
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, JSON_TYPE, `${JSON.stringify(body)}\n`);
}

/**
 * Event loop delay: a timer that should fire every `intervalMs` records how late it fired. The
 * lag reported is the larger of that and how overdue the next firing is now, so a stall that is
 * still going on (or whose timer has not run yet) counts too.
 */
class LoopMonitor {
  readonly #intervalMs: number;
  readonly #timer: NodeJS.Timeout;
  #last = performance.now();
  #lastLag = 0;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#lastLag = Math.max(0, now - this.#last - intervalMs);
      this.#last = now;
    }, intervalMs);
    this.#timer.unref();
  }

  lagMs(): number {
    const overdue = performance.now() - this.#last - this.#intervalMs;
    return Math.round(Math.max(this.#lastLag, overdue, 0));
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
