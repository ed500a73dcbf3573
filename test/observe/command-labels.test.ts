import { commandLabels } from '../../pkg/observe/command-labels.js';

describe('commandLabels', () => {
  test.each([
    [['xl', 'create', '-p', '/var/lib/domainmgr/cfg/0b2c.cfg'], 'xl', 'create'],
    [['/usr/lib/xen-4.17/bin/xl', 'mem-set', 'web1', '512m'], 'xl', 'mem-set'],
    [['xl', '-v', 'list'], 'xl', 'list'],
    [['xl', 'pci-assignable-remove', '-r', '0000:03:00.0'], 'xl', 'pci-assignable-remove'],
    [['xenstore-write', '/local/domain/7/device/vif/0/feature-gso-tcpv4', '0'], 'xenstore-write', 'write'],
    [['/usr/bin/xenstore-read', '/local/domain/0/name'], 'xenstore-read', 'read'],
    [
      ['lxc-start', '-P', '/var/lib/domainmgr/lxc', '-n', '6f1c2a9e-3b4d-4c5e-8f70-0123456789ab', '-d'],
      'lxc-start',
      'start',
    ],
    [['/usr/bin/lxc-ls', '-P', '/var/lib/domainmgr/lxc', '-f', '-F', 'NAME,STATE,PID'], 'lxc-ls', 'ls'],
    [
      ['rkt', 'run', '--stage1-path=/usr/lib/rkt/stage1-xen.aci', '--insecure-options=image', 'img'],
      'rkt',
      'run',
    ],
    [['rkt', '--insecure-options=image', 'status', '--format=json', 'pod'], 'rkt', 'status'],
    [['vmadm', 'list', '-p', '-H', '-o', 'uuid,state'], 'vmadm', 'list'],
    [['vmadm', '--', 'get'], 'vmadm', 'get'],
    [['xl'], 'xl', 'none'],
    [['xl', '-v'], 'xl', 'none'],
  ])('%j -> %s %s', (argv, tool, subcommand) => {
    expect(commandLabels(argv)).toEqual({ tool, subcommand });
  });

  test('a value from a domain never becomes a label', () => {
    // uuid, path, name with a capital, number: each is a first operand that is no subcommand word.
    expect(commandLabels(['xl', '0b2c7f3e-58a1-4c2e-9d1a-3f4b5c6d7e8f'])).toEqual({
      tool: 'xl',
      subcommand: 'other',
    });
    expect(commandLabels(['xl', '/etc/xen/web1.cfg'])).toEqual({ tool: 'xl', subcommand: 'other' });
    expect(commandLabels(['xl', 'Web1'])).toEqual({ tool: 'xl', subcommand: 'other' });
    expect(commandLabels(['sleep', '5'])).toEqual({ tool: 'sleep', subcommand: 'other' });
    expect(commandLabels(['xl', 'a'.repeat(33)])).toEqual({ tool: 'xl', subcommand: 'other' });
    expect(commandLabels(['/opt/bin/tool with space', 'list'])).toEqual({
      tool: 'other',
      subcommand: 'list',
    });
    expect(commandLabels([])).toEqual({ tool: 'other', subcommand: 'none' });
  });
});
