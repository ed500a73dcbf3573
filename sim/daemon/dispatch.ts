import { setTimeout as sleep } from 'node:timers/promises';
import { garbage, subcommandOf, takeFault, vanishDomain } from '../core/faults.js';
import type { SimHost } from '../core/host.js';
import { runSimctl } from '../core/simctl.js';
import { type Invocation, result, ToolExit, type ToolOutcome, type ToolResult } from '../core/types.js';
import { runRkt } from '../rkt/rkt.js';
import { runVmadm } from '../vmadm/vmadm.js';
import { runXenstore, runXenstoreSingle, runXenstoreWrite } from '../xenstore/xenstore.js';
import { runXl } from '../xl/xl.js';

type ToolMain = (host: SimHost, inv: Invocation) => ToolOutcome;

const TOOLS: Record<string, ToolMain> = {
  xl: runXl,
  'xenstore-write': runXenstoreWrite,
  'xenstore-read': runXenstoreSingle,
  'xenstore-ls': runXenstoreSingle,
  'xenstore-rm': runXenstoreSingle,
  'xenstore-exists': runXenstoreSingle,
  'xenstore-list': runXenstoreSingle,
  xenstore: runXenstore,
  rkt: runRkt,
  vmadm: runVmadm,
};

export interface Answer {
  result: ToolResult;
  stopDaemon: boolean;
}

function never(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) =>
    signal.addEventListener('abort', () => reject(new Error('caller went away'))),
  );
}

/** Runs the tool's code synchronously against the host (one command = one atomic step). */
function execute(host: SimHost, main: ToolMain, inv: Invocation): ToolOutcome {
  host.settle();
  try {
    return main(host, inv);
  } catch (e) {
    if (e instanceof ToolExit) return e.result;
    const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
    return result(70, '', `${inv.tool}: domainmgr simulator internal error: ${msg}\n`);
  } finally {
    host.settle();
  }
}

/**
 * One call of an emulated executable: injected faults and latency first, then the tool itself.
 * A hang delays the command itself: it runs only if the caller is still there when the hang
 * ends (a caller killed by its timeout leaves the host untouched).
 */
export async function dispatch(host: SimHost, inv: Invocation): Promise<Answer> {
  if (inv.tool === 'simctl') {
    host.settle();
    const out = runSimctl(host, inv);
    host.settle();
    return { result: out.result, stopDaemon: out.stopDaemon === true };
  }
  const main = TOOLS[inv.tool];
  if (!main) return { result: result(127, '', `${inv.tool}: not a simulated tool\n`), stopDaemon: false };
  host.settle();
  const sub = subcommandOf(inv.tool, inv.args);
  const key = `${inv.tool} ${sub}`;
  host.calls.set(key, (host.calls.get(key) ?? 0) + 1);
  host.logCommand(inv.tool, inv.args);
  const fault = takeFault(host, inv.tool, sub, inv.args);
  host.persistIfDirty();
  const latency = host.state.config.latencyMs;
  if (latency > 0) await sleep(latency, undefined, { signal: inv.signal });
  if (fault) {
    const a = fault.action;
    if (a.kind === 'fail') return { result: result(a.exitCode, a.stdout, a.stderr), stopDaemon: false };
    if (a.kind === 'garbage')
      return { result: result(a.exitCode, garbage(host.now()), ''), stopDaemon: false };
    if (a.kind === 'vanish') {
      if (inv.signal.aborted) throw new Error('caller went away');
      const out = await execute(host, main, inv);
      vanishDomain(host, a.domain);
      return { result: out, stopDaemon: false };
    }
    if (a.ms === null) await never(inv.signal);
    else await sleep(a.ms, undefined, { signal: inv.signal });
  }
  if (inv.signal.aborted) throw new Error('caller went away');
  return { result: await execute(host, main, inv), stopDaemon: false };
}
