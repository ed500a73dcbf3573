import type { SimHost } from '../core/host.js';
import { result, type ToolResult } from '../core/types.js';
import { freeMemoryMiB } from '../xen/model.js';

/**
 * Fixed values follow Debian's Xen 4.17.7 as captured in test/fixtures/real-xen/xl-info.txt
 * (virt_caps, xen_extra, the trailing space of xen_caps, the empty xen_changeset).
 *
 * `xl info [key]`: `key : value` lines, the key padded to 23 columns, in xl's order; with a key,
 * only that value (nothing at all for a key xl does not print).
 */
export function xlInfo(host: SimHost, operands: string[]): ToolResult {
  const c = host.state.config;
  const fields: [string, string][] = [
    ['host', c.hostname],
    ['release', '6.1.0-56-amd64'],
    ['version', '#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)'],
    ['machine', 'x86_64'],
    ['nr_cpus', String(c.nrCpus)],
    ['max_cpu_id', String(c.nrCpus - 1)],
    ['nr_nodes', '1'],
    ['cores_per_socket', String(c.nrCpus)],
    ['threads_per_core', '1'],
    ['cpu_mhz', '2394.454'],
    ['hw_caps', 'bfebfbff:77fafbff:2c100800:00000121:0000000f:009c6fbf:00000000:00000100'],
    ['virt_caps', 'pv hvm hap gnttab-v1 gnttab-v2'],
    ['total_memory', String(c.totalMemoryMiB)],
    ['free_memory', String(freeMemoryMiB(host))],
    ['sharing_freed_memory', '0'],
    ['sharing_used_memory', '0'],
    ['outstanding_claims', '0'],
    ['free_cpus', '0'],
    ['xen_major', '4'],
    ['xen_minor', '17'],
    ['xen_extra', '.7'],
    ['xen_version', '4.17.7'],
    // The real value ends with a space (xl-info.txt).
    ['xen_caps', 'xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64 '],
    ['xen_scheduler', 'credit2'],
    ['xen_pagesize', '4096'],
    ['platform_params', 'virt_start=0xffff800000000000'],
    ['xen_changeset', ''],
    [
      'xen_commandline',
      `console=com1 com1=115200,8n1 dom0_mem=${c.dom0MemoryMiB}M,max:${c.dom0MemoryMiB}M dom0_max_vcpus=${c.nrCpus}`,
    ],
    ['cc_compiler', 'x86_64-linux-gnu-gcc (Debian 12.2.0-14+deb12u1) 12.2.0'],
    ['cc_compile_by', 'pkg-xen-devel'],
    ['cc_compile_domain', 'lists.alioth.debian.org'],
    ['cc_compile_date', 'Thu Nov 14 10:16:11 UTC 2024'],
    ['build_id', '3f9c2d1ab6e04c47a1f25c0b6c7f8e9d0a1b2c3d'],
    ['xend_config_format', '4'],
  ];
  const key = operands[0];
  if (key !== undefined) {
    const f = fields.find(([k]) => k === key);
    return result(0, f ? `${f[1]}\n` : '');
  }
  return result(0, fields.map(([k, v]) => `${k.padEnd(23)}: ${v}\n`).join(''));
}
