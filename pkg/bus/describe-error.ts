/**
 * An error as one log field: name and message of the error and of each cause, without stacks.
 * NATS errors often wrap the useful reason (ECONNREFUSED, an API error code) in their cause.
 */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(' <- ');
}
