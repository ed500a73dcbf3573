#!/usr/bin/env node
// Launcher for the built entry point (npm ci builds dist/ through the prepare script).
import('../dist/cmd/domainctl.js').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cmd')) {
    process.stderr.write('domainctl: not built; run `npm ci` (or `npm run build`) in the project folder\n');
    process.exit(1);
  }
  process.stderr.write(`domainctl: ${e?.message ? e.message : String(e)}\n`);
  process.exit(1);
});
