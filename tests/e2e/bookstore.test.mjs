// Signing in to the Bookstore in a real browser (Debian's headless Chromium) against the
// Logto-shaped IdP (oidc-provider), for both session stores.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { outputDir, startStack } from './stack.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Flags that work on a closed network, as root, without a GPU.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const USERS = {
  alice: { username: 'alice', password: 'alice-password', name: 'Alice Liddell' },
  bob: { username: 'bob', password: 'bob-password', name: 'Bob Builder' },
};

let stack;
let browser;

before(async () => {
  stack = await startStack();
  // playwright-core gives every launch a fresh, empty user-data-dir.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** A fresh browser profile (its own cookies) that records every error page from the app. */
async function newVisitor(appOrigin) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const appErrors = [];
  page.on('response', (response) => {
    if (response.url().startsWith(appOrigin) && response.status() >= 400) {
      appErrors.push(`${response.status()} ${new URL(response.url()).pathname}`);
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
      await assert.doesNotReject(page.getByText('read:books').waitFor());
      assert.deepEqual(appErrors, []);
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
  });
}

test('a bad callback shows the templated error page', async () => {
  const { context, page } = await newVisitor(stack.apps.cookie);

  const response = await page.goto(`${stack.apps.cookie}/callback?code=forged&state=forged`);

  assert.equal(response.status(), 400);
  await assert.doesNotReject(page.getByText('This sign-in has expired').waitFor());
  await screenshot(page, 'error-page');
  await context.close();
});
