import { JetStreamApiError } from '@nats-io/jetstream';
import { PermissionViolationError } from '@nats-io/transport-node';
import type { Logger } from '../log/logger.js';
import { type BackoffPolicy, backoffDelay, sleep } from './backoff.js';
import { describeError } from './describe-error.js';
import { StreamIncompatibleError, StreamMissingError } from './streams.js';

/**
 * What a failed JetStream call means for a node agent:
 * - `transient`: JetStream is electing a leader, briefly unreachable or slow (a timeout, no
 *   responders, "temporarily unavailable"): it will pass by itself.
 * - `refused`: the setup can never work as it is (a stream that captures the wrong subjects or is
 *   missing while domainmgr may not create it, a permission the node lacks, JetStream off on the
 *   server or the account): an operator must change something.
 *
 * Both are retried forever; the kind decides how loudly it is logged and how /readyz words it.
 */
export type JetStreamFailureKind = 'transient' | 'refused';

/** JetStream API error code: JetStream not enabled for the account. */
const NOT_ENABLED_FOR_ACCOUNT = 10039;

/** Pure: the kind of a failed JetStream call, from the error and its causes. */
export function classifyJetStreamFailure(err: unknown): JetStreamFailureKind {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof StreamIncompatibleError || e instanceof StreamMissingError) return 'refused';
    if (e instanceof PermissionViolationError) return 'refused';
    // The client's JetStreamNotEnabled (a name only: the class is not exported): nobody answers
    // the JetStream API on that server, or the account has no JetStream.
    if (e.name === 'JetStreamNotEnabled') return 'refused';
    if (e instanceof JetStreamApiError && e.code === NOT_ENABLED_FOR_ACCOUNT) return 'refused';
    if (/permissions violation/i.test(e.message)) return 'refused';
  }
  return 'transient';
}

/** The JetStream steps an agent waits on; bounded, as they label a metric. */
export type JetStreamStep = 'streams' | 'consumer';

export interface JetStreamRetryOptions {
  logger: Logger;
  /** Between attempts of one step. Default 250 ms doubling to 10 s, half of it random. */
  backoff?: BackoffPolicy;
  /** Told of every failed attempt (the service counts them in its metrics). */
  onFailure?: (step: JetStreamStep, kind: JetStreamFailureKind) => void;
  /** Told whenever the set of steps still failing changes (a gauge of the service). */
  onWaitingChange?: (waiting: number) => void;
}

/** Thrown by run() when its signal aborted before the step succeeded. */
export class JetStreamRetryAbortedError extends Error {
  constructor(step: JetStreamStep) {
    super(`${step}: stopped before JetStream answered`);
    this.name = new.target.name;
  }
}

const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 10_000, jitter: 0.5 };

/**
 * Runs the JetStream steps of an agent until they succeed: each failure is logged with its reason
 * (warn when transient, error when refused: the setup can never work as it is) and retried with
 * backoff, and the steps still failing are the agent's reasons for not being ready (/readyz) until
 * they succeed. Never gives up; only an abort (SIGTERM, the end of the agent's term) ends a wait.
 */
export class JetStreamRetry {
  readonly #o: JetStreamRetryOptions;
  readonly #log: Logger;
  /** Why each failing step failed last. */
  readonly #failing = new Map<JetStreamStep, string>();

  constructor(options: JetStreamRetryOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'jetstream' });
  }

  /** Reasons not to be ready: one line per step still failing, empty when none is. */
  get reasons(): string[] {
    return [...this.#failing].map(([step, reason]) => `nats ${step}: ${reason}`);
  }

  /**
   * Runs `attempt` until it resolves, retrying every failure; rejects only with
   * JetStreamRetryAbortedError, once `signal` aborts (the step then no longer counts as failing).
   */
  async run<T>(step: JetStreamStep, attempt: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const policy = this.#o.backoff ?? DEFAULT_BACKOFF;
    for (let failures = 1; ; failures++) {
      if (signal.aborted) throw this.#aborted(step);
      try {
        const result = await attempt();
        if (this.#failing.delete(step)) {
          this.#log.info({ step, attempts: failures }, 'JetStream step succeeded after retries');
          this.#o.onWaitingChange?.(this.#failing.size);
        }
        return result;
      } catch (err) {
        if (signal.aborted) throw this.#aborted(step);
        const kind = classifyJetStreamFailure(err);
        const reason = describeError(err);
        const retryInMs = backoffDelay(failures, policy);
        const wasFailing = this.#failing.has(step);
        this.#failing.set(step, kind === 'refused' ? `refused: ${reason}` : reason);
        if (!wasFailing) this.#o.onWaitingChange?.(this.#failing.size);
        this.#o.onFailure?.(step, kind);
        const fields = { step, kind, attempt: failures, retryInMs, err: reason };
        if (kind === 'refused')
          this.#log.error(fields, 'JetStream refused the setup; an operator must fix it; retrying meanwhile');
        else this.#log.warn(fields, 'JetStream not available, retrying');
        await sleep(retryInMs, signal);
      }
    }
  }

  #aborted(step: JetStreamStep): JetStreamRetryAbortedError {
    if (this.#failing.delete(step)) this.#o.onWaitingChange?.(this.#failing.size);
    return new JetStreamRetryAbortedError(step);
  }
}
