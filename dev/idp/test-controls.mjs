// Controls for tests only, on when IDP_TEST_CONTROLS=true: what an admin does in the Logto
// Console, on request. Anyone who can reach the IdP can use them, so never turn them on in a
// demo.

import express from 'express';

/**
 * `POST /test-controls/signing-keys/rotate` and `POST /test-controls/signing-keys/delete-previous`
 * change the signing keys and answer `{ "kids": [...] }`, the published key ids, the one that
 * signs first.
 */
export function testControlRoutes(signingKeys) {
  const router = express.Router();
  const control = (action, change) => async (_req, res) => {
    await change();
    console.error(`signing keys: ${action}; published now: ${signingKeys.kids.join(' ')}`);
    res.json({ kids: signingKeys.kids });
  };
  router.post(
    '/test-controls/signing-keys/rotate',
    control('rotated', () => signingKeys.rotate()),
  );
  router.post(
    '/test-controls/signing-keys/delete-previous',
    control('deleted the previous key', () => signingKeys.deletePrevious()),
  );
  return router;
}
