import { once } from 'node:events';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { createLogger } from '../../pkg/log/logger.js';
import { type HealthReport, type HttpServer, startHttpServer } from '../../pkg/observe/http-server.js';
import { parseListen } from '../../pkg/observe/listen-address.js';
import { Metrics } from '../../pkg/observe/metrics.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on a fresh connection (no agent), so nothing of the client outlives a test. */
function call(server: HttpServer, method: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: server.address.host, port: server.address.port, method, path, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function logSink(): { lines: Record<string, unknown>[]; stream: { write(s: string): void } } {
  const lines: Record<string, unknown>[] = [];
  return { lines, stream: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) } };
}

describe('startHttpServer', () => {
  let server: HttpServer | undefined;
  let health: HealthReport;
  const metrics = new Metrics({ defaultMetrics: false });
  const log = logSink();

  beforeEach(async () => {
    health = { live: true, ready: true };
    log.lines.length = 0;
    server = await startHttpServer({
      listen: '127.0.0.1:0',
      metrics,
      health: () => health,
      logger: createLogger('debug', log.stream),
      eventLoop: { sampleIntervalMs: 20, maxLagMs: 150 },
    });
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const s = () => server as HttpServer;

  test('listens on loopback at the port the system chose, and says so in the log', () => {
    expect(s().address.host).toBe('127.0.0.1');
    expect(s().address.port).toBeGreaterThan(0);
    expect(log.lines).toContainEqual(
      expect.objectContaining({
        level: 'info',
        component: 'http',
        address: s().address,
        msg: 'serving /metrics, /healthz, /readyz',
      }),
    );
  });

  test('GET /metrics serves the registry as Prometheus text', async () => {
    metrics.countConfig('rejected');
    const r = await call(s(), 'GET', '/metrics?x=1');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(r.body).toContain('# TYPE domainmgr_config_messages_total counter\n');
    expect(r.body).toContain('\ndomainmgr_config_messages_total{outcome="rejected"} 1\n');
  });

  test('HEAD /metrics: headers without a body', async () => {
    const r = await call(s(), 'HEAD', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(r.body).toBe('');
  });

  test('GET /healthz: 200 with a JSON body while live and the event loop responsive', async () => {
    const r = await call(s(), 'GET', '/healthz');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = JSON.parse(r.body) as { status: string; live: boolean; eventLoopLagMs: number };
    expect(body.status).toBe('ok');
    expect(body.live).toBe(true);
    expect(body.eventLoopLagMs).toBeGreaterThanOrEqual(0);
  });

  test('GET /healthz: 503 when the service says it is not live', async () => {
    health = { live: false, ready: false, reasons: ['reconcile engine stopped'] };
    const r = await call(s(), 'GET', '/healthz');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toMatchObject({
      status: 'unhealthy',
      live: false,
      reasons: ['reconcile engine stopped'],
    });
  });

  test('GET /healthz: 503 after the event loop stalled, 200 again once it runs freely', async () => {
    const until = Date.now() + 400;
    while (Date.now() < until) {
      // a stall: nothing else runs on this thread meanwhile
    }
    const stalled = await call(s(), 'GET', '/healthz');
    expect(stalled.status).toBe(503);
    const body = JSON.parse(stalled.body) as { eventLoopLagMs: number; reasons: string[] };
    expect(body.eventLoopLagMs).toBeGreaterThanOrEqual(150);
    expect(body.reasons).toEqual([expect.stringMatching(/^event loop delayed \d+ ms \(limit 150 ms\)$/)]);
    await new Promise((r) => setTimeout(r, 100));
    expect((await call(s(), 'GET', '/healthz')).status).toBe(200);
  });

  test('GET /readyz: 200 when ready, 503 with the reasons and detail when not', async () => {
    const ok = await call(s(), 'GET', '/readyz');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ status: 'ready', ready: true, reasons: [] });

    health = {
      live: true,
      ready: false,
      reasons: ['NATS not connected', 'initial desired state not taken in yet'],
      detail: { nats: { connected: false, servers: ['nats://127.0.0.1:4222'] } },
    };
    const not = await call(s(), 'GET', '/readyz');
    expect(not.status).toBe(503);
    expect(not.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(not.body)).toEqual({
      status: 'not ready',
      ready: false,
      reasons: ['NATS not connected', 'initial desired state not taken in yet'],
      detail: { nats: { connected: false, servers: ['nats://127.0.0.1:4222'] } },
    });
  });

  test('a health function that throws: 503 on both probes, logged as an error', async () => {
    const failing = await startHttpServer({
      listen: '127.0.0.1:0',
      metrics,
      health: () => {
        throw new Error('engine gone');
      },
      logger: createLogger('info', log.stream),
    });
    try {
      const h = await call(failing, 'GET', '/healthz');
      const r = await call(failing, 'GET', '/readyz');
      expect(h.status).toBe(503);
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toMatchObject({ reasons: ['health report failed: Error: engine gone'] });
      const errors = log.lines.filter((l) => l.level === 'error');
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatchObject({ msg: 'health report failed', err: { message: 'engine gone' } });
    } finally {
      await failing.close();
    }
  });

  test('a metrics collection that throws: 500, logged as an error', async () => {
    const broken = new Metrics({
      defaultMetrics: false,
      domainCounts: () => {
        throw new Error('engine gone');
      },
    });
    const failing = await startHttpServer({
      listen: '127.0.0.1:0',
      metrics: broken,
      health: () => health,
      logger: createLogger('info', log.stream),
    });
    try {
      const r = await call(failing, 'GET', '/metrics');
      expect(r.status).toBe(500);
      expect(JSON.parse(r.body)).toEqual({ status: 'error', error: 'Error: engine gone' });
      expect(log.lines.filter((l) => l.level === 'error')).toEqual([
        expect.objectContaining({
          msg: 'http handler failed',
          path: '/metrics',
          err: expect.objectContaining({ message: 'engine gone' }),
        }),
      ]);
    } finally {
      await failing.close();
    }
  });

  test('404 for other paths, 405 with Allow for other methods', async () => {
    const missing = await call(s(), 'GET', '/');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ status: 'not found', path: '/' });
    expect((await call(s(), 'POST', '/nope')).status).toBe(404);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await call(s(), method, '/metrics');
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
    }
  });

  test('close() stops listening and drops a keep-alive connection', async () => {
    const { host, port } = s().address;
    const socket = connect({ host, port });
    const closed = once(socket, 'close');
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    const [first] = (await once(socket, 'data')) as [Buffer];
    expect(first.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    await s().close();
    server = undefined;
    await closed; // the server ended the kept-alive connection
    await expect(call({ address: { host, port }, close: async () => {} }, 'GET', '/healthz')).rejects.toThrow(
      /ECONNREFUSED/,
    );
  });

  test('an address in use is a clear error', async () => {
    const taken = s().address;
    await expect(
      startHttpServer({
        listen: `${taken.host}:${taken.port}`,
        metrics,
        health: () => health,
        logger: createLogger('silent'),
      }),
    ).rejects.toThrow(`http.listen 127.0.0.1:${taken.port}: cannot listen (EADDRINUSE)`);
  });
});

describe('parseListen', () => {
  test.each([
    ['127.0.0.1:9108', '127.0.0.1', 9108],
    ['0.0.0.0:0', '0.0.0.0', 0],
    ['localhost:65535', 'localhost', 65535],
    ['[::1]:9108', '::1', 9108],
    ['[::]:9108', '::', 9108],
  ])('%s', (listen, host, port) => {
    expect(parseListen(listen)).toEqual({ host, port });
  });

  test.each([
    '',
    '9108',
    '127.0.0.1',
    '127.0.0.1:65536',
    '::1:9108',
    'a b:1',
    ':9108',
    '[zz]:1',
  ])('rejects %j', (listen) => {
    expect(() => parseListen(listen)).toThrow('http.listen: expected host:port');
  });
});

/** Some containers have no ::1; the IPv6 case is then reported as skipped, not passed. */
const hasIpv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});

(hasIpv6Loopback ? test : test.skip)('IPv6 loopback in brackets', async () => {
  const server = await startHttpServer({
    listen: '[::1]:0',
    metrics: new Metrics({ defaultMetrics: false }),
    health: () => ({ live: true, ready: true }),
    logger: createLogger('silent'),
  });
  try {
    expect(server.address.host).toBe('::1');
    expect((await call(server, 'GET', '/readyz')).status).toBe(200);
  } finally {
    await server.close();
  }
});
