import { backoffDelay } from '../backoff.js';
import type { StatusError } from './errors.js';

/**
 * Whether a failed create can heal by retrying, as a pure function (docs/contract.md, "Failures
 * that retrying cannot heal"). Most failures are transient: a command that timed out, a host that
 * is short of memory now, a tool that answered garbage, a disk that was full. A few say that the
 * same config will fail the same way on this host however often it is tried: the kernel cannot be
 * loaded or does not fit the guest's memory, an image, disk or PCI device does not exist, a bridge
 * is missing, the config asks for more memory than the host has in all. Those are still retried
 * (an operator may fix the host: install the image, create the bridge), but no faster than
 * restartBackoff.maxMs, so that a fleet of broken configs does not keep the tools busy, and the
 * status says why.
 */

export type FailureKind = 'transient' | 'permanent';

export interface FailureClass {
  kind: FailureKind;
  /** Why it cannot heal by retrying (null when transient). */
  reason: string | null;
}

/** Facts beside the error that the rule needs. */
export interface FailureFacts {
  /** The memory the config asks for. */
  memoryMiB: number;
  /** The host's total memory, when known. */
  hostTotalMemoryMiB: number | null;
}

/**
 * Text that the tools print for a failure that retrying cannot heal, matched in the command's
 * stderr and the error message, with the reason the status gives. The libxl/libxc lines are Xen
 * 4.17's; the hotplug line is vif-bridge's; rkt's and vmadm's say the image is not there.
 */
const PERMANENT_TEXTS: ReadonlyArray<{ pattern: RegExp; reason: string }> = [
  {
    pattern: /segment (kernel|padding) too large/,
    reason: "the guest's kernel does not fit in its memory",
  },
  {
    pattern: /xc_dom_find_loader: no loader found|xc_dom_parse_image|not a valid (ELF|kernel)/i,
    reason: 'the kernel is not a loadable image',
  },
  {
    pattern: /xc_dom_kernel_file failed|xc_dom_ramdisk_file failed|failed to open file '[^']*'/,
    reason: 'the kernel or ramdisk file is missing',
  },
  {
    pattern: /Could not find bridge device|bridge [^ ]+ does not exist|Cannot find device "[^"]*"/i,
    reason: 'a bridge the vifs name does not exist on the host',
  },
  {
    pattern: /Couldn't lstat \/sys\/bus\/pci\/devices/,
    reason: 'a PCI device the config names does not exist on the host',
  },
  {
    pattern: /failed to stat [^ ]+: No such file or directory|Failed to get disk|disk .* does not exist/i,
    reason: 'a disk the config names is missing',
  },
  {
    pattern: /image .* (not found|not installed)|no image found|unable to find image/i,
    reason: 'the image is not on the host',
  },
];

/** Transient or permanent (see the module comment). Pure. */
export function classifyFailure(error: StatusError, facts: FailureFacts): FailureClass {
  // A command cut off by its timeout says nothing about the next attempt.
  if (error.source === 'timeout' || error.source === 'config') return { kind: 'transient', reason: null };
  if (facts.hostTotalMemoryMiB !== null && facts.memoryMiB > facts.hostTotalMemoryMiB) {
    return {
      kind: 'permanent',
      reason: `the config asks for ${facts.memoryMiB} MiB and the host has ${facts.hostTotalMemoryMiB} MiB in all`,
    };
  }
  // A full or read-only state directory (source host) heals when space returns.
  if (error.source === 'host') return { kind: 'transient', reason: null };
  const text = `${error.stderr ?? ''}\n${error.message}`;
  for (const t of PERMANENT_TEXTS) if (t.pattern.test(text)) return { kind: 'permanent', reason: t.reason };
  return { kind: 'transient', reason: null };
}

export interface RetryPlan {
  delayMs: number;
  /** Appended to the status message (null for a transient failure: its backoff needs no words). */
  note: string | null;
}

/**
 * When a failed create is tried again: a transient failure after the exponential backoff for
 * `attempt`, a permanent one after restartBackoff.maxMs, with the reason. Pure.
 */
export function retryPlan(
  failure: FailureClass,
  attempt: number,
  backoff: { initialMs: number; maxMs: number },
): RetryPlan {
  if (failure.kind === 'transient') {
    return { delayMs: backoffDelay(attempt, backoff.initialMs, backoff.maxMs), note: null };
  }
  return {
    delayMs: backoff.maxMs,
    note: `retrying will not heal this (${failure.reason}): tried again every ${backoff.maxMs} ms (restartBackoff.maxMs) until the config or the host changes`,
  };
}
