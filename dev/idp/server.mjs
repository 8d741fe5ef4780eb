// A Logto-shaped OpenID Provider for the Bookstore's development, demo and tests.
//   node dev/idp/server.mjs
// Settings come from the environment (see config.mjs and README.md). It binds to 127.0.0.1.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { errors } from 'oidc-provider';

import { Accounts, seededUsers } from './accounts.mjs';
import { USER_ROLES } from './api-resource.mjs';
import {
  DEFAULT_ACCESS_TOKEN_TTL, REFRESH_TOKEN_ROTATIONS, readConfig, withBoundPort,
} from './config.mjs';
import { interactionRoutes } from './interactions.mjs';
import { M2M_APP_ROLES, M2M_ROLES } from './machine-to-machine.mjs';
import { ORGANIZATIONS } from './organizations.mjs';
import { createProvider } from './provider.mjs';
import { SigningKeys } from './signing-keys.mjs';
import { testControlRoutes } from './test-controls.mjs';
import { errorPage } from './views.mjs';

const PUBLIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');

/** A role's permissions, e.g. "read:books on https://api.bookstore.example". */
const describeRole = (grants) => Object.entries(grants)
  .map(([indicator, permissions]) => `${permissions.join(' ')} on ${indicator}`)
  .join(', ');

/** One line per request on stderr: method, path without the query (it may carry codes), status. */
function logRequest(req, res, next) {
  res.on('finish', () => {
    console.error(`${req.method} ${req.originalUrl.split('?')[0]} ${res.statusCode}`);
  });
  next();
}

// Errors of the sign-in pages (oidc-provider renders its own). Express knows an error handler
// by its four parameters.
function renderError(error, _req, res, _next) {
  if (error instanceof errors.SessionNotFound) {
    const message = 'This sign-in has expired or is already finished. '
      + 'Go back to the app and sign in again.';
    return res.status(400).send(errorPage({ title: 'Sign-in expired', message }));
  }
  console.error(error);
  const message = 'The IdP log says why.';
  res.status(500).send(errorPage({ title: 'Something went wrong', message }));
}

// Listening comes first: with IDP_PORT=0 the issuer names the port the system picked. Requests
// that arrive before the app is built wait for it.
const settings = readConfig();
let appBuilt;
const builtApp = new Promise((resolve) => { appBuilt = resolve; });
const server = createServer((req, res) => builtApp.then((app) => app(req, res)));
server.listen(settings.port, '127.0.0.1');
await once(server, 'listening');
const config = withBoundPort(settings, server.address().port);
const users = seededUsers(config.origin);
const accounts = new Accounts(users);

// The provider that answers, replaced when the signing keys change. The new one keeps the
// cookie keys and shares the storage, so IdP sessions and grants live on.
const cookieKeys = [randomBytes(32).toString('base64url')];
let current;
const signingKeys = await SigningKeys.generate(async (keys) => {
  const provider = await createProvider({ ...config, accounts, signingKeys: keys, cookieKeys });
  current = { oidc: provider.callback(), interactions: interactionRoutes(provider, accounts) };
});
const testControls = process.env.IDP_TEST_CONTROLS === 'true';

const app = express()
  .disable('x-powered-by')
  .use(logRequest)
  .use('/oidc', (req, res) => current.oidc(req, res))
  .use(express.static(PUBLIC_DIR))
  .use((req, res, next) => current.interactions(req, res, next));
if (testControls) app.use(testControlRoutes(signingKeys));
app.use(renderError);
appBuilt(app);

console.log(`Logto-shaped dev IdP (oidc-provider) on http://127.0.0.1:${config.port}`);
console.log(`  issuer:  ${config.issuer}`);
console.log(`  client:  ${config.client.id} / ${config.client.secret}`);
console.log(`  redirect URIs: ${config.client.redirectUris.join(' ')}`);
console.log(`  M2M app: ${config.m2mClient.id} / ${config.m2mClient.secret}`);
for (const role of M2M_APP_ROLES) {
  console.log(`    role ${role}: ${describeRole(M2M_ROLES.get(role))}`);
}
if (config.accessTokenTTL !== DEFAULT_ACCESS_TOKEN_TTL) {
  console.log(`  access tokens expire after ${config.accessTokenTTL} s (IDP_ACCESS_TOKEN_TTL)`);
}
if (config.refreshTokenRotation !== REFRESH_TOKEN_ROTATIONS[0]) {
  console.log('  refresh tokens rotate as in Logto: once 70 % of their 14 days have passed '
    + '(IDP_ROTATE_REFRESH_TOKENS=logto)');
}
console.log('  users:');
for (const { username, password, name, roles = [] } of users) {
  console.log(`    ${username} / ${password} (${name}), roles: ${roles.join(' ') || 'none'}`);
}
console.log('  user roles:');
for (const [role, grants] of USER_ROLES) {
  console.log(`    ${role}: ${describeRole(grants)}`);
}
if (testControls) {
  console.log('  test controls: POST /test-controls/signing-keys/{rotate,delete-previous}');
}
console.log('  organizations:');
for (const [id, { name, roles }] of ORGANIZATIONS) {
  console.log(`    ${id} (${name}), roles ${Object.keys(roles).join(' ')}`);
}
console.log(`IdP ready: ${config.issuer}`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
