import { createServer } from 'node:net';
import { silentLogger } from '../../pkg/log/logger.js';
import { probeHealth } from '../../pkg/observe/health-probe.js';
import { type HealthReport, startHttpServer } from '../../pkg/observe/http-server.js';
import { Metrics } from '../../pkg/observe/metrics.js';

const metrics = new Metrics({ defaultMetrics: false });

async function withServer(listen: string, health: HealthReport, fn: (port: number) => Promise<void>) {
  const server = await startHttpServer({ listen, metrics, health: () => health, logger: silentLogger });
  try {
    await fn(server.address.port);
  } finally {
    await server.close();
  }
}

/** A port with nothing listening: bound once by the system, then released. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('probeHealth', () => {
  test('ok on 200 from /healthz', async () => {
    await withServer('127.0.0.1:0', { live: true, ready: false }, async (port) => {
      const r = await probeHealth(`127.0.0.1:${port}`, 2000);
      expect(r.ok).toBe(true);
      expect(r.detail).toMatch(/^200 \{"status":"ok",/);
    });
  });

  test('not ok on 503', async () => {
    await withServer('127.0.0.1:0', { live: false, ready: false, reasons: ['wedged'] }, async (port) => {
      const r = await probeHealth(`127.0.0.1:${port}`, 2000);
      expect(r).toEqual({ ok: false, detail: expect.stringMatching(/^503 .*"reasons":\["wedged"\]/) });
    });
  });

  test('a wildcard listen address is probed on loopback', async () => {
    await withServer('0.0.0.0:0', { live: true, ready: true }, async (port) => {
      expect((await probeHealth(`0.0.0.0:${port}`, 2000)).ok).toBe(true);
    });
  });

  test('not ok when nothing listens', async () => {
    const port = await closedPort();
    const r = await probeHealth(`127.0.0.1:${port}`, 2000);
    expect(r).toEqual({
      ok: false,
      detail: expect.stringMatching(new RegExp(`^127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`)),
    });
  });

  test('not ok when the server does not answer in time', async () => {
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket)); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as { port: number };
    try {
      // The server never answers: the probe returning at all is its own timeout at work.
      const r = await probeHealth(`127.0.0.1:${port}`, 200);
      expect(r).toEqual({ ok: false, detail: `127.0.0.1:${port}: no answer within 200 ms` });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
