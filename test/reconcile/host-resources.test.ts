import type { HostInfo } from '../../pkg/hypervisor/hypervisor.js';
import { HostResources, hostReadingDue } from '../../pkg/reconcile/host-resources.js';

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

describe('hostReadingDue: when the periodic NodeStatus reads the host afresh', () => {
  test.each([
    ['no reading yet', { readAt: null, changedSince: false }, 0, true],
    ['a reading just taken, nothing changed', { readAt: 1000, changedSince: false }, 1000, false],
    ['younger than the max age', { readAt: 1000, changedSince: false }, 60_999, false],
    ['exactly the max age', { readAt: 1000, changedSince: false }, 61_000, true],
    ['older than the max age', { readAt: 1000, changedSince: false }, 200_000, true],
    ['young, but memory changed since', { readAt: 1000, changedSince: true }, 1001, true],
  ])('%s', (_what, age, now, due) => {
    expect(hostReadingDue(age, now, 60_000)).toBe(due);
  });
});

describe('HostResources.readingDue', () => {
  function dated(): { resources: HostResources; at: (t: number) => void; failing: (f: boolean) => void } {
    let now = 0;
    let fail = false;
    const resources = new HostResources(
      async () => {
        if (fail) throw new Error('xl info failed');
        return { totalMemoryMiB: 4096, freeMemoryMiB: 2048, nrCpus: 4, hypervisorVersion: '4.17' };
      },
      () => now,
    );
    return { resources, at: (t) => (now = t), failing: (f) => (fail = f) };
  }

  test('is due before any reading, not after one, and again at the max age', async () => {
    const h = dated();
    expect(h.resources.readingDue(60_000)).toBe(true);
    await h.resources.refresh();
    h.at(59_999);
    expect(h.resources.readingDue(60_000)).toBe(false);
    h.at(60_000);
    expect(h.resources.readingDue(60_000)).toBe(true);
  });

  test('a create that took memory, or a release, makes the next reading due', async () => {
    const h = dated();
    await h.resources.refresh();
    expect(await h.resources.reserveMemory('a', 100)).toBeNull();
    expect(h.resources.readingDue(60_000)).toBe(false);
    h.resources.commitMemory('a');
    expect(h.resources.readingDue(60_000)).toBe(true);
    await h.resources.refresh();
    expect(h.resources.readingDue(60_000)).toBe(false);
    h.resources.releaseMemory('a');
    expect(h.resources.readingDue(60_000)).toBe(true);
  });
  test('a failed reading leaves the next one due', async () => {
    const h = dated();
    await h.resources.refresh();
    h.at(60_000);
    h.failing(true);
    await expect(h.resources.refresh()).rejects.toThrow('xl info failed');
    h.at(60_001);
    expect(h.resources.readingDue(60_000)).toBe(true);
  });

  test('a change while a reading is under way leaves the next one due', async () => {
    let gate = Promise.resolve();
    let release = () => {};
    const r = new HostResources(
      async () => {
        await gate;
        return { totalMemoryMiB: 4096, freeMemoryMiB: 2048, nrCpus: 4, hypervisorVersion: '4.17' };
      },
      () => 0,
    );
    await r.refresh();
    expect(await r.reserveMemory('a', 100)).toBeNull();
    gate = new Promise<void>((resolve) => (release = resolve));
    const reading = r.refresh();
    r.commitMemory('a');
    release();
    await reading;
    expect(r.readingDue(60_000)).toBe(true);
  });
});
