// Shared by the deploy tests: where the repository is, and how Compose reads .env.demo.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const repoFile = (...parts) => path.join(root, ...parts);

export const readRepoFile = (...parts) => readFileSync(repoFile(...parts), 'utf8');

/** docker-compose.yml, parsed (anchors and aliases resolved). */
export const loadCompose = () => YAML.parse(readRepoFile('docker-compose.yml'), { merge: true });

/**
 * Reads an env file the way Compose does, for the subset we allow ourselves: `KEY=VALUE`
 * lines, `#` comment lines, blank lines. A single-quoted value is literal. Unquoted and
 * double-quoted values would be interpolated by Compose, so they must not hold a `$`; double
 * quotes must not hold escapes. Returns the entries in order, with their raw lines.
 */
export const parseEnvFile = (text) => {
  const entries = [];
  for (const [index, line] of text.split('\n').entries()) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
    if (!match) throw new Error(`line ${index + 1} is not KEY=VALUE: ${line}`);
    const [, key, raw] = match;
    let value;
    if (raw.startsWith("'")) {
      const end = raw.indexOf("'", 1);
      if (end < 0 || raw.slice(end + 1).trim() !== '') {
        throw new Error(`line ${index + 1}: unterminated or trailing text after '...'`);
      }
      value = raw.slice(1, end);
    } else if (raw.startsWith('"')) {
      const end = raw.indexOf('"', 1);
      if (end < 0 || raw.slice(end + 1).trim() !== '') {
        throw new Error(`line ${index + 1}: unterminated or trailing text after "..."`);
      }
      value = raw.slice(1, end);
      if (value.includes('\\')) throw new Error(`line ${index + 1}: escapes are not allowed`);
      if (value.includes('$')) throw new Error(`line ${index + 1}: "$" would be interpolated`);
    } else {
      value = raw.replace(/\s+#.*$/, '').trim();
      if (value.includes('$')) throw new Error(`line ${index + 1}: "$" would be interpolated`);
    }
    entries.push({ key, value, line: index + 1 });
  }
  return entries;
};

/** .env.demo as an object (each key at most once: parseEnvFile's callers check that). */
export const loadDemoEnv = () =>
  Object.fromEntries(parseEnvFile(readRepoFile('.env.demo')).map(({ key, value }) => [key, value]));

/** A service's `environment`, list or map form, as an object of strings. */
export const serviceEnvironment = (service) => {
  const environment = service.environment ?? {};
  if (Array.isArray(environment)) {
    return Object.fromEntries(
      environment.map((item) => {
        const at = item.indexOf('=');
        return at < 0 ? [item, ''] : [item.slice(0, at), item.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(environment).map(([key, value]) => [key, value == null ? '' : String(value)]),
  );
};

/** A service's `env_file`, whichever of its forms, as a list of paths. */
export const serviceEnvFiles = (service) => {
  const envFile = service.env_file;
  if (envFile == null) return [];
  return (Array.isArray(envFile) ? envFile : [envFile]).map((item) =>
    typeof item === 'string' ? item : item.path,
  );
};
