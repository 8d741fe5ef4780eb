// The browser tests' stack itself. A flake on an unloaded machine (every Redis-store test
// timing out on `#username`) came from it: two servers were handed the same port, the IdP took
// it, the app failed to bind, and the IdP answered the stack's "is the app up?" probe, so the
// tests ran against "Cannot GET /sign-in".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';

import { portBelowTheEphemeralRange, startStack } from './stack.mjs';

test('the stack never hands out one port twice', async () => {
  const ports = [];
  for (let i = 0; i < 50; i += 1) ports.push(await portBelowTheEphemeralRange());
  assert.equal(new Set(ports).size, ports.length);
});

test('another server answering at the app\'s port cannot pass for the app', async () => {
  const impostor = createServer((_request, response) => {
    response.writeHead(404, { 'content-type': 'text/html' });
    response.end('Cannot GET /');
  });
  impostor.listen(await portBelowTheEphemeralRange(), '127.0.0.1');
  await once(impostor, 'listening');
  const taken = impostor.address().port;
  try {
    // A stack that started anyway is stopped before the assertion reports it.
    const started = startStack({ stores: ['cookie'], appPort: async () => taken })
      .then(async (stack) => { await stack.stop(); return stack; });
    await assert.rejects(started, /cannot listen on 127\.0\.0\.1/);
  } finally {
    impostor.close();
  }
});
