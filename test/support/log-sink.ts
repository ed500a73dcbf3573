import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../pkg/log/logger.js';

/** A debug logger whose JSON lines the test reads back as data. */
export function logSink(): { lines: Record<string, unknown>[]; logger: Logger } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l));
      done();
    },
  });
  return { lines, logger: createLogger('debug', stream) };
}
