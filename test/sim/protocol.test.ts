import {
  encodeReply,
  encodeRequest,
  parseReply,
  parseRequest,
  type Request,
  WRONG_DAEMON,
} from '../../sim/daemon/protocol.js';

// The client half of the wire format (encodeRequest, parseReply) must be read by the daemon's half
// exactly as the shim's bytes are, or the benchmark's no-spawn runner would send other commands.

const requests: Request[] = [
  { token: 't0', tool: 'xl', cwd: '/', env: {}, args: ['list'], stdin: null },
  {
    token: 'abc',
    tool: 'xenstore-write',
    cwd: '/tmp/x y',
    env: { STAGE1_XL_OPTS: '-p' },
    args: ['/local/domain/0/a', "it's\nmultiline", '', 'ünïcode'],
    stdin: null,
  },
  { token: 'k', tool: 'vmadm', cwd: '/', env: {}, args: ['create'], stdin: '{"brand":"joyent"}\n' },
];

test.each(requests)('parseRequest reads back what encodeRequest wrote (%#)', (req) => {
  expect(parseRequest(encodeRequest(req))).toEqual(req);
});

test('a request cut short is incomplete, not a different request', () => {
  const whole = encodeRequest(requests[1] as Request);
  for (const cut of [1, 10, whole.length - 1]) expect(parseRequest(whole.subarray(0, cut))).toBeNull();
});

test('parseReply reads back encodeReply, byte counts and all', () => {
  expect(parseReply(encodeReply(3, 'out ü\n', 'err\n'))).toEqual({
    exitCode: 3,
    stdout: 'out ü\n',
    stderr: 'err\n',
  });
  expect(parseReply(encodeReply(0, '', ''))).toEqual({ exitCode: 0, stdout: '', stderr: '' });
});

test('parseReply refuses the wrong-daemon answer and a truncated reply', () => {
  expect(parseReply(WRONG_DAEMON)).toBeNull();
  const whole = encodeReply(0, 'abcdef', '');
  expect(parseReply(whole.subarray(0, whole.length - 1))).toBeNull();
});
