// Logto's organizations: the directory, as if made in the Logto Console, and the organization
// tokens that the refresh_token grant issues for `organization_id=<id>`. Who belongs to which
// organization, in which roles, is account data (accounts.mjs).

import { errors } from 'oidc-provider';
// oidc-provider keeps its grant handlers here. The package has no `exports` map, so the deep
// import works, and it is the same module instance that the provider itself reads.
import instance from 'oidc-provider/lib/helpers/weak_cache.js';

/** The organizations, with the organization permissions each role grants. */
export const ORGANIZATIONS = new Map([
  ['org_bookclub', {
    name: 'Book Club',
    roles: {
      member: ['read:club-shelf'],
      admin: ['read:club-shelf', 'write:club-shelf'],
    },
  }],
]);

const ORGANIZATIONS_SCOPE = 'urn:logto:scope:organizations';

/**
 * Logto's reserved resource for organization permissions. Its scopes are every organization
 * permission there is. A sign-in must request it, and the permissions as scopes, for its
 * organization tokens to carry any: Logto grants them through this resource only.
 */
export const ORGANIZATIONS_RESOURCE = {
  indicator: 'urn:logto:resource:organizations',
  scopes: [...new Set([...ORGANIZATIONS.values()]
    .flatMap(({ roles }) => Object.values(roles).flat()))],
};

/** The permissions that these roles grant in the organization, each once. */
function permissions(organizationId, roleNames) {
  const roles = ORGANIZATIONS.get(organizationId)?.roles ?? {};
  return [...new Set(roleNames.flatMap((role) => roles[role] ?? []))];
}

/** Logto's 403 `access_denied` (oidc-provider's own is a 400). */
export function accessDenied(description) {
  return Object.assign(new errors.AccessDenied(description), { status: 403, statusCode: 403 });
}

/**
 * Wraps oidc-provider's refresh_token grant: with `organization_id` (and no `resource`) the
 * access token becomes Logto's organization token, a JWT for `urn:logto:organization:<id>`
 * signed like the ID token. Its scope is the user's permissions in that organization that the
 * sign-in was granted for the organizations resource: none (an empty scope, as in Logto
 * 1.37.1) unless the sign-in requested `resource=urn:logto:resource:organizations` and asked
 * for those permissions as scopes.
 * oidc-provider's own handler still does the rest: the checks, the rotation, the reuse
 * detection and the ID token.
 */
export function enableOrganizationTokens(provider, { accounts, signingAlg }) {
  const { grantTypeHandlers, grantTypeParams, grantTypeDupes } = instance(provider);
  const refreshTokenGrant = grantTypeHandlers.get('refresh_token');

  async function refreshTokenOrOrganizationGrant(ctx) {
    const { organization_id: organizationId, resource } = ctx.oidc.params;
    if (!organizationId) return refreshTokenGrant(ctx);
    if (resource) throw new errors.InvalidRequest('resource is not allowed with organization_id');

    // A missing, expired, spent or foreign refresh token is the handler's to refuse: a spent one
    // revokes the grant, organization or not.
    const refreshToken = await provider.RefreshToken.find(ctx.oidc.params.refresh_token);
    if (!refreshToken?.isValid || refreshToken.clientId !== ctx.oidc.client.clientId) {
      return refreshTokenGrant(ctx);
    }
    // Refused before the handler rotates the refresh token, so a refusal does not spend it.
    if (!refreshToken.scopes.has(ORGANIZATIONS_SCOPE)) {
      const description = 'refresh token missing required scope';
      throw new errors.InsufficientScope(description, ORGANIZATIONS_SCOPE);
    }
    const roles = accounts.organizationRoles(refreshToken.accountId, organizationId);
    if (!roles) throw accessDenied('user is not a member of the organization');

    await refreshTokenGrant(ctx);

    // The handler saved an access token of its own, which the client never gets.
    const issued = ctx.oidc.entities.AccessToken;
    await issued.destroy();
    const token = new provider.AccessToken({
      accountId: issued.accountId,
      client: ctx.oidc.client,
      expiresWithSession: issued.expiresWithSession,
      grantId: issued.grantId,
      gty: issued.gty,
      sessionUid: issued.sessionUid,
      sid: issued.sid,
    });
    const audience = `urn:logto:organization:${organizationId}`;
    const granted = new Set(ctx.oidc.entities.Grant
      .getResourceScopeFiltered(ORGANIZATIONS_RESOURCE.indicator, [...refreshToken.scopes])
      .split(' '));
    const scope = permissions(organizationId, roles)
      .filter((permission) => granted.has(permission))
      .join(' ');
    token.resourceServer = new provider.ResourceServer(audience, {
      scope,
      audience,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: signingAlg } },
    });
    token.scope = scope;
    Object.assign(ctx.body, {
      access_token: await token.save(),
      expires_in: token.expiration,
      scope,
    });
  }

  const params = new Set([...grantTypeParams.get('refresh_token'), 'organization_id']);
  provider.registerGrantType(
    'refresh_token',
    refreshTokenOrOrganizationGrant,
    params,
    grantTypeDupes.get('refresh_token'),
  );
}
