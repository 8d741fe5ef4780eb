// Signs in as a browser would: app /sign-in → the IdP's authorization request → its sign-in
// form (filled in and posted, like the e2e tests fill #username and #password) → the resumed
// authorization → the app's /callback → the home page, which must say "Signed in as <name>". Every
// redirect is followed by hand (redirect: 'manual') with a small cookie jar, as in
// dev/idp/README.md "Signing in with curl, hop by hop".
//
// As a load driver (bench/bench.mjs runs it in its own process):
//   node bench/sign-in-driver.mjs --app http://127.0.0.1:3000 --idp http://127.0.0.1:3001 \
//     --duration 10 --workers 8 --name 'Alice Liddell'
// Each worker signs in again and again, each time from a fresh cookie jar, until the time is
// up (or --max sign-ins have started), then one JSON line with the counts goes to stdout.

import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

/** More redirects than a sign-in makes (about ten): a loop is a failure, not a hang. */
const MAX_HOPS = 20;
/** One hop may take this long before the sign-in counts as failed. */
const HOP_TIMEOUT_MS = 10_000;

/**
 * The cookies of one browser. Like a browser, it keys cookies by host and not port (the app
 * and the IdP share 127.0.0.1), and honours Path, which oidc-provider relies on: it scopes
 * `_interaction` to /interaction/<uid> and `_interaction_resume` to /oidc/auth/<uid>.
 */
export class CookieJar {
  #cookies = new Map(); // `${host} ${path} ${name}` → { host, path, name, value }

  /** Stores the Set-Cookie headers of a response to `url`. */
  store(url, setCookies) {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const cookie = {
        host: url.hostname,
        name: pair.slice(0, eq).trim(),
        value: pair.slice(eq + 1).trim(),
        // RFC 6265 §5.1.4: without Path, the request path up to its last slash.
        path: url.pathname.slice(0, url.pathname.lastIndexOf('/')) || '/',
      };
      let expired = false;
      for (const attribute of attributes) {
        const [key, value = ''] = attribute.split('=').map((part) => part.trim());
        const name = key.toLowerCase();
        if (name === 'path' && value.startsWith('/')) cookie.path = value;
        if (name === 'max-age' && Number(value) <= 0) expired = true;
        if (name === 'expires' && Date.parse(value) <= Date.now()) expired = true;
      }
      const key = `${cookie.host} ${cookie.path} ${cookie.name}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, cookie);
    }
  }

  /** The Cookie header for a request to `url`, or undefined. Longer paths first (RFC 6265). */
  header(url) {
    const matching = [...this.#cookies.values()]
      .filter((cookie) => cookie.host === url.hostname && pathMatches(url.pathname, cookie.path))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map(({ name, value }) => `${name}=${value}`).join('; ') : undefined;
  }

  /** The value of the cookie `name` for `url`'s host, whatever its path. */
  value(url, name) {
    return [...this.#cookies.values()].find((c) => c.host === url.hostname && c.name === name)
      ?.value;
  }
}

function pathMatches(requestPath, cookiePath) {
  return requestPath === cookiePath
    || (requestPath.startsWith(cookiePath)
      && (cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'));
}

/**
 * `/interaction/Xy7…/login` → `/interaction/:uid/login`, so that hops can be counted by path.
 * A uid is a long random segment: it has a digit or a capital, unlike `openid-configuration`.
 */
export function pathPattern(pathname) {
  return pathname.replace(/\/(?=[\w-]*[A-Z0-9])[\w-]{16,}(?=\/|$)/g, '/:uid');
}

/** Page text without tags, entities decoded enough for "Signed in as <strong>…</strong>". */
export function pageText(html) {
  return html.replace(/<[^>]*>/g, '').replace(/&#39;/g, "'").replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

/** One request, no redirect followed; the jar sends and keeps cookies. */
async function hop(jar, url, method, body) {
  const headers = { 'accept-language': 'en' };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
  const response = await fetch(url, {
    method,
    headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(HOP_TIMEOUT_MS),
  });
  jar.store(url, response.headers.getSetCookie());
  // Always read the body, so that the connection goes back to the pool.
  const text = await response.text();
  return { status: response.status, location: response.headers.get('location'), text };
}

/**
 * Signs in once from a fresh jar. `hops`, when given, counts every request by
 * `<app|idp> METHOD /path`. Returns the jar (holding the app's session cookie); throws on
 * anything a browser would not have got through.
 */
export async function signIn({ app, idp, username, password, name, hops }) {
  const appOrigin = new URL(app).origin;
  const idpOrigin = new URL(idp).origin;
  const jar = new CookieJar();
  let url = new URL('/sign-in', appOrigin);
  let method = 'GET';
  let body;
  let formPosted = false;
  for (let count = 0; count < MAX_HOPS; count += 1) {
    const side = url.origin === appOrigin ? 'app' : url.origin === idpOrigin ? 'idp' : undefined;
    if (!side) throw new Error(`redirected off the app and the IdP, to ${url.origin}`);
    const where = `${side} ${method} ${pathPattern(url.pathname)}`;
    hops?.set(where, (hops.get(where) ?? 0) + 1);

    const response = await hop(jar, url, method, body);
    if (response.status >= 300 && response.status < 400 && response.location) {
      url = new URL(response.location, url);
      method = 'GET';
      body = undefined;
      continue;
    }
    if (response.status !== 200) throw new Error(`${where} answered ${response.status}`);
    if (side === 'app' && url.pathname === '/') {
      if (!pageText(response.text).includes(`Signed in as ${name}`)) {
        throw new Error(`the home page does not say "Signed in as ${name}"`);
      }
      return jar;
    }
    // The IdP's sign-in page: post its form as a person would after filling it in.
    const action = /<form method="post" action="([^"]*\/login)"/.exec(response.text)?.[1];
    if (side !== 'idp' || !action || formPosted) {
      const error = /role="alert">([^<]*)/.exec(response.text)?.[1];
      throw new Error(`${where} showed an unexpected page${error ? `: ${error}` : ''}`);
    }
    url = new URL(action, url);
    method = 'POST';
    body = new URLSearchParams({ username, password }).toString();
    formPosted = true;
  }
  throw new Error(`no home page after ${MAX_HOPS} requests`);
}

/** The value at `fraction` (0..1) of sorted `values`, nearest rank. */
function percentile(sorted, fraction) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)];
}

async function main() {
  const { values } = parseArgs({
    options: {
      app: { type: 'string' },
      idp: { type: 'string' },
      duration: { type: 'string', default: '10' },
      workers: { type: 'string', default: '8' },
      max: { type: 'string', default: '100000' },
      username: { type: 'string', default: 'alice' },
      password: { type: 'string', default: 'alice-password' },
      name: { type: 'string', default: 'Alice Liddell' },
    },
  });
  if (!values.app || !values.idp) throw new Error('--app and --idp are required');
  const durationMs = Number(values.duration) * 1000;
  const workers = Number(values.workers);
  const max = Number(values.max);

  const hops = new Map();
  const latencies = [];
  const errors = new Map(); // message → count
  let started = 0;
  const startedAt = performance.now();
  const deadline = startedAt + durationMs;

  async function worker() {
    // A sign-in that starts before the deadline finishes, so every one counts whole.
    while (performance.now() < deadline && started < max) {
      started += 1;
      const t0 = performance.now();
      try {
        await signIn({ ...values, hops });
        latencies.push(performance.now() - t0);
      } catch (error) {
        const message = error.cause?.message ? `${error.message}: ${error.cause.message}` : error.message;
        errors.set(message, (errors.get(message) ?? 0) + 1);
      }
    }
  }
  await Promise.all(Array.from({ length: workers }, worker));
  const elapsedMs = performance.now() - startedAt;

  latencies.sort((a, b) => a - b);
  const failures = [...errors.values()].reduce((sum, n) => sum + n, 0);
  console.log(JSON.stringify({
    attempts: started,
    completed: latencies.length,
    failures,
    errors: Object.fromEntries(errors),
    elapsed_ms: elapsedMs,
    per_second: latencies.length / (elapsedMs / 1000),
    latency_ms: {
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      max: latencies.at(-1) ?? null,
    },
    hops: Object.fromEntries(hops),
  }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(`sign-in driver: ${error.message}`);
    process.exit(1);
  });
}
