import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  HEADER_BYTES,
  pathPayload,
  TRANSACTION_START_PAYLOAD,
  transactionEndPayload,
  watchPayload,
  writePayload,
  XsType,
} from '../../pkg/xenstore/wire.js';
import { type SimHostHandle, startSimHost } from '../support/sim-host.js';
import { pvhCfg, removeTempDirs, writeCfg } from './helpers.js';

/**
 * The simulated xenstored byte for byte: raw frames in, raw frames out (the client has its own
 * tests in test/xenstore). Waits are bounded by WAIT_MS and end as soon as the frame is there.
 */
const WAIT_MS = 10_000;

/** A raw connection: send a frame, read frames in order. */
class Raw {
  readonly frames: Frame[] = [];
  closed = false;
  #decoder = new FrameDecoder();
  #wake: (() => void) | null = null;
  #nextReq = 1;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.frames.push(...this.#decoder.push(c));
      this.#wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
  }

  static open(path: string): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ path });
      s.once('connect', () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }

  /** Resolves when check() holds, re-checked on every arrival. */
  async until<T>(check: () => T | undefined, what: string): Promise<T> {
    const end = performance.now() + WAIT_MS;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      const left = end - performance.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Sends a request and resolves with its reply as [type name or number, payload text]. */
  async ask(type: number, payload: Buffer, txId = 0): Promise<[number, string]> {
    const reqId = this.#nextReq++;
    this.socket.write(encodeFrame({ type, reqId, txId, payload }));
    const f = await this.until(
      () => this.frames.find((x) => x.reqId === reqId && x.type !== XsType.WATCH_EVENT),
      `reply ${reqId}`,
    );
    return [f.type, f.payload.toString('latin1')];
  }

  /** The next watch event for token, taken off the list. */
  async event(token: string): Promise<string> {
    const f = await this.until(
      () => this.frames.find((x) => x.type === XsType.WATCH_EVENT && x.payload.includes(`\0${token}\0`)),
      `event for ${token}`,
    );
    this.frames.splice(this.frames.indexOf(f), 1);
    return f.payload.toString('latin1').split('\0')[0] as string;
  }
}

let h: SimHostHandle;
let raw: Raw;
const ERROR = XsType.ERROR;

beforeAll(async () => {
  h = startSimHost();
  await h.simctl(['ping']);
  raw = await Raw.open(join(h.dir, 'xenstored', 'socket'));
});

afterAll(async () => {
  raw.socket.destroy();
  await h.stop();
  removeTempDirs();
});

describe('replies of the simulated xenstored', () => {
  test.each<[string, number, Buffer, number, [number, string]]>([
    ['READ of a missing node', XsType.READ, pathPayload('/nosuch'), 0, [ERROR, 'ENOENT\0']],
    ['READ of a malformed path', XsType.READ, pathPayload('/a//b'), 0, [ERROR, 'EINVAL\0']],
    ['READ without a NUL', XsType.READ, Buffer.from('/a'), 0, [ERROR, 'EINVAL\0']],
    ['WRITE without a NUL', XsType.WRITE, Buffer.from('/a'), 0, [ERROR, 'EINVAL\0']],
    ['WRITE of a path with a bad character', XsType.WRITE, writePayload('/a b', 'v'), 0, [ERROR, 'EINVAL\0']],
    ['WRITE of a new node', XsType.WRITE, writePayload('/t/new/k', 'v'), 0, [XsType.WRITE, 'OK\0']],
    ['READ of its implied parent', XsType.READ, pathPayload('/t/new'), 0, [XsType.READ, '']],
    ['DIRECTORY', XsType.DIRECTORY, pathPayload('/t/new'), 0, [XsType.DIRECTORY, 'k\0']],
    ['DIRECTORY of a missing node', XsType.DIRECTORY, pathPayload('/t/none'), 0, [ERROR, 'ENOENT\0']],
    ['MKDIR', XsType.MKDIR, pathPayload('/t/dir'), 0, [XsType.MKDIR, 'OK\0']],
    [
      'RM of a missing node under an existing parent',
      XsType.RM,
      pathPayload('/t/gone'),
      0,
      [XsType.RM, 'OK\0'],
    ],
    [
      'RM of a missing node under a missing parent',
      XsType.RM,
      pathPayload('/t/no/gone'),
      0,
      [ERROR, 'ENOENT\0'],
    ],
    ['RM of /', XsType.RM, pathPayload('/'), 0, [ERROR, 'EINVAL\0']],
    [
      'GET_DOMAIN_PATH',
      XsType.GET_DOMAIN_PATH,
      Buffer.from('7\0'),
      0,
      [XsType.GET_DOMAIN_PATH, '/local/domain/7\0'],
    ],
    ['GET_PERMS (not emulated)', XsType.GET_PERMS, pathPayload('/t'), 0, [ERROR, 'ENOSYS\0']],
    ['an unknown type', 99, pathPayload('/t'), 0, [ERROR, 'EINVAL\0']],
    [
      'a request in an unknown transaction',
      XsType.READ,
      pathPayload('/t/new/k'),
      424242,
      [ERROR, 'ENOENT\0'],
    ],
    [
      'TRANSACTION_END outside a transaction',
      XsType.TRANSACTION_END,
      transactionEndPayload(true),
      0,
      [ERROR, 'ENOENT\0'],
    ],
    ['UNWATCH of an unknown watch', XsType.UNWATCH, watchPayload('/t', 'none'), 0, [ERROR, 'ENOENT\0']],
  ])('%s', async (_what, type, payload, txId, expected) => {
    expect(await raw.ask(type, payload, txId)).toEqual(expected);
  });

  test('injected faults on socket requests: an errno, an OK that did nothing, only the matching path', async () => {
    const writeFault = (path: string, ...action: string[]) =>
      h.simctl([
        'fault',
        'add',
        '--tool',
        'xenstored',
        '--sub',
        'WRITE',
        '--match',
        path,
        ...action,
        '--times',
        '1',
      ]);
    await writeFault('/t/f1', '--exit', '1', '--stderr', 'EACCES');
    await writeFault('/t/f2', '--exit', '0');
    expect(await raw.ask(XsType.WRITE, writePayload('/t/f0', 'a'))).toEqual([XsType.WRITE, 'OK\0']);
    expect(await raw.ask(XsType.WRITE, writePayload('/t/f1', 'b'))).toEqual([ERROR, 'EACCES\0']);
    expect(await raw.ask(XsType.WRITE, writePayload('/t/f2', 'c'))).toEqual([XsType.WRITE, 'OK\0']);
    expect(await raw.ask(XsType.READ, pathPayload('/t/f0'))).toEqual([XsType.READ, 'a']);
    expect(await raw.ask(XsType.READ, pathPayload('/t/f2'))).toEqual([ERROR, 'ENOENT\0']);
    // Used up: the next write goes through.
    expect(await raw.ask(XsType.WRITE, writePayload('/t/f1', 'b'))).toEqual([XsType.WRITE, 'OK\0']);
  });

  test('the replies echo req_id and tx_id; the store is the one the xenstore tools see', async () => {
    expect(await raw.ask(XsType.WRITE, writePayload('/t/shared', 'by socket'))).toEqual([
      XsType.WRITE,
      'OK\0',
    ]);
    const r = await h.run(['xenstore-read', '/t/shared']);
    expect(r.stdout).toBe('by socket\n');
    const [, id] = await raw.ask(XsType.TRANSACTION_START, TRANSACTION_START_PAYLOAD);
    const txId = Number(id.replace('\0', ''));
    expect(txId).toBeGreaterThan(0);
    expect(await raw.ask(XsType.READ, pathPayload('/t/shared'), txId)).toEqual([XsType.READ, 'by socket']);
    const reply = raw.frames.find((f) => f.txId === txId && f.type === XsType.READ);
    expect(reply?.txId).toBe(txId);
    expect(await raw.ask(XsType.TRANSACTION_START, TRANSACTION_START_PAYLOAD, txId)).toEqual([
      ERROR,
      'EBUSY\0',
    ]);
    expect(await raw.ask(XsType.TRANSACTION_END, transactionEndPayload(false), txId)).toEqual([
      XsType.TRANSACTION_END,
      'OK\0',
    ]);
  });

  test('inside a transaction, a removal and a write show in READ and DIRECTORY, outside only after commit', async () => {
    await raw.ask(XsType.WRITE, writePayload('/t/txv/a', '1'));
    await raw.ask(XsType.WRITE, writePayload('/t/txv/b', '2'));
    const [, id] = await raw.ask(XsType.TRANSACTION_START, TRANSACTION_START_PAYLOAD);
    const tx = Number(id.replace('\0', ''));
    await raw.ask(XsType.RM, pathPayload('/t/txv/a'), tx);
    await raw.ask(XsType.WRITE, writePayload('/t/txv/c/d', '3'), tx);
    expect(await raw.ask(XsType.DIRECTORY, pathPayload('/t/txv'), tx)).toEqual([XsType.DIRECTORY, 'b\0c\0']);
    expect(await raw.ask(XsType.READ, pathPayload('/t/txv/a'), tx)).toEqual([ERROR, 'ENOENT\0']);
    expect(await raw.ask(XsType.DIRECTORY, pathPayload('/t/txv'))).toEqual([XsType.DIRECTORY, 'a\0b\0']);
    expect(await raw.ask(XsType.TRANSACTION_END, transactionEndPayload(true), tx)).toEqual([
      XsType.TRANSACTION_END,
      'OK\0',
    ]);
    expect(await raw.ask(XsType.DIRECTORY, pathPayload('/t/txv'))).toEqual([XsType.DIRECTORY, 'b\0c\0']);
  });

  test('a change to a node the transaction only read makes its commit EAGAIN; unrelated changes do not', async () => {
    await raw.ask(XsType.WRITE, writePayload('/t/cf/x', '1'));
    const start = async () =>
      Number((await raw.ask(XsType.TRANSACTION_START, TRANSACTION_START_PAYLOAD))[1].replace('\0', ''));
    const tx1 = await start();
    await raw.ask(XsType.READ, pathPayload('/t/cf/x'), tx1);
    await raw.ask(XsType.WRITE, writePayload('/t/elsewhere', 'z'));
    expect(await raw.ask(XsType.TRANSACTION_END, transactionEndPayload(true), tx1)).toEqual([
      XsType.TRANSACTION_END,
      'OK\0',
    ]);
    const tx2 = await start();
    await raw.ask(XsType.READ, pathPayload('/t/cf/x'), tx2);
    await raw.ask(XsType.WRITE, writePayload('/t/cf/y', 'w'), tx2);
    expect((await h.run(['xenstore-rm', '/t/cf/x'])).code).toBe(0);
    expect(await raw.ask(XsType.TRANSACTION_END, transactionEndPayload(true), tx2)).toEqual([
      ERROR,
      'EAGAIN\0',
    ]);
    expect(await raw.ask(XsType.READ, pathPayload('/t/cf/y'))).toEqual([ERROR, 'ENOENT\0']);
  });

  test('WATCH: OK first, then the registration event; relative watches get relative paths', async () => {
    const before = raw.frames.length;
    expect(await raw.ask(XsType.WATCH, watchPayload('rel/w', 'tr'))).toEqual([XsType.WATCH, 'OK\0']);
    await raw.until(() => raw.frames.slice(before).find((f) => f.type === XsType.WATCH_EVENT), 'the event');
    expect(raw.frames.slice(before).map((f) => f.type)).toEqual([XsType.WATCH, XsType.WATCH_EVENT]);
    expect(await raw.event('tr')).toBe('rel/w');
    await h.run(['xenstore-write', '/local/domain/0/rel/w/k', 'v']);
    expect(await raw.event('tr')).toBe('rel/w/k');
    expect(await raw.ask(XsType.WATCH, watchPayload('rel/w', 'tr'))).toEqual([ERROR, 'EEXIST\0']);
    expect(await raw.ask(XsType.UNWATCH, watchPayload('rel/w', 'tr'))).toEqual([XsType.UNWATCH, 'OK\0']);
  });

  test('removing a directory fires the watches on nodes below it with their own path', async () => {
    await raw.ask(XsType.WRITE, writePayload('/t/rmw/a/b', '1'));
    await raw.ask(XsType.WATCH, watchPayload('/t/rmw/a/b', 'deep'));
    expect(await raw.event('deep')).toBe('/t/rmw/a/b');
    await raw.ask(XsType.RM, pathPayload('/t/rmw'));
    expect(await raw.event('deep')).toBe('/t/rmw/a/b');
  });

  test('@releaseDomain fires on poweroff; @introduceDomain on create', async () => {
    await raw.ask(XsType.WATCH, watchPayload('@releaseDomain', 'rel'));
    await raw.ask(XsType.WATCH, watchPayload('@introduceDomain', 'intro'));
    expect(await raw.event('rel')).toBe('@releaseDomain');
    expect(await raw.event('intro')).toBe('@introduceDomain');
    expect((await h.run(['xl', 'create', writeCfg(pvhCfg('xsd-off'))])).code).toBe(0);
    expect(await raw.event('intro')).toBe('@introduceDomain');
    await h.simctl(['poweroff', 'xsd-off']);
    expect(await raw.event('rel')).toBe('@releaseDomain');
  });

  test('a reply over 4096 bytes is E2BIG, as xenstored sends it', async () => {
    const long = 'n'.repeat(1000);
    for (let i = 0; i < 5; i++) await raw.ask(XsType.WRITE, writePayload(`/t/wide/${long}${i}`, ''));
    expect(await raw.ask(XsType.DIRECTORY, pathPayload('/t/wide'))).toEqual([ERROR, 'E2BIG\0']);
    await raw.ask(XsType.WRITE, writePayload('/t/fat', 'v'.repeat(4000)));
    expect(await raw.ask(XsType.READ, pathPayload('/t/fat'))).toEqual([XsType.READ, 'v'.repeat(4000)]);
  });

  test('a payload over 4096 bytes drops the connection, as xenstored does', async () => {
    const other = await Raw.open(join(h.dir, 'xenstored', 'socket'));
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(XsType.WRITE, 0);
    header.writeUInt32LE(4097, 12);
    other.socket.write(header);
    await other.until(() => (other.closed ? true : undefined), 'the connection to close');
    expect(other.closed).toBe(true);
  });
});
