import { createHypervisor } from '../../pkg/hypervisor/registry.js';
import { RktBackend } from '../../pkg/hypervisor/rkt.js';
import { VmadmBackend } from '../../pkg/hypervisor/vmadm.js';
import { XlBackend } from '../../pkg/hypervisor/xl.js';
import { testDeps } from '../support/backend-fixtures.js';
import { FakeRunner } from '../support/fake-runner.js';

test.each([
  ['xl', XlBackend],
  ['rkt', RktBackend],
  ['vmadm', VmadmBackend],
] as const)('createHypervisor(%s)', (name, type) => {
  const h = createHypervisor(name, testDeps(new FakeRunner()));
  expect(h).toBeInstanceOf(type);
  expect(h.name).toBe(name);
});

test('an unknown backend name is an error, not a default', () => {
  expect(() => createHypervisor('kvm' as never, testDeps(new FakeRunner()))).toThrow(/unknown backend "kvm"/);
});
