#!/usr/bin/env node
// Launcher for the built health probe (see cmd/healthcheck.ts); used by the Dockerfile's HEALTHCHECK.
import('../dist/cmd/healthcheck.js').catch((e) => {
  process.stderr.write(`domainmgr-healthcheck: ${e && e.message ? e.message : String(e)}\n`);
  process.exit(1);
});
