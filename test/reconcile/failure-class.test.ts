import type { StatusError } from '../../pkg/reconcile/errors.js';
import { classifyFailure, type FailureFacts, retryPlan } from '../../pkg/reconcile/failure-class.js';

const T = '2026-01-01T00:00:00.000Z';
const facts: FailureFacts = { memoryMiB: 256, hostTotalMemoryMiB: 16384 };

function xlCreate(stderr: string, exitCode = 3): StatusError {
  return {
    message: `create: creating vm: xl create -p /s/xl/u.cfg failed (exit ${exitCode}): ${stderr}`,
    source: 'hypervisor',
    command: 'xl create -p /s/xl/u.cfg',
    exitCode,
    stderr,
    time: T,
  };
}

describe('classifyFailure: can retrying heal it?', () => {
  test.each<[string, StatusError, FailureFacts, 'transient' | 'permanent', RegExp | null]>([
    [
      'a PV kernel larger than the guest memory (libxc, real capture)',
      xlCreate(
        'xc: error: xc_dom_chk_alloc_pages: segment kernel too large (0x1400 > 0x1000 - 0x1000 pages): Out of memory\n',
      ),
      facts,
      'permanent',
      /kernel does not fit/,
    ],
    [
      'a kernel libxc cannot load',
      xlCreate('xc: error: panic: xg_dom_core.c:689: xc_dom_find_loader: no loader found: Invalid kernel\n'),
      facts,
      'permanent',
      /not a loadable image/,
    ],
    [
      'a missing kernel file',
      xlCreate(
        "xc: error: panic: xg_dom_core.c:207: failed to open file '/persist/vmlinuz': No such file or directory\n",
      ),
      facts,
      'permanent',
      /kernel or ramdisk file is missing/,
    ],
    [
      'a missing bridge (vif-bridge hotplug)',
      xlCreate(
        'libxl: error: libxl_exec.c:117: /etc/xen/scripts/vif-bridge online [-1] Could not find bridge device xenbr9\n',
      ),
      facts,
      'permanent',
      /bridge/,
    ],
    [
      'an unknown PCI device',
      xlCreate(
        "libxl: error: Couldn't lstat /sys/bus/pci/devices/0000:09:00.0: No such file or directory\n",
        1,
      ),
      facts,
      'permanent',
      /PCI device/,
    ],
    [
      'a missing disk image',
      xlCreate(
        'libxl: error: libxl_device.c:397: disk vdev=xvda failed to stat /persist/d.raw: No such file or directory\n',
      ),
      facts,
      'permanent',
      /disk/,
    ],
    [
      'more memory than the host has in all',
      {
        message: 'not enough free memory on the host: 20000 MiB asked, 11000 MiB free',
        source: 'host',
        time: T,
      },
      { memoryMiB: 20000, hostTotalMemoryMiB: 16384 },
      'permanent',
      /20000 MiB and the host has 16384 MiB/,
    ],
    [
      'not enough free memory now (other guests hold it)',
      {
        message: 'not enough free memory on the host: 2000 MiB asked, 1000 MiB free',
        source: 'host',
        time: T,
      },
      { memoryMiB: 2000, hostTotalMemoryMiB: 16384 },
      'transient',
      null,
    ],
    [
      'libxc out of memory now (xc_dom_boot_mem_init)',
      xlCreate(
        "xc: error: panic: xg_dom_boot.c:119: xc_dom_boot_mem_init: can't allocate low memory for domain: Out of memory\n",
      ),
      facts,
      'transient',
      null,
    ],
    [
      'a name clash (another domain holds the name now)',
      xlCreate('libxl: error: libxl_domain.c:... Domain with name "vm" already exists.\n'),
      facts,
      'transient',
      null,
    ],
    [
      'a command that timed out',
      {
        message: 'xl create timed out after 2000 ms',
        source: 'timeout',
        command: 'xl create -p x',
        exitCode: null,
        time: T,
      },
      facts,
      'transient',
      null,
    ],
    [
      'garbage output (a parser refused it)',
      {
        message: 'create: finding the domid of vm: xl domid printed garbage',
        source: 'hypervisor',
        command: 'xl domid vm',
        exitCode: 0,
        time: T,
      },
      facts,
      'transient',
      null,
    ],
    [
      'a full state directory',
      { message: 'ENOSPC: no space left on device, write', source: 'host', time: T },
      facts,
      'transient',
      null,
    ],
    [
      'memory unknown (no host reading yet) and a plain failure',
      xlCreate('libxl: error: something odd\n', 1),
      { memoryMiB: 256, hostTotalMemoryMiB: null },
      'transient',
      null,
    ],
  ])('%s', (_what, error, f, kind, reason) => {
    const c = classifyFailure(error, f);
    expect(c.kind).toBe(kind);
    if (reason === null) expect(c.reason).toBeNull();
    else expect(c.reason).toMatch(reason);
  });
});

describe('retryPlan', () => {
  const backoff = { initialMs: 1000, maxMs: 300_000 };
  test.each<[string, 'transient' | 'permanent', number, number, RegExp | null]>([
    ['transient, first retry', 'transient', 0, 1000, null],
    ['transient, fourth retry', 'transient', 3, 8000, null],
    ['transient, capped', 'transient', 20, 300_000, null],
    [
      'permanent, first failure: maxMs at once',
      'permanent',
      0,
      300_000,
      /every 300000 ms \(restartBackoff\.maxMs\)/,
    ],
    ['permanent, later failure', 'permanent', 5, 300_000, /will not heal this \(why\)/],
  ])('%s', (_what, kind, attempt, delayMs, note) => {
    const plan = retryPlan({ kind, reason: kind === 'permanent' ? 'why' : null }, attempt, backoff);
    expect(plan.delayMs).toBe(delayMs);
    if (note === null) expect(plan.note).toBeNull();
    else expect(plan.note).toMatch(note);
  });
});
