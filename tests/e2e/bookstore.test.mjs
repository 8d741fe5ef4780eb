// Signing in to the Bookstore in a real browser (Debian's headless Chromium) against the
// Logto-shaped IdP (oidc-provider), for both session stores.

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium } from 'playwright-core';

import {
  ACCESS_TOKEN_TTL_SECS, REFRESH_MARGIN_SECS, outputDir, startStack,
} from './stack.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Flags that work on a closed network, as root, without a GPU.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const USERS = {
  alice: { username: 'alice', password: 'alice-password', name: 'Alice Liddell' },
  bob: { username: 'bob', password: 'bob-password', name: 'Bob Builder' },
  // No role, so no permission on the Bookstore API (Logto's RBAC).
  carol: { username: 'carol', password: 'carol-password', name: 'Carol Newcomer' },
};

let stack;
let browser;
/** The browser contexts the running test opened, for its failure report and clean-up. */
let openContexts = [];
const failuresDir = path.join(outputDir, 'failures');
/** The documents each page loaded (status, method, URL without its query), oldest first. */
const navigationsOf = new WeakMap();
/** The running test's axe-core checks of the app's pages: each ends with its violations. */
let accessibilityChecks = [];

before(async () => {
  rmSync(failuresDir, { recursive: true, force: true });
  stack = await startStack();
  // playwright-core gives every launch a fresh, empty user-data-dir.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

// A failed test leaves its evidence in output/failures: each of its pages' screenshot, URL and
// text, and the servers' logs so far. Then its browser contexts are closed, passed or not.
// Every app page any test opened must pass axe-core: its checks end before the pages close.
afterEach(async (t) => {
  const contexts = openContexts;
  const checks = accessibilityChecks;
  openContexts = [];
  accessibilityChecks = [];
  const violations = (await Promise.all(checks)).flat();
  if (!t.passed || violations.length > 0) await saveFailureReport(t.fullName, contexts);
  await Promise.all(contexts.map((context) => context.close().catch(() => {})));
  assert.deepEqual(violations, [], 'axe-core finds no violation on the app pages this test opened');
});

async function saveFailureReport(testName, contexts) {
  const dir = path.join(failuresDir, testName.replace(/[^\w.-]+/g, '-').slice(0, 120));
  mkdirSync(dir, { recursive: true });
  const pages = contexts.flatMap((context) => context.pages());
  for (const [index, page] of pages.entries()) {
    const name = path.join(dir, `page-${index + 1}`);
    const url = page.url();
    const text = await page.locator('body').innerText({ timeout: 2_000 })
      .catch((error) => `(no text: ${error.message.split('\n')[0]})`);
    const navigations = navigationsOf.get(page) ?? [];
    writeFileSync(`${name}.txt`, `${url}\n\nnavigations:\n${navigations.join('\n')}\n\n${text}\n`);
    await page.screenshot({ path: `${name}.png`, fullPage: true, timeout: 5_000 }).catch(() => {});
  }
  writeFileSync(path.join(dir, 'servers.log'), stack?.logs() ?? '');
  console.error(`${testName} failed: its pages and the servers' logs are in ${path.relative(process.cwd(), dir)}`);
}

/**
 * The axe-core violations of the page as it is now, one line each: page, language, rule and
 * the elements that break it. All rules run, best practices included.
 */
async function accessibilityViolations(page) {
  const { pathname } = new URL(page.url());
  const language = await page.locator('html').getAttribute('lang');
  // The app's pages have no frames: axe runs in the page itself, without the blank helper
  // page that the frame-aware mode opens in the browser context.
  const { violations } = await new AxeBuilder({ page }).setLegacyMode().analyze();
  return violations.map(({ id, help, nodes }) => (
    `${pathname} (${language}): ${id}: ${help}: ${nodes.map((node) => node.target.join(' ')).join(', ')}`
  ));
}

/** How Playwright says that a page navigated or closed while a script ran in it. */
const LEFT_THE_PAGE = /Execution context was destroyed|has been closed|Frame was detached/;

/** Per page: the documents it has shown, its queue of checks and the check of the latest. */
const accessibilityOf = new WeakMap();

/**
 * Checks every app page that `page` loads with axe-core, one check at a time, while the test
 * goes on; `afterEach` fails the test on any violation. A check is dropped only when the test
 * moved on first (the page navigated or closed). The IdP's pages (dev/idp) are not the app's:
 * they are not checked.
 */
function checkEveryAppPage(page, appOrigin) {
  const state = { documents: 0, queue: Promise.resolve(), latest: null };
  accessibilityOf.set(page, state);
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) state.documents += 1;
  });
  page.on('load', () => {
    if (page.url().startsWith(`${appOrigin}/`)) queueAccessibilityCheck(page, state);
  });
}

/** Checks the document `page` shows now, after the checks before it: `{ violations }` or `{ left }`. */
function queueAccessibilityCheck(page, state) {
  const document = state.documents;
  const url = page.url();
  const moved = () => page.isClosed() || state.documents !== document;
  const outcome = state.queue.then(async () => {
    if (moved()) return { left: true };
    try {
      return { violations: await accessibilityViolations(page) };
    } catch (error) {
      if (moved() || LEFT_THE_PAGE.test(error.message)) return { left: true };
      return { violations: [`${url}: axe-core could not run: ${error.message.split('\n')[0]}`] };
    }
  });
  state.queue = outcome;
  state.latest = { document, outcome };
  accessibilityChecks.push(outcome.then(({ violations = [] }) => violations));
  return outcome;
}

/** Fails unless axe-core finds no violation on the app page shown now (its own check's). */
async function expectAccessible(page) {
  await page.waitForLoadState('load');
  const state = accessibilityOf.get(page);
  const { latest } = state;
  const { violations, left } = await (latest?.document === state.documents
    ? latest.outcome
    : queueAccessibilityCheck(page, state));
  assert.ok(!left, `${page.url()} changed during its check`);
  assert.deepEqual(violations, [], `axe-core on ${page.url()}`);
}

/**
 * A fresh browser profile (its own cookies) that records every error page from the app and
 * every Content-Security-Policy violation, and checks every app page it opens with axe-core.
 * `options` go to the browser context (a phone's `viewport`, for example).
 */
async function newVisitor(appOrigin, options = {}) {
  const context = await browser.newContext(options);
  openContexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  checkEveryAppPage(page, appOrigin);
  // Each document the page loaded, redirects included, for the failure report.
  const navigations = [];
  navigationsOf.set(page, navigations);
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      const { origin, pathname } = new URL(response.url());
      navigations.push(`${response.status()} ${request.method()} ${origin}${pathname}`);
    }
  });
  const appErrors = [];
  page.on('response', (response) => {
    if (response.url().startsWith(appOrigin) && response.status() >= 400) {
      appErrors.push(`${response.status()} ${new URL(response.url()).pathname}`);
    }
  });
  // The app's Content-Security-Policy must fit its pages: Chromium reports each violation.
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) {
      appErrors.push(`CSP: ${message.text()}`);
    }
  });
  return { context, page, appErrors };
}

async function screenshot(page, name) {
  await page.screenshot({ path: path.join(outputDir, `${name}.png`), fullPage: true });
}

async function signInAtIdp(page, { username, password }) {
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function expectSignedInAs(page, appOrigin, name) {
  await page.waitForURL(`${appOrigin}/`);
  await assert.doesNotReject(page.getByText(`Signed in as ${name}`).waitFor());
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** How many lines of the IdP's log match `pattern`. */
function countInLog(log, pattern) {
  return log.split('\n').filter((line) => pattern.test(line)).length;
}

/**
 * The number of `pattern` lines the IdP logged since `before`, once its output has settled:
 * the IdP logs before it answers, but its pipe may deliver the line a moment later.
 */
async function idpLoggedSince(idpLog, pattern, before) {
  const deadline = Date.now() + 2_000;
  while (countInLog(idpLog(), pattern) === before && Date.now() < deadline) await sleep(50);
  await sleep(200);
  return countInLog(idpLog(), pattern) - before;
}

/** How often the app may fetch Logto's keys again (`jwks_min_refetch_interval`). */
const JWKS_MIN_REFETCH_MS = 5_000;

/** Calls one of the IdP's test controls (dev/idp/test-controls.mjs); answers the key ids. */
async function idpControl(store, control) {
  const response = await fetch(`${stack.idps[store]}/test-controls/${control}`, { method: 'POST' });
  assert.equal(response.status, 200, `${control}: ${await response.clone().text()}`);
  return (await response.json()).kids;
}

const REFRESH_GRANT = /token grant: refresh_token/;
const REVOKED_AT_REVOCATION_ENDPOINT = /grant revoked: revocation endpoint/;

async function expectSignedOut(page, appOrigin) {
  await page.waitForURL(`${appOrigin}/`);
  await assert.doesNotReject(page.getByText('Not signed in').waitFor());
}

for (const store of ['cookie', 'redis']) {
  describe(`with the ${store} session store`, () => {
    const app = () => stack.apps[store];
    const idp = () => stack.idps[store];

    test('a user signs in, stays signed in on reload, and signs out of Logto too', async () => {
      const { context, page, appErrors } = await newVisitor(app());
      await page.goto(`${app()}/`);
      await expectSignedOut(page, app());
      await screenshot(page, `${store}-1-home-signed-out`);

      await page.getByRole('link', { name: 'Sign in' }).click();
      await page.waitForURL(`${idp()}/**`);
      await screenshot(page, `${store}-2-idp-sign-in`);
      await signInAtIdp(page, USERS.alice);
      await expectSignedInAs(page, app(), USERS.alice.name);
      await screenshot(page, `${store}-3-home-signed-in`);

      await page.reload();
      await expectSignedInAs(page, app(), USERS.alice.name);

      await page.getByRole('button', { name: 'Sign out' }).click();
      await expectSignedOut(page, app());

      // Logto's session ended as well: signing in again asks for the password.
      await page.getByRole('link', { name: 'Sign in' }).click();
      await page.waitForURL(`${idp()}/**`);
      await assert.doesNotReject(page.locator('#password').waitFor());
      assert.deepEqual(appErrors, []);
      await context.close();
    });

    test('two browsers at once each see their own user', async () => {
      const first = await newVisitor(app());
      const second = await newVisitor(app());

      for (const [visitor, user] of [[first, USERS.alice], [second, USERS.bob]]) {
        await visitor.page.goto(`${app()}/sign-in`);
        await signInAtIdp(visitor.page, user);
        await expectSignedInAs(visitor.page, app(), user.name);
      }
      await first.page.reload();
      await expectSignedInAs(first.page, app(), USERS.alice.name);
      await second.page.reload();
      await expectSignedInAs(second.page, app(), USERS.bob.name);

      await first.context.close();
      await second.context.close();
    });

    test('a wrong password at Logto, then the right one, ends signed in', async () => {
      const { context, page, appErrors } = await newVisitor(app());
      await page.goto(`${app()}/sign-in`);

      await signInAtIdp(page, { ...USERS.alice, password: 'not-the-password' });
      await assert.doesNotReject(page.getByText('Wrong username or password').waitFor());
      await signInAtIdp(page, USERS.alice);

      await expectSignedInAs(page, app(), USERS.alice.name);
      assert.deepEqual(appErrors, []);
      await context.close();
    });

    test('going back after signing in does not trap the user on an error page', async () => {
      const { context, page, appErrors } = await newVisitor(app());
      await page.goto(`${app()}/`);
      await page.getByRole('link', { name: 'Sign in' }).click();
      await signInAtIdp(page, USERS.alice);
      await expectSignedInAs(page, app(), USERS.alice.name);

      await page.goBack();
      await page.goto(`${app()}/`);

      await expectSignedInAs(page, app(), USERS.alice.name);
      assert.deepEqual(appErrors, [], 'the app never showed an error page');
      await context.close();
    });

    test('Create account opens Logto\'s register screen and signs the new user in', async () => {
      const { context, page, appErrors } = await newVisitor(app());
      await page.goto(`${app()}/`);

      await page.getByRole('link', { name: 'Create account' }).click();
      await assert.doesNotReject(page.getByRole('heading', { name: 'Create account' }).waitFor());
      await page.locator('#username').fill(`reader-${store}`);
      await page.locator('#password').fill('reader-password');
      await page.locator('#name').fill(`New Reader ${store}`);
      await page.getByRole('button', { name: 'Create account' }).click();

      await expectSignedInAs(page, app(), `New Reader ${store}`);
      assert.deepEqual(appErrors, []);
      await context.close();
    });

    test('Continue with GitHub goes straight to that connector', async () => {
      const { context, page } = await newVisitor(app());
      await page.goto(`${app()}/`);

      await page.getByRole('link', { name: 'Continue with GitHub' }).click();

      await assert.doesNotReject(page.getByText('would continue with GitHub').waitFor());
      await signInAtIdp(page, USERS.alice);
      await expectSignedInAs(page, app(), USERS.alice.name);
      await context.close();
    });

    test('Email me a code starts sign-in with the address filled in', async () => {
      const { context, page } = await newVisitor(app());
      await page.goto(`${app()}/`);

      await page.locator('#email').fill('not an address');
      await page.getByRole('button', { name: 'Send code' }).click();
      await assert.doesNotReject(page.getByText('Enter a valid email address').waitFor());

      await page.locator('#email').fill('alice@example.com');
      await page.getByRole('button', { name: 'Send code' }).click();
      await page.waitForURL(`${idp()}/**`);
      assert.equal(await page.locator('#username').inputValue(), 'alice@example.com');
      await context.close();
    });

    test('a protected page sends the visitor to sign in and back to it', async () => {
      const { context, page } = await newVisitor(app());

      await page.goto(`${app()}/books`);
      await signInAtIdp(page, USERS.alice);

      await page.waitForURL(`${app()}/books`);
      await assert.doesNotReject(page.getByText('Botchan').waitFor());
      await context.close();
    });

    test('the shelf comes through the API, and a reader without read:books is told why', async () => {
      const { context, page, appErrors } = await newVisitor(app());
      await page.goto(`${app()}/books`);
      await signInAtIdp(page, USERS.carol);
      await page.waitForURL(`${app()}/books`);

      const notice = page.getByRole('status');
      await assert.doesNotReject(notice.waitFor());
      assert.match(await notice.innerText(), /read:books/);
      assert.equal(await page.getByText('Botchan').count(), 0, 'no book without the permission');
      await screenshot(page, `${store}-4-books-not-permitted`);
      assert.deepEqual(appErrors, []);
      await context.close();
    });

    test('the profile and API token pages show what Logto issued', async () => {
      const { context, page, appErrors } = await newVisitor(app());
      await page.goto(`${app()}/profile`);
      await signInAtIdp(page, USERS.alice);
      await page.waitForURL(`${app()}/profile`);

      await assert.doesNotReject(page.getByRole('heading', { name: 'ID token claims' }).waitFor());
      await assert.doesNotReject(page.getByText('org_bookclub').first().waitFor());
      await assert.doesNotReject(page.getByText('alice@example.com').first().waitFor());
      await screenshot(page, `${store}-4-profile`);

      await page.getByRole('link', { name: 'API token' }).click();
      await assert.doesNotReject(page.getByText('https://api.bookstore.example').first().waitFor());
      await assert.doesNotReject(page.getByText('read:books').first().waitFor());
      await screenshot(page, `${store}-4-api-token`);
      assert.deepEqual(appErrors, []);
      await context.close();
    });

    test('an organization member sees its organization token, a non-member a clear refusal', async () => {
      const alice = await newVisitor(app());
      await alice.page.goto(`${app()}/profile`);
      await signInAtIdp(alice.page, USERS.alice);
      await alice.page.waitForURL(`${app()}/profile`);

      await alice.page.getByRole('link', { name: 'org_bookclub' }).click();
      await alice.page.waitForURL(`${app()}/organizations/org_bookclub/token`);
      await assert.doesNotReject(alice.page.getByText('urn:logto:organization:org_bookclub').first().waitFor());
      // Alice's role grants read:club-shelf; Logto puts it in the token only because the app
      // asked for the organizations resource at sign-in (otherwise the scope is empty).
      const scope = alice.page.locator('dl.facts > div')
        .filter({ has: alice.page.getByRole('term').getByText('Scope', { exact: true }) })
        .getByRole('definition');
      assert.equal((await scope.textContent()).trim(), 'read:club-shelf');
      await screenshot(alice.page, `${store}-5-organization-token`);
      assert.deepEqual(alice.appErrors, []);

      const bob = await newVisitor(app());
      await bob.page.goto(`${app()}/organizations/org_bookclub/token`);
      await signInAtIdp(bob.page, USERS.bob);
      await assert.doesNotReject(bob.page.getByText('No access to this organization').waitFor());
      assert.deepEqual(bob.appErrors, ['403 /organizations/org_bookclub/token']);
      // Logto refused before rotating the refresh token: Bob's session goes on.
      await bob.page.goto(`${app()}/profile`);
      await assert.doesNotReject(bob.page.getByText('bob@example.com').first().waitFor());
      await alice.context.close();
      await bob.context.close();
    });

    test('twenty requests with an expired access token make one refresh grant at Logto', async () => {
      const { context, page, appErrors } = await newVisitor(app());
      await page.goto(`${app()}/sign-in`);
      await signInAtIdp(page, USERS.alice);
      await expectSignedInAs(page, app(), USERS.alice.name);
      // Wait until the sign-in's access token is due for a refresh.
      await sleep((ACCESS_TOKEN_TTL_SECS - REFRESH_MARGIN_SECS + 1) * 1_000);
      const before = countInLog(stack.idpLog(store), REFRESH_GRANT);

      const responses = await Promise.all(
        Array.from({ length: 20 }, () => context.request.get(`${app()}/profile`)),
      );

      assert.deepEqual(responses.map((response) => response.status()), Array(20).fill(200));
      assert.equal(await idpLoggedSince(() => stack.idpLog(store), REFRESH_GRANT, before), 1);
      await page.goto(`${app()}/profile`);
      await assert.doesNotReject(page.getByText('alice@example.com').first().waitFor());
      assert.deepEqual(appErrors, []);
      await context.close();
    });

    test('signing out revokes the refresh token at Logto', async () => {
      const { context, page } = await newVisitor(app());
      await page.goto(`${app()}/sign-in`);
      await signInAtIdp(page, USERS.bob);
      await expectSignedInAs(page, app(), USERS.bob.name);
      const before = countInLog(stack.idpLog(store), REVOKED_AT_REVOCATION_ENDPOINT);

      await page.getByRole('button', { name: 'Sign out' }).click();
      await expectSignedOut(page, app());

      // Logto keeps an offline_access grant through end-session; only the revocation ends it.
      assert.equal(
        await idpLoggedSince(() => stack.idpLog(store), REVOKED_AT_REVOCATION_ENDPOINT, before),
        1,
      );
      await context.close();
    });

    test('when Logto ends a session, back-channel logout signs out that browser only', async () => {
      const alice = await newVisitor(app());
      const bob = await newVisitor(app());
      for (const [visitor, user] of [[alice, USERS.alice], [bob, USERS.bob]]) {
        await visitor.page.goto(`${app()}/sign-in`);
        await signInAtIdp(visitor.page, user);
        await expectSignedInAs(visitor.page, app(), user.name);
      }

      // Alice's Logto session ends at Logto itself (as from another app or the Console),
      // not through this app: only the back-channel logout can tell the app.
      const endSession = new URL(`${idp()}/oidc/session/end`);
      endSession.searchParams.set('client_id', 'bookstore-demo');
      endSession.searchParams.set('post_logout_redirect_uri', `${app()}/`);
      await alice.page.goto(endSession.href);
      await expectSignedOut(alice.page, app());

      await bob.page.reload();
      await expectSignedInAs(bob.page, app(), USERS.bob.name);
      await alice.context.close();
      await bob.context.close();
    });

    test('after Logto rotates its signing key and deletes the old one, signing out still ends both sessions', async () => {
      const { page, appErrors } = await newVisitor(app());
      await page.goto(`${app()}/sign-in`);
      await signInAtIdp(page, USERS.alice);
      await expectSignedInAs(page, app(), USERS.alice.name);
      await expectAccessible(page);
      // The app checks the ID token against keys at most 5 s old. Its last fetch may be
      // recent (an earlier test's sign-out checks them too): let it age past that, so that the
      // sign-out below fetches the keys Logto publishes after the deletion. By then the access
      // token is due, and a cookie-store session is checked with Logto at its next request,
      // which brings a new ID token: let that happen now, before the rotation, so that the
      // token in the session is still the one signed with the key about to be deleted, and
      // the sign-out comes well before the next check is due.
      await sleep(Math.max(JWKS_MIN_REFETCH_MS, (ACCESS_TOKEN_TTL_SECS - REFRESH_MARGIN_SECS) * 1_000) + 500);
      await page.reload();
      await expectSignedInAs(page, app(), USERS.alice.name);

      const [newKey, oldKey] = await idpControl(store, 'signing-keys/rotate');
      assert.ok(oldKey, 'the old key is still published after the rotation');
      assert.deepEqual(await idpControl(store, 'signing-keys/delete-previous'), [newKey]);

      const toLogto = page.waitForRequest((request) => request.url().startsWith(`${idp()}/oidc/session/end?`));
      await page.getByRole('button', { name: 'Sign out' }).click();
      const endSession = new URL((await toLogto).url());
      assert.equal(endSession.searchParams.get('client_id'), 'bookstore-demo');
      assert.equal(endSession.searchParams.get('id_token_hint'), null, 'Logto could not validate it');
      await expectSignedOut(page, app());

      // Logto's session ended as well: signing in again asks for the password.
      await page.getByRole('link', { name: 'Sign in' }).click();
      await page.waitForURL(`${idp()}/**`);
      await assert.doesNotReject(page.locator('#password').waitFor());
      assert.deepEqual(appErrors, []);
    });
  });
}

test('the home page in Japanese, signed out and signed in, renders its own glyphs', async () => {
  // Without a font that covers Japanese, Chromium draws boxes: scripts/test installs one.
  const japaneseFonts = execFileSync('fc-list', [':lang=ja', 'family'], { encoding: 'utf8' });
  assert.notEqual(japaneseFonts.trim(), '', 'no Japanese font: install fonts-ipafont-gothic');
  const app = stack.apps.cookie;
  const { context, page, appErrors } = await newVisitor(app);

  await page.goto(`${app}/lang/ja?return_to=%2F`);
  await page.waitForURL(`${app}/`);
  await assert.doesNotReject(page.getByRole('heading', { name: 'Bookstore へようこそ' }).waitFor());
  await assert.doesNotReject(page.getByText('サインインしていません').waitFor());
  await screenshot(page, 'ja-1-home-signed-out');

  await page.getByRole('link', { name: 'サインイン', exact: true }).click();
  await page.waitForURL(`${stack.idps.cookie}/**`);
  await signInAtIdp(page, USERS.alice);
  await page.waitForURL(`${app}/`);
  await assert.doesNotReject(page.getByText(`${USERS.alice.name} としてサインインしています`).waitFor());
  await screenshot(page, 'ja-2-home-signed-in');
  assert.deepEqual(appErrors, []);
  await context.close();
});

test('a bad callback shows the templated error page', async () => {
  const { context, page } = await newVisitor(stack.apps.cookie);

  const response = await page.goto(`${stack.apps.cookie}/callback?code=forged&state=forged`);

  assert.equal(response.status(), 400);
  await assert.doesNotReject(page.getByText('This sign-in has expired').waitFor());
  await screenshot(page, 'error-page');
  await context.close();
});

/**
 * The attacker: a site of its own whose page posts a form to the app as soon as it loads, in
 * the victim's browser. `GET /?target=<URL>&<field>=<value>...` answers that page.
 *
 * It listens on 127.0.0.1 at a port of its own, and is opened under two names:
 * - `http://localhost:<port>`: another site than the app at `http://127.0.0.1:<app port>`
 *   (for an IP address or `localhost` the site is the host itself, ports aside). Chromium
 *   sends `Sec-Fetch-Site: cross-site`, and leaves out the victim's SameSite=Lax cookie:
 *   without the check, the app would answer with a new session cookie over the victim's.
 * - `http://127.0.0.1:<port>`: the same site, another origin. Chromium sends
 *   `Sec-Fetch-Site: same-site` and the victim's cookie.
 * Chromium sends Fetch Metadata to the app because 127.0.0.1 is a secure context even over
 * plain http; the test checks the values it sent.
 */
async function startAttackerSite() {
  const escapeHtml = (text) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const server = createServer((request, response) => {
    const query = new URL(request.url, 'http://attacker').searchParams;
    const inputs = [...query]
      .filter(([name]) => name !== 'target')
      .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
      .join('');
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><title>Win a free book</title>
<form method="post" action="${escapeHtml(query.get('target'))}">${inputs}</form>
<script>document.forms[0].submit();</script>`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return {
    crossSite: `http://localhost:${port}`,
    sameSite: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe('a page on another site posting forms to the app', () => {
  let attacker;
  before(async () => {
    attacker = await startAttackerSite();
  });
  after(() => attacker?.close());

  for (const store of ['cookie', 'redis']) {
    test(`is refused with the ${store} store, and the victim stays signed in`, async () => {
      const app = stack.apps[store];
      const { context, page } = await newVisitor(app);
      await page.goto(`${app}/sign-in`);
      await signInAtIdp(page, USERS.alice);
      await expectSignedInAs(page, app, USERS.alice.name);
      const appCookies = async () => (await context.cookies(app))
        .map(({ name, value }) => `${name}=${value}`).sort();
      const before = await appCookies();
      assert.ok(before.some((cookie) => cookie.startsWith('bookstore_session=')), `${before}`);

      const attacks = [
        { origin: attacker.crossSite, fetchSite: 'cross-site' },
        { origin: attacker.sameSite, fetchSite: 'same-site' },
      ];
      const forms = [
        { path: '/sign-in', fields: { email: 'mallory@evil.example' } },
        { path: '/sign-out', fields: { csrf_token: 'guessed' } },
      ];
      for (const { origin, fetchSite } of attacks) {
        for (const { path: target, fields } of forms) {
          const what = `${fetchSite} POST ${target}`;
          const url = new URL(origin);
          url.searchParams.set('target', `${app}${target}`);
          for (const [name, value] of Object.entries(fields)) url.searchParams.set(name, value);
          const posted = page.waitForResponse(
            (response) => response.url() === `${app}${target}` && response.request().method() === 'POST',
          );

          await page.goto(url.href);
          const response = await posted;

          assert.equal(await response.request().headerValue('sec-fetch-site'), fetchSite, what);
          assert.equal(await response.request().headerValue('origin'), origin, what);
          assert.equal(response.status(), 403, what);
          assert.equal(await response.headerValue('set-cookie'), null, `${what}: no Set-Cookie`);
          await assert.doesNotReject(page.getByText('Sent from another site').waitFor(), what);
          assert.deepEqual(await appCookies(), before, `${what}: the same session cookie`);
        }
      }
      await screenshot(page, `${store}-6-cross-site-refused`);

      await page.goto(`${app}/`);
      await expectSignedInAs(page, app, USERS.alice.name);
      await context.close();
    });
  }
});

describe('every app page passes axe-core', () => {
  for (const [language, errorTitle] of [['en', 'Error: '], ['ja', 'エラー：']]) {
    test(`in ${language}: signed out, a refused address, signed in, and the error pages`, async () => {
      const app = stack.apps.cookie;
      const { page, appErrors } = await newVisitor(app);
      const visit = async (path, status) => {
        const response = await page.goto(`${app}${path}`);
        assert.equal(response.status(), status, path);
        assert.equal(await page.locator('html').getAttribute('lang'), language, path);
        await expectAccessible(page);
      };

      await page.goto(`${app}/lang/${language}?return_to=%2F`);
      await page.waitForURL(`${app}/`);
      await expectAccessible(page);
      await page.locator('#email').fill('not an address');
      await page.locator('.email-form button[type="submit"]').click();
      await page.locator('#email[aria-invalid="true"]').waitFor();
      assert.ok((await page.title()).startsWith(errorTitle), await page.title());
      await expectAccessible(page);

      await page.goto(`${app}/sign-in`);
      await signInAtIdp(page, USERS.alice);
      await page.waitForURL(`${app}/`);
      await expectAccessible(page);
      for (const path of ['/books', '/profile', '/api-token', '/organizations/org_bookclub/token', '/sign-out']) {
        await visit(path, 200);
      }
      await visit('/no-such-page', 404);
      await visit('/callback?code=forged&state=forged', 400);
      assert.ok((await page.title()).startsWith(errorTitle), await page.title());

      // The first Tab reaches the skip link, which shows itself and leads to the main content.
      await page.goto(`${app}/books`);
      await page.keyboard.press('Tab');
      const skipLink = page.locator('.skip-link');
      assert.equal(await skipLink.evaluate((link) => link === document.activeElement), true);
      assert.ok((await skipLink.boundingBox()).height >= 24, 'the focused skip link is visible');
      await page.keyboard.press('Enter');
      await page.waitForURL(`${app}/books#main-content`);
      assert.deepEqual(appErrors, ['400 /sign-in', '404 /no-such-page', '400 /callback']);
    });
  }
});

/** A phone's screen: narrower than the stylesheet's 480px breakpoint. */
const PHONE = { viewport: { width: 375, height: 812 } };

/** Where each element matched by `selector` is drawn, and in which font. */
async function layoutOf(page, selector) {
  return page.locator(selector).evaluateAll((elements) => elements.map((element) => {
    const style = getComputedStyle(element);
    const { width, height } = element.getBoundingClientRect();
    return {
      text: element.textContent.trim(),
      width,
      height,
      font: `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`,
    };
  }));
}

/** The WCAG contrast ratio of two colours as `getComputedStyle` gives them: `rgb(r, g, b)`. */
function contrastRatio(first, second) {
  const luminance = (color) => {
    const [r, g, b] = color.match(/\d+(\.\d+)?/g).slice(0, 3).map((value) => {
      const channel = Number(value) / 255;
      return channel <= 0.04045 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [lighter, darker] = [luminance(first), luminance(second)].sort((a, b) => b - a);
  return (lighter + 0.05) / (darker + 0.05);
}

/** The email field's border colour and the colour of the card behind it. */
async function emailFieldColors(page) {
  return page.locator('#email').evaluate((field) => ({
    border: getComputedStyle(field).borderTopColor,
    background: getComputedStyle(field.closest('.card')).backgroundColor,
  }));
}

describe('on a phone (375 px wide)', () => {
  test('the email field has a visible border, shows a refused address and takes the focus', async () => {
    const app = stack.apps.cookie;
    const { page } = await newVisitor(app, PHONE);
    await page.goto(`${app}/`);

    const [sendCode] = await layoutOf(page, '.email-form button');
    const [signIn] = await layoutOf(page, '.actions a.button');
    assert.equal(sendCode.font, signIn.font, 'the button is in the link buttons\' font');
    const valid = await emailFieldColors(page);
    assert.ok(contrastRatio(valid.border, valid.background) >= 3, JSON.stringify(valid));

    await page.locator('#email').fill('not an address');
    await page.locator('.email-form button').click();
    await page.locator('#email[aria-invalid="true"]').waitFor();

    assert.equal(await page.evaluate(() => document.activeElement?.id), 'email');
    const refused = await emailFieldColors(page);
    assert.notEqual(refused.border, valid.border, 'the refused address looks refused');
    assert.ok(contrastRatio(refused.border, refused.background) >= 3, JSON.stringify(refused));
  });

  test('each button of a row of actions fills the row, in the link buttons\' font', async () => {
    const app = stack.apps.cookie;
    const { page } = await newVisitor(app, PHONE);
    await page.goto(`${app}/sign-in`);
    await signInAtIdp(page, USERS.alice);
    await expectSignedInAs(page, app, USERS.alice.name);

    for (const path of ['/', '/sign-out']) {
      await page.goto(`${app}${path}`);
      await screenshot(page, `phone-${path === '/' ? 'home-signed-in' : 'sign-out'}`);
      const [row] = await layoutOf(page, '.actions');
      const buttons = await layoutOf(page, '.actions .button');
      assert.ok(buttons.some(({ text }) => text === 'Sign out'), `${path}: ${JSON.stringify(buttons)}`);
      for (const button of buttons) {
        assert.ok(Math.abs(button.width - row.width) < 1, `${path}: ${JSON.stringify({ button, row })}`);
        assert.equal(button.font, buttons[0].font, `${path}: ${button.text}`);
      }
    }
  });

  for (const language of ['en', 'ja']) {
    test(`in ${language}, links are easy to tap, claim names stay whole and h2 is no larger than h1`, async () => {
      const app = stack.apps.cookie;
      const { page } = await newVisitor(app, PHONE);
      await page.goto(`${app}/lang/${language}?return_to=%2Fprofile`);
      await signInAtIdp(page, USERS.alice);
      await page.waitForURL(`${app}/profile`);

      const targets = await layoutOf(page, '.language-switcher a, .app-nav a, .app-nav button');
      assert.equal(targets.length, 2 + 4 + 1);
      for (const target of targets) {
        assert.ok(target.height >= 44, `${target.text} is ${target.height}px tall`);
      }
      const names = await page.locator('.claims th[scope="row"] code').evaluateAll((codes) => codes.map((code) => ({
        name: code.textContent,
        lines: code.getClientRects().length,
        fits: code.parentElement.scrollWidth <= code.parentElement.clientWidth,
      })));
      assert.ok(names.some(({ name }) => name === 'created_at'), JSON.stringify(names));
      for (const name of names) assert.deepEqual(name, { ...name, lines: 1, fits: true });
      await screenshot(page, `phone-${language}-profile`);
      const [h1] = await layoutOf(page, 'h1');
      for (const h2 of await layoutOf(page, 'h2')) {
        assert.ok(parseFloat(h2.font.split(' ')[1]) <= parseFloat(h1.font.split(' ')[1]), `${h2.font} vs ${h1.font}`);
      }
    });
  }
});
