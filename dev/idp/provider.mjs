// oidc-provider configured the way Logto's core configures it, for one "Traditional web" app
// and one machine-to-machine app.

import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

import MemoryAdapter from './adapter.mjs';
import { API_RESOURCE, userPermissions } from './api-resource.mjs';
import {
  enableClientCredentials, m2mClientMetadata, m2mPermissions,
} from './machine-to-machine.mjs';
import { ORGANIZATIONS_RESOURCE, enableOrganizationTokens } from './organizations.mjs';
import { errorPage, signedOutPage, signOutPage } from './views.mjs';

// Logto signs with EC P-384 keys by default.
const SIGNING_ALG = 'ES384';
const HOUR = 60 * 60;
const DAY = 24 * HOUR;

/** A new signing key, as a private JWK with a `kid`. */
export async function generateSigningKey() {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, alg: SIGNING_ALG, use: 'sig', kid: await calculateJwkThumbprint(jwk) };
}

const ownTokens = (_ctx, client, token) => token.clientId === client.clientId;

/**
 * When Logto 1.37.1 hands out a new refresh token for a used one: for a public client on every
 * use; for a confidential one, such as a Traditional web app, only once 70 % of the token's
 * lifetime has passed (about day 10 of 14), and then on every use.
 */
export function rotatesLikeLogto(ctx) {
  const { RefreshToken: refreshToken, Client: client } = ctx.oidc.entities;
  return client.clientAuthMethod === 'none' || refreshToken.ttlPercentagePassed() >= 70;
}

/** oidc-provider's `rotateRefreshToken` for the IDP_ROTATE_REFRESH_TOKENS setting. */
const REFRESH_TOKEN_ROTATION = { always: true, logto: rotatesLikeLogto };

function clientMetadata(client) {
  const { redirectUris, postLogoutRedirectUris, backchannelLogoutUri } = client;
  return {
    client_id: client.id,
    client_secret: client.secret,
    client_name: 'Bookstore',
    application_type: 'web',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogoutRedirectUris,
    id_token_signed_response_alg: SIGNING_ALG,
    ...(backchannelLogoutUri && {
      backchannel_logout_uri: backchannelLogoutUri,
      backchannel_logout_session_required: true,
    }),
  };
}

/** Where a grant was revoked, from the route that did it. */
function revokedWhere({ oidc: { route, params } }) {
  if (route === 'revocation') return 'revocation endpoint';
  if (route === 'end_session_confirm') return 'end session';
  // At the token endpoint, a spent code or refresh token presented again revokes its grant.
  if (route === 'token') return `${params.grant_type.replaceAll('_', ' ')} reuse`;
  return route;
}

/** Lines on stderr for what happens at the provider, which tests count. Never a token value. */
function logEvents(provider) {
  provider.on('grant.success', ({ oidc: { params } }) => {
    let line = `token grant: ${params.grant_type}`;
    if (params.organization_id) line += ` organization=${params.organization_id}`;
    if (params.resource) line += ` resource=${params.resource}`;
    console.error(line);
  });
  provider.on('grant.error', ({ oidc: { params } }, error) => {
    // A refused grant type is whatever the client sent: keep it to one word on one line.
    const grantType = String(params?.grant_type ?? '-').replace(/[^\x21-\x7e]/g, '?');
    console.error(`token grant refused: ${grantType} ${error.error}`);
  });
  provider.on('grant.revoked', (ctx) => console.error(`grant revoked: ${revokedWhere(ctx)}`));
  provider.on('backchannel.success', () => console.error('backchannel logout sent'));
  provider.on('backchannel.error', (_ctx, error, { backchannelLogoutUri }) => {
    console.error(`back-channel logout to ${backchannelLogoutUri} failed: ${error.message}`);
  });
  provider.on('server_error', (_ctx, error) => console.error(error));
}

/** The resource indicators a sign-in may name, as if registered in the Logto Console. */
const RESOURCE_INDICATORS = new Set([API_RESOURCE, ORGANIZATIONS_RESOURCE]
  .map(({ indicator }) => indicator));

/**
 * The most that a token for the resource `indicator` may carry, chosen as Logto's
 * `findResourceScopes` chooses it (logto-io/logto `packages/core/src/oidc/resource.ts`, called
 * from `getResourceServerInfo` in `oidc/init.ts`):
 * - Logto's organizations resource: every organization permission (an organization token then
 *   keeps the user's own, organizations.mjs);
 * - with a user in the context, as Logto finds one (`session.accountId`, signed in at the
 *   authorization endpoint, or `entities.Account`, the account of the code or refresh token at
 *   the token endpoint): the permissions of the user's roles (RBAC);
 * - otherwise the permissions of the app's roles: the M2M app's, none for the web app.
 * oidc-provider then issues the scopes asked for that are among these and in the grant.
 */
function grantableScopes(ctx, indicator, client, { accounts, m2mClient }) {
  if (indicator === ORGANIZATIONS_RESOURCE.indicator) return ORGANIZATIONS_RESOURCE.scopes;
  const userId = ctx.oidc.session?.accountId ?? ctx.oidc.entities.Account?.accountId;
  if (userId) return userPermissions(indicator, accounts.roles(userId));
  return client?.clientId === m2mClient.id ? m2mPermissions(indicator) : [];
}

/**
 * A provider for `issuer`. oidc-provider reads its keys once: to change `signingKeys` (private
 * JWKs, the first one signs), make a new provider with the same `cookieKeys`. It shares the
 * storage of every provider in this process, so it takes over their sessions and grants.
 */
export async function createProvider({
  issuer, client, m2mClient, accessTokenTTL, refreshTokenRotation = 'always', accounts,
  signingKeys, cookieKeys,
}) {
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    clients: [clientMetadata(client), m2mClientMetadata(m2mClient, SIGNING_ALG)],
    findAccount: (_ctx, sub) => accounts.findAccount(sub),
    jwks: { keys: signingKeys },
    cookies: { keys: cookieKeys },
    enabledJWA: { idTokenSigningAlgValues: [SIGNING_ALG] },

    // Logto puts the claims of the granted scopes in the ID token, not only at /oidc/me.
    conformIdTokenClaims: false,
    claims: {
      profile: ['name', 'username', 'picture', 'created_at', 'updated_at'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
      custom_data: ['custom_data'],
      roles: ['roles'],
      'urn:logto:scope:organizations': ['organizations'],
      'urn:logto:scope:organization_roles': ['organization_roles'],
    },
    // Logto's own authorization parameters, kept so the sign-in pages can read them.
    extraParams: [
      'first_screen', 'direct_sign_in', 'identifier', 'organization_id', 'interaction_mode',
    ],

    pkce: { required: () => true },
    rotateRefreshToken: REFRESH_TOKEN_ROTATION[refreshTokenRotation],
    ttl: {
      // A number applies to every access token: opaque, API resource and organization JWTs.
      AccessToken: accessTokenTTL,
      // M2M tokens: Logto gives them their resource's TTL (an hour by default), which here is
      // the same setting. oidc-provider's default would be 10 minutes.
      ClientCredentials: accessTokenTTL,
      AuthorizationCode: 60,
      IdToken: HOUR,
      RefreshToken: 14 * DAY,
      Interaction: HOUR,
      Session: 14 * DAY,
      Grant: 14 * DAY,
    },

    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      // For the M2M app only: the Traditional web app's grant types do not list it.
      clientCredentials: { enabled: true },
      // The app may revoke and introspect its own tokens (spelled out, which also quiets a
      // notice oidc-provider prints when its default policy runs).
      revocation: { enabled: true, allowedPolicy: ownTokens },
      introspection: { enabled: true, allowedPolicy: ownTokens },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => {
          ctx.body = signOutPage(form);
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.body = signedOutPage();
        },
      },
      resourceIndicators: {
        enabled: true,
        // As in Logto, a token request without `resource` gets an opaque token for /oidc/me,
        // even when the authorization request named a resource.
        useGrantedResource: () => false,
        // `scope` is the most a token for the resource may carry: as in Logto, what the roles
        // of the user, or of the M2M app, grant there.
        getResourceServerInfo: (ctx, indicator, client) => {
          if (!RESOURCE_INDICATORS.has(indicator)) throw new errors.InvalidTarget();
          return {
            scope: grantableScopes(ctx, indicator, client, { accounts, m2mClient }).join(' '),
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: SIGNING_ALG } },
          };
        },
      },
    },

    // oidc-provider's own dispatcher refuses loopback and private addresses (SSRF protection).
    // Its only outgoing request here is the back-channel logout to the app on this machine.
    fetch: (url, { dispatcher, ...options }) => fetch(url, options),

    renderError: (ctx, { error, error_description: description }) => {
      ctx.type = 'html';
      const message = description ? `${error}: ${description}` : error;
      ctx.body = errorPage({ title: 'Sign-in error', message });
    },
  });

  enableOrganizationTokens(provider, { accounts, signingAlg: SIGNING_ALG });
  enableClientCredentials(provider);
  logEvents(provider);
  return provider;
}
