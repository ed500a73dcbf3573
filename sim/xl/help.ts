import type { CommandHelp } from './getopt.js';

/**
 * Usage texts of the emulated subcommands. The usage line has xl's shape (callers and humans
 * recognise it); the descriptions are the simulator's own words.
 */
export const HELP: Record<string, CommandHelp> = {
  create: {
    synopsis: '<ConfigFile> [options] [vars]',
    summary: 'Create a domain from a config file.',
    options:
      '-p                      Leave the domain paused after it is created.\n' +
      '-f FILE, --defconfig=FILE\n                        Use the given configuration file.\n' +
      '-q, --quiet             Quiet.\n' +
      '-n, --dryrun            Dry run: print the configuration and exit.\n' +
      '-F                      Run in foreground until death of the domain.\n' +
      '-e                      Do not wait in the background for the death of the domain.\n',
  },
  list: {
    synopsis: '[options] [Domain]',
    summary: 'List information about all/some domains.',
    options:
      '-l, --long              Output all VM details\n-v, --verbose           Prints out UUIDs and security context\n',
  },
  destroy: {
    synopsis: '[options] <Domain>',
    summary: 'Terminate a domain immediately.',
    options: '-f                      Permit destroying domain 0.\n',
  },
  shutdown: {
    synopsis: '[options] <-a|Domain>',
    summary: 'Issue a shutdown signal to a domain.',
    options:
      '-a, --all               Shutdown all guest domains.\n' +
      '-w, --wait              Wait for guest(s) to shutdown.\n' +
      '-F                      Fallback to ACPI power event for HVM guests with no PV drivers.\n',
  },
  reboot: {
    synopsis: '[options] <-a|Domain>',
    summary: 'Issue a reboot signal to a domain.',
    options:
      '-a, --all               Reboot all guest domains.\n' +
      '-w, --wait              Wait for guest(s) to reboot.\n' +
      '-F                      Fallback to ACPI reset event for HVM guests with no PV drivers.\n',
  },
  pause: { synopsis: '<Domain>', summary: 'Pause execution of a domain.' },
  unpause: { synopsis: '<Domain>', summary: 'Unpause a paused domain.' },
  domid: { synopsis: '<DomainName>', summary: 'Convert a domain name to domain id.', flags: '-vtT' },
  domname: { synopsis: '<DomainId>', summary: 'Convert a domain id to domain name.', flags: '-vtT' },
  'mem-set': {
    synopsis: "<Domain> <MemMB['b'[bytes]|'k'[KB]|'m'[MB]|'g'[GB]|'t'[TB]]>",
    summary: 'Set the current memory usage for a domain.',
  },
  'mem-max': {
    synopsis: "<Domain> <MemMB['b'[bytes]|'k'[KB]|'m'[MB]|'g'[GB]|'t'[TB]]>",
    summary: 'Set the maximum amount reservation for a domain.',
  },
  'vcpu-pin': {
    synopsis: '[option] <Domain> <VCPU|all> <Hard affinity|-|all> <Soft affinity|-|all>',
    summary: 'Set which CPUs a VCPU can use.',
    flags: '-vtTfN',
  },
  info: {
    synopsis: '[-n]',
    summary: 'Get information about Xen host.',
    options: '-n, --numa              List host NUMA topology information\n',
  },
  'pci-assignable-add': {
    synopsis: '[options] <BDF>',
    summary: 'Make a device assignable for pci-passthru.',
    options:
      '-n NAME, --name=NAME    Name the assignable device.\n-h                      Print this help.\n',
  },
  'pci-assignable-remove': {
    synopsis: '[options] <BDF>|NAME',
    summary: 'Remove a device from being assignable.',
    options:
      '-h                      Print this help.\n-r                      Attempt to re-assign the device to the\n                        original driver.\n',
  },
  'pci-assignable-list': { synopsis: '[options]', summary: 'List all the assignable pci devices.' },
  'pci-list': { synopsis: '<Domain>', summary: 'List pass-through pci devices for a domain.' },
  console: {
    synopsis: '[options] <Domain>',
    summary: "Attach to domain's console.",
    options: '-t <type>       console type, pv , serial or vuart\n-n <number>     console number\n',
  },
  uptime: { synopsis: '[-s] [Domain]', summary: 'Print uptime for all/some domains.' },
  migrate: { synopsis: '[options] <Domain> <host>', summary: 'Migrate a domain to another host.' },
};

/** Every subcommand real xl 4.17 knows; the ones not emulated say so instead of pretending. */
export const REAL_XL_COMMANDS = new Set([
  'create',
  'config-update',
  'list',
  'destroy',
  'shutdown',
  'reboot',
  'pci-attach',
  'pci-detach',
  'pci-list',
  'pci-assignable-add',
  'pci-assignable-remove',
  'pci-assignable-list',
  'pause',
  'unpause',
  'console',
  'vncviewer',
  'save',
  'migrate',
  'restore',
  'migrate-receive',
  'dump-core',
  'cd-insert',
  'cd-eject',
  'mem-max',
  'mem-set',
  'button-press',
  'vcpu-list',
  'vcpu-pin',
  'vcpu-set',
  'vm-list',
  'info',
  'sharing',
  'sched-credit',
  'sched-credit2',
  'sched-rtds',
  'domid',
  'domname',
  'rename',
  'trigger',
  'sysrq',
  'debug-keys',
  'set-parameters',
  'dmesg',
  'top',
  'network-attach',
  'network-list',
  'network-detach',
  'channel-list',
  'block-attach',
  'block-list',
  'block-detach',
  'vtpm-attach',
  'vtpm-list',
  'vtpm-detach',
  'vkb-attach',
  'vkb-list',
  'vkb-detach',
  'vdispl-attach',
  'vdispl-list',
  'vdispl-detach',
  'vsnd-attach',
  'vsnd-list',
  'vsnd-detach',
  'uptime',
  'claims',
  'tmem-list',
  'cpupool-create',
  'cpupool-list',
  'cpupool-destroy',
  'cpupool-rename',
  'cpupool-cpu-add',
  'cpupool-cpu-remove',
  'cpupool-migrate',
  'cpupool-numa-split',
  'getenforce',
  'setenforce',
  'loadpolicy',
  'remus',
  'devd',
  'psr-hwinfo',
  'psr-cmt-attach',
  'psr-cmt-detach',
  'psr-cmt-show',
  'psr-cat-set',
  'psr-cat-show',
  'psr-mba-set',
  'psr-mba-show',
  'usbctrl-attach',
  'usbctrl-detach',
  'usbdev-attach',
  'usbdev-detach',
  'usb-list',
  'qemu-monitor-command',
  'help',
]);
