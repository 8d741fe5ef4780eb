// Logto's machine-to-machine apps: the M2M app, the roles it is assigned, as if made in the
// Logto Console, and the client_credentials grant the way Logto's core changes it.

import { errors } from 'oidc-provider';
// The grant handlers, as in organizations.mjs.
import instance from 'oidc-provider/lib/helpers/weak_cache.js';

import { API_RESOURCE, rolePermissions } from './api-resource.mjs';
import { accessDenied } from './organizations.mjs';

/**
 * Machine-to-machine roles ("Roles", type Machine-to-machine, in the Logto Console): the API
 * permissions that each grants, by resource indicator.
 */
export const M2M_ROLES = new Map([
  ['catalogue-reader', { [API_RESOURCE.indicator]: ['read:books'] }],
]);

/** The roles assigned to the M2M app. */
export const M2M_APP_ROLES = ['catalogue-reader'];

/**
 * What an M2M app's tokens for a resource may carry at most: the permissions its roles grant
 * there, each once. Logto's `findApplicationScopesForResourceIndicator` walks the same path:
 * app → roles → permissions of that resource.
 */
export function m2mPermissions(indicator, roleNames = M2M_APP_ROLES) {
  return rolePermissions(M2M_ROLES, roleNames, indicator);
}

/**
 * The M2M app's client metadata, as Logto registers a machine-to-machine app: a confidential
 * client with the client_credentials grant only, no response types and so no redirect URIs.
 * oidc-provider accepts its secret in the body (client_secret_post) too, as Logto does.
 */
export function m2mClientMetadata({ id, secret }, signingAlg) {
  return {
    client_id: id,
    client_secret: secret,
    client_name: 'Bookstore M2M',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    // It never gets an ID token, but oidc-provider checks the algorithm against its own.
    id_token_signed_response_alg: signingAlg,
  };
}

/**
 * Wraps oidc-provider's client_credentials grant as Logto's core does:
 * - without `resource` (and without `organization_id`) the answer is 400 `invalid_target`,
 *   where stock oidc-provider would issue an opaque token. Logto would fall back to a default
 *   API resource set in its Console; none is set here, as in a new tenant;
 * - `organization_id` is 403 `access_denied`: the M2M app belongs to no organization.
 * The stock handler does the rest, as Logto's copy of it does: one resource only
 * (`invalid_target` otherwise), and as scope the requested scopes that the resource server
 * info allows (for the M2M app, its roles' permissions), unknown ones dropped in silence.
 */
export function enableClientCredentials(provider) {
  const { grantTypeHandlers, grantTypeParams, grantTypeDupes } = instance(provider);
  const clientCredentialsGrant = grantTypeHandlers.get('client_credentials');

  async function logtoClientCredentialsGrant(ctx) {
    const { organization_id: organizationId, resource } = ctx.oidc.params;
    if (organizationId) throw accessDenied('app has not associated with the organization');
    if (!resource?.length) {
      throw new errors.InvalidTarget('both `resource` and `organization_id` are not provided');
    }
    return clientCredentialsGrant(ctx);
  }

  const params = new Set([...grantTypeParams.get('client_credentials'), 'organization_id']);
  provider.registerGrantType(
    'client_credentials',
    logtoClientCredentialsGrant,
    params,
    grantTypeDupes.get('client_credentials'),
  );
}
