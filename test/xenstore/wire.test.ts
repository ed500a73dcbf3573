import {
  directoryPayload,
  encodeFrame,
  errorPayload,
  type Frame,
  FrameDecoder,
  HEADER_BYTES,
  OK_PAYLOAD,
  parseDirectory,
  parseError,
  parseTransactionId,
  parseWatch,
  parseWrite,
  pathPayload,
  splitNul,
  TRANSACTION_START_PAYLOAD,
  transactionEndPayload,
  transactionIdPayload,
  typeName,
  watchPayload,
  writePayload,
  XENSTORE_PAYLOAD_MAX,
  XenstorePayloadTooLargeError,
  XenstoreWireError,
  XsType,
} from '../../pkg/xenstore/wire.js';

const hex = (b: Buffer): string => b.toString('hex');
const header = (type: number, reqId: number, txId: number, len: number): string => {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(reqId, 4);
  b.writeUInt32LE(txId, 8);
  b.writeUInt32LE(len, 12);
  return hex(b);
};

describe('message types: the numbers of enum xsd_sockmsg_type', () => {
  test.each([
    ['CONTROL', 0],
    ['DIRECTORY', 1],
    ['READ', 2],
    ['WATCH', 4],
    ['UNWATCH', 5],
    ['TRANSACTION_START', 6],
    ['TRANSACTION_END', 7],
    ['WRITE', 11],
    ['RM', 13],
    ['WATCH_EVENT', 15],
    ['ERROR', 16],
    ['RESET_WATCHES', 21],
    ['DIRECTORY_PART', 22],
  ] as const)('%s = %i', (name, n) => {
    expect(XsType[name]).toBe(n);
    expect(typeName(n)).toBe(name);
  });
  test('20 (RESTRICT, removed) and 0xffff have no name', () => {
    expect(typeName(20)).toBe('type 20');
    expect(typeName(0xffff)).toBe('type 65535');
  });
});

describe('payloads of the requests and replies the client uses', () => {
  test.each([
    ['READ / DIRECTORY / RM request', pathPayload('/local/domain/3/name'), '/local/domain/3/name\0'],
    ['WRITE request (value not NUL-terminated)', writePayload('/a/b', 'v 1'), '/a/b\0v 1'],
    ['WRITE request with an empty value', writePayload('/a/b', ''), '/a/b\0'],
    ['WATCH / UNWATCH request, WATCH_EVENT', watchPayload('@releaseDomain', 'tok'), '@releaseDomain\0tok\0'],
    ['TRANSACTION_START request', TRANSACTION_START_PAYLOAD, '\0'],
    ['TRANSACTION_END commit', transactionEndPayload(true), 'T\0'],
    ['TRANSACTION_END abort', transactionEndPayload(false), 'F\0'],
    ['OK reply', OK_PAYLOAD, 'OK\0'],
    ['ERROR reply', errorPayload('ENOENT'), 'ENOENT\0'],
    ['TRANSACTION_START reply', transactionIdPayload(42), '42\0'],
    ['DIRECTORY reply', directoryPayload(['name', 'vm', 'device']), 'name\0vm\0device\0'],
    ['empty DIRECTORY reply', directoryPayload([]), ''],
  ])('%s', (_what, payload, text) => {
    expect(payload.toString('latin1')).toBe(text);
  });

  test('a WRITE value keeps any bytes, NULs included', () => {
    const value = Buffer.from([0, 1, 255, 0]);
    const parsed = parseWrite(writePayload('/k', value));
    expect(parsed?.path).toBe('/k');
    expect(hex(parsed?.value ?? Buffer.alloc(0))).toBe('0001ff00');
  });

  test.each([
    ['WATCH_EVENT', Buffer.from('/local/domain/5\0dm-1\0'), { path: '/local/domain/5', token: 'dm-1' }],
    ['WATCH_EVENT without a token', Buffer.from('/x\0'), null],
  ])('parseWatch: %s', (_what, payload, expected) => {
    expect(parseWatch(payload)).toEqual(expected);
  });

  test.each([
    ['42\0', 42],
    ['1', 1],
    ['4294967295\0', 4294967295],
    ['4294967296\0', null],
    ['x\0', null],
    ['\0', null],
  ])('parseTransactionId(%j) = %p', (text, id) => {
    expect(parseTransactionId(Buffer.from(text))).toBe(id);
  });

  test.each([
    ['ENOENT\0', 'ENOENT'],
    ['EQUOTA\0', 'EQUOTA'],
    ['EACCES', 'EACCES'],
  ])('parseError(%j) = %s', (text, name) => {
    expect(parseError(Buffer.from(text))).toBe(name);
  });

  test('parseDirectory and splitNul', () => {
    expect(parseDirectory(Buffer.from('a\0b\0'))).toEqual(['a', 'b']);
    expect(parseDirectory(Buffer.alloc(0))).toEqual([]);
    const s = splitNul(Buffer.from('p\0v'));
    expect(s.strings).toEqual(['p']);
    expect(s.rest.toString()).toBe('v');
  });

  test('a NUL inside a path is refused (it would cut the message)', () => {
    expect(() => pathPayload('/a\0b')).toThrow(XenstoreWireError);
  });
});

describe('encodeFrame', () => {
  test.each([
    [
      { type: XsType.READ, reqId: 1, txId: 0, payload: pathPayload('/a') },
      header(2, 1, 0, 3) + hex(Buffer.from('/a\0')),
    ],
    [
      { type: XsType.WRITE, reqId: 0xffffffff, txId: 7, payload: writePayload('/k', 'v') },
      header(11, 0xffffffff, 7, 4) + hex(Buffer.from('/k\0v')),
    ],
    [
      { type: XsType.TRANSACTION_START, reqId: 9, txId: 0, payload: TRANSACTION_START_PAYLOAD },
      `${header(6, 9, 0, 1)}00`,
    ],
    [
      { type: XsType.ERROR, reqId: 3, txId: 0, payload: errorPayload('EAGAIN') },
      header(16, 3, 0, 7) + hex(Buffer.from('EAGAIN\0')),
    ],
  ])('%# little-endian header then payload', (frame, expected) => {
    expect(hex(encodeFrame(frame))).toBe(expected);
  });

  test.each([
    ['exactly the maximum', XENSTORE_PAYLOAD_MAX, true],
    ['one byte over', XENSTORE_PAYLOAD_MAX + 1, false],
  ])('a payload of %s', (_what, size, ok) => {
    const frame = { type: XsType.WRITE, reqId: 1, txId: 0, payload: Buffer.alloc(size, 0x61) };
    if (ok) expect(encodeFrame(frame).length).toBe(HEADER_BYTES + size);
    else expect(() => encodeFrame(frame)).toThrow(XenstorePayloadTooLargeError);
  });

  test('the refusal names the operation and the size', () => {
    const big = writePayload('/k', 'x'.repeat(XENSTORE_PAYLOAD_MAX));
    expect(() => encodeFrame({ type: XsType.WRITE, reqId: 1, txId: 0, payload: big })).toThrow(
      /WRITE: payload of 4099 bytes exceeds XENSTORE_PAYLOAD_MAX \(4096\), not sent/,
    );
  });

  test('header fields outside u32 are refused', () => {
    expect(() => encodeFrame({ type: XsType.READ, reqId: -1, txId: 0, payload: Buffer.alloc(0) })).toThrow(
      XenstoreWireError,
    );
  });
});

describe('FrameDecoder: partial and coalesced socket reads', () => {
  const frames: Frame[] = [
    { type: XsType.READ, reqId: 1, txId: 0, payload: Buffer.from('value') },
    { type: XsType.WATCH_EVENT, reqId: 0, txId: 0, payload: watchPayload('@releaseDomain', 't') },
    { type: XsType.WRITE, reqId: 2, txId: 5, payload: OK_PAYLOAD },
    { type: XsType.DIRECTORY, reqId: 3, txId: 0, payload: Buffer.alloc(0) },
  ];
  const stream = Buffer.concat(frames.map(encodeFrame));
  const norm = (fs: Frame[]) => fs.map((f) => ({ ...f, payload: hex(f.payload) }));

  test.each([
    ['all in one read', [stream.length]],
    ['byte by byte', Array.from({ length: stream.length }, () => 1)],
    ['cut inside the first header', [7, stream.length - 7]],
    ['cut inside a payload', [HEADER_BYTES + 2, stream.length - HEADER_BYTES - 2]],
    ['cut right after a header', [HEADER_BYTES, stream.length - HEADER_BYTES]],
    ['uneven pieces', [3, 30, 1, 17, 40, stream.length - 91]],
  ])('%s', (_what, sizes) => {
    const d = new FrameDecoder();
    const out: Frame[] = [];
    let pos = 0;
    for (const n of sizes) {
      out.push(...d.push(stream.subarray(pos, pos + n)));
      pos += n;
    }
    expect(pos).toBe(stream.length);
    expect(norm(out)).toEqual(norm(frames));
    expect(d.buffered).toBe(0);
  });

  test('an incomplete frame waits for the rest', () => {
    const d = new FrameDecoder();
    expect(d.push(stream.subarray(0, HEADER_BYTES + 1))).toEqual([]);
    expect(d.buffered).toBe(HEADER_BYTES + 1);
  });

  test('a header announcing more than the maximum is a protocol error', () => {
    const d = new FrameDecoder();
    const bad = Buffer.alloc(HEADER_BYTES);
    bad.writeUInt32LE(XENSTORE_PAYLOAD_MAX + 1, 12);
    expect(() => d.push(bad)).toThrow(/payload of 4097 bytes/);
  });

  test('a frame payload does not alias the socket chunk', () => {
    const chunk = Buffer.from(encodeFrame(frames[0] as Frame));
    const [f] = new FrameDecoder().push(chunk);
    chunk.fill(0);
    expect(f?.payload.toString()).toBe('value');
  });
});
