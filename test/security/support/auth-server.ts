import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds, type Permissions } from '@nats-io/jwt';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';
import type { PermissionSet } from '../../../pkg/bus/permissions.js';
import { OwnNatsServer } from '../../bus/support/nats-server.js';

/**
 * A nats-server of the test's own with an authentication configuration written by the test
 * (`-c FILE`; port, store and JetStream come from OwnNatsServer's flags). rewrite() replaces the
 * configuration; a restart() then applies it, as an operator's change would.
 */
export class AuthServer {
  private constructor(
    readonly server: OwnNatsServer,
    readonly dir: string,
    readonly confFile: string,
  ) {}

  static async start(conf: string): Promise<AuthServer> {
    const dir = mkdtempSync(join(tmpdir(), 'domainmgr-auth-'));
    const confFile = join(dir, 'server.conf');
    writeFileSync(confFile, conf);
    const server = await OwnNatsServer.create(['-c', confFile]);
    await server.start();
    return new AuthServer(server, dir, confFile);
  }

  get url(): string {
    return this.server.url;
  }

  /** A file in the test's folder (secrets, seeds, creds), written with mode 0600. */
  file(name: string, content: string | Uint8Array): string {
    const p = join(this.dir, name);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  }

  rewrite(conf: string): void {
    writeFileSync(this.confFile, conf);
  }

  async restart(): Promise<void> {
    await this.server.stop();
    await this.server.start();
  }

  async destroy(): Promise<void> {
    await this.server.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A permission set as JWT user permissions. */
export function jwtPermissions(p: PermissionSet): Partial<Permissions> {
  return {
    pub: { allow: p.publish.allow, deny: p.publish.deny },
    sub: { allow: p.subscribe.allow, deny: p.subscribe.deny },
  };
}

/**
 * Decentralized (JWT) auth made by the test: an operator, a system account and one application
 * account with JetStream enabled, preloaded into the server (`resolver: MEMORY`). users() issues
 * `.creds` contents for users of the application account.
 */
export class JwtOperator {
  private constructor(
    readonly conf: string,
    private readonly account: KeyPair,
    readonly accountPublicKey: string,
  ) {}

  static async create(): Promise<JwtOperator> {
    const operator = createOperator();
    const system = createAccount();
    const account = createAccount();
    const operatorJwt = await encodeOperator('test-operator', operator, {
      system_account: system.getPublicKey(),
    });
    const systemJwt = await encodeAccount('SYS', system, {}, { signer: operator });
    const accountJwt = await encodeAccount(
      'FLEET',
      account,
      {
        limits: {
          // Partial limits leave the others at 0 (no connection allowed): every one is set.
          conn: -1,
          subs: -1,
          data: -1,
          payload: -1,
          leaf: -1,
          imports: -1,
          exports: -1,
          wildcards: true,
          mem_storage: -1,
          disk_storage: -1,
          streams: -1,
          consumer: -1,
        },
      },
      { signer: operator },
    );
    const conf = [
      `operator: ${operatorJwt}`,
      `system_account: ${system.getPublicKey()}`,
      'resolver: MEMORY',
      'resolver_preload: {',
      `  ${system.getPublicKey()}: ${systemJwt}`,
      `  ${account.getPublicKey()}: ${accountJwt}`,
      '}',
      '',
    ].join('\n');
    return new JwtOperator(conf, account, account.getPublicKey());
  }

  /** The `.creds` file content of a new user of the application account. */
  async userCreds(name: string, permissions: Partial<Permissions> = {}): Promise<Uint8Array> {
    const user = createUser();
    const jwt = await encodeUser(name, user, this.account, permissions);
    return fmtCreds(jwt, user);
  }
}

/** A fresh nkey user: its public key (for the server) and seed (for the client's seed file). */
export function nkeyUser(): { publicKey: string; seed: string } {
  const kp = createUser();
  return { publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}
