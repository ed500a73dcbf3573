import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../pkg/config/load-config.js';
import type { BackendName } from '../../pkg/hypervisor/hypervisor.js';
import { createHypervisor } from '../../pkg/hypervisor/registry.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { projectRoot } from '../../pkg/project-files.js';
import { decodeConfigMessage } from '../../pkg/schema/domain-config-message.js';
import { FakeRunner } from '../support/fake-runner.js';
import { ManualClock } from '../support/manual-clock.js';

const backends: BackendName[] = ['xl', 'rkt', 'vmadm', 'lxc'];
const cases = backends.flatMap((backend) =>
  readdirSync(join(projectRoot, 'examples', backend))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => [backend, f] as const),
);

describe('examples', () => {
  test('every backend has at least two examples', () => {
    for (const b of backends) expect(cases.filter(([x]) => x === b).length).toBeGreaterThanOrEqual(2);
  });

  test.each(cases)('examples/%s/%s is valid for its backend, as the demo runs it', (backend, file) => {
    const doc = parse(readFileSync(join(projectRoot, 'examples', backend, file), 'utf8')) as { uuid: string };
    const message = decodeConfigMessage(new TextEncoder().encode(JSON.stringify(doc)), doc.uuid, [
      '/var/lib/domainmgr/images',
    ]);
    if (message.kind !== 'config') throw new Error(JSON.stringify(message));
    const { config } = loadConfig(['--backend', backend], {});
    const hv = createHypervisor(backend, {
      runner: new FakeRunner(),
      logger: silentLogger,
      config,
      clock: new ManualClock(),
    });
    expect(hv.checkSpec(message.spec)).toEqual([]);
  });
});
