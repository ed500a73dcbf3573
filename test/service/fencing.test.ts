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
      onChange();
      return watch;
    };
    const fenced = fencedHypervisor(inner, () => false);
    let changes = 0;
    const got = fenced.watchChanges?.(() => {
      changes += 1;
    });
    expect(got).toBe(watch);
    got?.close();
    expect(calls).toEqual(['watch', 'close']);
    expect(changes).toBe(1);
  });

  test('a backend without a change feed gives none', () => {
    expect(fencedHypervisor(new FakeHypervisor(new ManualClock()), () => true).watchChanges).toBeUndefined();
  });
});
