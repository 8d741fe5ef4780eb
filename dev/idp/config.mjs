// The IdP's settings, read once from the environment. Defaults match the Bookstore's
// .env.example, so `node dev/idp/server.mjs` and the app work together out of the box.

/** How long access tokens live when IDP_ACCESS_TOKEN_TTL is unset: an hour, as in Logto. */
export const DEFAULT_ACCESS_TOKEN_TTL = 3600;

/**
 * IDP_ROTATE_REFRESH_TOKENS: `always` hands out a new refresh token on every use, which tests
 * need to exercise rotation; `logto` rotates as Logto does for a Traditional web app.
 */
export const REFRESH_TOKEN_ROTATIONS = ['always', 'logto'];

/** Origins without their trailing slash, so `${origin}/callback` never doubles it. */
function origins(list) {
  return list
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((origin) => origin.replace(/\/+$/, ''));
}

export function readConfig(env = process.env) {
  const port = Number(env.IDP_PORT || 3001);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`IDP_PORT must be a port number, got ${JSON.stringify(env.IDP_PORT)}`);
  }
  const accessTokenTTL = Number(env.IDP_ACCESS_TOKEN_TTL || DEFAULT_ACCESS_TOKEN_TTL);
  if (!Number.isInteger(accessTokenTTL) || accessTokenTTL < 1) {
    throw new Error('IDP_ACCESS_TOKEN_TTL must be a whole number of seconds, at least 1, '
      + `got ${JSON.stringify(env.IDP_ACCESS_TOKEN_TTL)}`);
  }
  const refreshTokenRotation = env.IDP_ROTATE_REFRESH_TOKENS || REFRESH_TOKEN_ROTATIONS[0];
  if (!REFRESH_TOKEN_ROTATIONS.includes(refreshTokenRotation)) {
    throw new Error(`IDP_ROTATE_REFRESH_TOKENS must be ${REFRESH_TOKEN_ROTATIONS.join(' or ')}, `
      + `got ${JSON.stringify(env.IDP_ROTATE_REFRESH_TOKENS)}`);
  }
  const clientId = env.LOGTO_APP_ID || 'bookstore-demo';
  const m2mClientId = env.LOGTO_M2M_APP_ID || 'bookstore-m2m';
  if (m2mClientId === clientId) {
    throw new Error('LOGTO_M2M_APP_ID must differ from LOGTO_APP_ID, '
      + `both are ${JSON.stringify(clientId)}`);
  }
  const origin = (env.IDP_ORIGIN || `http://localhost:${port}`).replace(/\/+$/, '');
  const appOrigins = origins(env.BASE_URL || 'http://localhost:3000');

  return {
    port,
    origin,
    issuer: `${origin}/oidc`,
    accessTokenTTL,
    refreshTokenRotation,
    client: {
      id: clientId,
      secret: env.LOGTO_APP_SECRET || 'bookstore-demo-secret',
      redirectUris: appOrigins.map((app) => `${app}/callback`),
      postLogoutRedirectUris: appOrigins.map((app) => `${app}/`),
      backchannelLogoutUri: env.BACKCHANNEL_LOGOUT_URI || undefined,
    },
    // A Logto "Machine-to-machine" app, for the client_credentials grant.
    m2mClient: {
      id: m2mClientId,
      secret: env.LOGTO_M2M_APP_SECRET || 'bookstore-m2m-secret',
    },
  };
}

/**
 * The settings once the server listens on `port`. With `IDP_PORT=0` the system picks the port:
 * an origin on port 0 (the default one then, or an `IDP_ORIGIN` such as
 * `http://127.0.0.1:0`) takes the port picked, and so does the issuer.
 */
export function withBoundPort(config, port) {
  const url = new URL(config.origin);
  if (url.port !== '0') return { ...config, port };
  url.port = String(port);
  return { ...config, port, origin: url.origin, issuer: `${url.origin}/oidc` };
}
