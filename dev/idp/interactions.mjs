// The sign-in pages (Logto calls them the "experience"). oidc-provider sends the browser to
// /interaction/:uid whenever the user must sign in or consent, with a cookie naming the
// interaction; finishing one sends the browser back to /oidc/auth/:uid.

import express from 'express';

import { registerPage, signInPage } from './views.mjs';

// Display names of Logto's social connectors, for `direct_sign_in=social:<target>`.
const SOCIAL_PROVIDERS = { github: 'GitHub', google: 'Google', xiaomi: 'Xiaomi' };

function socialProvider(directSignIn = '') {
  const [method, target] = directSignIn.split(':');
  if (method !== 'social' || !target) return undefined;
  return SOCIAL_PROVIDERS[target] ?? target;
}

/**
 * The address that Logto would email a one-time code to: `login_hint` when the request asks
 * to sign in with an email identifier (`first_screen=identifier:sign_in&identifier=email`).
 */
function emailCodeAddress(params) {
  const identifiers = params.identifier?.split(' ') ?? [];
  if (params.first_screen !== 'identifier:sign_in' || !identifiers.includes('email')) {
    return undefined;
  }
  return params.login_hint || undefined;
}

/** What every page of one interaction shows, from its authorization request. */
function pageContext({ uid, params }) {
  return {
    uid,
    lang: params.ui_locales?.split(' ')[0],
    socialProvider: socialProvider(params.direct_sign_in),
    emailCodeAddress: emailCodeAddress(params),
  };
}

/** `first_screen=register`, or the older `interaction_mode=signUp`, opens "Create account". */
function opensOnRegister(params) {
  return params.first_screen === 'register' || params.interaction_mode === 'signUp';
}

export function interactionRoutes(provider, accounts) {
  const router = express.Router();
  const form = express.urlencoded({ extended: false });

  // Signing in also grants what the Bookstore asked for, as Logto's auto-consent does for its
  // own apps: one interaction, and the browser goes back to the app with one hop less.
  async function signIn(req, res, user) {
    const { params } = await provider.interactionDetails(req, res);
    const grant = new provider.Grant({ accountId: user.sub, clientId: params.client_id });
    grant.addOIDCScope(params.scope);
    for (const indicator of [params.resource ?? []].flat()) {
      // The token endpoint keeps only those that the user's roles grant there (provider.mjs).
      // Logto's consent records only those in the grant; with roles that never change while
      // the IdP runs, the tokens are the same.
      grant.addResourceScope(indicator, params.scope);
    }
    const result = { login: { accountId: user.sub }, consent: { grantId: await grant.save() } };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }

  // A consent prompt on its own (an existing IdP session, new scopes). Logto asks nothing of the
  // user for its own apps, and the Bookstore is the only client here: grant the OIDC scopes,
  // claims and API scopes requested and go straight back.
  async function grantConsent(req, res, { prompt: { details }, params, session, grantId }) {
    const grant = (grantId && (await provider.Grant.find(grantId)))
      ?? new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, {
      mergeWithLastSubmission: true,
    });
  }

  /** Shows `screen`, or without one the screen the authorization request asked for. */
  const show = (screen) => async (req, res) => {
    const interaction = await provider.interactionDetails(req, res);
    if (interaction.prompt.name === 'consent') return grantConsent(req, res, interaction);

    const context = pageContext(interaction);
    const register = screen ? screen === 'register' : opensOnRegister(interaction.params);
    res.send(register
      ? registerPage(context)
      : signInPage({ ...context, username: interaction.params.login_hint }));
  };

  router.get('/interaction/:uid', show());
  router.get('/interaction/:uid/login', show('login'));
  router.get('/interaction/:uid/register', show('register'));

  router.post('/interaction/:uid/login', form, async (req, res) => {
    const interaction = await provider.interactionDetails(req, res);
    const { username = '', password = '' } = req.body ?? {};
    const user = accounts.authenticate(username, password);
    if (!user) {
      const error = 'Wrong username or password';
      return res.send(signInPage({ ...pageContext(interaction), username, error }));
    }
    await signIn(req, res, user);
  });

  router.post('/interaction/:uid/register', form, async (req, res) => {
    const interaction = await provider.interactionDetails(req, res);
    const { username = '', password = '', name = '' } = req.body ?? {};
    const newUser = { username: username.trim(), password, name: name.trim() };
    const rejectWith = (error) =>
      res.send(registerPage({ ...pageContext(interaction), ...newUser, error }));

    if (!newUser.username || !password) return rejectWith('Enter a username and a password.');
    const user = accounts.register(newUser);
    if (!user) return rejectWith(`The username ${newUser.username} is taken. Choose another one.`);
    await signIn(req, res, user);
  });

  return router;
}
