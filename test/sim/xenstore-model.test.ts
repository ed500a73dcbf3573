import { afterAll, describe, expect, test } from '@jest/globals';
import { SimHost } from '../../sim/core/host.js';
import { xsExists, xsRemoveTree, xsWrite } from '../../sim/xen/xenstore-model.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

const freshHost = (): SimHost => new SimHost(tempDir());

/** What xsExists must answer: a node with a value, or with any key below it (the root always). */
function existsByScan(host: SimHost, path: string): boolean {
  const keys = Object.keys(host.state.xen.xenstore);
  return path === '/' || keys.includes(path) || keys.some((k) => k.startsWith(`${path}/`));
}

const PROBES = [
  '/',
  '/local',
  '/local/domain',
  '/local/domain/1',
  '/local/domain/1/name',
  '/local/domain/1/device',
  '/local/domain/1/device/vif',
  '/local/domain/1/device/vif/0',
  '/local/domain/2',
  '/local/domain/2/name',
  '/local/domain/10',
  '/local/domain/1/nam',
  '/vm',
];

type Step = ['write', string] | ['rm', string] | ['probe'];

describe('simulated xenstore: whether a node exists (directory index)', () => {
  test.each<{ name: string; steps: Step[] }>([
    {
      name: 'written keys imply their directories; removing a tree takes them away',
      steps: [
        ['probe'],
        ['write', '/local/domain/1/name'],
        ['write', '/local/domain/1/device/vif/0/state'],
        ['probe'],
        ['write', '/local/domain/2/name'],
        ['rm', '/local/domain/1'],
        ['probe'],
        ['rm', '/local/domain/2'],
        ['probe'],
      ],
    },
    {
      name: 'a directory that also holds a value stays while keys below it go',
      steps: [
        ['write', '/local/domain/1'],
        ['write', '/local/domain/1/name'],
        ['probe'],
        ['rm', '/local/domain/1/name'],
        ['probe'],
        ['rm', '/local/domain/1'],
        ['probe'],
      ],
    },
    {
      name: 'rewriting a key counts it once',
      steps: [
        ['write', '/local/domain/1/name'],
        ['probe'],
        ['write', '/local/domain/1/name'],
        ['rm', '/local/domain/1/name'],
        ['probe'],
      ],
    },
    {
      name: 'keys written before the first question (a state loaded from disk) are indexed then',
      steps: [['write', '/local/domain/10/name'], ['write', '/vm/u/name'], ['rm', '/vm'], ['probe']],
    },
  ])('$name', ({ steps }) => {
    const host = freshHost();
    for (const step of steps) {
      if (step[0] === 'write') xsWrite(host, step[1], 'x');
      else if (step[0] === 'rm') xsRemoveTree(host, step[1]);
      else for (const p of PROBES) expect([p, xsExists(host, p)]).toEqual([p, existsByScan(host, p)]);
    }
    // And once more at the end, whatever the last step was.
    for (const p of PROBES) expect([p, xsExists(host, p)]).toEqual([p, existsByScan(host, p)]);
  });
});
