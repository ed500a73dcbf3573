import { JetStreamApiError } from '@nats-io/jetstream';
import { errors, PermissionViolationError } from '@nats-io/transport-node';
import {
  classifyJetStreamFailure,
  type JetStreamFailureKind,
  JetStreamRetry,
  JetStreamRetryAbortedError,
} from '../../pkg/bus/jetstream-retry.js';
import { StreamError, StreamIncompatibleError, StreamMissingError } from '../../pkg/bus/streams.js';
import { captureLogger } from './support/fixtures.js';

function apiError(code: number, status: number, description: string): JetStreamApiError {
  return new JetStreamApiError({ err_code: code, code: status, description });
}

/** The client's JetStreamNotEnabled (its class is not exported): known by its name. */
function notEnabled(): Error {
  const e = new Error('jetstream is not enabled');
  e.name = 'JetStreamNotEnabled';
  return e;
}

describe('classifyJetStreamFailure: what passes by itself, what an operator must fix', () => {
  test.each<[string, unknown, JetStreamFailureKind]>([
    ['a request timeout (leader election, slow server)', new errors.TimeoutError(), 'transient'],
    [
      'JetStream temporarily unavailable (no leader yet)',
      apiError(10008, 503, 'JetStream system temporarily unavailable'),
      'transient',
    ],
    [
      'stream not found (a stream deleted while running)',
      apiError(10059, 404, 'stream not found'),
      'transient',
    ],
    ['a closed or lost connection', new errors.ClosedConnectionError(), 'transient'],
    ['a plain error', new Error('socket hang up'), 'transient'],
    ['not an error at all', 'weird', 'transient'],
    [
      'a stream that breaks the contract',
      new StreamIncompatibleError('DOMAINMGR_CONFIG', ['does not capture x']),
      'refused',
    ],
    [
      'a missing stream domainmgr may not create',
      new StreamMissingError('missing', 'DOMAINMGR_CONFIG'),
      'refused',
    ],
    [
      'a permissions violation',
      new PermissionViolationError(
        'Permissions Violation for Publish to "$JS.API.INFO"',
        'publish',
        '$JS.API.INFO',
      ),
      'refused',
    ],
    [
      'a permissions violation as a cause',
      new StreamError('cannot read stream X', 'X', {
        cause: new Error('Permissions Violation for Publish to "$JS.API.STREAM.INFO.X"'),
      }),
      'refused',
    ],
    ['JetStream off on the server (nobody answers its API)', notEnabled(), 'refused'],
    [
      'JetStream not enabled for the account',
      apiError(10039, 503, 'jetstream not enabled for account'),
      'refused',
    ],
    [
      'a timeout wrapped in a stream error',
      new StreamError('cannot read stream X', 'X', { cause: new errors.TimeoutError() }),
      'transient',
    ],
  ])('%s', (_what, err, want) => {
    expect(classifyJetStreamFailure(err)).toBe(want);
  });
});

describe('JetStreamRetry', () => {
  const fast = { initialMs: 1, maxMs: 5, jitter: 0 };

  test('retries until the step succeeds, with the reason in /readyz and metrics meanwhile', async () => {
    const { logger, lines } = captureLogger();
    const failures: string[] = [];
    const waiting: number[] = [];
    const retry = new JetStreamRetry({
      logger,
      backoff: fast,
      onFailure: (step, kind) => failures.push(`${step}/${kind}`),
      onWaitingChange: (n) => waiting.push(n),
    });
    const reasonsSeen: string[][] = [];
    let calls = 0;
    const result = await retry.run(
      'streams',
      async () => {
        reasonsSeen.push(retry.reasons);
        calls++;
        if (calls === 1) throw new errors.TimeoutError();
        if (calls === 2) throw new StreamMissingError('stream S does not exist', 'S');
        return 'ok';
      },
      new AbortController().signal,
    );
    expect(result).toBe('ok');
    expect(reasonsSeen[0]).toEqual([]);
    expect(reasonsSeen[1]).toEqual([expect.stringMatching(/^nats streams: .*timeout/i)]);
    expect(reasonsSeen[2]).toEqual([
      expect.stringMatching(/^nats streams: refused: .*stream S does not exist/),
    ]);
    expect(retry.reasons).toEqual([]);
    expect(failures).toEqual(['streams/transient', 'streams/refused']);
    expect(waiting).toEqual([1, 0]);
    expect(lines.filter((l) => l.component === 'jetstream').map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'JetStream not available, retrying'],
      ['error', 'JetStream refused the setup; an operator must fix it; retrying meanwhile'],
      ['info', 'JetStream step succeeded after retries'],
    ]);
  });

  test('an abort ends the retries with JetStreamRetryAbortedError and clears the reason', async () => {
    const retry = new JetStreamRetry({
      logger: captureLogger().logger,
      backoff: { initialMs: 60_000, maxMs: 60_000, jitter: 0 },
    });
    const stop = new AbortController();
    let failed!: () => void;
    const firstFailure = new Promise<void>((resolve) => {
      failed = resolve;
    });
    const running = retry.run(
      'consumer',
      async () => {
        failed();
        throw new errors.TimeoutError();
      },
      stop.signal,
    );
    await firstFailure;
    await Promise.resolve();
    stop.abort();
    await expect(running).rejects.toBeInstanceOf(JetStreamRetryAbortedError);
    expect(retry.reasons).toEqual([]);
  });
});
