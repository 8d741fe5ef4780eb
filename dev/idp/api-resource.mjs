// The Bookstore's API resource (RFC 8707), as if registered in the Logto Console ("API
// resources"). Users get its scopes at sign-in; the M2M app gets those of its roles
// (machine-to-machine.mjs).

/** The API's indicator, which is the `aud` of its access tokens, and its permissions. */
export const API_RESOURCE = {
  indicator: 'https://api.bookstore.example',
  scopes: ['read:books', 'write:books'],
};
