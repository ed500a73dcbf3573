import { existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  type WatchEvent,
  XENSTORE_PAYLOAD_MAX,
  XenstoreClient,
  XenstoreConflictError,
  XenstoreConnectionError,
  XenstoreExistsError,
  XenstoreInvalidError,
  XenstoreNotFoundError,
  XenstorePayloadTooLargeError,
  XenstoreTimeoutError,
  XenstoreUnavailableError,
  type XenstoreWatch,
} from '../../pkg/xenstore/mod.js';
import { watchPayload, XsType } from '../../pkg/xenstore/wire.js';
import { pvhCfg, removeTempDirs, tempDir, writeCfg } from '../sim/helpers.js';
import { type SimHostHandle, startSimHost } from '../support/sim-host.js';

/** Event waits are bounded: a missing event fails the test after this long, a present one returns at once. */
const EVENT_WAIT_MS = 10_000;

let h: SimHostHandle;
let socketPath: string;
const clients: XenstoreClient[] = [];

async function connect(options: Parameters<typeof XenstoreClient.connect>[0] = {}): Promise<XenstoreClient> {
  const c = await XenstoreClient.connect({ socketPath, ...options });
  clients.push(c);
  return c;
}

/** The next event for which match() holds (xenstored may send others, spuriously or for other nodes). */
async function nextMatching(w: XenstoreWatch, match: (e: WatchEvent) => boolean): Promise<WatchEvent> {
  const end = performance.now() + EVENT_WAIT_MS;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) throw new Error(`no matching event on watch ${w.path} within ${EVENT_WAIT_MS} ms`);
    const ev = await w.next(left);
    if (match(ev)) return ev;
  }
}

async function run(argv: string[]): Promise<string> {
  const r = await h.run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  h = startSimHost();
  // Any call starts the host's daemon, which serves the socket before it answers.
  await h.simctl(['ping']);
  socketPath = join(h.dir, 'xenstored', 'socket');
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});

afterAll(async () => {
  await h.stop();
  removeTempDirs();
});

describe('the client against the simulated host xenstored', () => {
  test('read, write, directory and rm, on the same tree the xenstore tools see', async () => {
    const xs = await connect();
    await xs.write('/test/rw/a', 'one');
    await xs.write('/test/rw/b', Buffer.from('two'));
    expect(await xs.read('/test/rw/a')).toBe('one');
    expect((await xs.directory('/test/rw')).sort()).toEqual(['a', 'b']);
    expect(await run(['xenstore-read', '/test/rw/b'])).toBe('two\n');
    await run(['xenstore-write', '/test/rw/c', 'from the tool']);
    expect(await xs.read('/test/rw/c')).toBe('from the tool');
    // A parent created by a write has an empty value.
    expect(await xs.read('/test/rw')).toBe('');
    await xs.rm('/test/rw/a');
    expect(await xs.tryRead('/test/rw/a')).toBeUndefined();
    // A missing node under an existing parent: rm succeeds, as xenstored's does.
    await xs.rm('/test/rw/a');
    await xs.rm('/test/rw');
    expect((await h.run(['xenstore-exists', '/test/rw'])).code).toBe(1);
  });

  test('relative paths are below /local/domain/0, as for any dom0 client', async () => {
    const xs = await connect();
    await xs.write('test-rel/k', 'v');
    expect(await xs.read('/local/domain/0/test-rel/k')).toBe('v');
    await xs.rm('test-rel');
  });

  test('a missing node is XenstoreNotFoundError carrying ENOENT and the path', async () => {
    const xs = await connect();
    const err = await xs.read('/no/such/node').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenstoreNotFoundError);
    expect(err).toMatchObject({ errno: 'ENOENT', op: 'READ', path: '/no/such/node' });
    await expect(xs.directory('/no/such')).rejects.toMatchObject({ errno: 'ENOENT', op: 'DIRECTORY' });
    await expect(xs.rm('/no/such/node')).rejects.toBeInstanceOf(XenstoreNotFoundError);
  });

  test('tryRead answers undefined for ENOENT only: any other error reply still rejects, named', async () => {
    const xs = await connect();
    expect(await xs.tryRead('/no/such/node')).toBeUndefined();
    // xenstored refuses a path with a space in it (EINVAL): not a missing node.
    const err = await xs.tryRead('/test/bad path').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenstoreInvalidError);
    expect(err).toMatchObject({ errno: 'EINVAL', op: 'READ', path: '/test/bad path' });
    // Inside a transaction too, and a present node still reads.
    await xs.write('/test/try/k', 'v');
    const tx = await xs.startTransaction();
    expect(await tx.tryRead('/test/try/k')).toBe('v');
    expect(await tx.tryRead('/test/try/none')).toBeUndefined();
    await expect(tx.tryRead('/test/bad path')).rejects.toBeInstanceOf(XenstoreInvalidError);
    await tx.abort();
    await xs.rm('/test/try');
  });

  test('many requests in flight on one connection get their own replies', async () => {
    const xs = await connect();
    const keys = Array.from({ length: 200 }, (_, i) => `/test/many/k${i}`);
    await Promise.all(keys.map((k, i) => xs.write(k, `v${i}`)));
    const values = await Promise.all(keys.map((k) => xs.read(k)));
    expect(values).toEqual(keys.map((_, i) => `v${i}`));
    await xs.rm('/test/many');
  });

  test('a payload over XENSTORE_PAYLOAD_MAX is refused before sending; the connection stays usable', async () => {
    const xs = await connect();
    const err = await xs.write('/test/big', 'x'.repeat(XENSTORE_PAYLOAD_MAX)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenstorePayloadTooLargeError);
    expect(err).toMatchObject({ op: 'WRITE', path: '/test/big' });
    expect(xs.state).toBe('connected');
    await xs.write('/test/big', 'small');
    expect(await xs.read('/test/big')).toBe('small');
    await xs.rm('/test/big');
  });

  test('a transaction is invisible to others until committed', async () => {
    const xs = await connect();
    const other = await connect();
    const tx = await xs.startTransaction();
    await tx.write('/test/iso/k', 'inside');
    expect(await tx.read('/test/iso/k')).toBe('inside');
    expect(await other.tryRead('/test/iso/k')).toBeUndefined();
    await tx.commit();
    expect(await other.read('/test/iso/k')).toBe('inside');
    const aborted = await xs.startTransaction();
    await aborted.write('/test/iso/k', 'dropped');
    await aborted.abort();
    expect(await other.read('/test/iso/k')).toBe('inside');
    await xs.rm('/test/iso');
  });

  test('a transaction that conflicts gets EAGAIN; transaction(fn) reruns it and succeeds', async () => {
    const xs = await connect();
    const other = await connect();
    await xs.write('/test/tx/counter', '1');
    let runs = 0;
    const result = await xs.transaction(async (tx) => {
      runs++;
      const n = Number(await tx.read('/test/tx/counter'));
      // Another writer changes the node between our read and our commit, once.
      if (runs === 1) await other.write('/test/tx/counter', '10');
      await tx.write('/test/tx/counter', String(n + 1));
      return n + 1;
    });
    expect(runs).toBe(2);
    expect(result).toBe(11);
    expect(await xs.read('/test/tx/counter')).toBe('11');

    // The bare EAGAIN, without the helper.
    const tx = await xs.startTransaction();
    await tx.read('/test/tx/counter');
    await run(['xenstore-write', '/test/tx/counter', '99']);
    await tx.write('/test/tx/counter', '12');
    const err = await tx.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenstoreConflictError);
    expect(err).toMatchObject({ errno: 'EAGAIN', op: 'TRANSACTION_END' });
    expect(await xs.read('/test/tx/counter')).toBe('99');
    await xs.rm('/test/tx');
  });

  test('a watch fires once on registration, then for changes below its path, from any writer', async () => {
    const xs = await connect();
    const w = await xs.watch('/test/watched', { token: 'wtest' });
    expect(await w.next(EVENT_WAIT_MS)).toEqual({ path: '/test/watched', token: 'wtest' });
    await run(['xenstore-write', '/test/watched/a/b', '1']);
    await nextMatching(w, (e) => e.path === '/test/watched/a/b');
    await xs.rm('/test/watched/a');
    await nextMatching(w, (e) => e.path === '/test/watched/a');
    await w.close();
    // The same path and token twice on one connection: EEXIST (the client itself refuses a
    // token it already uses, so the second WATCH is sent by hand).
    await xs.watch('/test/dup', { token: 't1' });
    await expect(
      xs.request(XsType.WATCH, 0, watchPayload('/test/dup', 't1'), '/test/dup'),
    ).rejects.toBeInstanceOf(XenstoreExistsError);
    await expect(xs.watch('/test/dup', { token: 't1' })).rejects.toThrow(/token t1 is already in use/);
  });

  test('@introduceDomain fires on xl create; @releaseDomain on simctl crash and on xl destroy', async () => {
    const xs = await connect();
    const intro = await xs.watch('@introduceDomain');
    const release = await xs.watch('@releaseDomain');
    await intro.next(EVENT_WAIT_MS);
    await release.next(EVENT_WAIT_MS);
    const cfgA = writeCfg(pvhCfg('xs-crash', 'vif = [ "bridge=br0" ]\non_crash = "preserve"'));
    const cfgB = writeCfg(pvhCfg('xs-destroy'));
    await run(['xl', 'create', '-p', cfgA]);
    await nextMatching(intro, (e) => e.path === '@introduceDomain');
    await run(['xl', 'create', cfgB]);
    await nextMatching(intro, (e) => e.path === '@introduceDomain');

    await h.simctl(['crash', 'xs-crash']);
    expect(await nextMatching(release, () => true)).toEqual({ path: '@releaseDomain', token: release.token });
    // The crash is visible to the listing a watcher then runs.
    expect((await run(['xl', 'list', '-v', 'xs-crash'])).split('\n')[1]).toMatch(/-{3}sc-.* 3 /);

    await run(['xl', 'destroy', 'xs-destroy']);
    expect(await nextMatching(release, () => true)).toMatchObject({ path: '@releaseDomain' });
    await run(['xl', 'destroy', 'xs-crash']);
  });

  test('for await over a watch reads its events; leaving the loop unwatches', async () => {
    const xs = await connect();
    const w = await xs.watch('/test/loop');
    const unwatches = async () => Number(JSON.parse(await h.simctl(['calls']))['xenstored UNWATCH'] ?? 0);
    const before = await unwatches();
    const seen: string[] = [];
    await xs.write('/test/loop/a', '1');
    for await (const ev of w) {
      seen.push(ev.path);
      if (ev.path === '/test/loop/a') break;
    }
    expect(seen[0]).toBe('/test/loop');
    expect(seen.at(-1)).toBe('/test/loop/a');
    expect(await unwatches()).toBe(before + 1);
    await xs.rm('/test/loop');
  });

  test('a watch with onEvent gets its events by callback', async () => {
    const xs = await connect();
    const seen: WatchEvent[] = [];
    let wake: () => void = () => undefined;
    await xs.watch('/test/cb', {
      onEvent: (e) => {
        seen.push(e);
        wake();
      },
    });
    const written = new Promise<void>((resolve) => {
      wake = () => {
        if (seen.some((e) => e.path === '/test/cb/k')) resolve();
      };
      wake();
    });
    await xs.write('/test/cb/k', 'v');
    await withinEventWait(written);
    expect(seen[0]?.path).toBe('/test/cb');
    await xs.rm('/test/cb');
  });

  test('the domid of a new domain is found by name through xenstore, and its vif offload keys written in one transaction', async () => {
    const xs = await connect();
    await run(['xl', 'create', '-p', writeCfg(pvhCfg('xs-offload', 'vif = [ "bridge=br0", "bridge=br1" ]'))]);
    let domid: string | undefined;
    for (const id of await xs.directory('/local/domain'))
      if ((await xs.tryRead(`/local/domain/${id}/name`)) === 'xs-offload') domid = id;
    expect(domid).toBe((await run(['xl', 'domid', 'xs-offload'])).trim());
    const keys = ['feature-sg', 'feature-gso-tcpv4', 'feature-gso-tcpv6', 'feature-ipv6-csum-offload'];
    await xs.transaction(async (tx) => {
      const back = `/local/domain/0/backend/vif/${domid}`;
      const devids = await tx.directory(back);
      await Promise.all(devids.flatMap((d) => keys.map((k) => tx.write(`${back}/${d}/${k}`, '0'))));
    });
    for (const d of ['0', '1'])
      for (const k of keys)
        expect(await run(['xenstore-read', `/local/domain/0/backend/vif/${domid}/${d}/${k}`])).toBe('0\n');
    await run(['xl', 'destroy', 'xs-offload']);
  });

  test('reconnect after the daemon restarts re-registers the watch', async () => {
    const xs = await connect({ reconnectBackoff: { initialMs: 20, maxMs: 200, jitter: 0 } });
    const w = await xs.watch('@releaseDomain');
    await w.next(EVENT_WAIT_MS);
    const states: string[] = [];
    const down = new Promise<void>((resolve) =>
      xs.onStateChange((s) => {
        states.push(s);
        if (s === 'disconnected') resolve();
      }),
    );
    await h.simctl(['stop']);
    await withinEventWait(down);
    await expect(xs.read('/local/domain/0/name')).rejects.toMatchObject({
      constructor: XenstoreConnectionError,
      sent: false,
    });
    // The next tool call starts a new daemon, with a new socket.
    await h.simctl(['ping']);
    await xs.whenConnected(EVENT_WAIT_MS);
    // Registration again fires the watch once, as any registration does.
    await nextMatching(w, (e) => e.path === '@releaseDomain');
    await run(['xl', 'create', writeCfg(pvhCfg('xs-reconnect'))]);
    await run(['xl', 'destroy', 'xs-reconnect']);
    await nextMatching(w, (e) => e.path === '@releaseDomain');
    expect(states).toEqual(['disconnected', 'connected']);
  });
});

describe('the client against servers that misbehave', () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function silentServer(): Promise<string> {
    const path = join(tempDir(), 'silent.sock');
    server = createServer((s) => {
      sockets.push(s);
      s.on('data', () => undefined);
    });
    await new Promise<void>((resolve) => server?.listen(path, resolve));
    return path;
  }

  test('a request without a reply fails after its timeout, naming the operation and path', async () => {
    const path = await silentServer();
    const xs = await XenstoreClient.connect({ socketPath: path, requestTimeoutMs: 60_000 });
    clients.push(xs);
    const err = await xs.read('/local/domain/0/name', { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenstoreTimeoutError);
    expect(err).toMatchObject({ op: 'READ', path: '/local/domain/0/name', timeoutMs: 50 });
  });

  test('no socket at the path: XenstoreUnavailableError with the system reason', async () => {
    const path = join(tempDir(), 'absent.sock');
    expect(existsSync(path)).toBe(false);
    const err = await XenstoreClient.connect({ socketPath: path }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenstoreUnavailableError);
    expect(err).toMatchObject({ socketPath: path, code: 'ENOENT' });
  });

  test('the socket path comes from XENSTORED_PATH when no path is given', async () => {
    const path = await silentServer();
    const xs = await XenstoreClient.connect({ env: { XENSTORED_PATH: path } });
    clients.push(xs);
    expect(xs.socketPath).toBe(path);
    expect(xs.state).toBe('connected');
  });
});

/** Awaits p, failing the test if it takes longer than EVENT_WAIT_MS. */
async function withinEventWait<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${EVENT_WAIT_MS} ms`)), EVENT_WAIT_MS);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
