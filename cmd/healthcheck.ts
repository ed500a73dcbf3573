import { ConfigError, loadConfig } from '../pkg/config/load-config.js';
import { probeHealth } from '../pkg/observe/health-probe.js';

/**
 * Container health probe (Dockerfile HEALTHCHECK; slim images have no curl). It finds the
 * listener exactly as domainmgr does (config/default.json, DOMAINMGR_CONFIG, DOMAINMGR_*,
 * then the flags given here) and GETs /healthz. Exit 0 healthy, 1 anything else: Docker
 * reserves other codes.
 */
const TIMEOUT_MS = 3000;

async function main(argv: string[]): Promise<number> {
  let listen: string;
  try {
    listen = loadConfig(argv, process.env).config.http.listen;
  } catch (e) {
    process.stderr.write(`domainmgr-healthcheck: ${e instanceof ConfigError ? e.message : String(e)}\n`);
    return 1;
  }
  if (listen === '') {
    process.stderr.write('domainmgr-healthcheck: http.listen is "" (disabled): nothing to probe\n');
    return 1;
  }
  const r = await probeHealth(listen, TIMEOUT_MS);
  (r.ok ? process.stdout : process.stderr).write(`domainmgr-healthcheck: ${r.detail}\n`);
  return r.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`domainmgr-healthcheck: ${String(e)}\n`);
    process.exitCode = 1;
  },
);
