import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendDeps } from '../../pkg/hypervisor/deps.js';
import { silentLogger } from '../../pkg/log/logger.js';
import { readProjectJson } from '../../pkg/project-files.js';
import type { CommandRunner } from '../../pkg/runner/command-runner.js';
import { type DomainSpec, toDomainSpec } from '../../pkg/schema/domain-spec.js';
import type { DomainmgrConfig } from '../../types/generated/config.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';
import { ManualClock } from './manual-clock.js';

/** The shipped default configuration with a fresh temporary state directory and `overrides`. */
export function testConfig(overrides: Partial<DomainmgrConfig> = {}): DomainmgrConfig {
  const defaults = readProjectJson('config/default.json') as DomainmgrConfig;
  return {
    ...defaults,
    stateDir: mkdtempSync(join(tmpdir(), 'domainmgr-test-')),
    ...overrides,
  };
}

export function testDeps(runner: CommandRunner, config: DomainmgrConfig = testConfig()): BackendDeps {
  return { runner, logger: silentLogger, config, clock: new ManualClock() };
}

let counter = 0;

/** A valid vm spec; `overrides` replace fields of the DomainConfig before defaults are filled. */
export function vmSpec(overrides: Partial<DomainConfig> = {}): DomainSpec {
  counter++;
  const tail = counter.toString(16).padStart(12, '0');
  return toDomainSpec({
    uuid: `d127f00a-d647-49bb-a39e-${tail}`,
    name: `vm${counter}`,
    generation: 1,
    activate: true,
    type: 'vm',
    memoryMiB: 512,
    kernel: '/var/lib/domainmgr/images/vmlinuz',
    ...overrides,
  });
}

/** A valid container spec. */
export function containerSpec(overrides: Partial<DomainConfig> = {}): DomainSpec {
  counter++;
  const tail = counter.toString(16).padStart(12, '0');
  return toDomainSpec({
    uuid: `5ab1e000-0000-4000-8000-${tail}`,
    name: `ct${counter}`,
    generation: 1,
    activate: true,
    type: 'container',
    memoryMiB: 256,
    image: 'sha512-0123456789abcdef',
    ...overrides,
  });
}

/** n vifs on xenbr0, MACs generated from the uuid. */
export function vifs(n: number): NonNullable<DomainConfig['vifs']> {
  return Array.from({ length: n }, () => ({ bridge: 'xenbr0' }));
}
