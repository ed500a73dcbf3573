import { type DomainSpec, toDomainSpec } from '../../pkg/schema/domain-spec.js';

/** The uuid of the one domain a reconcile table test is about. */
export const UUID = '11111111-1111-4111-8111-111111111111';

/** The wall time a ManualClock starts at, as a status shows it. */
export const START_TIME = '2026-01-01T00:00:00.000Z';

/** A valid vm spec named 'a' (256 MiB, up to 1024) with `over` laid over the filled-in spec. */
export function domainSpec(over: Partial<DomainSpec> = {}): DomainSpec {
  return {
    ...toDomainSpec({
      uuid: UUID,
      name: 'a',
      generation: 1,
      activate: true,
      type: 'vm',
      memoryMiB: 256,
      maxMemoryMiB: 1024,
      kernel: '/persist/k',
    }),
    ...over,
  };
}
