#!/usr/bin/env node
// Launcher for the built entry point (npm ci builds dist/ through the prepare script).
import('../dist/cmd/domainmgr.js').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cmd')) {
    process.stderr.write('domainmgr: not built; run `npm ci` (or `npm run build`) in the project folder\n');
    process.exit(1);
  }
  throw e;
});
