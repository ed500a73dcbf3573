import { byDomid, destroyDomain, findDomain, guestShutdown, setPaused } from '../xen/model.js';
import type { SimHost } from './host.js';
import { defaultConfig, type FaultAction, freshState, type HostConfig } from './state.js';
import { type Invocation, result, type ToolResult } from './types.js';

/**
 * `simctl`: the control command of the simulated host, for tests and for operators rehearsing
 * failures. Everything it does is also described in sim/README.md.
 */

export const SIMCTL_USAGE = `usage: simctl <command> [args]

  state                          dump the whole simulated host as JSON
  config [KEY=VALUE ...]         show or change host tunables (JSON)
  reset                          forget everything: a freshly booted host with default tunables
  stop                           stop the simulator daemon (state is kept; the next call restarts it)
  ping                           answer "pong" (starts the daemon if needed)
  calls                          calls of the emulated tools since the daemon started, by tool and subcommand (JSON)
  commands [--take]              argv of every emulated tool call since the daemon started (JSON:
                                 {dropped, commands: [{tool, args}]}); --take also empties the log
  latency MS                     add MS milliseconds to every emulated call (0: none)
  fault add --tool T [--sub S] [--match TEXT] ACTION [--times N] [--skip N]
      ACTION: --exit N [--stderr TEXT] [--stdout TEXT] | --hang MS|forever | --garbage [--exit N]
  fault list | fault rm ID | fault clear
  crash DOMAIN                   the Xen guest crashes (kept as 'c' if on_crash=preserve)
  poweroff DOMAIN                the Xen guest powers itself off (on_poweroff applies)
  reboot DOMAIN                  the Xen guest reboots itself (on_reboot applies: restart is xl's
                                 monitor's destroy, 2 s sleep and paused rebuild; see README)
  vanish DOMAIN                  the Xen domain disappears (as if destroyed behind our back)
  hang-guest DOMAIN|VM [--off]   the guest ignores graceful shutdown/reboot (Xen domain or vmadm VM)
  pv-drivers DOMAIN on|off       whether an HVM guest has PV drivers (graceful shutdown needs them)
`;

function parseFaultAdd(
  args: string[],
):
  | { tool: string; sub: string; action: FaultAction; times: number | null; skip: number; match?: string }
  | string {
  const opt = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith('--')) return `unexpected argument: ${a}`;
    const eq = a.indexOf('=');
    const k = a.slice(2, eq < 0 ? undefined : eq);
    if (eq >= 0) opt.set(k, a.slice(eq + 1));
    else if (k === 'garbage') opt.set(k, true);
    else {
      const v = args[++i];
      if (v === undefined) return `--${k} needs a value`;
      opt.set(k, v);
    }
  }
  const str = (k: string): string | undefined => {
    const v = opt.get(k);
    return typeof v === 'string' ? v : undefined;
  };
  const int = (k: string): number | undefined | null => {
    const v = str(k);
    if (v === undefined) return undefined;
    return /^\d+$/.test(v) ? Number(v) : null;
  };
  const tool = str('tool');
  if (!tool) return 'fault add needs --tool';
  for (const k of opt.keys()) {
    if (
      ![
        'tool',
        'sub',
        'exit',
        'stderr',
        'stdout',
        'hang',
        'garbage',
        'vanish',
        'match',
        'times',
        'skip',
      ].includes(k)
    )
      return `unknown option --${k}`;
  }
  const times = int('times');
  const skip = int('skip');
  const exit = int('exit');
  if (times === null || skip === null || exit === null) return '--times, --skip and --exit take a number';
  let action: FaultAction;
  const hang = str('hang');
  if (hang !== undefined) {
    if (hang !== 'forever' && !/^\d+$/.test(hang)) return '--hang takes milliseconds or "forever"';
    action = { kind: 'hang', ms: hang === 'forever' ? null : Number(hang) };
  } else if (str('vanish') !== undefined) {
    action = { kind: 'vanish', domain: str('vanish') as string };
  } else if (opt.has('garbage')) {
    action = { kind: 'garbage', exitCode: exit ?? 0 };
  } else if (exit !== undefined) {
    const expand = (s: string | undefined): string => (s ?? '').replace(/\\n/g, '\n').replace(/\\t/g, '\t');
    let stderr = expand(str('stderr'));
    if (stderr && !stderr.endsWith('\n')) stderr += '\n';
    action = { kind: 'fail', exitCode: exit, stderr, stdout: expand(str('stdout')) };
  } else {
    return 'fault add needs an action: --exit N, --hang MS|forever, --garbage or --vanish DOMAIN';
  }
  const match = str('match');
  return {
    tool,
    sub: str('sub') ?? '*',
    action,
    times: times ?? null,
    skip: skip ?? 0,
    ...(match === undefined ? {} : { match }),
  };
}

function setConfig(host: SimHost, pairs: string[]): string | null {
  const c = host.state.config as unknown as Record<string, unknown>;
  const defaults = defaultConfig() as unknown as Record<string, unknown>;
  for (const kv of pairs) {
    const eq = kv.indexOf('=');
    if (eq < 0) return `expected KEY=VALUE, got ${kv}`;
    const k = kv.slice(0, eq);
    const v = kv.slice(eq + 1);
    const dflt = defaults[k];
    if (dflt === undefined) return `unknown setting ${k}`;
    if (typeof dflt === 'number') {
      if (!/^\d+$/.test(v)) return `${k} takes a non-negative integer`;
      c[k] = Number(v);
    } else if (typeof dflt === 'boolean') {
      if (v !== 'true' && v !== 'false') return `${k} takes true or false`;
      c[k] = v === 'true';
    } else if (Array.isArray(dflt)) {
      const list = v.split(',').filter(Boolean);
      c[k] = list;
      if (k === 'pciDevices') {
        const old = host.state.xen.pci;
        host.state.xen.pci = list.map(
          (bdf) => old.find((p) => p.bdf === bdf) ?? { bdf, assignable: false, assignedTo: null },
        );
      }
    } else {
      c[k] = v;
    }
  }
  host.touch();
  return null;
}

function xenDomain(host: SimHost, arg: string | undefined) {
  if (arg === undefined) return 'missing DOMAIN';
  let domid: number;
  try {
    domid = findDomain(host, arg);
  } catch {
    return `no such domain: ${arg}`;
  }
  const d = byDomid(host, domid);
  return d ?? `no such domain: ${arg}`;
}

export interface SimctlOutcome {
  result: ToolResult;
  /** The daemon should exit once the reply is sent. */
  stopDaemon?: boolean;
}

export function runSimctl(host: SimHost, inv: Invocation): SimctlOutcome {
  const [cmd, ...rest] = inv.args;
  const fail = (msg: string): SimctlOutcome => ({ result: result(2, '', `simctl: ${msg}\n${SIMCTL_USAGE}`) });
  const done = (stdout = ''): SimctlOutcome => ({ result: result(0, stdout) });
  switch (cmd) {
    case 'state':
      return done(`${JSON.stringify(host.state, null, 2)}\n`);
    case 'ping':
      return done('pong\n');
    case 'calls':
      return done(`${JSON.stringify(Object.fromEntries([...host.calls].sort()))}\n`);
    case 'commands': {
      if (rest.length > 1 || (rest[0] !== undefined && rest[0] !== '--take'))
        return fail('commands takes only --take');
      const out = JSON.stringify({ dropped: host.commandLogDropped, commands: host.commandLog });
      if (rest[0] === '--take') {
        host.commandLog.length = 0;
        host.commandLogDropped = 0;
      }
      return done(`${out}\n`);
    }
    case 'stop':
      return { result: result(0), stopDaemon: true };
    case 'reset':
      host.replaceState(freshState(host.now()));
      return done();
    case 'config': {
      if (rest.length > 0) {
        const e = setConfig(host, rest);
        if (e) return fail(e);
      }
      return done(`${JSON.stringify(host.state.config satisfies HostConfig, null, 2)}\n`);
    }
    case 'latency': {
      const ms = rest[0];
      if (ms === undefined || !/^\d+$/.test(ms)) return fail('latency takes milliseconds');
      host.state.config.latencyMs = Number(ms);
      host.touch();
      return done();
    }
    case 'fault': {
      const [sub, ...args] = rest;
      if (sub === 'add') {
        const f = parseFaultAdd(args);
        if (typeof f === 'string') return fail(f);
        const id = host.state.nextFaultId++;
        host.state.faults.push({ id, ...f });
        host.touch();
        return done(`${id}\n`);
      }
      if (sub === 'list') return done(`${JSON.stringify(host.state.faults, null, 2)}\n`);
      if (sub === 'clear') {
        host.state.faults = [];
        host.touch();
        return done();
      }
      if (sub === 'rm') {
        const id = Number(args[0]);
        const before = host.state.faults.length;
        host.state.faults = host.state.faults.filter((f) => f.id !== id);
        if (host.state.faults.length === before)
          return { result: result(1, '', `simctl: no fault ${args[0] ?? ''}\n`) };
        host.touch();
        return done();
      }
      return fail('fault add|list|rm|clear');
    }
    case 'crash':
    case 'poweroff':
    case 'reboot': {
      const d = xenDomain(host, rest[0]);
      if (typeof d === 'string') return { result: result(1, '', `simctl: ${d}\n`) };
      if (d.shutdown) return { result: result(1, '', `simctl: domain ${d.domid} is already shut down\n`) };
      if (d.paused) setPaused(host, d, false);
      guestShutdown(host, d, cmd);
      return done();
    }
    case 'vanish': {
      const d = xenDomain(host, rest[0]);
      if (typeof d === 'string') return { result: result(1, '', `simctl: ${d}\n`) };
      destroyDomain(host, d.domid);
      return done();
    }
    case 'hang-guest': {
      const target = rest[0];
      const on = rest[1] !== '--off';
      const vm = host.state.smartos.vms.find((v) => v.props.uuid === target);
      if (vm) {
        vm.guestHung = on;
        host.touch();
        return done();
      }
      const d = xenDomain(host, target);
      if (typeof d === 'string') return { result: result(1, '', `simctl: ${d}\n`) };
      d.guestHung = on;
      host.touch();
      return done();
    }
    case 'pv-drivers': {
      const d = xenDomain(host, rest[0]);
      if (typeof d === 'string') return { result: result(1, '', `simctl: ${d}\n`) };
      if (rest[1] !== 'on' && rest[1] !== 'off') return fail('pv-drivers DOMAIN on|off');
      d.pvDrivers = rest[1] === 'on';
      host.touch();
      return done();
    }
    case undefined:
    case 'help':
    case '--help':
      return {
        result: result(
          cmd === undefined ? 2 : 0,
          cmd === undefined ? '' : SIMCTL_USAGE,
          cmd === undefined ? SIMCTL_USAGE : '',
        ),
      };
    default:
      return fail(`unknown command ${cmd}`);
  }
}
