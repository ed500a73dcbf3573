import { runCli } from '../pkg/ctl/cli.js';
import { processOutput } from '../pkg/ctl/cli-support.js';

/**
 * domainctl's entry point: the operator's and controller's command line for a domainmgr fleet.
 * Exit codes (docs/domainctl.md): 0 ok, 1 failed, 2 usage or unreadable input, 3 NATS
 * unreachable, 4 timed out, 130 interrupted. Errors are one line on stderr, never a stack trace.
 */
const stop = new AbortController();
const onSignal = () => {
  if (stop.signal.aborted) process.exit(130);
  stop.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

runCli(process.argv.slice(2), {
  env: process.env,
  output: processOutput(),
  signal: stop.signal,
  readStdin,
}).then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; should a stray handle keep the loop alive, exit anyway.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (e: unknown) => {
    process.stderr.write(`domainctl: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
