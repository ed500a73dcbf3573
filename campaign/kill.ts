import { parseArgs } from 'node:util';
import { SHARED_NATS_URL } from '../test/bus/support/nats-server.js';
import { runKillCampaign, summarize } from './kill-driver.js';

/**
 * `npm run campaign:kill [-- --seed N] [--points N] [--nats URL] [--orphan-policy keep]`: the kill -9
 * campaign on the xl backend (simulated host). Prints the seed first, a line per point, then the
 * figures; exits 1 when any check failed.
 */
const USAGE =
  'usage: npm run campaign:kill -- [--seed N] [--points N] [--nats URL] [--orphan-policy destroy|keep]';

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${JSON.stringify(text)}\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        seed: { type: 'string' },
        points: { type: 'string' },
        nats: { type: 'string' },
        'orphan-policy': { type: 'string' },
      },
    }) as { values: Record<string, string | undefined> });
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    process.exit(2);
  }
  const seed = positiveInt('seed', values.seed, Math.floor(Math.random() * 2 ** 31));
  const points = positiveInt('points', values.points, 200);
  const policy = values['orphan-policy'] ?? 'destroy';
  if (policy !== 'destroy' && policy !== 'keep') {
    console.error(`--orphan-policy must be destroy or keep, got ${JSON.stringify(policy)}\n${USAGE}`);
    process.exit(2);
  }
  console.log(`kill campaign: seed ${seed}, ${points} points (replay with --seed ${seed})`);
  // Ctrl-C or SIGTERM: finish the point, tear the node down (domainmgr, simulated host), report.
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
  const r = await runKillCampaign({
    signal: stop.signal,
    seed,
    points,
    natsUrl: values.nats ?? SHARED_NATS_URL,
    orphanPolicy: policy,
    log: (l) => console.log(l),
  });
  console.log(summarize(r));
  process.exit(r.failures.length === 0 ? 0 : 1);
}

main().catch((e: unknown) => {
  console.error(`kill campaign failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
