import { type StartStep, startSteps } from '../../pkg/reconcile/start-sequence.js';
import { type DomainSpec, toDomainSpec } from '../../pkg/schema/domain-spec.js';
import type { DomainConfig } from '../../types/generated/domain-config.js';

const spec = (over: Partial<DomainConfig> = {}): DomainSpec =>
  toDomainSpec({
    uuid: '11111111-1111-4111-8111-111111111111',
    name: 'a',
    generation: 1,
    activate: true,
    type: 'vm',
    memoryMiB: 256,
    kernel: '/persist/k',
    ...over,
  });

const vif = [{ bridge: 'br0' }];
const pci = [{ bdf: '0000:03:00.0' }];

const cases: [string, Partial<DomainConfig>, boolean, StartStep[]][] = [
  ['no vifs, no PCI: create, unpause', {}, true, ['create', 'unpause']],
  [
    'vifs: offload between create and unpause',
    { vifs: vif },
    true,
    ['create', 'disable-vif-offload', 'unpause'],
  ],
  ['vifs, offload off: none', { vifs: vif, disableVifOffload: false }, true, ['create', 'unpause']],
  ['PCI: prepared before create', { pciDevices: pci }, true, ['pci-prepare', 'create', 'unpause']],
  ['paused: left paused', { paused: true, vifs: vif }, true, ['create', 'disable-vif-offload']],
  ['paused, PCI: left paused', { paused: true, pciDevices: pci }, true, ['pci-prepare', 'create']],
  [
    'paused on a backend that cannot pause: started all the same',
    { paused: true },
    false,
    ['create', 'unpause'],
  ],
  [
    'not paused on a backend that cannot pause: started',
    { vifs: vif },
    false,
    ['create', 'disable-vif-offload', 'unpause'],
  ],
];

describe('startSteps', () => {
  test.each(cases)('%s', (_name, over, canPause, expected) => {
    expect(startSteps(spec(over), { canPause })).toEqual(expected);
  });
});
