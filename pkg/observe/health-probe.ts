import { request } from 'node:http';
import { parseListen } from './listen-address.js';

/**
 * One GET /healthz against a domainmgr listening on `listen` (config `http.listen`), as a
 * container HEALTHCHECK needs it. A wildcard listen address (0.0.0.0, ::) is probed on the
 * matching loopback address, which a wildcard bind includes. ok only for a 200 within timeoutMs.
 */
export function probeHealth(listen: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  const { host, port } = parseListen(listen);
  const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return new Promise((resolve) => {
    const req = request({
      host: target,
      port,
      path: '/healthz',
      method: 'GET',
      agent: false,
      timeout: timeoutMs,
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ ok: false, detail: `${target}:${port}: ${e.message}` }));
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 4096) body += c;
      });
      res.on('end', () =>
        resolve({ ok: res.statusCode === 200, detail: `${res.statusCode} ${body.trim()}` }),
      );
      res.on('error', (e) => resolve({ ok: false, detail: `${target}:${port}: ${e.message}` }));
    });
    req.end();
  });
}
