/**
 * What every domainctl command shares: exit codes, the error that carries one, durations, the
 * command's time budget, and where output goes.
 */

/** domainctl's exit codes (docs/domainctl.md). */
export const EXIT = {
  /** Done; with --wait: every domain reached its goal. */
  ok: 0,
  /** Failed: a document the service would reject, a domain that failed, a domain not found, a NATS-side error. */
  failed: 1,
  /** Usage: bad command line, unreadable or unparsable file, ambiguous name. */
  usage: 2,
  /** No connection to NATS could be made (refused, unknown host, no answer, authorization). */
  unreachable: 3,
  /** --timeout ran out before the answer (or before --wait was done). */
  timeout: 4,
  /** Interrupted (SIGINT/SIGTERM) while waiting. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Ends the command with `code` and one line on stderr (`domainctl: <message>`). */
export class CliError extends Error {
  constructor(
    readonly code: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(EXIT.usage, message);

/**
 * A duration: `500ms`, `30s`, `5m`, `1h`, combinations (`1m30s`), or a bare number of seconds.
 * Returns milliseconds; throws CliError (usage) for anything else or for zero.
 */
export function parseDuration(text: string, flag: string): number {
  const t = text.trim();
  let ms = 0;
  if (/^\d+(\.\d+)?$/.test(t)) ms = Number(t) * 1000;
  else {
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
    let at = 0;
    for (let m = re.exec(t); m !== null; m = re.exec(t)) {
      const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
      ms += Number(m[1]) * unit;
      at = re.lastIndex;
    }
    if (at !== t.length || t === '')
      throw usageError(`--${flag} must be a duration like 30s, 5m or 1m30s, not ${JSON.stringify(text)}`);
  }
  if (!(ms > 0)) throw usageError(`--${flag} must be more than zero`);
  return Math.round(ms);
}

/** The command's time budget, counted from its start on the monotonic clock (a wall clock step moves it not). */
export class Deadline {
  readonly #end: number;
  constructor(
    readonly totalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#end = now() + totalMs;
  }
  /** Milliseconds left, at least 1 (a call with no time left times out at once, not never). */
  remaining(): number {
    return Math.max(1, this.#end - this.now());
  }
  get expired(): boolean {
    return this.now() >= this.#end;
  }
}

/** Where a command writes. Writes to a closed pipe (`domainctl get | head`) are ignored. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export function processOutput(): Output {
  const safe = (stream: NodeJS.WriteStream) => {
    stream.on('error', () => {});
    return (text: string) => {
      stream.write(text.endsWith('\n') ? text : `${text}\n`);
    };
  };
  return { out: safe(process.stdout), err: safe(process.stderr) };
}
