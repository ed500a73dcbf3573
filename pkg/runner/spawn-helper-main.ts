/**
 * The spawn helper: a small node process that starts domainmgr's commands for it, because fork()
 * costs a parent in proportion to its memory and this process is a third of domainmgr's size
 * (helper-runner.ts says more). One request per IPC message; each answered with how the command
 * finished (judge.ts's Finished), judged by domainmgr. It imports nothing but the spawning code.
 *
 *   node spawn-helper-main.js --kill-grace-ms N --max-output-bytes N
 *
 * It ends when its channel closes (domainmgr closed it, or ended) and the commands it still runs
 * have ended. SIGINT and SIGTERM sent to the whole process group (a Ctrl-C, a service manager's
 * stop) are ignored: domainmgr is still stopping then, may still run commands, and closes the
 * channel itself when it is done.
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

/** Sends a reply; one that cannot go (the channel is closing) is dropped, never an 'error' event. */
function reply(message: HelperReply): void {
  if (process.connected) process.send?.(message, () => {});
}

process.on('message', (message: HelperRequest) => {
  const { id, argv, timeoutMs, input, env } = message;
  let child: CollectingProcess;
  try {
    child = spawnCollected(argv, {
      timeoutMs,
      killGraceMs,
      maxOutputBytes,
      ...(input === undefined ? {} : { input }),
      ...(env === undefined ? {} : { env }),
    });
  } catch (error) {
    // Refused before anything started (execa's checks of its arguments): said, not a crash.
    const e = error instanceof Error ? error : new Error(String(error));
    reply({ id, refused: { name: e.name, message: e.message } });
    return;
  }
  running.set(id, child);
  void child.finished.then((finished) => {
    running.delete(id);
    reply({ id, finished });
    // After the channel closed, the last command to end ends the helper.
    if (!process.connected && running.size === 0) process.exit(0);
  });
});

// The channel closes when domainmgr closed it (with nothing in flight) or ended, even by SIGKILL.
// Commands still running are left to end by themselves (each has its timeout), as they would have
// been had domainmgr started them itself and died: a create cut short leaves more to clean up than
// one that completes, and domainmgr's next start reconciles whatever they did. Then it exits.
process.on('disconnect', () => {
  if (running.size === 0) process.exit(0);
});

reply({ ready: true });
