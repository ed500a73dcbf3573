import type { ChangeWatch, Hypervisor } from '../../pkg/hypervisor/hypervisor.js';
import { FencedError, fencedHypervisor } from '../../pkg/service/fencing.js';
import { FakeHypervisor } from '../support/fake-hypervisor.js';
import { ManualClock } from '../support/manual-clock.js';

const REF = { uuid: '11111111-1111-4111-8111-111111111111', domainName: 'a', domainId: 1 };

describe('fencedHypervisor', () => {
  test('host-changing calls are refused while the agent may not act, and pass once it may', async () => {
    let may = false;
    const fenced = fencedHypervisor(new FakeHypervisor(new ManualClock()), () => may);
    await expect(fenced.destroy(REF)).rejects.toBeInstanceOf(FencedError);
    await expect(fenced.pciPrepare([])).rejects.toThrow(
      "pciPrepare refused: this agent does not hold the node's lease",
    );
    may = true;
    await expect(fenced.destroy(REF)).resolves.toBeUndefined();
  });

  test("the backend's change feed passes through, whether or not the agent may act", () => {
    const calls: string[] = [];
    const watch: ChangeWatch = { close: () => void calls.push('close'), live: true };
    const inner = new FakeHypervisor(new ManualClock()) as Hypervisor;
    inner.watchChanges = (onChange) => {
      calls.push('watch');
      onChange(REF.uuid);
      return watch;
    };
    const fenced = fencedHypervisor(inner, () => false);
    const named: (string | undefined)[] = [];
    const got = fenced.watchChanges?.((uuid) => named.push(uuid));
    expect(got).toBe(watch);
    got?.close();
    expect(calls).toEqual(['watch', 'close']);
    expect(named).toEqual([REF.uuid]);
  });

  test("the backend's rebuild grace passes through (a fenced xl still waits for a rebooting guest)", () => {
    const withGrace = Object.assign(new FakeHypervisor(new ManualClock()), { rebuildGraceMs: 30_000 });
    expect(fencedHypervisor(withGrace, () => false).rebuildGraceMs).toBe(30_000);
    expect(
      fencedHypervisor(new FakeHypervisor(new ManualClock()), () => true).rebuildGraceMs,
    ).toBeUndefined();
  });

  test('a listing of some domains is a read: it passes whether or not the agent may act', async () => {
    const inner = new FakeHypervisor(new ManualClock());
    inner.addDomain(REF.uuid, 'a');
    const fenced = fencedHypervisor(inner, () => false);
    const some = await fenced.listSome?.([REF.uuid]);
    expect(some?.domains.map((d) => d.name)).toEqual(['a']);
    expect(inner.calls).toContain(`some ${REF.uuid}`);
  });

  test('a backend without a change feed or listing of some gives none', () => {
    const inner = new FakeHypervisor(new ManualClock());
    // The fake lists some; this backend is one that does not.
    Object.defineProperty(inner, 'listSome', { value: undefined });
    const fenced = fencedHypervisor(inner, () => true);
    expect([fenced.watchChanges, fenced.listSome]).toEqual([undefined, undefined]);
  });
});
