// The dev IdP as the Bookstore sees it: started as a child process, driven over HTTP hop by hop
// with a cookie jar, as a browser (or curl) would.
//   node --test dev/idp/test/

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

import { readConfig, withBoundPort } from '../config.mjs';
import { rotatesLikeLogto } from '../provider.mjs';

const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'server.mjs');
const CLIENT = { id: 'test-app', secret: 'test-secret' };
/** The machine-to-machine app, whose role grants read:books on the API. */
const M2M = { id: 'test-m2m', secret: 'test-m2m-secret' };
// Nothing listens at the apps' origins: a callback is only read from the Location header.
const APP = 'http://app.test';
const OTHER_APP = 'http://other-app.test';
const REDIRECT_URI = `${APP}/callback`;
const API = 'https://api.bookstore.example';
const ALICE = { username: 'alice', password: 'alice-password' };
const BOB = { username: 'bob', password: 'bob-password' };
/** A user with no role, so with no permission on the API. */
const CAROL = { username: 'carol', password: 'carol-password' };
/** Every permission of the API resource, as scopes. */
const BOOKS_SCOPES = 'read:books write:books';
// Not the default hour, so that the tests see the setting applied to every access token.
const ACCESS_TOKEN_TTL = 900;
const BOOK_CLUB = 'org_bookclub';
const ORGANIZATION_SCOPES = 'openid offline_access urn:logto:scope:organizations';
const ORGANIZATIONS_RESOURCE = 'urn:logto:resource:organizations';
/** A sign-in as Logto's SDKs make it for organization permissions: the organizations scope and
 * resource, and the permissions wanted as scopes. */
const ORGANIZATION_PERMISSIONS_SIGN_IN = {
  scope: `${ORGANIZATION_SCOPES} read:club-shelf`,
  resource: ORGANIZATIONS_RESOURCE,
};
const ALL_SCOPES = [
  'openid', 'offline_access', 'profile', 'email', 'phone', 'roles', 'custom_data',
  'urn:logto:scope:organizations', 'urn:logto:scope:organization_roles',
].join(' ');

let idp;
let backchannel;

before(async () => {
  backchannel = await startLogoutReceiver();
  idp = await startIdp({
    LOGTO_APP_ID: CLIENT.id,
    LOGTO_APP_SECRET: CLIENT.secret,
    LOGTO_M2M_APP_ID: M2M.id,
    LOGTO_M2M_APP_SECRET: M2M.secret,
    // Two apps, a comma and a trailing slash: all allowed.
    BASE_URL: `${APP}, ${OTHER_APP}/`,
    BACKCHANNEL_LOGOUT_URI: backchannel.uri,
    IDP_ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL),
    IDP_TEST_CONTROLS: 'true',
  });
});

after(async () => {
  backchannel?.server.close();
  if (idp) await stopIdp(idp);
});

// --- The IdP process ------------------------------------------------------------------------

/**
 * Starts server.mjs on a port the system picks (IDP_PORT=0) and resolves once it prints its
 * ready line, which names the issuer and so the port.
 */
async function startIdp(env) {
  const child = spawn(process.execPath, [SERVER], {
    env: { PATH: process.env.PATH, IDP_PORT: '0', IDP_ORIGIN: 'http://127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // stderr carries the request and event log, which tests wait for with logged().
  const stderr = [];
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const stdout = [];
  const ready = new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdout.push(line);
      const origin = line.match(/^IdP ready: (http:\/\/127\.0\.0\.1:\d+)\/oidc$/)?.[1];
      if (origin) resolve(origin);
    });
    child.once('exit', (code) => reject(new Error(`the IdP exited with ${code}`)));
  });
  let origin;
  try {
    origin = await Promise.race([ready, timeout(20_000, 'the IdP printed no ready line')]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { child, origin, issuer: `${origin}/oidc`, stdout, stderr };
}

/** Stops an IdP that the tests started. */
async function stopIdp({ child }) {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
}

/** Waits until the IdP has logged `line` on stderr, after its first `since` lines. */
async function logged(line, since) {
  const start = Date.now();
  while (!idp.stderr.slice(since).includes(line)) {
    assert.ok(Date.now() - start < 2_000, `the IdP logged no ${JSON.stringify(line)}`);
    await sleep(10);
  }
}

function timeout(ms, message) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref());
}

/** Records the logout tokens that the IdP posts to the app's back-channel logout URI. */
async function startLogoutReceiver() {
  const tokens = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    tokens.push(new URLSearchParams(body).get('logout_token'));
    res.end();
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, tokens, uri: `http://127.0.0.1:${server.address().port}/backchannel-logout` };
}

// --- A browser: cookies by path, redirects one at a time ------------------------------------

class Browser {
  #cookies = new Map(); // `${path} ${name}` → { name, value, path }

  get(url) {
    return this.#request(url, { method: 'GET' });
  }

  post(url, form) {
    return this.#request(url, { method: 'POST', body: new URLSearchParams(form) });
  }

  /** Follows redirects while they stay at the IdP; returns the last response. */
  async follow(response) {
    while (response.location?.startsWith(idp.origin)) response = await this.get(response.location);
    return response;
  }

  async #request(url, init) {
    const { pathname } = new URL(url);
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { accept: 'text/html', cookie: this.#cookieHeader(pathname) },
    });
    for (const header of response.headers.getSetCookie()) this.#store(header);
    const location = response.headers.get('location');
    return {
      url: String(url),
      status: response.status,
      location: location && new URL(location, url).href,
      body: await response.text(),
    };
  }

  // oidc-provider scopes its interaction cookies to /interaction/<uid> and /oidc/auth/<uid>.
  #cookieHeader(pathname) {
    return [...this.#cookies.values()]
      .filter(({ path }) => pathname === path || pathname.startsWith(path.replace(/\/?$/, '/')))
      .map(({ name, value }) => `${name}=${value}`)
      .join('; ');
  }

  #store(setCookie) {
    const [pair, ...attributes] = setCookie.split(';').map((part) => part.trim());
    const name = pair.slice(0, pair.indexOf('='));
    const value = pair.slice(pair.indexOf('=') + 1);
    const path = attributes.find((a) => /^path=/i.test(a))?.slice(5) || '/';
    const expires = attributes.find((a) => /^expires=/i.test(a))?.slice(8);
    const key = `${path} ${name}`;
    if (!value || Date.parse(expires) <= Date.now()) this.#cookies.delete(key);
    else this.#cookies.set(key, { name, value, path });
  }
}

// --- The Bookstore's side of the protocol ---------------------------------------------------

/** An authorization request like the Bookstore's: PKCE S256, state, nonce, prompt=consent. */
function authorization(params = {}) {
  const verifier = randomBytes(32).toString('base64url');
  const request = {
    client_id: CLIENT.id,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid offline_access profile email',
    prompt: 'consent',
    state: randomBytes(8).toString('hex'),
    nonce: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...params,
  };
  const query = Object.entries(request).filter(([, value]) => value !== undefined);
  return { ...request, verifier, url: `${idp.issuer}/auth?${new URLSearchParams(query)}` };
}

function formAction(html) {
  const action = html.match(/<form [^>]*method="post" action="([^"]+)"/)?.[1];
  assert.ok(action, 'the page has a form');
  return new URL(action, idp.origin).href;
}

/** From the authorization request through the sign-in form to the callback's URL. */
async function signIn(browser, auth, { username, password } = ALICE) {
  const page = await browser.follow(await browser.get(auth.url));
  assert.equal(page.status, 200);
  const submitted = await browser.post(formAction(page.body), { username, password });
  const callback = await browser.follow(submitted);
  return new URL(callback.location);
}

async function tokenRequest(params) {
  const credentials = Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64');
  const response = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${credentials}` },
    body: new URLSearchParams(params),
  });
  return { status: response.status, body: await response.json() };
}

function redeem(auth, callback, extra = {}) {
  return tokenRequest({
    grant_type: 'authorization_code',
    code: callback.searchParams.get('code'),
    redirect_uri: auth.redirect_uri,
    code_verifier: auth.verifier,
    ...extra,
  });
}

function refresh(refreshToken, extra = {}) {
  return tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });
}

/** Signs in with a fresh browser and returns the token response. */
async function signedIn(params, user = ALICE) {
  const auth = authorization(params);
  const { status, body } = await redeem(auth, await signIn(new Browser(), auth, user));
  assert.equal(status, 200, JSON.stringify(body));
  return body;
}

// --- A machine-to-machine client -------------------------------------------------------------

/**
 * A client_credentials token request, the M2M app's credentials in a Basic header or, with
 * `auth: 'post'`, in the body. A parameter with an array value is sent once per element.
 */
async function clientCredentials(params, options = {}) {
  const { client = M2M, auth = 'basic', issuer = idp.issuer } = options;
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  for (const [name, value] of Object.entries(params)) {
    for (const one of [value].flat()) body.append(name, one);
  }
  const headers = {};
  if (auth === 'basic') {
    const credentials = Buffer.from(`${client.id}:${client.secret}`).toString('base64');
    headers.authorization = `Basic ${credentials}`;
  } else {
    body.append('client_id', client.id);
    body.append('client_secret', client.secret);
  }
  const response = await fetch(`${issuer}/token`, { method: 'POST', headers, body });
  return { status: response.status, body: await response.json() };
}

/** Verifies an access token as an API would: the JWKS, ES384, at+jwt, the issuer, the API. */
async function verifiedAccessToken(jwt, issuer = idp.issuer) {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  return jwtVerify(jwt, jwks, { issuer, audience: API, algorithms: ['ES384'], typ: 'at+jwt' });
}

async function getJson(url, init) {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.json() };
}

const userinfo = (accessToken) =>
  getJson(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });

/** Checks a JWT's signature against the IdP's JWKS and returns its header and payload. */
async function verifiedJwt(jwt) {
  const [header, payload, signature] = jwt.split('.');
  const decoded = [header, payload].map((part) => JSON.parse(Buffer.from(part, 'base64url')));
  const { body: { keys } } = await getJson(`${idp.issuer}/jwks`);
  const jwk = keys.find(({ kid }) => kid === decoded[0].kid);
  assert.ok(jwk, 'the JWT names a key of the JWKS');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${header}.${payload}`);
  const bytes = Buffer.from(signature, 'base64url');
  const valid = verify('sha384', data, { key, dsaEncoding: 'ieee-p1363' }, bytes);
  assert.ok(valid, 'the signature verifies');
  return { header: decoded[0], payload: decoded[1] };
}

function pick(object, keys) {
  return Object.fromEntries(keys.map((key) => [key, object[key]]));
}

// --- Tests ----------------------------------------------------------------------------------

test('prints the issuer and the seeded users before the ready line', () => {
  const banner = idp.stdout.join('\n');
  assert.match(banner, new RegExp(`issuer: +${idp.issuer}`));
  assert.ok(banner.includes('  users:\n'
    + '    alice / alice-password (Alice Liddell), roles: reader\n'
    + '    bob / bob-password (Bob Builder), roles: admin reader\n'
    + '    carol / carol-password (Carol Newcomer), roles: none\n'
    + '  user roles:\n'
    + `    reader: read:books on ${API}\n`
    + `    admin: read:books write:books on ${API}\n`));
  assert.ok(banner.includes('  M2M app: test-m2m / test-m2m-secret\n'
    + `    role catalogue-reader: read:books on ${API}\n`));
  assert.equal(idp.stdout.at(-1), `IdP ready: ${idp.issuer}`);
});

test("discovery shows Logto's paths, ES384 and PKCE S256", async () => {
  const { body: discovery } = await getJson(`${idp.issuer}/.well-known/openid-configuration`);
  assert.equal(discovery.issuer, idp.issuer);
  const endpoints = [
    'authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri',
    'end_session_endpoint', 'revocation_endpoint', 'introspection_endpoint',
  ];
  assert.deepEqual(endpoints.map((name) => discovery[name]), [
    '/auth', '/token', '/me', '/jwks', '/session/end', '/token/revocation', '/token/introspection',
  ].map((route) => `${idp.issuer}${route}`));
  assert.deepEqual(discovery.id_token_signing_alg_values_supported, ['ES384']);
  assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
  assert.equal(discovery.authorization_response_iss_parameter_supported, true);
  assert.equal(discovery.backchannel_logout_supported, true);
  assert.ok(discovery.grant_types_supported.includes('client_credentials'), 'for M2M apps');

  const { body: { keys } } = await getJson(discovery.jwks_uri);
  assert.deepEqual(keys.map(({ kty, crv, alg, use }) => ({ kty, crv, alg, use })), [
    { kty: 'EC', crv: 'P-384', alg: 'ES384', use: 'sig' },
  ]);
  assert.ok(keys[0].kid);
  assert.equal(keys[0].d, undefined, 'no private key material');
});

test('a code flow, hop by hop: sign in, callback with iss, tokens with the profile', async () => {
  const browser = new Browser();
  const auth = authorization({ scope: ALL_SCOPES });

  const toLogin = await browser.get(auth.url);
  assert.equal(toLogin.status, 303);
  assert.match(toLogin.location, new RegExp(`^${idp.origin}/interaction/[\\w-]+$`));

  const login = await browser.get(toLogin.location);
  assert.equal(login.status, 200);
  assert.match(login.body, /<h1>Sign in to Bookstore<\/h1>/);
  assert.equal(formAction(login.body), `${toLogin.location}/login`);
  assert.match(login.body, /<input id="username" name="username" value=""/);
  assert.match(login.body, /<input id="password" name="password" type="password"/);
  assert.match(login.body, /<button type="submit">Sign in<\/button>/);

  // The form's answer resumes the authorization, with consent granted at sign-in (as Logto
  // does for its own apps): the resumed authorization goes straight back to the app.
  const afterLogin = await browser.post(formAction(login.body), ALICE);
  assert.equal(afterLogin.status, 303);
  assert.match(afterLogin.location, new RegExp(`^${idp.issuer}/auth/[\\w-]+$`));
  const toCallback = await browser.get(afterLogin.location);
  assert.equal(toCallback.status, 303);

  const callback = new URL(toCallback.location);
  assert.equal(`${callback.origin}${callback.pathname}`, REDIRECT_URI);
  assert.equal(callback.searchParams.get('state'), auth.state);
  assert.equal(callback.searchParams.get('iss'), idp.issuer);

  const since = idp.stderr.length;
  const { status, body: tokens } = await redeem(auth, callback);
  assert.equal(status, 200, JSON.stringify(tokens));
  await logged('token grant: authorization_code', since);
  assert.equal(tokens.token_type, 'Bearer');
  assert.equal(tokens.expires_in, ACCESS_TOKEN_TTL);
  assert.ok(tokens.refresh_token, 'offline_access with prompt=consent issues a refresh token');
  assert.equal(tokens.access_token.split('.').length, 1, 'opaque without a resource');

  const { header, payload: claims } = await verifiedJwt(tokens.id_token);
  assert.equal(header.alg, 'ES384');
  assert.deepEqual(pick(claims, ['iss', 'aud', 'sub', 'nonce']), {
    iss: idp.issuer, aud: CLIENT.id, sub: 'user_alice', nonce: auth.nonce,
  });
  assert.deepEqual(pick(claims, [
    'name', 'username', 'picture', 'email', 'email_verified', 'phone_number',
    'phone_number_verified', 'roles', 'organizations', 'organization_roles',
  ]), {
    name: 'Alice Liddell',
    username: 'alice',
    picture: `${idp.origin}/avatars/alice.svg`,
    email: 'alice@example.com',
    email_verified: true,
    phone_number: '+15555550100',
    phone_number_verified: true,
    roles: ['reader'],
    organizations: ['org_bookclub'],
    organization_roles: ['org_bookclub:member'],
  });
  assert.ok(claims.created_at > 1e12 && claims.updated_at > 1e12, 'timestamps in milliseconds');
  assert.equal(claims.custom_data, undefined, 'custom_data is for the userinfo endpoint only');
  assert.equal(claims.exp - claims.iat, 3600, 'ID tokens keep their hour');
  assert.ok(claims.sid, 'back-channel logout needs the session id');
});

test('the userinfo endpoint answers the opaque access token', async () => {
  const tokens = await signedIn({ scope: ALL_SCOPES }, BOB);
  const { status, body } = await userinfo(tokens.access_token);
  assert.equal(status, 200);
  const claims = [
    'sub', 'name', 'username', 'picture', 'phone_number', 'roles', 'custom_data', 'organizations',
  ];
  assert.deepEqual(pick(body, claims), {
    sub: 'user_bob',
    name: 'Bob Builder',
    username: 'bob',
    picture: null,
    phone_number: null,
    roles: ['admin', 'reader'],
    custom_data: {},
    organizations: [],
  });
});

test('a wrong password shows the form again with an error, keeping the username', async () => {
  const browser = new Browser();
  const login = await browser.follow(await browser.get(authorization().url));
  const wrong = await browser.post(formAction(login.body), { username: 'alice', password: 'nope' });
  assert.equal(wrong.status, 200);
  assert.match(wrong.body, /Wrong username or password/);
  assert.match(wrong.body, /<input id="username" name="username" value="alice"/);

  const callback = await browser.follow(await browser.post(formAction(wrong.body), ALICE));
  assert.ok(new URL(callback.location).searchParams.get('code'));
});

test('login_hint fills in the username; direct_sign_in and ui_locales show', async () => {
  const browser = new Browser();
  const auth = authorization({
    login_hint: 'bob', direct_sign_in: 'social:github', ui_locales: 'fr-CA en',
  });
  const login = await browser.follow(await browser.get(auth.url));
  assert.match(login.body, /<input id="username" name="username" value="bob"/);
  assert.match(login.body, /would continue with GitHub/);
  assert.match(login.body, /<html lang="fr-CA">/);
  assert.match(login.body, /<input id="password"/, 'the password form stays usable');
});

test('an email sign-in notes the code Logto would send, and the address signs in', async () => {
  const browser = new Browser();
  const auth = authorization({
    first_screen: 'identifier:sign_in', identifier: 'email', login_hint: 'alice@example.com',
  });
  const login = await browser.follow(await browser.get(auth.url));
  assert.match(login.body, /Logto would email a one-time code to alice@example\.com/);
  assert.match(login.body, /<input id="username" name="username" value="alice@example\.com"/);

  const submitted = await browser.post(formAction(login.body), {
    username: 'alice@example.com', password: ALICE.password,
  });
  const callback = new URL((await browser.follow(submitted)).location);
  const { body: tokens } = await redeem(auth, callback);
  const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url'));
  assert.equal(claims.sub, 'user_alice');
});

test('first_screen=register opens "Create account", which signs the new user in', async () => {
  const browser = new Browser();
  const auth = authorization({ first_screen: 'register' });
  const register = await browser.follow(await browser.get(auth.url));
  assert.match(register.body, /<h1>Create account<\/h1>/);
  assert.equal(formAction(register.body), `${register.url}/register`);
  assert.match(register.body, /<button type="submit">Create account<\/button>/);
  assert.match(register.body, new RegExp(`href="${new URL(register.url).pathname}/login"`));

  const taken = await browser.post(formAction(register.body), { ...ALICE, name: 'Another Alice' });
  assert.equal(taken.status, 200);
  assert.match(taken.body, /The username alice is taken/);

  const user = { username: `carol-${randomBytes(3).toString('hex')}`, password: 'carol-password' };
  const created = await browser.post(formAction(taken.body), { ...user, name: 'Carol Test' });
  const callback = new URL((await browser.follow(created)).location);
  const { body: tokens } = await redeem(auth, callback);
  const { payload } = await verifiedJwt(tokens.id_token);
  assert.equal(payload.name, 'Carol Test');
  assert.equal(payload.username, user.username);

  // The new account signs in with its password from now on.
  await signedIn({}, user);
});

test('PKCE S256 is required', async () => {
  const browser = new Browser();
  const auth = authorization({ code_challenge: undefined, code_challenge_method: undefined });
  const response = await browser.get(auth.url);
  const callback = new URL(response.location);
  assert.equal(`${callback.origin}${callback.pathname}`, REDIRECT_URI);
  assert.equal(callback.searchParams.get('error'), 'invalid_request');
});

test('every BASE_URL origin is registered, and nothing else', async () => {
  const authorize = (redirectUri) =>
    new Browser().get(authorization({ redirect_uri: redirectUri }).url);
  const other = await authorize(`${OTHER_APP}/callback`);
  assert.match(other.location, new RegExp(`^${idp.origin}/interaction/`));

  const stranger = await authorize('http://evil.test/callback');
  assert.equal(stranger.status, 400);
});

test('an API resource gets a JWT access token; without one the token stays opaque', async () => {
  const tokens = await signedIn({ resource: API, scope: 'openid offline_access read:books' });
  assert.equal(tokens.access_token.split('.').length, 1, 'a code exchange without resource');
  assert.equal((await userinfo(tokens.access_token)).status, 200);

  const since = idp.stderr.length;
  const { status, body } = await refresh(tokens.refresh_token, { resource: API });
  assert.equal(status, 200, JSON.stringify(body));
  await logged(`token grant: refresh_token resource=${API}`, since);
  const { header, payload } = await verifiedJwt(body.access_token);
  assert.equal(header.alg, 'ES384');
  assert.deepEqual(pick(payload, ['iss', 'aud', 'sub', 'client_id', 'scope']), {
    iss: idp.issuer, aud: API, sub: 'user_alice', client_id: CLIENT.id, scope: 'read:books',
  });
  assert.equal(payload.exp - payload.iat, ACCESS_TOKEN_TTL);

  const unknown = await refresh(body.refresh_token, { resource: 'https://unknown.example' });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error, 'invalid_target');
  await logged('token grant refused: refresh_token invalid_target', since);
});

/**
 * A user's access token for the API as the Bookstore gets it: a sign-in that asks for `scope`
 * and the API resource, then a refresh token request with `resource` (and `refreshParams`).
 * Returns the token response and the verified token's payload.
 */
async function apiToken(user, scope, refreshParams = {}) {
  const tokens = await signedIn({ resource: API, scope: `openid offline_access ${scope}` }, user);
  const { status, body } = await refresh(tokens.refresh_token, { resource: API, ...refreshParams });
  assert.equal(status, 200, JSON.stringify(body));
  const { payload } = await verifiedAccessToken(body.access_token);
  return { body, payload };
}

test("a user's API token has what the user's roles grant: Bob (admin) both, Alice read:books", async () => {
  const bob = await apiToken(BOB, BOOKS_SCOPES);
  assert.equal(bob.body.scope, BOOKS_SCOPES);
  assert.equal(bob.payload.scope, BOOKS_SCOPES);
  assert.equal(bob.payload.sub, 'user_bob');

  // The same request, but Alice's one role grants no write:books.
  const alice = await apiToken(ALICE, BOOKS_SCOPES);
  assert.equal(alice.body.scope, 'read:books');
  assert.equal(alice.payload.scope, 'read:books');
  assert.equal(alice.payload.sub, 'user_alice');
});

test('Carol, with no role, gets an API token without any permission', async () => {
  const { body, payload } = await apiToken(CAROL, BOOKS_SCOPES);
  assert.equal(payload.sub, 'user_carol');
  assert.equal(payload.aud, API);
  // The answer has an empty scope; the token has no scope claim, as oidc-provider writes it
  // (Logto's fork probably writes `"scope": ""`, see README.md).
  assert.equal(body.scope, '');
  assert.equal(payload.scope, undefined);
});

test('a permission is granted only when asked for and held: asked ∩ the roles', async () => {
  // Alice holds read:books but did not ask for it, and asked for write:books, which she lacks.
  const alice = await apiToken(ALICE, 'write:books');
  assert.equal(alice.body.scope, '');
  assert.equal(alice.payload.scope, undefined);

  // Bob holds both; a refresh that asks for write:books alone gets write:books alone.
  const bob = await apiToken(BOB, BOOKS_SCOPES, { scope: 'openid write:books' });
  assert.equal(bob.body.scope, 'write:books');
  assert.equal(bob.payload.scope, 'write:books');
});

test('a code exchange with resource gets the same RBAC-limited API token', async () => {
  const auth = authorization({ resource: API, scope: `openid ${BOOKS_SCOPES}` });
  const callback = await signIn(new Browser(), auth, ALICE);
  const { status, body } = await redeem(auth, callback, { resource: API });
  assert.equal(status, 200, JSON.stringify(body));
  const { payload } = await verifiedAccessToken(body.access_token);
  assert.equal(payload.scope, 'read:books');
});

test('a user who signs up holds no role, so no permission on the API', async () => {
  const browser = new Browser();
  const auth = authorization({
    first_screen: 'register', resource: API, scope: `openid offline_access ${BOOKS_SCOPES}`,
  });
  const register = await browser.follow(await browser.get(auth.url));
  const user = { username: `dora-${randomBytes(3).toString('hex')}`, password: 'dora-password' };
  const created = await browser.post(formAction(register.body), { ...user, name: 'Dora New' });
  const { body: tokens } = await redeem(auth, new URL((await browser.follow(created)).location));
  const { status, body } = await refresh(tokens.refresh_token, { resource: API });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.scope, '');
  assert.equal((await verifiedAccessToken(body.access_token)).payload.scope, undefined);
});

test('an unknown resource in the authorization request is invalid_target', async () => {
  const auth = authorization({ resource: 'https://unknown.example' });
  const response = await new Browser().get(auth.url);
  assert.equal(new URL(response.location).searchParams.get('error'), 'invalid_target');
});

test('refresh tokens rotate, and reusing a spent one revokes the grant', async () => {
  const { refresh_token: first } = await signedIn();
  const since = idp.stderr.length;
  const rotated = await refresh(first);
  assert.equal(rotated.status, 200);
  await logged('token grant: refresh_token', since);
  const second = rotated.body.refresh_token;
  assert.ok(second && second !== first, 'a new refresh token on every use');

  const reused = await refresh(first);
  assert.equal(reused.status, 400);
  assert.equal(reused.body.error, 'invalid_grant');
  const revoked = await refresh(second);
  assert.equal(revoked.body.error, 'invalid_grant', 'the whole grant is gone');
  await logged('grant revoked: refresh token reuse', since);
  await logged('token grant refused: refresh_token invalid_grant', since);
  const lines = idp.stderr.slice(since);
  const leaked = lines.some((line) => line.includes(first) || line.includes(second));
  assert.ok(!leaked, 'no token values');
});

test('organization_id gets an organization token; the refresh token rotates as usual', async () => {
  const tokens = await signedIn(ORGANIZATION_PERMISSIONS_SIGN_IN);
  const since = idp.stderr.length;
  const { status, body } = await refresh(tokens.refresh_token, { organization_id: BOOK_CLUB });
  assert.equal(status, 200, JSON.stringify(body));
  await logged(`token grant: refresh_token organization=${BOOK_CLUB}`, since);
  assert.deepEqual(pick(body, ['token_type', 'expires_in', 'scope']), {
    token_type: 'Bearer', expires_in: ACCESS_TOKEN_TTL, scope: 'read:club-shelf',
  });
  assert.ok(body.id_token, 'a new ID token');
  assert.ok(body.refresh_token && body.refresh_token !== tokens.refresh_token, 'rotated');

  // A JWT that a resource server verifies with the IdP's JWKS, signed like the ID token.
  const audience = `urn:logto:organization:${BOOK_CLUB}`;
  const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));
  const { payload, protectedHeader } = await jwtVerify(body.access_token, jwks, {
    issuer: idp.issuer, audience, algorithms: ['ES384'], typ: 'at+jwt',
  });
  assert.equal(protectedHeader.kid, decodeProtectedHeader(body.id_token).kid);
  assert.deepEqual(pick(payload, ['sub', 'client_id', 'scope']), {
    sub: 'user_alice', client_id: CLIENT.id, scope: 'read:club-shelf',
  });
  assert.equal(payload.exp - payload.iat, ACCESS_TOKEN_TTL);

  // The next refresh without organization_id is an ordinary one again.
  const plain = await refresh(body.refresh_token);
  assert.equal(plain.status, 200);
  assert.equal(plain.body.access_token.split('.').length, 1, 'opaque');

  // The first refresh token is spent: presenting it, organization or not, revokes the grant.
  const reused = await refresh(tokens.refresh_token, { organization_id: BOOK_CLUB });
  assert.equal(reused.status, 400);
  assert.equal(reused.body.error, 'invalid_grant');
  await logged('grant revoked: refresh token reuse', since);
  assert.equal((await refresh(plain.body.refresh_token)).body.error, 'invalid_grant');

  const values = [tokens.refresh_token, body.refresh_token, body.access_token];
  const lines = idp.stderr.slice(since);
  assert.ok(!lines.some((line) => values.some((value) => line.includes(value))), 'no token values');
});

test('organization tokens carry permissions only if the sign-in asked for the resource', async () => {
  const organizationToken = async (params) => {
    const tokens = await signedIn(params);
    const { status, body } = await refresh(tokens.refresh_token, { organization_id: BOOK_CLUB });
    assert.equal(status, 200, JSON.stringify(body));
    const { payload } = await verifiedJwt(body.access_token);
    assert.equal(payload.aud, `urn:logto:organization:${BOOK_CLUB}`);
    return { scope: body.scope, claim: payload.scope };
  };

  // As Logto's SDKs sign in: the organizations resource and the permission as a scope.
  assert.deepEqual(await organizationToken(ORGANIZATION_PERMISSIONS_SIGN_IN), {
    scope: 'read:club-shelf', claim: 'read:club-shelf',
  });
  // Asking for a permission Alice's role does not grant adds nothing.
  const more = { ...ORGANIZATION_PERMISSIONS_SIGN_IN, scope: `${ORGANIZATION_SCOPES} read:club-shelf write:club-shelf` };
  assert.deepEqual(await organizationToken(more), {
    scope: 'read:club-shelf', claim: 'read:club-shelf',
  });

  // Without the resource (the permission asked for as a scope all the same), or without the
  // permission: an empty scope, as a real Logto 1.37.1 issues it.
  const withoutResource = [
    { scope: `${ORGANIZATION_SCOPES} read:club-shelf` },
    { scope: `${ORGANIZATION_SCOPES} read:club-shelf read:books`, resource: API },
    { scope: ORGANIZATION_SCOPES, resource: ORGANIZATIONS_RESOURCE },
  ];
  for (const params of withoutResource) {
    assert.deepEqual(await organizationToken(params), { scope: '', claim: undefined },
      `no permissions for ${JSON.stringify(params)}`);
  }
});

test('organization tokens are for members; a refusal does not spend the token', async () => {
  const bob = await signedIn({ scope: ORGANIZATION_SCOPES }, BOB);
  const since = idp.stderr.length;
  const denied = await refresh(bob.refresh_token, { organization_id: BOOK_CLUB });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.error, 'access_denied');
  await logged('token grant refused: refresh_token access_denied', since);
  assert.equal((await refresh(bob.refresh_token)).status, 200, 'the refresh token still works');
  // Spent now: presenting it again is reuse, whatever the organization.
  const reused = await refresh(bob.refresh_token, { organization_id: BOOK_CLUB });
  assert.equal(reused.body.error, 'invalid_grant');
  await logged('grant revoked: refresh token reuse', since);

  const alice = await signedIn({ scope: ORGANIZATION_SCOPES });
  const elsewhere = await refresh(alice.refresh_token, { organization_id: 'org_elsewhere' });
  assert.equal(elsewhere.status, 403);
  assert.equal(elsewhere.body.error, 'access_denied');
  assert.equal((await refresh(alice.refresh_token)).status, 200);
});

test('organization tokens need the organizations scope in the refresh token', async () => {
  const tokens = await signedIn({ scope: 'openid offline_access profile' });
  const since = idp.stderr.length;
  const { status, body } = await refresh(tokens.refresh_token, { organization_id: BOOK_CLUB });
  assert.equal(status, 403);
  assert.deepEqual(pick(body, ['error', 'scope']), {
    error: 'insufficient_scope', scope: 'urn:logto:scope:organizations',
  });
  await logged('token grant refused: refresh_token insufficient_scope', since);
  assert.equal((await refresh(tokens.refresh_token)).status, 200, 'the refresh token still works');
});

test('organization_id and resource together are invalid_request', async () => {
  const tokens = await signedIn({ scope: ORGANIZATION_SCOPES, resource: API });
  const extra = { organization_id: BOOK_CLUB, resource: API };
  const { status, body } = await refresh(tokens.refresh_token, extra);
  assert.equal(status, 400);
  assert.equal(body.error, 'invalid_request');
  assert.equal((await refresh(tokens.refresh_token)).status, 200, 'the refresh token still works');
});

// --- Machine-to-machine: client_credentials as Logto issues it --------------------------------

test("an M2M app gets a JWT for the API: sub and client_id its id, its role's scope", async () => {
  const since = idp.stderr.length;
  const { status, body } = await clientCredentials({ resource: API, scope: 'read:books' });
  assert.equal(status, 200, JSON.stringify(body));
  await logged(`token grant: client_credentials resource=${API}`, since);
  // No refresh token and no ID token: only what Logto's grant handler answers.
  assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
  assert.deepEqual(pick(body, ['token_type', 'expires_in', 'scope']), {
    token_type: 'Bearer', expires_in: ACCESS_TOKEN_TTL, scope: 'read:books',
  });

  const { payload, protectedHeader } = await verifiedAccessToken(body.access_token);
  assert.deepEqual(Object.keys(protectedHeader).sort(), ['alg', 'kid', 'typ']);
  assert.deepEqual(await publishedKids(), [protectedHeader.kid]);
  assert.deepEqual(Object.keys(payload).sort(),
    ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub']);
  assert.deepEqual(pick(payload, ['iss', 'aud', 'sub', 'client_id', 'scope']), {
    iss: idp.issuer, aud: API, sub: M2M.id, client_id: M2M.id, scope: 'read:books',
  });
  assert.equal(payload.exp - payload.iat, ACCESS_TOKEN_TTL, "the resource's access token TTL");

  const lines = idp.stderr.slice(since);
  const secrets = [body.access_token, M2M.secret];
  const leaked = lines.some((line) => secrets.some((secret) => line.includes(secret)));
  assert.ok(!leaked, 'neither the token nor the secret in the log');
});

test('M2M scope: what was asked that its roles grant; the rest dropped, no error', async () => {
  const asked = 'read:books write:books read:club-shelf openid not-a-permission';
  const { status, body } = await clientCredentials({ resource: API, scope: asked });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.scope, 'read:books');
  assert.equal((await verifiedAccessToken(body.access_token)).payload.scope, 'read:books');

  // A permission of the API that the role does not grant: a token all the same, with no scope.
  const none = await clientCredentials({ resource: API, scope: 'write:books' });
  assert.equal(none.status, 200, JSON.stringify(none.body));
  assert.ok(!('scope' in none.body), 'no scope field');
  assert.ok(!('scope' in (await verifiedAccessToken(none.body.access_token)).payload), 'no claim');
});

test('M2M without a scope parameter: a token with no scope, whatever its roles grant', async () => {
  const { status, body } = await clientCredentials({ resource: API });
  assert.equal(status, 200, JSON.stringify(body));
  assert.ok(!('scope' in body), 'no scope field');
  const { payload } = await verifiedAccessToken(body.access_token);
  assert.ok(!('scope' in payload), 'no scope claim');
  assert.equal(payload.sub, M2M.id);
});

test('M2M without resource: 400 invalid_target, not oidc-provider\'s opaque token', async () => {
  const since = idp.stderr.length;
  for (const params of [{}, { scope: 'read:books' }, { resource: '', scope: 'read:books' }]) {
    const { status, body } = await clientCredentials(params);
    assert.equal(status, 400, JSON.stringify(params));
    assert.deepEqual(body, {
      error: 'invalid_target',
      error_description: 'both `resource` and `organization_id` are not provided',
    });
  }
  await logged('token grant refused: client_credentials invalid_target', since);
});

test('M2M with an unknown resource, or two resources: 400 invalid_target', async () => {
  const scope = 'read:books';
  const unknown = await clientCredentials({ resource: 'https://unknown.example', scope });
  assert.equal(unknown.status, 400);
  assert.deepEqual(unknown.body, {
    error: 'invalid_target', error_description: 'resource indicator is missing, or unknown',
  });

  const two = await clientCredentials({ resource: [API, ORGANIZATIONS_RESOURCE], scope });
  assert.equal(two.status, 400);
  assert.deepEqual(two.body, {
    error: 'invalid_target',
    error_description: 'only a single resource indicator value is supported for this grant type',
  });
});

test('M2M credentials in the body (client_secret_post) work as well as Basic', async () => {
  const params = { resource: API, scope: 'read:books' };
  const { status, body } = await clientCredentials(params, { auth: 'post' });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.scope, 'read:books');
  assert.equal(body.refresh_token, undefined);
  assert.equal((await verifiedAccessToken(body.access_token)).payload.client_id, M2M.id);
});

test('M2M: a wrong secret is 401 invalid_client, an unknown app 400, as in Logto', async () => {
  const since = idp.stderr.length;
  const params = { resource: API, scope: 'read:books' };
  for (const auth of ['basic', 'post']) {
    const wrong = await clientCredentials(params, { client: { ...M2M, secret: 'wrong' }, auth });
    assert.equal(wrong.status, 401, auth);
    assert.deepEqual(wrong.body, {
      error: 'invalid_client', error_description: 'client authentication failed',
    });
    const stranger = { id: 'not-found', secret: 'x' };
    const unknown = await clientCredentials(params, { client: stranger, auth });
    assert.equal(unknown.status, 400, auth);
    assert.deepEqual(unknown.body, {
      error: 'invalid_client', error_description: 'invalid client not-found',
    });
  }
  await logged('token grant refused: client_credentials invalid_client', since);
});

test('M2M with organization_id: 403 access_denied, the app is in no organization', async () => {
  const organization = { organization_id: BOOK_CLUB };
  for (const params of [organization, { ...organization, resource: API }]) {
    const { status, body } = await clientCredentials({ ...params, scope: 'read:club-shelf' });
    assert.equal(status, 403, JSON.stringify(params));
    assert.deepEqual(body, {
      error: 'access_denied', error_description: 'app has not associated with the organization',
    });
  }
});

test('client_credentials is for the M2M app only: the web app may not use it', async () => {
  const params = { resource: API, scope: 'read:books' };
  const { status, body } = await clientCredentials(params, { client: CLIENT });
  assert.equal(status, 400);
  assert.deepEqual(body, {
    error: 'invalid_request',
    error_description: 'requested grant type is not allowed for this client',
  });
});

test('the M2M app: bookstore-m2m / bookstore-m2m-secret by default; tokens last 1 h', async () => {
  const defaults = { id: 'bookstore-m2m', secret: 'bookstore-m2m-secret' };
  assert.deepEqual(readConfig({}).m2mClient, defaults);
  assert.deepEqual(readConfig({ LOGTO_M2M_APP_ID: 'm2m', LOGTO_M2M_APP_SECRET: 's' }).m2mClient, {
    id: 'm2m', secret: 's',
  });
  assert.throws(() => readConfig({ LOGTO_APP_ID: 'same', LOGTO_M2M_APP_ID: 'same' }), {
    message: 'LOGTO_M2M_APP_ID must differ from LOGTO_APP_ID, both are "same"',
  });

  const plain = await startIdp({});
  try {
    const { status, body } = await clientCredentials(
      { resource: API, scope: 'read:books' }, { client: defaults, issuer: plain.issuer },
    );
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.expires_in, 3600, "Logto's default access token TTL for a resource");
    const { payload } = await verifiedAccessToken(body.access_token, plain.issuer);
    assert.equal(payload.exp - payload.iat, 3600);
  } finally {
    await stopIdp(plain);
  }
});

test('refresh tokens rotate on every use by default, and once past 70 % of their life like Logto', () => {
  assert.equal(readConfig({}).refreshTokenRotation, 'always');
  assert.equal(readConfig({ IDP_ROTATE_REFRESH_TOKENS: 'logto' }).refreshTokenRotation, 'logto');
  assert.throws(() => readConfig({ IDP_ROTATE_REFRESH_TOKENS: 'never' }), {
    message: 'IDP_ROTATE_REFRESH_TOKENS must be always or logto, got "never"',
  });

  const used = (clientAuthMethod, percentPassed) => ({
    oidc: {
      entities: {
        Client: { clientAuthMethod },
        RefreshToken: { ttlPercentagePassed: () => percentPassed },
      },
    },
  });
  assert.equal(rotatesLikeLogto(used('client_secret_basic', 0)), false, 'a fresh token stays');
  assert.equal(rotatesLikeLogto(used('client_secret_basic', 69)), false, 'day 9 and a half');
  assert.equal(rotatesLikeLogto(used('client_secret_basic', 70)), true, 'from day 10 on');
  assert.equal(rotatesLikeLogto(used('none', 0)), true, 'a public client: every use');
});

test('IDP_ROTATE_REFRESH_TOKENS=logto: a fresh refresh token comes back unchanged', async () => {
  const logtoLike = await startIdp({
    LOGTO_APP_ID: CLIENT.id, LOGTO_APP_SECRET: CLIENT.secret, BASE_URL: APP,
    IDP_ROTATE_REFRESH_TOKENS: 'logto',
  });
  const defaultIdp = idp;
  idp = logtoLike;
  try {
    assert.ok(logtoLike.stdout.some((line) => line.includes('IDP_ROTATE_REFRESH_TOKENS=logto')));
    const { refresh_token: first } = await signedIn(ORGANIZATION_PERMISSIONS_SIGN_IN);
    // Used three times, for userinfo and for the organization: the same token, still good.
    for (const extra of [{}, { organization_id: BOOK_CLUB }, {}]) {
      const { status, body } = await refresh(first, extra);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.refresh_token, first, 'not rotated before 70 % of its lifetime');
    }
  } finally {
    idp = defaultIdp;
    await stopIdp(logtoLike);
  }
  assert.ok(!idp.stdout.some((line) => line.includes('IDP_ROTATE_REFRESH_TOKENS')));
});

test('IDP_ACCESS_TOKEN_TTL: an hour by default, shown at start when set', async () => {
  assert.equal(readConfig({}).accessTokenTTL, 3600);
  assert.equal(readConfig({ IDP_ACCESS_TOKEN_TTL: '5' }).accessTokenTTL, 5);
  for (const value of ['0', '-5', '1.5', 'soon']) {
    assert.throws(() => readConfig({ IDP_ACCESS_TOKEN_TTL: value }), {
      message: `IDP_ACCESS_TOKEN_TTL must be a whole number of seconds, at least 1, got "${value}"`,
    });
  }
  assert.ok(idp.stdout.includes(
    `  access tokens expire after ${ACCESS_TOKEN_TTL} s (IDP_ACCESS_TOKEN_TTL)`,
  ));

  const plain = await startIdp({});
  await stopIdp(plain);
  assert.ok(!plain.stdout.some((line) => line.includes('IDP_ACCESS_TOKEN_TTL')));
});

test('a bad IDP_ACCESS_TOKEN_TTL stops the start with a clear message', async () => {
  const child = spawn(process.execPath, [SERVER], {
    env: { PATH: process.env.PATH, IDP_ACCESS_TOKEN_TTL: 'soon' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const [code] = await once(child, 'close');
  assert.equal(code, 1);
  const message = 'IDP_ACCESS_TOKEN_TTL must be a whole number of seconds, at least 1, got "soon"';
  assert.ok(stderr.includes(message), stderr);
});

test('introspection and revocation', async () => {
  const basic = `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`;
  const call = (route, token) => fetch(`${idp.issuer}${route}`, {
    method: 'POST', headers: { authorization: basic }, body: new URLSearchParams({ token }),
  });
  const introspect = async (token) => (await call('/token/introspection', token)).json();

  const first = await signedIn();
  assert.deepEqual(pick(await introspect(first.access_token), ['active', 'sub', 'client_id']), {
    active: true, sub: 'user_alice', client_id: CLIENT.id,
  });
  // Revoking an access token ends every token of its grant, the refresh token too, but
  // oidc-provider keeps the grant itself: no "grant revoked" line.
  const since = idp.stderr.length;
  assert.equal((await call('/token/revocation', first.access_token)).status, 200);
  assert.deepEqual(await introspect(first.access_token), { active: false });
  assert.equal((await refresh(first.refresh_token)).body.error, 'invalid_grant');
  await logged('token grant refused: refresh_token invalid_grant', since);
  assert.ok(!idp.stderr.slice(since).some((line) => line.startsWith('grant revoked:')));

  // Revoking a refresh token revokes its grant.
  const second = await signedIn();
  assert.equal((await call('/token/revocation', second.refresh_token)).status, 200);
  await logged('grant revoked: revocation endpoint', since);
  assert.deepEqual(await introspect(second.access_token), { active: false });
});

test('signing out ends the IdP session and returns to the post-logout redirect URI', async () => {
  const browser = new Browser();
  const auth = authorization();
  const { body: tokens } = await redeem(auth, await signIn(browser, auth));
  const { payload: { sid } } = await verifiedJwt(tokens.id_token);

  const again = await browser.follow(await browser.get(authorization().url));
  assert.ok(again.location?.startsWith(REDIRECT_URI), 'signed in at the IdP: no form this time');

  const endSession = new URLSearchParams({
    id_token_hint: tokens.id_token, post_logout_redirect_uri: `${APP}/`, state: 'bye',
  });
  const confirm = await browser.get(`${idp.issuer}/session/end?${endSession}`);
  assert.equal(confirm.status, 200);
  assert.equal(formAction(confirm.body), `${idp.issuer}/session/end/confirm`);
  assert.match(confirm.body, /<input type="hidden" form="op.logoutForm" name="logout" value="yes"/);
  assert.match(confirm.body, /<button type="submit" form="op.logoutForm">Sign out<\/button>/);
  assert.match(confirm.body, /<script src="\/assets\/sign-out.js"><\/script>/);

  const xsrf = confirm.body.match(/name="xsrf" value="([^"]+)"/)[1];
  const since = idp.stderr.length;
  const signedOut = await browser.post(formAction(confirm.body), { xsrf, logout: 'yes' });
  assert.equal(signedOut.status, 303);
  assert.equal(signedOut.location, `${APP}/?state=bye`);
  await logged('backchannel logout sent', since);

  const login = await browser.follow(await browser.get(authorization().url));
  assert.equal(login.status, 200);
  assert.match(login.body, /<input id="password"/, 'the next sign-in asks for the password');

  const logoutToken = backchannel.tokens
    .map((jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url')))
    .find((claims) => claims.sid === sid);
  assert.ok(logoutToken, 'the back-channel logout URI got a logout token for the session');
  assert.equal(logoutToken.sub, 'user_alice');
});

test('signing out revokes the grant of a sign-in without offline_access', async () => {
  const browser = new Browser();
  const auth = authorization({ scope: 'openid profile' });
  const { body: tokens } = await redeem(auth, await signIn(browser, auth));
  const endSession = new URLSearchParams({ id_token_hint: tokens.id_token });
  const confirm = await browser.get(`${idp.issuer}/session/end?${endSession}`);
  const xsrf = confirm.body.match(/name="xsrf" value="([^"]+)"/)[1];

  const since = idp.stderr.length;
  await browser.post(formAction(confirm.body), { xsrf, logout: 'yes' });
  await logged('grant revoked: end session', since);
  assert.equal((await userinfo(tokens.access_token)).status, 401);
});

test("serves Alice's avatar", async () => {
  const response = await fetch(`${idp.origin}/avatars/alice.svg`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^image\/svg\+xml/);
});

test('IDP_PORT=0 listens on a port the system picks, which the origin then names', async () => {
  // This IdP was started so: its ready line named the port it got.
  const { port } = new URL(idp.origin);
  assert.ok(Number(port) > 0);
  assert.equal(idp.stdout[0], `Logto-shaped dev IdP (oidc-provider) on http://127.0.0.1:${port}`);
  assert.equal((await getJson(`${idp.issuer}/.well-known/openid-configuration`)).body.issuer,
    idp.issuer);

  assert.equal(withBoundPort(readConfig({ IDP_PORT: '0' }), 4321).issuer,
    'http://localhost:4321/oidc');
  const behindAProxy = readConfig({ IDP_PORT: '0', IDP_ORIGIN: 'https://idp.example' });
  assert.equal(withBoundPort(behindAProxy, 4321).issuer, 'https://idp.example/oidc');
  assert.equal(withBoundPort(readConfig({}), 3001).issuer, 'http://localhost:3001/oidc');
  assert.throws(() => readConfig({ IDP_PORT: '-1' }), { message: 'IDP_PORT must be a port number, got "-1"' });
});

/** Calls a test control; answers the published key ids, the one that signs first. */
async function signingKeysControl(action) {
  const response = await fetch(`${idp.origin}/test-controls/signing-keys/${action}`, {
    method: 'POST',
  });
  assert.equal(response.status, 200);
  return (await response.json()).kids;
}

async function publishedKids() {
  return (await getJson(`${idp.issuer}/jwks`)).body.keys.map(({ kid }) => kid);
}

test('signing keys rotate, then the previous key is deleted; IdP sessions live on', async () => {
  const browser = new Browser();
  const auth = authorization();
  const { body: tokens } = await redeem(auth, await signIn(browser, auth));
  const firstKid = decodeProtectedHeader(tokens.id_token).kid;
  assert.deepEqual(await publishedKids(), [firstKid]);

  const since = idp.stderr.length;
  const rotated = await signingKeysControl('rotate');
  assert.equal(rotated.length, 2);
  assert.equal(rotated[1], firstKid, 'the previous key stays published');
  assert.deepEqual(await publishedKids(), rotated);
  await logged(`signing keys: rotated; published now: ${rotated.join(' ')}`, since);
  const { body: refreshed } = await refresh(tokens.refresh_token);
  assert.equal(decodeProtectedHeader(refreshed.id_token).kid, rotated[0], 'the new key signs');
  await verifiedJwt(tokens.id_token);

  // The new provider kept the cookie keys and the storage: still signed in at the IdP.
  const again = await browser.follow(await browser.get(authorization().url));
  assert.ok(again.location?.startsWith(REDIRECT_URI), 'no sign-in form after a rotation');

  const left = await signingKeysControl('delete-previous');
  assert.deepEqual(left, [rotated[0]]);
  assert.deepEqual(await publishedKids(), left);
  await logged(`signing keys: deleted the previous key; published now: ${left[0]}`, since);

  // As in Logto: an ID token signed with a deleted key is no longer a valid id_token_hint.
  const withHint = new URLSearchParams({
    id_token_hint: tokens.id_token, post_logout_redirect_uri: `${APP}/`,
  });
  const refused = await browser.get(`${idp.issuer}/session/end?${withHint}`);
  assert.equal(refused.status, 400);
  assert.match(refused.body, /could not validate id_token_hint/);

  // client_id alone is enough to end the session.
  const withClientId = new URLSearchParams({
    client_id: CLIENT.id, post_logout_redirect_uri: `${APP}/`,
  });
  const confirm = await browser.get(`${idp.issuer}/session/end?${withClientId}`);
  assert.equal(confirm.status, 200);
  const xsrf = confirm.body.match(/name="xsrf" value="([^"]+)"/)[1];
  const signedOut = await browser.post(formAction(confirm.body), { xsrf, logout: 'yes' });
  assert.equal(signedOut.location, `${APP}/`);
  const login = await browser.follow(await browser.get(authorization().url));
  assert.match(login.body, /<input id="password"/, 'the IdP session has ended');
});

test('the test controls are there only with IDP_TEST_CONTROLS=true', async () => {
  const plain = await startIdp({ LOGTO_APP_ID: CLIENT.id });
  try {
    const response = await fetch(`${plain.origin}/test-controls/signing-keys/rotate`, {
      method: 'POST',
    });
    assert.equal(response.status, 404);
    assert.ok(!plain.stdout.some((line) => line.includes('test controls')));
    assert.ok(idp.stdout.includes(
      '  test controls: POST /test-controls/signing-keys/{rotate,delete-previous}',
    ));
  } finally {
    await stopIdp(plain);
  }
});

test('exits with code 0 on SIGTERM', async () => {
  idp.child.kill('SIGTERM');
  const [code] = await once(idp.child, 'exit');
  assert.equal(code, 0);
});
