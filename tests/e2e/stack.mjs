// The processes behind a browser test: the Logto-shaped IdP, a real redis-server and the
// Bookstore itself, each ended by its own PID. None of them is handed a port that another
// process could take first: Redis listens on a Unix socket, the IdP on a port the system picks
// (IDP_PORT=0), and the app, which must know its own origin before it starts, on a port
// outside the range the system picks from.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const outputDir = path.join(repoRoot, 'tests/e2e/output');

const appBinary = path.join(
  process.env.CARGO_TARGET_DIR ?? path.join(repoRoot, 'target'),
  'debug/logto-bookstore',
);

/**
 * The demo's settings (dev/demo.env): the IdP's client, the API resource, organizations,
 * connectors and email sign-in, so that the browser tests see what the demo shows.
 */
export function demoSettings(file = path.join(repoRoot, 'dev/demo.env')) {
  const settings = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = line.match(/^([A-Z_]+)=(?:"([^"]*)"|(\S*))\s*$/);
    if (match) settings[match[1]] = match[2] ?? match[3];
  }
  return settings;
}

/** Ports handed out by this process, so that two apps never get the same one. */
const handedOut = new Set();

/**
 * A port nothing listens on, below the kernel's ephemeral range. A port from that range (such
 * as a port-0 listener got and gave back) could be taken by another port-0 listener or by an
 * outgoing connection before the app binds it; below it, only a process that picks fixed ports
 * could, and the app would then fail to start with "cannot listen", rather than a test later.
 */
export async function portBelowTheEphemeralRange() {
  const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim().split(/\s+/).map(Number);
  const high = ephemeralLow > 11_000 ? ephemeralLow : 65_536; // an unusual range: take any
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = 10_000 + Math.floor(Math.random() * (high - 10_000));
    if (handedOut.has(port)) continue;
    const server = createServer();
    const listening = await new Promise((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!listening) continue;
    server.close();
    await once(server, 'close');
    handedOut.add(port);
    return port;
  }
  throw new Error('no free port found below the ephemeral range');
}

/** Polls `url` until it answers, or fails after `timeoutMs`. */
async function waitForHttp(url, timeoutMs, child) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${child.label} exited with ${child.exitCode}:\n${child.log()}`);
    try {
      await fetch(url, { redirect: 'manual' });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** Waits until `child` prints a line that matches `pattern`, and returns the match. */
async function waitForLine(child, pattern, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = child.log().match(pattern);
    if (match) return match;
    if (child.exitCode !== null || child.signalCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${child.label} printed no line like ${pattern}:\n${child.log()}`);
}

/** Spawns a process whose output goes to `output/<name>.log` and into `child.log()`. */
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
  const file = createWriteStream(path.join(outputDir, `${name}.log`));
  const log = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk) => {
      log.push(chunk);
      file.write(chunk);
    });
  }
  child.on('close', () => file.end());
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

/**
 * Access tokens live 8 s. The app refreshes a token when a quarter of its lifetime is left
 * (a minute at most), so these are due 6 s after issue.
 */
export const ACCESS_TOKEN_TTL_SECS = 8;
export const REFRESH_MARGIN_SECS = Math.min(60, ACCESS_TOKEN_TTL_SECS / 4);

/**
 * Starts Redis and, per session store, one app with its own Logto-shaped IdP (so that each IdP
 * can send back-channel logout to its app). Returns their origins, each IdP's output so far
 * (`idpLog(store)`, where the IdP logs every grant and revocation), all output (`logs()`) and
 * `stop()`. `appPort` picks each app's port (the stack's own tests hand it a taken one).
 */
export async function startStack({
  stores = ['cookie', 'redis'], appPort: pickAppPort = portBelowTheEphemeralRange,
} = {}) {
  const children = [];
  // Redis's socket lives here, readable by this user only.
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'bookstore-e2e-'));
  const stopAll = async () => {
    await Promise.all(children.map(stop));
    rmSync(runDir, { recursive: true, force: true });
  };
  try {
    const redisSocket = path.join(runDir, 'redis.sock');
    const redis = start('redis', 'redis-server', [
      '--port', '0', '--unixsocket', redisSocket, '--unixsocketperm', '700',
      '--save', '', '--appendonly', 'no',
    ]);
    children.push(redis);
    await waitForLine(redis, /ready to accept connections/i, 20_000);

    const demo = demoSettings();
    const apps = {};
    const idps = {};
    const idpChildren = {};
    for (const store of stores) {
      const appPort = await pickAppPort();
      const appOrigin = `http://127.0.0.1:${appPort}`;

      // The IdP first: it must know the app's origin, and the app its issuer.
      const idp = start(`idp-${store}`, process.execPath, ['dev/idp/server.mjs'], {
        IDP_PORT: '0',
        IDP_ORIGIN: 'http://127.0.0.1:0',
        IDP_TEST_CONTROLS: 'true',
        LOGTO_APP_ID: demo.LOGTO_APP_ID,
        LOGTO_APP_SECRET: demo.LOGTO_APP_SECRET,
        BASE_URL: appOrigin,
        BACKCHANNEL_LOGOUT_URI: `${appOrigin}/backchannel-logout`,
        IDP_ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL_SECS),
      });
      idpChildren[store] = idp;
      children.push(idp);
      const [, idpOrigin] = await waitForLine(idp, /^IdP ready: (http:\/\/127\.0\.0\.1:\d+)\/oidc$/m, 20_000);

      const app = start(`app-${store}`, appBinary, [], {
        ...demo,
        HOST: '127.0.0.1',
        PORT: String(appPort),
        BASE_URL: appOrigin,
        LOGTO_ENDPOINT: idpOrigin,
        SESSION_STORE: store,
        REDIS_URL: `redis+unix://${redisSocket}`,
        SESSION_SECRET: 'e2e-only-secret-'.repeat(5),
        RUST_LOG: 'info',
      });
      children.push(app);
      // The app's own line, so that what answers at the port is this app and nothing else.
      await waitForLine(app, new RegExp(`Bookstore listening on port ${appPort}\\b`), 20_000);
      await waitForHttp(`${appOrigin}/`, 20_000, app);
      apps[store] = appOrigin;
      idps[store] = idpOrigin;
    }

    return {
      apps,
      idps,
      idpLog: (store) => idpChildren[store].log(),
      logs: () => children.map((child) => `--- ${child.label}\n${child.log()}`).join('\n'),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
