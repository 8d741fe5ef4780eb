// The Bookstore's API resource (RFC 8707), as if registered in the Logto Console ("API
// resources"), and the user roles that grant its permissions ("Roles", type User). The M2M
// app gets the permissions of its own roles (machine-to-machine.mjs).

/** The API's indicator, which is the `aud` of its access tokens, and its permissions. */
export const API_RESOURCE = {
  indicator: 'https://api.bookstore.example',
  scopes: ['read:books', 'write:books'],
};

/**
 * User roles: the API permissions that each grants, by resource indicator. Which user holds
 * which role is account data (`roles` in accounts.mjs). None is a default role, so a user who
 * signs up holds none, as in a new Logto tenant.
 */
export const USER_ROLES = new Map([
  ['reader', { [API_RESOURCE.indicator]: ['read:books'] }],
  ['admin', { [API_RESOURCE.indicator]: ['read:books', 'write:books'] }],
]);

/**
 * The permissions that `roleNames` grant on the resource `indicator`, each once, from a table
 * of roles such as USER_ROLES. Logto's `findUserScopesForResourceIndicator` (and, for apps,
 * `findApplicationScopesForResourceIndicator`) walks the same path: subject → roles →
 * permissions of that resource.
 */
export function rolePermissions(roles, roleNames, indicator) {
  return [...new Set(roleNames.flatMap((role) => roles.get(role)?.[indicator] ?? []))];
}

/** What a user's tokens for a resource may carry at most: what the user's roles grant there. */
export function userPermissions(indicator, roleNames) {
  return rolePermissions(USER_ROLES, roleNames, indicator);
}
