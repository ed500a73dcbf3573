import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { silentLogger } from '../../pkg/log/logger.js';
import { startHttpServer } from '../../pkg/observe/http-server.js';
import { Metrics } from '../../pkg/observe/metrics.js';
import { projectRoot } from '../../pkg/project-files.js';

/**
 * No container engine runs here, so the Dockerfile is checked as data, and its runtime stage is
 * rebuilt by hand in a temporary folder from the very COPY lines of the Dockerfile: production
 * dependencies only, then the service and its health probe must work from that file set alone.
 */
const run = promisify(execFile);

interface Instruction {
  op: string;
  args: string;
}

/** Instructions of a Dockerfile: comments dropped, continuation lines joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(whole);
    if (m) out.push({ op: (m[1] as string).toUpperCase(), args: m[2] as string });
  }
  return out;
}

/** Stages by name, each with its own instructions (the FROM excluded). */
function stages(instructions: Instruction[]): Map<string, { from: string; body: Instruction[] }> {
  const out = new Map<string, { from: string; body: Instruction[] }>();
  let current: Instruction[] | null = null;
  for (const i of instructions) {
    if (i.op === 'FROM') {
      const m = /^(\S+)\s+AS\s+(\S+)$/i.exec(i.args);
      if (!m) throw new Error(`unnamed stage: FROM ${i.args}`);
      current = [];
      out.set(m[2] as string, { from: m[1] as string, body: current });
    } else current?.push(i);
  }
  return out;
}

const dockerfile = parseDockerfile(readFileSync(join(projectRoot, 'Dockerfile'), 'utf8'));
const byStage = stages(dockerfile);
const build = byStage.get('build');
const runtime = byStage.get('runtime');
const ops = (body: Instruction[] | undefined, op: string) => (body ?? []).filter((i) => i.op === op);

describe('Dockerfile', () => {
  test('two stages on node:24-slim, build then runtime; the runtime stage is the image', () => {
    expect([...byStage.keys()]).toEqual(['build', 'runtime']);
    expect(build?.from).toBe('node:24-slim');
    expect(runtime?.from).toBe('node:24-slim');
  });

  test('build stage: npm ci and the build, as the unprivileged node user', () => {
    const runs = ops(build?.body, 'RUN').map((i) => i.args);
    expect(runs.some((r) => /^npm ci\b/.test(r))).toBe(true);
    expect(runs).toContain('npm run build');
    expect(ops(build?.body, 'USER').map((i) => i.args)).toEqual(['node']);
  });

  test('runtime stage: production dependencies only, installed without scripts', () => {
    const runs = ops(runtime?.body, 'RUN').map((i) => i.args);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatch(/^npm ci --omit=dev --ignore-scripts\b/);
    const copies = ops(runtime?.body, 'COPY').map((i) => i.args);
    expect(copies.every((c) => c.startsWith('--from=build '))).toBe(true);
    expect(copies.join('\n')).not.toContain('node_modules');
  });

  test('HEALTHCHECK runs node on the probe script; ENTRYPOINT runs the service; runs as root', () => {
    const [hc, ...more] = ops(runtime?.body, 'HEALTHCHECK');
    expect(more).toEqual([]);
    const cmd = /\bCMD\s+(\[.*\])$/.exec(hc?.args ?? '')?.[1];
    expect(JSON.parse(cmd ?? 'null')).toEqual(['node', 'bin/domainmgr-healthcheck.js']);
    expect(hc?.args).toMatch(/--timeout=\d+s/);
    expect(existsSync(join(projectRoot, 'bin/domainmgr-healthcheck.js'))).toBe(true);
    const entry = ops(runtime?.body, 'ENTRYPOINT');
    expect(entry.map((i) => JSON.parse(i.args))).toEqual([['node', 'bin/domainmgr.js']]);
    // xl needs root on a dom0 (docs/deploy.md); the last USER of the image says so explicitly.
    expect(ops(runtime?.body, 'USER').at(-1)?.args).toBe('root');
  });

  test('.dockerignore keeps the host build and dependencies out of the context', () => {
    const ignored = readFileSync(join(projectRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git']));
  });
});

describe('the runtime stage file set, assembled from the Dockerfile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'domainmgr-runtime-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** COPY --from=build <src...> <dest>: sources are paths in the build stage's WORKDIR. */
  function copyRuntimeFiles(): string[] {
    const workdir = ops(build?.body, 'WORKDIR').at(-1)?.args ?? '/';
    const copied: string[] = [];
    for (const c of ops(runtime?.body, 'COPY')) {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      const dest = parts.pop() as string;
      for (const src of parts) {
        const rel = posix.relative(workdir, src);
        const from = join(projectRoot, rel);
        if (!existsSync(from)) throw new Error(`${rel} missing: run npm ci (which builds dist/) first`);
        // Destinations are relative to the runtime WORKDIR; a trailing slash means "into".
        const to = dest.endsWith('/') ? join(dir, dest, posix.basename(rel)) : join(dir, dest);
        cpSync(from, to, { recursive: true });
        copied.push(rel);
      }
    }
    return copied;
  }

  test('npm ci --omit=dev --ignore-scripts, then domainmgr --help, a configuration check and the health probe work', async () => {
    expect(copyRuntimeFiles().sort()).toEqual([
      'bin',
      'config',
      'dist',
      'package-lock.json',
      'package.json',
      'types',
    ]);
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir });
    expect(existsSync(join(dir, 'node_modules/prom-client'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules/@asyncapi'))).toBe(false);

    const env = { ...process.env, NODE_ENV: 'production' };
    const help = await run('node', ['bin/domainmgr.js', '--help'], { cwd: dir, env });
    expect(help.stdout).toContain('--http-listen');
    // Loading and validating a configuration reads config/ (defaults, schema) from the copy, and
    // the schemas of types/ are compiled as the entry loads. (domainmgr no longer prints its
    // configuration and exits: with a valid one it runs the service, so an invalid one is used.)
    const invalid = await run('node', ['bin/domainmgr.js', '--node-id', 'edge-01', '--backend', 'hyperv'], {
      cwd: dir,
      env,
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect(invalid).toMatchObject({ code: 2, stdout: '' });
    expect((invalid as { stderr: string }).stderr).toBe(
      'domainmgr: invalid configuration: backend must be one of "xl", "rkt", "vmadm" (from --backend)\n',
    );

    const server = await startHttpServer({
      listen: '127.0.0.1:0',
      metrics: new Metrics({ defaultMetrics: false }),
      health: () => ({ live: true, ready: true }),
      logger: silentLogger,
    });
    const listen = `127.0.0.1:${server.address.port}`;
    try {
      const ok = await run('node', ['bin/domainmgr-healthcheck.js'], {
        cwd: dir,
        env: { ...env, DOMAINMGR_HTTP_LISTEN: listen },
      });
      expect(ok.stdout).toMatch(/^domainmgr-healthcheck: 200 /);
    } finally {
      await server.close();
    }
    const down = await run('node', ['bin/domainmgr-healthcheck.js'], {
      cwd: dir,
      env: { ...env, DOMAINMGR_HTTP_LISTEN: listen },
    }).catch((e: { code: number; stderr: string }) => e);
    expect(down).toMatchObject({ code: 1, stderr: expect.stringContaining('ECONNREFUSED') });
  }, 180_000);
});
