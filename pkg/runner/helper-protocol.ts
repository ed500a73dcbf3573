import type { Finished } from './judge.js';

/** What domainmgr sends its spawn helper: one command to run (helper-runner.ts). */
export interface HelperRequest {
  id: number;
  argv: readonly string[];
  timeoutMs: number;
  input?: string;
  env?: Readonly<Record<string, string>>;
}

/**
 * What the spawn helper sends back: once that it is ready, then how each command finished, or why
 * it could not be started at all (the error spawning it threw in the helper).
 */
export type HelperReply =
  | { ready: true }
  | { id: number; finished: Finished }
  | { id: number; refused: { name: string; message: string } };
