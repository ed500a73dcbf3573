/**
 * The spawn helper: a small node process that starts domainmgr's commands for it, because fork()
 * costs a parent in proportion to its memory and this process is a third of domainmgr's size
 * (helper-runner.ts says more). One request per IPC message; each answered with how the command
 * finished (judge.ts's Finished), judged by domainmgr. It imports nothing but the spawning code.
 *
 *   node spawn-helper-main.js --kill-grace-ms N --max-output-bytes N
 *
 * It ends when its channel closes (domainmgr closed it, or ended), killing the commands it still
 * runs, as execa kills a parent's children when the parent exits. SIGINT and SIGTERM sent to the
 * whole process group (a Ctrl-C, a service manager's stop) are ignored: domainmgr is still
 * stopping then, may still run commands, and closes the channel itself when it is done.
 */
import { type CollectingProcess, spawnCollected } from './exec-runner.js';
import type { HelperReply, HelperRequest } from './helper-protocol.js';

function numberFlag(name: string): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = Number(i < 0 ? Number.NaN : process.argv[i + 1]);
  if (!Number.isInteger(value) || value <= 0) {
    process.stderr.write(`spawn helper: --${name} needs a positive integer\n`);
    process.exit(2);
  }
  return value;
}

const killGraceMs = numberFlag('kill-grace-ms');
const maxOutputBytes = numberFlag('max-output-bytes');
const running = new Map<number, CollectingProcess>();

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});

process.on('message', (message: HelperRequest) => {
  const { id, argv, timeoutMs, input, env } = message;
  const child = spawnCollected(argv, {
    timeoutMs,
    killGraceMs,
    maxOutputBytes,
    ...(input === undefined ? {} : { input }),
    ...(env === undefined ? {} : { env }),
  });
  running.set(id, child);
  void child.finished.then((finished) => {
    running.delete(id);
    if (process.connected) process.send?.({ id, finished } satisfies HelperReply);
  });
});

process.on('disconnect', () => {
  for (const child of running.values()) child.kill();
  // execa's own cleanup sends SIGTERM to what is left as we exit.
  process.exit(0);
});

process.send?.({ ready: true } satisfies HelperReply);
