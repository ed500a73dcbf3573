#!/usr/bin/env bash
# The whole test suite, with all set-up, on a fresh machine that has Node and npm:
# install dependencies (and build, through npm's prepare), make sure NATS with JetStream and
# the real-xl harness are there, then generated-type check, typecheck, lint and jest.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "npm ci"
npm ci --no-audit --no-fund

step "nats-server with JetStream on 127.0.0.1:4222"
bash scripts/ensure-nats.sh

if [ -f scripts/real-xl/setup.sh ]; then
  step "real xl 4.17 (Debian's binary, run without Xen)"
  bash scripts/real-xl/setup.sh
fi

step "generated types match the schemas"
npm run --silent check:types

step "typecheck"
npm run --silent typecheck

step "lint and format"
npm run --silent lint

step "jest"
results=$(mktemp)
rc=0
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --json --outputFile="$results" "$@" || rc=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`);
' "$results" || true
exit $rc
