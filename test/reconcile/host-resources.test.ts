import type { HostInfo } from '../../pkg/hypervisor/hypervisor.js';
import { HostResources } from '../../pkg/reconcile/host-resources.js';

/** A host whose `xl info` says `free` MiB free; counts its readings. */
function host(free: number): {
  resources: HostResources;
  readings: () => number;
  setFree: (f: number) => void;
} {
  let freeMiB = free;
  let readings = 0;
  const resources = new HostResources(async (): Promise<HostInfo> => {
    readings++;
    return { totalMemoryMiB: 4096, freeMemoryMiB: freeMiB, nrCpus: 4, hypervisorVersion: '4.17' };
  });
  return { resources, readings: () => readings, setFree: (f) => (freeMiB = f) };
}

describe('HostResources memory', () => {
  test('reservations of creates in flight add up against the last reading', async () => {
    const h = host(1000);
    expect(await h.resources.reserveMemory('a', 400)).toBeNull();
    expect(await h.resources.reserveMemory('b', 400)).toBeNull();
    // 200 MiB left: a third create of 400 is refused after one fresh reading that shows the same.
    expect(await h.resources.reserveMemory('c', 400)).toBe(
      'not enough free memory on the host: 400 MiB asked, 200 MiB free',
    );
    expect(h.readings()).toBe(2);
    expect(await h.resources.reserveMemory('c', 200)).toBeNull();
  });

  test('a domain reserving again replaces its own reservation instead of adding to it', async () => {
    const h = host(1000);
    expect(await h.resources.reserveMemory('a', 600)).toBeNull();
    expect(await h.resources.reserveMemory('a', 900)).toBeNull();
    expect(await h.resources.reserveMemory('b', 200)).toBe(
      'not enough free memory on the host: 200 MiB asked, 100 MiB free',
    );
  });

  test('released reservations are given back; committed ones stay until a reading taken after them', async () => {
    const h = host(1000);
    expect(await h.resources.reserveMemory('a', 500)).toBeNull();
    expect(await h.resources.reserveMemory('b', 500)).toBeNull();
    h.resources.releaseMemory('b');
    h.resources.commitMemory('a');
    // a is done but the host has not been read since: its 500 MiB still count.
    expect(await h.resources.reserveMemory('c', 500)).toBeNull();
    h.resources.commitMemory('c');
    // The host now really has 0 MiB free (a and c run): a fresh reading replaces the reservations.
    h.setFree(0);
    expect(await h.resources.reserveMemory('d', 1)).toBe(
      'not enough free memory on the host: 1 MiB asked, 0 MiB free',
    );
    h.setFree(300);
    await h.resources.refresh();
    expect(await h.resources.reserveMemory('d', 300)).toBeNull();
    h.resources.releaseMemory('a');
    expect(await h.resources.reserveMemory('e', 1)).toBe(
      'not enough free memory on the host: 1 MiB asked, 0 MiB free',
    );
  });
});
