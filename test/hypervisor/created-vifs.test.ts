import { createdVifs } from '../../pkg/hypervisor/hypervisor.js';
import type { DomainSpec } from '../../pkg/schema/domain-spec.js';

/** Only the vifs matter to createdVifs. */
function withVifs(vifs: DomainSpec['vifs']): DomainSpec {
  return { vifs } as DomainSpec;
}

describe("createdVifs: a created domain's vifs as its status reports them", () => {
  const spec = withVifs([
    { bridge: 'br0', mac: '00:16:3e:00:00:01' },
    { bridge: 'br1', mac: '00:16:3e:00:00:02', ip: '10.0.0.2', vifName: 'uplink' },
  ] as DomainSpec['vifs']);

  test.each([
    ['vmadm: net<index>', (_v: DomainSpec['vifs'][number], i: number) => `net${i}`, ['net0', 'net1']],
    [
      'xl: the configured name, else vif<domid>.<devid>',
      (v: DomainSpec['vifs'][number], i: number) => v.vifName ?? `vif7.${i}`,
      ['vif7.0', 'uplink'],
    ],
  ])('%s', (_what, nameOf, names) => {
    expect(createdVifs(spec, nameOf)).toStrictEqual([
      { vifName: names[0], mac: '00:16:3e:00:00:01', bridge: 'br0' },
      { vifName: names[1], mac: '00:16:3e:00:00:02', bridge: 'br1', ip: '10.0.0.2' },
    ]);
  });

  test('no vifs, no entries', () => {
    expect(createdVifs(withVifs([]), () => 'unused')).toEqual([]);
  });
});
