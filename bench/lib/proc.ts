import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** Clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux). */
const CLK_TCK = 100;

/**
 * A process's own CPU time in ms (utime + stime of /proc/<pid>/stat, fields 14 and 15), not its
 * children's (cutime/cstime). Resolution: one clock tick (10 ms).
 */
export function cpuMs(pid: number): number {
  return statCpuMs(`/proc/${pid}/stat`);
}

/**
 * The live spawn helpers of a process (pkg/runner/spawn-helper-main.ts): its children whose command
 * line names the helper's program. Node forks from the main thread, so they are that task's.
 */
export function spawnHelperPids(pid: number): number[] {
  let children: string;
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    return [];
  }
  return children
    .trim()
    .split(' ')
    .filter((c) => c !== '')
    .map(Number)
    .filter((c) => {
      try {
        return readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('spawn-helper-main');
      } catch {
        return false;
      }
    });
}

/** The CPU time of a process's live spawn helpers, in ms (0 without one). */
export function helperCpuMs(pid: number): number {
  let total = 0;
  for (const helper of spawnHelperPids(pid)) {
    try {
      total += cpuMs(helper);
    } catch {
      // ended between the listing and the read
    }
  }
  return total;
}

/**
 * What a domainmgr process costs in CPU, in ms: its own time and its live spawn helper's, which
 * starts its commands for it. For any other process, its own time.
 */
export function agentCpuMs(pid: number): number {
  return cpuMs(pid) + helperCpuMs(pid);
}

/**
 * The CPU time of a process's main thread alone, in ms (its task whose id is the pid). The rest of
 * cpuMs() is the other threads: in node, V8's workers (the optimizing compiler, the GC's parallel
 * and concurrent phases) and libuv's thread pool. Same resolution as cpuMs().
 */
export function mainThreadCpuMs(pid: number): number {
  return statCpuMs(`/proc/${pid}/task/${pid}/stat`);
}

/**
 * The CPU time of a process's children that it has waited for, in ms (cutime + cstime, fields 16
 * and 17): for domainmgr, the tools it spawned (on the simulated host, the shims).
 */
export function childrenCpuMs(pid: number): number {
  const fields = statFields(`/proc/${pid}/stat`);
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK;
}

function statCpuMs(file: string): number {
  const fields = statFields(file);
  // fields[0] is field 3 (state): utime is field 14 -> index 11, stime field 15 -> index 12.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** The fields of a /proc stat file from field 3 (state) on. */
function statFields(file: string): string[] {
  const stat = readFileSync(file, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The whole machine's CPU time from /proc/stat, in ms summed over all cpus: busy and total. */
export function machineCpuMs(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user).
  const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = t.reduce((a, b) => a + b, 0);
  const idle = (t[3] ?? 0) + (t[4] ?? 0);
  return { busy: ((total - idle) * 1000) / CLK_TCK, total: (total * 1000) / CLK_TCK };
}

/**
 * How busy the whole machine was since `from` (a machineCpuMs() reading): the busy share of all
 * cpus, in %. Says whether a burst was bound by CPU (near 100) or waited on something.
 */
export function machineBusyPct(from: MachineCpu): number {
  return busyPctBetween(from, machineCpuMs());
}

/** The busy share of all cpus between two machineCpuMs() readings, in %. */
export function busyPctBetween(from: MachineCpu, to: MachineCpu): number {
  const total = to.total - from.total;
  return total > 0 ? (100 * (to.busy - from.busy)) / total : Number.NaN;
}

type MachineCpu = ReturnType<typeof machineCpuMs>;

/** VmRSS and VmHWM (peak RSS) of a process, in MiB. */
export function memoryMiB(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

export function load(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}
