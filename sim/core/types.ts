/** What one emulated command printed and how it exited. */
export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** One invocation of an emulated executable, as the shim forwarded it. */
export interface Invocation {
  /** The executable's name: xl, xenstore-write, xenstore, rkt, vmadm, simctl. */
  tool: string;
  args: string[];
  /** The caller's working directory: relative paths in arguments resolve against it. */
  cwd: string;
  /** Only the variables the real tools read (STAGE1_XL_OPTS, STAGE1_SEED_XL_CFG). */
  env: Record<string, string>;
  /** The caller's stdin, for the commands that read it; null when it was not forwarded. */
  stdin: string | null;
  /** Aborted when the caller went away (killed by its timeout, for instance). */
  signal: AbortSignal;
}

/** A command either answers at once or later (xl shutdown -w, vmadm stop, injected hangs). */
export type ToolOutcome = ToolResult | Promise<ToolResult>;

export function result(exitCode: number, stdout = '', stderr = ''): ToolResult {
  return { exitCode, stdout, stderr };
}

/** Raised by a command to end it with the given result (the emulated `exit(n)` deep in a call). */
export class ToolExit extends Error {
  readonly result: ToolResult;
  constructor(exitCode: number, stdout = '', stderr = '') {
    super(`exit ${exitCode}`);
    this.name = 'ToolExit';
    this.result = { exitCode, stdout, stderr };
  }
}
