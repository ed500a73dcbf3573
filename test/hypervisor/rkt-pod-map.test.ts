import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodMap } from '../../pkg/hypervisor/rkt-pod-map.js';

const dir = () => mkdtempSync(join(tmpdir(), 'domainmgr-podmap-'));

test('concurrent changes are all kept, and only the final file remains (no temp files)', async () => {
  const d = dir();
  const path = join(d, 'rkt', 'pods.json');
  const map = new PodMap(path);
  await Promise.all(Array.from({ length: 20 }, (_, i) => map.set(`domain-${i}`, `pod-${i}`)));
  await Promise.all([map.delete('domain-3'), map.set('domain-20', 'pod-20')]);
  const onDisk = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
  expect(Object.keys(onDisk)).toHaveLength(20);
  expect(onDisk['domain-3']).toBeUndefined();
  expect(onDisk['domain-20']).toBe('pod-20');
  expect(readdirSync(join(d, 'rkt'))).toEqual(['pods.json']);
  // A new instance (a restarted domainmgr) reads the same map.
  expect(await new PodMap(path).podOf('domain-7')).toBe('pod-7');
  expect((await new PodMap(path).byPod()).get('pod-20')).toBe('domain-20');
});

test('a missing file is an empty map; a corrupt one is an error naming the file', async () => {
  const d = dir();
  expect(await new PodMap(join(d, 'none.json')).podOf('x')).toBeUndefined();
  const bad = join(d, 'bad.json');
  writeFileSync(bad, '["not", "a", "map"]');
  await expect(new PodMap(bad).podOf('x')).rejects.toThrow(`${bad} is not a JSON object`);
});
