import { randomBytes } from 'node:crypto';
import { createLogger, type Logger } from '../../../pkg/log/logger.js';
import type { DomainmgrConfig } from '../../../types/generated/config.js';

/** A prefix of the test's own, so that its streams and subjects meet no other test's. */
export function randomPrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

export function natsConfig(url: string, prefix: string, manageStreams = true): DomainmgrConfig['nats'] {
  return { servers: [url], prefix, credentials: null, tls: null, manageStreams, replicas: 1 };
}

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** A logger whose JSON lines the test reads back as objects. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger('debug', {
    write(s: string) {
      for (const l of s.split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as LogLine);
    },
  });
  return { logger, lines };
}

/** Polls `cond` every 20 ms until it holds, or fails the test after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
