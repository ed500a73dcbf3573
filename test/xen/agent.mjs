// Command agent of the real-Xen test image: runs inside dom0 and executes commands for the host
// test (test/xen/boot.ts), reached through QEMU user networking (hostfwd on 127.0.0.1 only).
// It is test equipment, not part of domainmgr: it runs any argv it is given, as root.
//
// Protocol: one TCP connection per command. The client sends one JSON line
//   {"argv": ["xl", "list"], "timeoutMs": 30000, "stdin": "optional text"}
// and reads one JSON line back, then the connection closes:
//   {"code": 0, "signal": null, "stdout": "...", "stderr": "...", "ms": 12, "timedOut": false}
// or {"error": "message"} when the command could not be started.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

const port = Number(process.argv[2] ?? 7000);
const MAX_OUTPUT = 16 * 1024 * 1024;

function run(req, reply) {
  if (!Array.isArray(req.argv) || req.argv.length === 0 || !req.argv.every((a) => typeof a === 'string')) {
    reply({ error: 'argv must be a non-empty array of strings' });
    return;
  }
  const started = Date.now();
  console.log(`run ${JSON.stringify(req.argv).slice(0, 200)}`);
  const child = spawn(req.argv[0], req.argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = [];
  const err = [];
  let outLen = 0;
  let errLen = 0;
  let timedOut = false;
  child.stdout.on('data', (b) => {
    if (outLen < MAX_OUTPUT) out.push(b);
    outLen += b.length;
  });
  child.stderr.on('data', (b) => {
    if (errLen < MAX_OUTPUT) err.push(b);
    errLen += b.length;
  });
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, req.timeoutMs ?? 60000);
  child.on('error', (e) => {
    clearTimeout(timer);
    reply({ error: `${req.argv[0]}: ${e.message}` });
  });
  child.on('close', (code, signal) => {
    clearTimeout(timer);
    reply({
      code,
      signal,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
      ms: Date.now() - started,
      timedOut,
    });
  });
  child.stdin.on('error', () => {});
  child.stdin.end(typeof req.stdin === 'string' ? req.stdin : '');
}

process.on('uncaughtException', (e) => {
  console.log(`AGENT-ERROR ${e.stack ?? e}`);
});

const server = createServer((sock) => {
  let buf = '';
  let done = false;
  sock.setEncoding('utf8');
  sock.on('error', () => {});
  sock.on('data', (chunk) => {
    if (done) return;
    buf += chunk;
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    done = true;
    let req;
    try {
      req = JSON.parse(buf.slice(0, nl));
    } catch (e) {
      sock.end(`${JSON.stringify({ error: `bad request: ${e.message}` })}\n`);
      return;
    }
    let replied = false;
    run(req, (res) => {
      if (replied) return;
      replied = true;
      sock.end(`${JSON.stringify(res)}\n`);
    });
  });
});
server.listen(port, '0.0.0.0', () => {
  console.log(`AGENT-LISTENING port=${port}`);
});
