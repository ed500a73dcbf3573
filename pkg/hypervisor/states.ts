import type { ObservedState } from './hypervisor.js';

/**
 * Each tool's states mapped to ObservedState. Pure.
 *
 * rkt has no entry: a stage1-xen pod is a Xen domain named by the pod uuid, and the rkt backend
 * reads its state from `xl list -v` like the xl backend (the pod's own state says only whether
 * stage1 is still around, not whether the guest runs).
 */

/**
 * xl's six state letters (`rbpscd`: running, blocked, paused, shutdown, shutdown reason, dying).
 * Order matters: dying beats everything, then shutdown (with its reason), then paused.
 */
export function xlState(flags: string): ObservedState {
  if (!/^[r-][b-][p-][s-][-rscwS?][d-]$/.test(flags)) {
    throw new Error(`not an xl state: ${JSON.stringify(flags)}`);
  }
  if (flags[5] === 'd') return 'transitional';
  if (flags[3] === 's') {
    switch (flags[4]) {
      case '-': // poweroff (reason 0), kept by on_poweroff = "preserve"
        return 'shutdown';
      case 'c': // crash, kept by on_crash = "preserve"
      case 'w': // the guest's watchdog fired: it hung
      case '?': // a reason this xl does not know: surface it, do not guess "fine"
        return 'crashed';
      default: // r reboot, s suspend, S soft reset: xl is about to act on it
        return 'transitional';
    }
  }
  if (flags[2] === 'p') return 'paused';
  // r, b, or neither (runnable, waiting for a pcpu): all mean the guest is up.
  return 'running';
}

/**
 * vmadm VM states. A VM created with autoboot false is `stopped` until `vmadm start`, so a
 * created-but-not-started VM lists as 'shutdown' (vmadm has no paused state for it).
 */
export function vmadmState(state: string): ObservedState {
  switch (state) {
    case 'running':
      return 'running';
    case 'stopped':
    case 'installed':
      return 'shutdown';
    case 'failed':
      return 'crashed';
    case 'configured':
    case 'incomplete':
    case 'provisioning':
    case 'ready':
    case 'receiving':
    case 'shutting_down':
    case 'stopping':
    case 'down':
      return 'transitional';
    default:
      throw new Error(`not a vmadm state: ${JSON.stringify(state)}`);
  }
}
