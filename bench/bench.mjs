// The Bookstore's benchmark; bench/run builds the binaries and runs this.
//   node bench/bench.mjs [--duration S] [--reps N]
// Starts a redis-server (no persistence), the Logto-shaped IdP (dev/idp), the app twice
// (SESSION_STORE=cookie and =redis) and the actix-web hello-world baseline
// (examples/bench_baseline.rs), all on free 127.0.0.1 ports and each ended by its own PID.
// Loads them from other processes (wrk; bench/sign-in-driver.mjs), checks that what was
// measured were the intended pages, and writes bench/results/<date>.md and BENCHMARKS.md.
// Exits 1, writing no result, when a check fails: a figure measured on error pages is worthless.

import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { pageText, pathPattern, signIn } from './sign-in-driver.mjs';
// Below the ephemeral range and never handed out twice, as for the browser tests.
import { portBelowTheEphemeralRange as freePort } from '../tests/e2e/stack.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(benchDir, '..');
const outputDir = path.join(benchDir, 'output'); // process logs, not committed
const resultsDir = path.join(benchDir, 'results');
/** The optimisation log, kept by hand and appended to BENCHMARKS.md. */
const OPTIMISATIONS = path.join(repoRoot, 'bench/optimisations.md');
/** The top of each path's profile, before and after its changes (bench/profiles/*.md, by hand). */
const PROFILES = path.join(repoRoot, 'bench/profiles');
const releaseDir = path.join(process.env.CARGO_TARGET_DIR ?? path.join(repoRoot, 'target'), 'release');
const APP_BINARY = path.join(releaseDir, 'logto-bookstore');
const BASELINE_BINARY = path.join(releaseDir, 'examples/bench_baseline');
/** What no sign-in can skip, timed alone (examples/sign_in_floor.rs). */
const FLOOR_BINARY = path.join(releaseDir, 'examples/sign_in_floor');

// The same load settings for every target.
const WRK_THREADS = 2;
const WRK_CONNECTIONS = 32;
const SIGN_IN_WORKERS = 8;

const USER = { username: 'alice', password: 'alice-password', name: 'Alice Liddell' };
const CLIENT = { id: 'bookstore-bench', secret: 'bookstore-bench-secret' };
/** The dev IdP's machine-to-machine app (its defaults), whose token the api_books test sends. */
const M2M_CLIENT = { id: 'bookstore-m2m', secret: 'bookstore-m2m-secret' };
/** The Bookstore's API resource (dev/idp/api-resource.mjs) and the scope `GET /api/books` needs. */
const API_RESOURCE = 'https://api.bookstore.example';
const READ_BOOKS = 'read:books';
const SESSION_COOKIE = 'bookstore_session';

// The targets of issue 16 (performance, round two), all relative to the baseline of the same run.
const TARGET = {
  anonHome: 0.85, // of the baseline's req/s
  anonCpu: 1.3, // × the baseline's CPU per request, at most
  authHomeCookie: 0.55,
  authHomeRedis: 0.5,
  // CPU per sign-in, at most, × the baseline's CPU per request (anon_home's baseline).
  signInCpu: { cookie: 75, redis: 90 },
  peakRssMiB: 16,
};
/** How long each byte-for-byte check run lasts (s): wrk with a response() hook, not timed. */
const CHECK_SECONDS = 2;
/** RSS may move this much between repetitions and still count as flat (allocator noise). */
const FLAT_RSS_SLACK_KIB = 1024;

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString());

function parseOptions() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      reps: { type: 'string', default: '3' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: bench/run [--duration SECONDS] [--reps N]   (defaults: 10 s, 3 repetitions)');
    process.exit(0);
  }
  const duration = Number(values.duration);
  const reps = Number(values.reps);
  if (!Number.isInteger(duration) || duration < 1 || duration > 60) {
    throw new Error('--duration must be a whole number of seconds from 1 to 60');
  }
  if (!Number.isInteger(reps) || reps < 1 || reps > 10) {
    throw new Error('--reps must be a whole number from 1 to 10');
  }
  return { duration, reps };
}

// ---------------------------------------------------------------------------------------------
// Processes

const children = [];

/** Spawns a long-running process; its output goes to output/<name>.log and into `lines`. */
function start(name, command, args, env = {}) {
  const log = createWriteStream(path.join(outputDir, `${name}.log`));
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.label = name;
  child.lines = [];
  let partial = '';
  const collect = (chunk) => {
    log.write(chunk);
    const text = partial + chunk.toString();
    const lines = text.split('\n');
    partial = lines.pop();
    child.lines.push(...lines);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.on('error', (error) => console.error(`cannot start ${command}: ${error.message}`));
  children.push(child);
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await once(child, 'exit');
  clearTimeout(timer);
}

/** Load generators running right now (wrk, the sign-in driver), ended with the rest on Ctrl-C. */
const loadGenerators = new Set();

function stopAll() {
  for (const child of loadGenerators) child.kill('SIGKILL');
  return Promise.all(children.map(stop));
}

/** Spawns a load generator, killed if it outlives `limitSeconds`; resolves to its exit and output. */
async function runBounded(command, args, limitSeconds, stderr = 'pipe') {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', stderr] });
  loadGenerators.add(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), limitSeconds * 1000);
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr?.on('data', (chunk) => { output += chunk; });
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  loadGenerators.delete(child);
  return { code, output };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function assertRunning(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`${child.label} exited (${child.exitCode ?? child.signalCode}); see bench/output/${child.label}.log`);
  }
}

/** Polls `url` until it answers 200, or fails after `timeoutMs`. */
async function waitForHttp(url, child, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    assertRunning(child);
    try {
      const response = await fetch(url, { redirect: 'manual' });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

function redisCli(port, ...args) {
  return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString().trim();
}

/** Calls per Redis command so far, from INFO commandstats. */
function redisCalls(port) {
  const calls = {};
  for (const [, command, n] of redisCli(port, 'INFO', 'commandstats').matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[command] = Number(n);
  }
  return calls;
}

/** The commands called between two `redisCalls` readings, without the INFO of the readings. */
function diffCalls(before, after) {
  const diff = {};
  for (const [command, n] of Object.entries(after)) {
    const delta = n - (before[command] ?? 0) - (command === 'info' ? 1 : 0);
    if (delta > 0) diff[command] = delta;
  }
  return diff;
}

async function waitForRedis(port, child) {
  for (let i = 0; i < 100; i += 1) {
    assertRunning(child);
    try {
      if (redisCli(port, 'PING') === 'PONG') return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error('redis-server did not answer PING');
}

/** utime + stime of `pid`, in clock ticks (/proc/<pid>/stat fields 14 and 15). */
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 on
  return Number(fields[11]) + Number(fields[12]);
}

const ticksToMs = (ticks) => (ticks * 1000) / CLK_TCK;

/** VmRSS and VmHWM (peak RSS) of `pid`, in KiB. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)[1]);
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

// ---------------------------------------------------------------------------------------------
// Requests

/**
 * GET `url` over a raw socket with exactly the request wrk sends (Host plus `headers`), so that
 * the response's size in bytes can be compared with wrk's bytes per response.
 */
function rawGet(url, headers = []) {
  const { hostname, port, pathname } = new URL(url);
  const request = [`GET ${pathname} HTTP/1.1`, `Host: ${hostname}:${port}`, ...headers, '', '']
    .join('\r\n');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.write(request));
    socket.setTimeout(5_000, () => socket.destroy(new Error(`${url} timed out`)));
    let data = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = data.subarray(0, end).toString().split('\r\n');
      const fields = head.slice(1).map((line) => {
        const colon = line.indexOf(':');
        return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
      });
      const length = Number(fields.find(([name]) => name === 'content-length')?.[1]);
      if (!Number.isFinite(length)) {
        socket.destroy();
        reject(new Error(`${url}: no Content-Length, cannot size the response`));
        return;
      }
      if (data.length < end + 4 + length) return;
      socket.destroy();
      resolve({
        status: Number(head[0].split(' ')[1]),
        setCookie: fields.filter(([name]) => name === 'set-cookie').map(([, value]) => value),
        text: data.subarray(end + 4, end + 4 + length).toString(),
        body: data.subarray(end + 4, end + 4 + length),
        bytes: end + 4 + length,
      });
    });
    socket.on('error', reject);
  });
}

/** Runs wrk once against `url`, bounded by its duration plus a grace period. */
async function runWrk(url, headers, { duration }) {
  const output = await wrk(url, headers, duration, 'report.lua');
  const json = /^BENCH_JSON (.*)$/m.exec(output)?.[1];
  if (!json) throw new Error(`wrk printed no totals:\n${output}`);
  const result = JSON.parse(json);
  result.rps = result.requests / (result.duration_us / 1e6);
  return result;
}

/**
 * Runs wrk with bench/check.lua for CHECK_SECONDS: every response must be 200 with exactly the
 * body of `expected` (a rawGet sample). Returns { requests, matched, differed }.
 */
async function checkEveryResponse(url, headers, expected) {
  const file = path.join(outputDir, 'expected-body');
  writeFileSync(file, expected.body);
  const output = await wrk(url, headers, CHECK_SECONDS, 'check.lua', [file]);
  const json = /^BENCH_CHECK (.*)$/m.exec(output)?.[1];
  if (!json) throw new Error(`wrk printed no check:\n${output}`);
  return JSON.parse(json);
}

/** wrk with one of bench/'s Lua scripts; its output, logged without credentials. */
async function wrk(url, headers, duration, script, scriptArgs = []) {
  const args = [
    `-t${WRK_THREADS}`, `-c${WRK_CONNECTIONS}`, `-d${duration}s`, '--latency',
    '-s', path.join(benchDir, script),
    ...headers.flatMap((header) => ['-H', header]),
    url,
    ...(scriptArgs.length ? ['--', ...scriptArgs] : []),
  ];
  const { code, output } = await runBounded('wrk', args, duration + 30);
  const shown = args.join(' ').replace(/Cookie: \S+/, 'Cookie: …').replace(/Bearer \S+/, 'Bearer …');
  wrkLog.write(`$ wrk ${shown}\n${output}\n`);
  if (code !== 0) throw new Error(`wrk failed (exit ${code}):\n${output}`);
  return output;
}

let wrkLog;

// ---------------------------------------------------------------------------------------------
// Statistics and formatting

function median(values) {
  const sorted = values.filter((v) => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
/** Three significant digits, at most three decimals: 0.0123, 1.23, 45.6, 789. */
function fmt(n) {
  if (n === null || !Number.isFinite(n)) return '–';
  if (n >= 100) return fmtInt(n);
  return String(Number(n.toPrecision(3)));
}
const fmtRatio = (n) => (n === null || !Number.isFinite(n) ? '–' : `${fmt(n)}×`);
const fmtPercent = (n) => `${Math.round(n * 100)} %`;
const fmtMiB = (kib) => `${(kib / 1024).toFixed(1)} MiB`;
const usToMs = (us) => us / 1000;

// ---------------------------------------------------------------------------------------------
// The run

async function main() {
  const options = parseOptions();
  for (const binary of [APP_BINARY, BASELINE_BINARY, FLOOR_BINARY]) {
    if (!existsSync(binary)) throw new Error(`${binary} is missing: bench/run builds it`);
  }
  mkdirSync(outputDir, { recursive: true });
  mkdirSync(resultsDir, { recursive: true });
  wrkLog = createWriteStream(path.join(outputDir, 'wrk.log'));
  const startedAt = new Date();
  const loadAverage = os.loadavg()[0];
  const checks = []; // { what, ok }
  const check = (ok, what) => {
    checks.push({ ok, what });
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    return ok;
  };

  console.log('==> starting redis-server, the IdP, the app (cookie and Redis stores) and the baseline');
  const redisPort = await freePort();
  const redis = start('redis', 'redis-server', [
    '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', os.tmpdir(),
  ]);
  await waitForRedis(redisPort, redis);

  const origins = {
    idp: `http://127.0.0.1:${await freePort()}`,
    cookie: `http://127.0.0.1:${await freePort()}`,
    redis: `http://127.0.0.1:${await freePort()}`,
    baseline: `http://127.0.0.1:${await freePort()}`,
    api: `http://127.0.0.1:${await freePort()}`,
  };
  const idp = start('idp', process.execPath, ['dev/idp/server.mjs'], {
    IDP_PORT: new URL(origins.idp).port,
    IDP_ORIGIN: origins.idp,
    LOGTO_APP_ID: CLIENT.id,
    LOGTO_APP_SECRET: CLIENT.secret,
    BASE_URL: `${origins.cookie} ${origins.redis}`,
  });
  await waitForHttp(`${origins.idp}/oidc/.well-known/openid-configuration`, idp);

  const apps = {};
  for (const store of ['cookie', 'redis']) {
    const app = start(`app-${store}`, APP_BINARY, [], {
      HOST: '127.0.0.1',
      PORT: new URL(origins[store]).port,
      BASE_URL: origins[store],
      LOGTO_ENDPOINT: origins.idp,
      LOGTO_APP_ID: CLIENT.id,
      LOGTO_APP_SECRET: CLIENT.secret,
      LOGTO_SCOPES: 'email', // profile and email, as in Logto's guides
      SESSION_STORE: store,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      SESSION_SECRET: 'bench-only-session-secret-'.repeat(3),
      RUST_LOG: 'warn', // an access log line per request would dominate the figures
    });
    // Ready means discovery and keys are loaded, so no test pays for them.
    await waitForHttp(`${origins[store]}/readyz`, app);
    app.url = origins[store];
    apps[store] = app;
  }
  // A third app with the API mounted (LOGTO_RESOURCES), so that the two above sign in exactly
  // as before: asking for a resource would change their sign-ins and session cookies.
  const apiApp = start('app-api', APP_BINARY, [], {
    HOST: '127.0.0.1',
    PORT: new URL(origins.api).port,
    BASE_URL: origins.api,
    LOGTO_ENDPOINT: origins.idp,
    LOGTO_APP_ID: CLIENT.id,
    LOGTO_APP_SECRET: CLIENT.secret,
    LOGTO_RESOURCES: API_RESOURCE,
    SESSION_STORE: 'cookie',
    SESSION_SECRET: 'bench-only-session-secret-'.repeat(3),
    RUST_LOG: 'warn',
  });
  await waitForHttp(`${origins.api}/readyz`, apiApp);
  apiApp.url = origins.api;
  const baseline = start('baseline', BASELINE_BINARY, [], { PORT: new URL(origins.baseline).port });
  await waitForHttp(`${origins.baseline}/`, baseline);
  baseline.url = origins.baseline;
  const startupIdpRequests = idp.lines.filter((line) => /^(GET|POST) \S+ \d{3}$/.test(line));
  const idle = { cookie: memory(apps.cookie.pid), redis: memory(apps.redis.pid), baseline: memory(baseline.pid) };

  // Memory of both apps after every repetition of every test, in order.
  const rssSeries = [];
  const recordMemory = (test, rep) => {
    rssSeries.push({ test, rep, cookie: memory(apps.cookie.pid), redis: memory(apps.redis.pid) });
  };

  /**
   * One wrk test: `reps` times app then baseline (A B A B), so drift is shared. Both get the
   * same request, the app at `appPath` and the baseline at `/`, its only route. `expected`
   * holds the page each answered before the test (rawGet samples). Every timed run must be
   * free of errors and its bytes exactly those of its responses at the sampled size, plus at
   * most one partly read response per connection when wrk stops. After each repetition, a
   * check run compares every response's body with the sample, byte for byte.
   */
  async function loadTest(test, app, headers, expected, appPath = '/') {
    console.log(`==> ${test}: ${options.reps} × (app, baseline), ${options.duration} s each`);
    const runs = [];
    for (let rep = 1; rep <= options.reps; rep += 1) {
      for (const [target, child] of [['app', app], ['baseline', baseline]]) {
        const before = cpuTicks(child.pid);
        const redisBefore = { cpu: cpuTicks(redis.pid), calls: redisCalls(redisPort) };
        const result = await runWrk(`${child.url}${target === 'app' ? appPath : '/'}`, headers, options);
        const cpuMs = ticksToMs(cpuTicks(child.pid) - before);
        // What the request cost Redis: commands (INFO itself not counted) and CPU.
        const redisCpuMs = ticksToMs(cpuTicks(redis.pid) - redisBefore.cpu);
        const calls = diffCalls(redisBefore.calls, redisCalls(redisPort));
        runs.push({
          test, rep, target, ...result,
          cpuMsPerRequest: cpuMs / result.requests,
          redisCpuMsPerRequest: redisCpuMs / result.requests,
          redisCallsPerRequest: Object.fromEntries(
            Object.entries(calls).map(([command, n]) => [command, n / result.requests]),
          ),
        });
        const errors = Object.entries(result.errors).filter(([, n]) => n > 0);
        check(errors.length === 0, `${test} ${target} rep ${rep}: ${fmtInt(result.requests)} responses, `
          + (errors.length ? `errors: ${errors.map(([kind, n]) => `${n} ${kind}`).join(', ')}` : 'no errors'));
        // Every response has the sample's size (the Date header's length never changes);
        // each connection may have one response partly read when wrk stops.
        const size = expected[target].bytes;
        const partial = result.bytes - result.requests * size;
        check(partial >= 0 && partial < WRK_CONNECTIONS * size,
          `${test} ${target} rep ${rep}: ${fmtInt(result.bytes)} bytes = ${fmtInt(result.requests)} responses `
            + `of exactly ${size} bytes + ${fmtInt(partial)} of unfinished ones`);
        const url = `${child.url}${target === 'app' ? appPath : '/'}`;
        const exact = await checkEveryResponse(url, headers, expected[target]);
        check(exact.differed === 0 && exact.matched === exact.requests && exact.matched > 0,
          `${test} ${target} rep ${rep}: ${fmtInt(exact.matched)} of ${fmtInt(exact.requests)} responses in a `
            + `${CHECK_SECONDS} s check run are 200 with the sampled body, byte for byte (${exact.differed} differ)`);
      }
      recordMemory(test, rep);
    }
    return runs;
  }

  // --- anon_home: on the Redis app, where a created session would show as a key.
  const anonSample = {};
  for (const store of ['cookie', 'redis']) {
    const sample = await rawGet(`${apps[store].url}/`);
    anonSample[store] = sample;
    check(sample.status === 200 && !pageText(sample.text).includes('Signed in as'),
      `anon_home (${store} store): GET / answers 200, the signed-out page`);
    check(sample.setCookie.length === 0, `anon_home (${store} store): no Set-Cookie`);
  }
  const baselineSample = await rawGet(`${baseline.url}/`);
  const anonRuns = await loadTest('anon_home', apps.redis, [], {
    app: anonSample.redis, baseline: baselineSample,
  });
  const redisKeysAfterAnon = Number(redisCli(redisPort, 'DBSIZE'));
  check(redisKeysAfterAnon === 0, `anon_home: ${redisKeysAfterAnon} Redis keys after the test`);
  const anonAfter = await rawGet(`${apps.redis.url}/`);
  check(anonAfter.setCookie.length === 0, 'anon_home: still no Set-Cookie after the test');

  // --- auth_home_cookie, auth_home_redis: a session from a real sign-in, sent with -H.
  const authRuns = {};
  const cookieBytes = {};
  for (const store of ['cookie', 'redis']) {
    const test = `auth_home_${store}`;
    const jar = await signIn({ app: apps[store].url, idp: origins.idp, ...USER });
    const session = jar.value(new URL(apps[store].url), SESSION_COOKIE);
    if (!session) throw new Error(`${test}: the sign-in left no ${SESSION_COOKIE} cookie`);
    const headers = [`Cookie: ${SESSION_COOKIE}=${session}`];
    cookieBytes[store] = headers[0].length - 'Cookie: '.length;
    const signedIn = async (when) => {
      const sample = await rawGet(`${apps[store].url}/`, headers);
      check(sample.status === 200 && pageText(sample.text).includes(`Signed in as ${USER.name}`),
        `${test}: GET / ${when} answers 200 and says "Signed in as ${USER.name}"`);
      check(sample.setCookie.length === 0, `${test}: no Set-Cookie ${when}`);
      return sample;
    };
    const sample = await signedIn('before the test');
    const baselineWithCookie = await rawGet(`${baseline.url}/`, headers);
    authRuns[store] = await loadTest(test, apps[store], headers, {
      app: sample, baseline: baselineWithCookie,
    });
    await signedIn('after the test');
  }

  // --- sign_in: complete sign-ins from fresh cookie jars, 8 at a time, against each store.
  const signInRuns = {};
  for (const store of ['cookie', 'redis']) {
    console.log(`==> sign_in (${store} store): ${options.reps} × ${options.duration} s, ${SIGN_IN_WORKERS} workers`);
    signInRuns[store] = [];
    for (let rep = 1; rep <= options.reps; rep += 1) {
      const mark = idp.lines.length;
      const appBefore = cpuTicks(apps[store].pid);
      const idpBefore = cpuTicks(idp.pid);
      const result = await runSignInDriver(apps[store].url, origins.idp, options.duration);
      const appMs = ticksToMs(cpuTicks(apps[store].pid) - appBefore);
      const idpMs = ticksToMs(cpuTicks(idp.pid) - idpBefore);
      await sleep(300); // the IdP logs a request when its response is sent: let the last lines arrive
      const idpRequests = countIdpRequests(idp.lines.slice(mark));
      signInRuns[store].push({
        rep, ...result, idpRequests,
        appCpuMsPerSignIn: appMs / result.attempts,
        idpCpuMsPerSignIn: idpMs / result.attempts,
      });
      check(result.failures === 0 && result.completed > 0,
        `sign_in (${store} store) rep ${rep}: ${result.completed} sign-ins, ${result.failures} failed`
          + (result.failures ? `: ${JSON.stringify(result.errors)}` : ''));
      recordMemory(`sign_in_${store}`, rep);
    }
  }

  // --- the sign-in's floor, on the same machine in the same run (its last line is JSON).
  console.log('==> sign_in floor: examples/sign_in_floor');
  const { code: floorCode, output: floorOutput } = await runBounded(FLOOR_BINARY, [], 300);
  const floorJson = /^FLOOR_JSON (.*)$/m.exec(floorOutput)?.[1];
  if (floorCode !== 0 || !floorJson) throw new Error(`examples/sign_in_floor printed no FLOOR_JSON:\n${floorOutput}`);
  const floor = JSON.parse(floorJson);

  // --- api_books: GET /api/books with an access token of the M2M app, as examples/m2m.rs gets it.
  const accessToken = await machineToken(origins.idp);
  const bearer = [`Authorization: Bearer ${accessToken}`];
  const refused = await rawGet(`${apiApp.url}/api/books`);
  check(refused.status === 401, `api_books: GET /api/books without a token answers ${refused.status} (401 expected)`);
  const shelfServed = async (when) => {
    const sample = await rawGet(`${apiApp.url}/api/books`, bearer);
    let titles = [];
    try {
      titles = JSON.parse(sample.text).books.map((book) => book.title);
    } catch {
      // Not the shelf: the check below fails.
    }
    check(sample.status === 200 && titles.length > 0 && titles.every((title) => typeof title === 'string'),
      `api_books: GET /api/books with the token ${when} answers ${sample.status} and a JSON shelf of ${titles.length} books`);
    return sample;
  };
  const apiSample = await shelfServed('before the test');
  const baselineWithToken = await rawGet(`${baseline.url}/`, bearer);
  const apiRuns = await loadTest('api_books', apiApp, bearer, {
    app: apiSample, baseline: baselineWithToken,
  }, '/api/books');
  await shelfServed('after the test');

  const peak = { cookie: memory(apps.cookie.pid), redis: memory(apps.redis.pid), baseline: memory(baseline.pid) };
  await stopAll();
  const elapsedSeconds = (Date.now() - startedAt.getTime()) / 1000;

  const report = renderReport({
    options, startedAt, elapsedSeconds, loadAverage, checks, anonRuns, authRuns, signInRuns, apiRuns,
    redisKeysAfterAnon, anonSample, cookieBytes, idle, peak, rssSeries, startupIdpRequests, floor,
  });
  const failed = checks.filter(({ ok }) => !ok);
  if (failed.length) {
    const file = path.join(outputDir, 'failed-report.md');
    writeFileSync(file, report.results);
    console.error(`\n${failed.length} check(s) failed; no result written (the report is in ${path.relative(repoRoot, file)}):`);
    for (const { what } of failed) console.error(`  ${what}`);
    process.exit(1);
  }
  const resultFile = path.join(resultsDir, `${localDate(startedAt)}.md`);
  writeFileSync(resultFile, report.results);
  writeFileSync(path.join(repoRoot, 'BENCHMARKS.md'), report.benchmarks);
  console.log(`\n${report.summary}\nwrote ${path.relative(repoRoot, resultFile)} and BENCHMARKS.md`);
}

/**
 * An access token for the API resource with `read:books`, from the IdP's M2M app through the
 * client-credentials grant (`client_secret_basic`, `resource`, `scope`), as examples/m2m.rs
 * gets it. The token is never printed.
 */
async function machineToken(idp) {
  const response = await fetch(`${idp}/oidc/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${M2M_CLIENT.id}:${M2M_CLIENT.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: API_RESOURCE, scope: READ_BOOKS }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status !== 200 || typeof body.access_token !== 'string'
    || !String(body.scope ?? '').split(' ').includes(READ_BOOKS)) {
    throw new Error(`the IdP gave the M2M app no ${READ_BOOKS} token for ${API_RESOURCE}: `
      + `${response.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
  }
  return body.access_token;
}

/** Runs bench/sign-in-driver.mjs in its own process, bounded by its duration plus a grace period. */
async function runSignInDriver(app, idp, duration) {
  const args = [
    path.join(benchDir, 'sign-in-driver.mjs'), '--app', app, '--idp', idp,
    '--duration', String(duration), '--workers', String(SIGN_IN_WORKERS),
    '--username', USER.username, '--password', USER.password, '--name', USER.name,
  ];
  const { code, output } = await runBounded(process.execPath, args, duration + 60, 'inherit');
  if (code !== 0) throw new Error(`the sign-in driver failed (exit ${code})`);
  return JSON.parse(output);
}

/** `METHOD /path status` lines of the IdP's log, counted by `METHOD /pattern`. */
function countIdpRequests(lines) {
  const counts = {};
  for (const line of lines) {
    const match = /^(GET|POST|PUT|DELETE|HEAD|OPTIONS) (\S+) (\d{3})$/.exec(line);
    if (!match) continue;
    const key = `${match[1]} ${pathPattern(match[2])}`;
    counts[key] ??= { count: 0, statuses: new Set() };
    counts[key].count += 1;
    counts[key].statuses.add(match[3]);
  }
  return counts;
}

function localDate(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

// ---------------------------------------------------------------------------------------------
// The report

/** What each IdP request of a sign-in is, for the breakdown table. */
const IDP_REQUESTS = {
  'GET /oidc/auth': 'authorization request (the app\'s /sign-in redirected here)',
  'GET /interaction/:uid': 'the sign-in page (consent is granted with the sign-in, as Logto\'s auto-consent does)',
  'POST /interaction/:uid/login': 'the sign-in form posted',
  'GET /oidc/auth/:uid': 'authorization resumed after sign-in (303 to the app\'s /callback)',
  'POST /oidc/token': 'code exchange (client_secret_basic, PKCE verifier)',
  'GET /oidc/.well-known/openid-configuration': 'discovery',
  'GET /oidc/jwks': 'signing keys',
};

function machine() {
  const run = (command, args) => {
    try {
      return execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString().split('\n')[0].trim();
    } catch (error) {
      // wrk -v prints its version and exits 1.
      return error.stdout?.toString().split('\n')[0].trim() || '?';
    }
  };
  const osName = /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  return {
    cpu: os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? '?',
    cores: os.availableParallelism(),
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${osName}, Linux ${os.release()}`,
    versions: [
      run('rustc', ['--version']),
      `Node.js ${process.version}`,
      run('wrk', ['-v']).replace(/ Copyright.*/, ''),
      run('redis-server', ['--version']).replace(/ sha=.*/, ''),
    ].join(' · '),
  };
}

function renderReport(data) {
  const { options, startedAt, elapsedSeconds, loadAverage, checks, anonRuns, authRuns, signInRuns, apiRuns } = data;
  const env = machine();
  const short = options.duration < 10 || options.reps < 3;
  const repetitions = `${options.reps} repetition${options.reps === 1 ? '' : 's'}`;

  /** Medians of one wrk test's runs for `target`. */
  const medians = (runs, target) => {
    const mine = runs.filter((run) => run.target === target);
    return {
      rps: median(mine.map((run) => run.rps)),
      p50: median(mine.map((run) => usToMs(run.latency_us.p50))),
      p99: median(mine.map((run) => usToMs(run.latency_us.p99))),
      cpu: median(mine.map((run) => run.cpuMsPerRequest)),
    };
  };
  const pageTests = [
    ['anon_home', 'GET /, no cookie (Redis store)', anonRuns],
    ['auth_home_cookie', 'GET / signed in, cookie store', authRuns.cookie],
    ['auth_home_redis', 'GET / signed in, Redis store', authRuns.redis],
    ['api_books', 'GET /api/books with a bearer token', apiRuns],
  ].map(([test, what, runs]) => ({ test, what, runs, app: medians(runs, 'app'), base: medians(runs, 'baseline') }));
  const anonBase = pageTests[0].base;

  const signIns = Object.entries(signInRuns).map(([store, runs]) => {
    const attempts = runs.reduce((sum, run) => sum + run.attempts, 0);
    return {
      store,
      runs,
      attempts,
      perSecond: median(runs.map((run) => run.per_second)),
      p50: median(runs.map((run) => run.latency_ms.p50)),
      p99: median(runs.map((run) => run.latency_ms.p99)),
      cpu: median(runs.map((run) => run.appCpuMsPerSignIn)),
      idpCpu: median(runs.map((run) => run.idpCpuMsPerSignIn)),
      breakdown: idpBreakdown(runs, attempts),
    };
  });

  // Memory: peak RSS, and VmRSS after each repetition flat within each test.
  const peakKiB = Math.max(data.peak.cookie.hwm, data.peak.redis.hwm);
  const growth = [];
  for (const test of [...new Set(data.rssSeries.map((entry) => entry.test))]) {
    const series = data.rssSeries.filter((entry) => entry.test === test);
    for (const store of ['cookie', 'redis']) {
      growth.push(series.at(-1)[store].rss - series[0][store].rss);
    }
  }
  const flat = options.reps < 2 ? null : Math.max(...growth) <= FLAT_RSS_SLACK_KIB;

  // Targets.
  const ratio = (test) => test.app.rps / test.base.rps;
  const [anon, authCookie, authRedis] = pageTests;
  const cpuRatio = (test) => test.app.cpu / test.base.cpu;
  const signInCpuRatio = (signIn) => signIn.cpu / anonBase.cpu;
  const verdict = (ok) => (ok === null ? 'not judged' : ok ? '**met**' : '**not met**');
  const targets = [
    ['anon_home', `≥ ${fmtPercent(TARGET.anonHome)} of baseline req/s and ≤ ${fmt(TARGET.anonCpu)}× its CPU per request; no session created (no Set-Cookie, 0 Redis keys)`,
      `${fmtPercent(ratio(anon))}, ${fmtRatio(cpuRatio(anon))} CPU; ${data.anonSample.redis.setCookie.length ? 'Set-Cookie sent' : 'no Set-Cookie'}, ${data.redisKeysAfterAnon} Redis keys`,
      ratio(anon) >= TARGET.anonHome && cpuRatio(anon) <= TARGET.anonCpu
        && data.redisKeysAfterAnon === 0 && data.anonSample.redis.setCookie.length === 0],
    ['auth_home_cookie', `≥ ${fmtPercent(TARGET.authHomeCookie)} of baseline req/s`, fmtPercent(ratio(authCookie)),
      ratio(authCookie) >= TARGET.authHomeCookie],
    ['auth_home_redis', `≥ ${fmtPercent(TARGET.authHomeRedis)} of baseline req/s`, fmtPercent(ratio(authRedis)),
      ratio(authRedis) >= TARGET.authHomeRedis],
    ['sign_in', `app CPU per sign-in ≤ ${TARGET.signInCpu.cookie}× the baseline's CPU per request (cookie store), ≤ ${TARGET.signInCpu.redis}× (Redis store)`,
      signIns.map((s) => `${fmtRatio(signInCpuRatio(s))}, ${fmt(s.cpu)} ms (${s.store})`).join('; ')
        + `; the floor alone is ${fmtRatio(data.floor.sum_us / 1000 / anonBase.cpu)}`,
      signIns.every((s) => signInCpuRatio(s) <= TARGET.signInCpu[s.store])],
    ['memory', `peak RSS ≤ ${TARGET.peakRssMiB} MiB through all tests, flat between repetitions`,
      `${fmtMiB(data.peak.cookie.hwm)} (cookie), ${fmtMiB(data.peak.redis.hwm)} (redis); `
        + (flat === null ? 'flatness needs ≥ 2 repetitions' : `${flat ? 'flat' : 'grew'} (largest growth within a test ${fmt(Math.max(...growth))} KiB)`),
      flat === null ? null : peakKiB <= TARGET.peakRssMiB * 1024 && flat],
  ];

  const lines = [];
  const push = (...rows) => lines.push(...rows);
  push(
    `# Benchmark run of ${localDate(startedAt)}`,
    '',
    ...(short ? [`> **Short run** (\`--duration ${options.duration} --reps ${options.reps}\`): a smoke test of the harness; the figures are indicative only.`, ''] : []),
    `- **Command:** \`bench/run --duration ${options.duration} --reps ${options.reps}\``
      + `, started ${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}, took ${Math.round(elapsedSeconds)} s.`,
    `- **Machine:** ${env.cpu}, ${env.cores} cores, ${env.memory}; ${env.os}. Load average at the start: ${loadAverage.toFixed(2)}.`
      + ' wrk, the sign-in driver, the IdP, Redis and the servers all share these cores.',
    `- **Versions:** ${env.versions}.`,
    `- **Load:** wrk, ${WRK_THREADS} threads, ${WRK_CONNECTIONS} connections, ${options.duration} s per test, `
      + `${repetitions}, app and baseline alternated (A B A B); sign-ins: ${SIGN_IN_WORKERS} concurrent `
      + `workers of \`bench/sign-in-driver.mjs\`, ${options.duration} s, ${repetitions} per store.`,
    '- **Baseline:** `examples/bench_baseline.rs`, actix-web hello-world (`GET /` → 13 bytes of text), '
      + 'release build, default worker count like the app.',
    '',
    '## Targets',
    '',
    '| test | target | measured | |',
    '|---|---|---|---|',
    ...targets.map(([test, target, measured, ok]) => `| ${test} | ${target} | ${measured} | ${verdict(ok)} |`),
    '',
    '## Results',
    '',
    'Medians over the repetitions. "× baseline" divides by the baseline\'s median in the same test'
      + ' (the sign-in rows by its `GET /` in anon_home). CPU is the app process\'s user + system time'
      + ` from /proc (clock ticks of ${fmt(1000 / CLK_TCK)} ms) divided by the responses or sign-ins.`,
    '',
    '| test | throughput | × baseline | p50 latency | × baseline | p99 latency | × baseline | app CPU | × baseline |',
    '|---|---|---|---|---|---|---|---|---|',
    ...pageTests.map(({ test, app, base }) => `| ${test} | ${fmtInt(app.rps)} req/s | ${fmtRatio(app.rps / base.rps)} `
      + `| ${fmt(app.p50)} ms | ${fmtRatio(app.p50 / base.p50)} | ${fmt(app.p99)} ms | ${fmtRatio(app.p99 / base.p99)} `
      + `| ${fmt(app.cpu * 1000)} µs/req | ${fmtRatio(app.cpu / base.cpu)} |`),
    ...signIns.map((s) => `| sign_in (${s.store} store) | ${fmt(s.perSecond)} sign-ins/s | ${fmtRatio(s.perSecond / anonBase.rps)} `
      + `| ${fmt(s.p50)} ms | ${fmtRatio(s.p50 / anonBase.p50)} | ${fmt(s.p99)} ms | ${fmtRatio(s.p99 / anonBase.p99)} `
      + `| ${fmt(s.cpu)} ms/sign-in | ${fmtRatio(s.cpu / anonBase.cpu)} |`),
    '',
    'The baseline in each test (medians):',
    '',
    '| test | baseline req/s | p50 | p99 | CPU |',
    '|---|---|---|---|---|',
    ...pageTests.map(({ test, base }) => `| ${test} | ${fmtInt(base.rps)} | ${fmt(base.p50)} ms | ${fmt(base.p99)} ms | ${fmt(base.cpu * 1000)} µs/req |`),
    '',
    'api_books sends `GET /api/books` with `Authorization: Bearer <token>` to a third app, started with'
      + ` \`LOGTO_RESOURCES=${API_RESOURCE}\` so that the API is mounted; the token is the M2M app's, from`
      + ` the IdP's client-credentials grant with \`scope=${READ_BOOKS}\` (an ES384 JWT, as examples/m2m.rs`
      + ' gets it). The baseline gets `GET /` with the same header. No API test has a target yet.',
    '',
    'Redis during the page tests, per app request: '
      + pageTests.map(({ test, runs }) => {
        const mine = runs.filter((run) => run.target === 'app');
        const requests = mine.reduce((sum, run) => sum + run.requests, 0);
        const calls = {};
        for (const run of mine) {
          for (const [command, perRequest] of Object.entries(run.redisCallsPerRequest)) {
            calls[command] = (calls[command] ?? 0) + perRequest * run.requests;
          }
        }
        const commands = Object.entries(calls).map(([command, n]) => `${fmt(n / requests)} × ${command.toUpperCase()}`);
        return `${test} ${commands.length ? commands.join(' + ') : 'no command'}, `
          + `redis-server CPU ${fmt(median(mine.map((run) => run.redisCpuMsPerRequest)) * 1000)} µs`;
      }).join('; ') + '.',
    '',
    `A sign-in's latency is the whole flow, ${fmt(signIns[0].breakdown.hops)} requests by the "browser" (app and IdP); `
      + `the IdP (Node.js, oidc-provider) spent ${signIns.map((s) => `${fmt(s.idpCpu)} ms (${s.store})`).join(', ')} of CPU per sign-in, `
      + 'and is what limits sign-ins per second here.',
    '',
    `**The floor of a sign-in** (\`examples/sign_in_floor.rs\`, this run, CPU time of one thread): one ES384 `
      + `verification of an ID token ${fmt(data.floor.p384_verify_us)} µs, one AES-256-GCM seal of a `
      + `session ${fmt(data.floor.aes_gcm_seal_us)} µs, one token request on a kept-alive connection `
      + `${fmt(data.floor.token_round_trip_us)} µs: ${fmt(data.floor.sum_us)} µs, `
      + `${fmtRatio(data.floor.sum_us / 1000 / anonBase.cpu)} the baseline's CPU per request. A sign-in costs `
      + `${signIns.map((s) => `${fmtRatio(s.cpu * 1000 / data.floor.sum_us)} its floor (${s.store})`).join(', ')}: `
      + 'the rest is the three requests a sign-in makes to the app (kernel and HTTP work), cookies and JSON.',
    '',
    '## Requests at the IdP per sign-in',
    '',
    'Counted from the IdP\'s request log during the sign_in tests, divided by the sign-ins; '
      + '"browser" are the driver\'s own requests, "app" the app\'s server-to-server requests.',
    '',
  );
  for (const s of signIns) {
    push(
      `**${s.store} store** (${fmtInt(s.attempts)} sign-ins): ${fmt(s.breakdown.total)} requests, `
        + `${fmt(s.breakdown.browser)} from the browser, ${fmt(s.breakdown.app)} from the app.`,
      '',
      '| request | status | per sign-in | browser | app | what it is |',
      '|---|---|---|---|---|---|',
      ...s.breakdown.rows.map((row) => `| \`${row.request}\` | ${row.statuses} | ${fmt(row.total)} | ${fmt(row.browser)} | ${fmt(row.app)} | ${IDP_REQUESTS[row.request] ?? ''} |`),
      '',
    );
  }
  const startup = countIdpRequests(data.startupIdpRequests);
  push(
    `At start-up, before any test, the IdP logged ${Object.entries(startup)
      .map(([request, { count }]) => `${count} × \`${request}\``).join(', ')}: `
      + 'one discovery request is the harness waiting for the IdP, the others are the three apps loading'
      + ' discovery and keys once each. '
      + (signIns.some((s) => s.breakdown.rows.some((row) => /well-known|jwks/.test(row.request)))
        ? '**Discovery or keys were fetched again during the sign-in tests** (see the tables above).'
        : 'Neither was fetched again during the sign-in tests.'),
    '',
    '## Memory',
    '',
    '| process | RSS at start | peak RSS (VmHWM) | × baseline peak |',
    '|---|---|---|---|',
    ...['cookie', 'redis'].map((store) => `| app, ${store} store | ${fmtMiB(data.idle[store].rss)} | ${fmtMiB(data.peak[store].hwm)} | ${fmtRatio(data.peak[store].hwm / data.peak.baseline.hwm)} |`),
    `| baseline | ${fmtMiB(data.idle.baseline.rss)} | ${fmtMiB(data.peak.baseline.hwm)} | 1× |`,
    '',
    'VmRSS after each repetition:',
    '',
    '| after | app, cookie store | app, Redis store |',
    '|---|---|---|',
    ...data.rssSeries.map((entry) => `| ${entry.test} rep ${entry.rep} | ${fmtMiB(entry.cookie.rss)} | ${fmtMiB(entry.redis.rss)} |`),
    '',
    `Redis keys after anon_home: ${data.redisKeysAfterAnon}. The session cookie sent in auth_home_cookie is `
      + `${fmtInt(data.cookieBytes.cookie)} bytes, in auth_home_redis ${fmtInt(data.cookieBytes.redis)} bytes.`,
    '',
    '## Every repetition',
    '',
    '| test | rep | target | req/s | p50 | p99 | CPU | responses |',
    '|---|---|---|---|---|---|---|---|',
    ...pageTests.flatMap(({ runs }) => runs.map((run) => `| ${run.test} | ${run.rep} | ${run.target} | ${fmtInt(run.rps)} `
      + `| ${fmt(usToMs(run.latency_us.p50))} ms | ${fmt(usToMs(run.latency_us.p99))} ms | ${fmt(run.cpuMsPerRequest * 1000)} µs/req | ${fmtInt(run.requests)} |`)),
    ...signIns.flatMap((s) => s.runs.map((run) => `| sign_in_${s.store} | ${run.rep} | app | ${fmt(run.per_second)} sign-ins/s `
      + `| ${fmt(run.latency_ms.p50)} ms | ${fmt(run.latency_ms.p99)} ms | ${fmt(run.appCpuMsPerSignIn)} ms/sign-in | ${fmtInt(run.completed)} (${run.failures} failed) |`)),
    '',
    '## Checks',
    '',
    'Each wrk run must have no socket or HTTP errors and exactly the byte count of the page sampled'
      + ' before it (the signed-in page in the auth tests); every sign-in must end on a home page that'
      + ' says "Signed in as Alice Liddell".',
    '',
    ...checks.map(({ ok, what }) => `- ${ok ? 'ok' : '**FAILED**'}: ${what}`),
    '',
  );
  const results = lines.join('\n');

  const benchmarks = [
    '# Benchmarks',
    '',
    'How fast the Bookstore serves pages and signs users in, measured against a hello-world'
      + ' actix-web server (`examples/bench_baseline.rs`) built and loaded in the same run on the same'
      + ' machine. Every figure comes with its ratio to that baseline: absolute numbers depend on the'
      + ' machine, the ratios much less. This file is written by `bench/run` from its latest run;'
      + ' every run is kept in `bench/results/`.',
    '',
    '**Rerun it:** `bench/run` (about 5 minutes after the build; `bench/run --duration 1 --reps 1` is a'
      + ' quick check). It installs `wrk` and `redis-server` from Debian when missing, builds the app and'
      + ' the baseline in release mode, starts the Logto-shaped IdP (`dev/idp/`), a redis-server without'
      + ' persistence, the app three times (cookie store, Redis store, and with the API mounted) and the'
      + ' baseline, all on 127.0.0.1, and'
      + ' loads them from other processes. See `bench/README.md`.',
    '',
    '**For reference**, as stated in the issue and not measured here: Logto\'s official Express sample'
      + ' served about 2.7 k signed-in pages/s and spent 5.6 ms CPU per sign-in; the Flask sample 1.2 k/s'
      + ' and 8.9 ms; a hello-world baseline about 96 k/s.',
    '',
    // The run's own report, one heading level down.
    results.replace(/^#/gm, '##'),
    // What was changed because of earlier runs, with their figures: written by hand.
    ...(existsSync(OPTIMISATIONS) ? ['', readFileSync(OPTIMISATIONS, 'utf8').trimEnd()] : []),
    ...profiles(),
  ].join('\n');

  const summary = [
    '| test | target | measured | |',
    '|---|---|---|---|',
    ...targets.map(([test, target, measured, ok]) => `| ${test} | ${target} | ${measured} | ${verdict(ok)} |`),
  ].join('\n');
  return { results, benchmarks, summary };
}

/** bench/profiles/*.md in name order, under one heading: each file starts at `###`. */
function profiles() {
  if (!existsSync(PROFILES)) return [];
  const files = readdirSync(PROFILES).filter((name) => name.endsWith('.md')).sort();
  if (!files.length) return [];
  return [
    '',
    '## Profiles',
    '',
    'Where each path spends its instructions, before and after the changes above; written by hand'
      + ' from the commands shown, not by `bench/run`.',
    ...files.flatMap((name) => ['', readFileSync(path.join(PROFILES, name), 'utf8').trimEnd()]),
  ];
}

/** IdP requests per sign-in over `runs`, split into the browser's and the app's own. */
function idpBreakdown(runs, attempts) {
  const logged = {};
  const browser = {};
  let hops = 0;
  for (const run of runs) {
    for (const [request, { count, statuses }] of Object.entries(run.idpRequests)) {
      logged[request] ??= { count: 0, statuses: new Set() };
      logged[request].count += count;
      for (const status of statuses) logged[request].statuses.add(status);
    }
    for (const [hop, count] of Object.entries(run.hops)) {
      hops += count;
      if (!hop.startsWith('idp ')) continue;
      const request = hop.slice('idp '.length);
      browser[request] = (browser[request] ?? 0) + count;
    }
  }
  const rows = Object.entries(logged).map(([request, { count, statuses }]) => ({
    request,
    statuses: [...statuses].sort().join(', '),
    total: count / attempts,
    browser: (browser[request] ?? 0) / attempts,
    app: (count - (browser[request] ?? 0)) / attempts,
  }));
  const sum = (key) => rows.reduce((total, row) => total + row[key], 0);
  return { rows, total: sum('total'), browser: sum('browser'), app: sum('app'), hops: hops / attempts };
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    interrupted = true;
    console.error(`\n${signal}: stopping the processes`);
    await stopAll();
    process.exit(130);
  });
}

main().catch(async (error) => {
  if (interrupted) return; // the signal handler stops everything and exits
  console.error(`bench: ${error.stack ?? error.message}`);
  await stopAll();
  process.exit(1);
});
