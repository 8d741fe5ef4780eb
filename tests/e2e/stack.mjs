// The processes behind a browser test: the Logto-shaped IdP, a real redis-server and the
// Bookstore itself, each on a free loopback port, each ended by its own PID.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const outputDir = path.join(repoRoot, 'tests/e2e/output');

const appBinary = path.join(
  process.env.CARGO_TARGET_DIR ?? path.join(repoRoot, 'target'),
  'debug/logto-bookstore',
);

/** A port nothing listens on right now. */
export async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/** Polls `url` until it answers, or fails after `timeoutMs`. */
async function waitForHttp(url, timeoutMs, child) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${child.spawnfile} exited with ${child.exitCode}`);
    try {
      await fetch(url, { redirect: 'manual' });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** Spawns a process whose output goes to `output/<name>.log`. */
function start(name, command, args, env) {
  mkdirSync(outputDir, { recursive: true });
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.on('error', (error) => {
    throw new Error(`cannot start ${command}: ${error.message}`);
  });
  const log = [];
  child.stdout.on('data', (chunk) => log.push(chunk));
  child.stderr.on('data', (chunk) => log.push(chunk));
  child.log = () => Buffer.concat(log).toString();
  child.label = name;
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await once(child, 'exit');
  clearTimeout(timer);
}

/** Access tokens live 65 s: 5 s after issue they are within the app's 60 s refresh margin. */
export const ACCESS_TOKEN_TTL_SECS = 65;
export const REFRESH_MARGIN_SECS = 60;

/**
 * Starts Redis and, per session store, one app with its own Logto-shaped IdP (so that each IdP
 * can send back-channel logout to its app). Returns their origins, each IdP's output so far
 * (`idpLog(store)`, where the IdP logs every grant and revocation) and `stop()`.
 */
export async function startStack({ stores = ['cookie', 'redis'] } = {}) {
  const children = [];
  try {
    const redisPort = await freePort();
    const redis = start('redis', 'redis-server', [
      '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    ]);
    children.push(redis);

    const apps = {};
    const idps = {};
    const idpChildren = {};
    for (const store of stores) {
      const appOrigin = `http://127.0.0.1:${await freePort()}`;
      const idpOrigin = `http://127.0.0.1:${await freePort()}`;
      apps[store] = appOrigin;
      idps[store] = idpOrigin;

      const idp = start(`idp-${store}`, process.execPath, ['dev/idp/server.mjs'], {
        IDP_PORT: new URL(idpOrigin).port,
        IDP_ORIGIN: idpOrigin,
        LOGTO_APP_ID: 'bookstore-demo',
        LOGTO_APP_SECRET: 'bookstore-demo-secret',
        BASE_URL: appOrigin,
        BACKCHANNEL_LOGOUT_URI: `${appOrigin}/backchannel-logout`,
        IDP_ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL_SECS),
      });
      idpChildren[store] = idp;
      children.push(idp);
      await waitForHttp(`${idpOrigin}/oidc/.well-known/openid-configuration`, 20_000, idp);

      const app = start(`app-${store}`, appBinary, [], {
        HOST: '127.0.0.1',
        PORT: new URL(appOrigin).port,
        BASE_URL: appOrigin,
        LOGTO_ENDPOINT: idpOrigin,
        LOGTO_APP_ID: 'bookstore-demo',
        LOGTO_APP_SECRET: 'bookstore-demo-secret',
        LOGTO_SCOPES: 'email read:books urn:logto:scope:organizations read:club-shelf',
        LOGTO_RESOURCES: 'https://api.bookstore.example',
        LOGTO_SOCIAL_CONNECTORS: 'github',
        LOGTO_EMAIL_SIGN_IN: 'true',
        SESSION_STORE: store,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        SESSION_SECRET: 'e2e-only-secret-'.repeat(5),
        RUST_LOG: 'info',
      });
      children.push(app);
      await waitForHttp(`${appOrigin}/`, 20_000, app);
    }

    return {
      apps,
      idps,
      idpLog: (store) => idpChildren[store].log(),
      logs: () => children.map((child) => `--- ${child.label}\n${child.log()}`).join('\n'),
      stop: () => Promise.all(children.map(stop)),
    };
  } catch (error) {
    await Promise.all(children.map(stop));
    throw error;
  }
}
