// The deployment files' shape, checked without a Docker daemon: docker-compose.yml (and dclint,
// which validates it against the Compose schema), .env.demo, the Dockerfile, .dockerignore.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { argon2Verify } from 'hash-wasm';

import { dockerignoreMatcher, parseDockerfile } from './docker-build.mjs';
import {
  loadCompose,
  loadDemoEnv,
  parseEnvFile,
  readRepoFile,
  repoFile,
  root,
  serviceEnvFiles,
  serviceEnvironment,
} from './helpers.mjs';

const compose = loadCompose();
const services = compose.services ?? {};
const demoEnv = loadDemoEnv();

/** Each published port of a service, as { hostIp, published, target }. */
const publishedPorts = (service) =>
  (service.ports ?? []).map((port) => {
    if (typeof port === 'object') {
      return { hostIp: port.host_ip, published: String(port.published), target: String(port.target) };
    }
    const parts = String(port).split(':');
    if (parts.length === 3) return { hostIp: parts[0], published: parts[1], target: parts[2] };
    return { hostIp: undefined, published: parts.at(-2), target: parts.at(-1) };
  });

const healthTest = (service) => [service.healthcheck?.test ?? []].flat().join(' ');

describe('docker-compose.yml', () => {
  test('has exactly the five services', () => {
    assert.deepEqual(Object.keys(services).sort(), ['app', 'logto', 'postgres', 'provision', 'redis']);
  });

  test('needs no variables: `docker compose up` works with no flags and no .env', () => {
    // Compose would interpolate `$NAME` and `${NAME}` from the shell or .env; nothing here may
    // depend on them (a literal dollar would be written `$$`).
    const text = readRepoFile('docker-compose.yml');
    assert.doesNotMatch(text, /(?<!\$)\$(?!\$)/, 'docker-compose.yml uses $-interpolation');
  });

  test('passes dclint (the Compose schema and its best practices) with no findings', () => {
    const dclint = repoFile('tests', 'deploy', 'node_modules', '.bin', 'dclint');
    assert.ok(existsSync(dclint), 'dclint is missing: run `npm ci --prefix tests/deploy`');
    const run = spawnSync(dclint, ['docker-compose.yml'], { cwd: root, encoding: 'utf8' });
    assert.equal(run.status, 0, `dclint found problems:\n${run.stdout}${run.stderr}`);
  });

  test('publishes every port on 127.0.0.1 only', () => {
    const all = Object.entries(services).flatMap(([name, service]) =>
      publishedPorts(service).map((port) => ({ name, ...port })),
    );
    assert.ok(all.length > 0);
    for (const port of all) {
      assert.equal(port.hostIp, '127.0.0.1', `${port.name} publishes ${port.published} beyond localhost`);
    }
    const published = Object.fromEntries(
      Object.entries(services).map(([name, service]) => [name, publishedPorts(service).map((p) => p.published)]),
    );
    assert.deepEqual(published.app, ['3000']);
    assert.deepEqual(published.logto.sort(), ['3001', '3002']);
    assert.deepEqual([published.postgres, published.redis, published.provision], [[], [], []]);
  });

  test('postgres: version 17, health-checked with pg_isready, data on a named volume', () => {
    const { postgres } = services;
    assert.equal(postgres.image, 'postgres:17-alpine');
    assert.match(healthTest(postgres), /pg_isready/);
    assert.ok(postgres.volumes.includes('postgres-data:/var/lib/postgresql/data'));
    assert.ok('postgres-data' in (compose.volumes ?? {}));
    assert.deepEqual(serviceEnvFiles(postgres), ['.env.demo']);
  });

  test('logto: a pinned 1.x image that seeds, then starts; node probes /api/status', () => {
    const { logto } = services;
    assert.match(logto.image, /^svhd\/logto:1\.\d+(\.\d+)?$/);
    assert.deepEqual(logto.entrypoint, ['sh', '-c', 'npm run cli db seed -- --swe && npm start']);
    const env = { ...demoEnv, ...serviceEnvironment(logto) };
    assert.equal(env.ENDPOINT, 'http://localhost:3001');
    assert.equal(env.ADMIN_ENDPOINT, 'http://localhost:3002');
    assert.equal(env.TRUST_PROXY_HEADER, '1');
    assert.deepEqual(serviceEnvFiles(logto), ['.env.demo']);
    const dbUrl = new URL(env.DB_URL);
    assert.equal(dbUrl.hostname, 'postgres', 'DB_URL names the postgres service');
    assert.equal(dbUrl.username, 'postgres');
    assert.equal(decodeURIComponent(dbUrl.password), demoEnv.POSTGRES_PASSWORD, 'DB_URL uses POSTGRES_PASSWORD');
    assert.equal(dbUrl.pathname, '/logto');
    assert.equal(logto.depends_on?.postgres?.condition, 'service_healthy');
    const probe = healthTest(logto);
    assert.match(probe, /\bnode\b/);
    assert.match(probe, /fetch\('http:\/\/localhost:3001\/api\/status'\)/);
    assert.doesNotMatch(probe, /\b(curl|wget)\b/, 'the Logto image has no curl or wget');
  });

  test('redis: append-only file on a named volume, health-checked with redis-cli ping', () => {
    const { redis } = services;
    assert.match(redis.image, /^redis:7/);
    const command = [redis.command].flat().join(' ');
    assert.match(command, /--appendonly yes/);
    assert.ok(redis.volumes.includes('redis-data:/data'));
    assert.ok('redis-data' in (compose.volumes ?? {}));
    assert.match(healthTest(redis), /redis-cli ping/);
  });

  test('provision: one-shot psql that mounts deploy/provision and runs its script', () => {
    const { provision } = services;
    assert.equal(provision.image, 'postgres:17-alpine');
    assert.equal(provision.restart, 'no');
    assert.deepEqual(provision.volumes, ['./deploy/provision:/provision:ro']);
    assert.deepEqual(provision.entrypoint, ['sh', '/provision/provision.sh']);
    assert.ok(existsSync(repoFile('deploy', 'provision', 'provision.sh')));
    assert.ok(existsSync(repoFile('deploy', 'provision', 'provision.sql')));
    assert.deepEqual(serviceEnvFiles(provision), ['.env.demo']);
    const env = serviceEnvironment(provision);
    assert.deepEqual([env.PGHOST, env.PGUSER, env.PGDATABASE], ['postgres', 'postgres', 'logto']);
    assert.equal(provision.depends_on?.postgres?.condition, 'service_healthy');
    assert.equal(env.API_RESOURCE, 'https://api.bookstore.example', 'the API resource README names');
  });

  test('provision.sql creates the API resource, read:books, a user role, an M2M app and its M2M role', () => {
    const sql = readRepoFile('deploy', 'provision', 'provision.sql');
    for (const table of ['resources', 'scopes', 'roles', 'roles_scopes', 'users_roles', 'applications_roles', 'application_secrets']) {
      assert.match(sql, new RegExp(`INSERT INTO ${table} \\(`), `inserts into ${table}`);
    }
    assert.match(sql, /'read:books'/);
    assert.match(sql, /'MachineToMachine'/);
    assert.match(sql, /:'api_resource'/);
    assert.match(sql, /:'m2m_app_id'/);
    assert.match(sql, /:'m2m_app_secret'/);
    const script = readRepoFile('deploy', 'provision', 'provision.sh');
    assert.match(script, /LOGTO_M2M_APP_ID LOGTO_M2M_APP_SECRET/, 'refuses to run without the M2M credentials');
    assert.match(script, /-v api_resource="\$API_RESOURCE"/);
  });

  test('app: built here, Redis sessions, internal Logto endpoint, waits for provisioning', () => {
    const { app, logto, provision } = services;
    assert.equal(app.build, '.');
    const env = serviceEnvironment(app);
    assert.equal(env.SESSION_STORE, 'redis');
    assert.equal(env.REDIS_URL, 'redis://redis:6379');
    assert.equal(env.LOGTO_ENDPOINT, 'http://localhost:3001');
    assert.equal(env.LOGTO_ENDPOINT, serviceEnvironment(logto).ENDPOINT, 'the issuer is built from ENDPOINT');
    assert.equal(env.LOGTO_INTERNAL_ENDPOINT, 'http://logto:3001');
    assert.equal(env.BASE_URL, 'http://localhost:3000');
    assert.equal(env.BASE_URL, serviceEnvironment(provision).BASE_URL, 'redirect URIs come from BASE_URL');
    assert.equal(env.HOST, '0.0.0.0');
    assert.equal(env.PORT, '3000');
    // /books lists the shelf through /api/books, with the user's token for the API resource.
    assert.equal(env.LOGTO_RESOURCES, serviceEnvironment(provision).API_RESOURCE, 'the provisioned resource');
    assert.ok(env.LOGTO_SCOPES.split(' ').includes('read:books'), 'the sign-in asks for read:books');
    assert.deepEqual(serviceEnvFiles(app), ['.env.demo']);
    assert.deepEqual(app.depends_on, {
      logto: { condition: 'service_healthy' },
      provision: { condition: 'service_completed_successfully' },
      redis: { condition: 'service_healthy' },
    });
    assert.deepEqual(app.healthcheck?.test, ['CMD', '/usr/local/bin/logto-bookstore', 'healthcheck']);
  });
});

describe('.env.demo', () => {
  const text = readRepoFile('.env.demo');

  test('says it is demo-only, up front', () => {
    const head = text.split('\n').slice(0, 5).join('\n');
    assert.match(head, /DEMO ONLY/);
    assert.match(head, /NEVER USE THESE VALUES IN PRODUCTION/);
  });

  test('parses the way Compose reads it, each key once', () => {
    const keys = parseEnvFile(text).map(({ key }) => key);
    assert.deepEqual(keys, [...new Set(keys)], 'a key appears twice');
  });

  test('holds every demo value', () => {
    for (const key of [
      'POSTGRES_PASSWORD',
      'DB_URL',
      'LOGTO_APP_ID',
      'LOGTO_APP_SECRET',
      'LOGTO_M2M_APP_ID',
      'LOGTO_M2M_APP_SECRET',
      'SESSION_SECRET',
      'DEMO_USERNAME',
      'DEMO_PASSWORD',
      'DEMO_PASSWORD_HASH',
    ]) {
      assert.ok(demoEnv[key], `${key} is missing or empty`);
    }
  });

  test("sets nothing another service would read as its own (it is every service's env_file)", () => {
    // Logto reads PORT and REDIS_URL; the app reads HOST, PORT, BASE_URL, LOGTO_ENDPOINT...
    for (const key of ['PORT', 'HOST', 'ENDPOINT', 'ADMIN_ENDPOINT', 'REDIS_URL', 'BASE_URL', 'LOGTO_ENDPOINT', 'SESSION_STORE', 'NODE_ENV']) {
      assert.ok(!(key in demoEnv), `${key} belongs in docker-compose.yml, per service`);
    }
  });

  test("fits Logto's columns and this app's rules", () => {
    assert.ok(demoEnv.LOGTO_APP_ID.length <= 21, 'applications.id is varchar(21)');
    assert.ok(demoEnv.LOGTO_APP_SECRET.length <= 64, 'applications.secret is varchar(64)');
    assert.ok(demoEnv.LOGTO_M2M_APP_ID.length <= 21, 'applications.id is varchar(21)');
    assert.ok(demoEnv.LOGTO_M2M_APP_SECRET.length <= 64, 'application_secrets.value is varchar(64)');
    assert.notEqual(demoEnv.LOGTO_M2M_APP_ID, demoEnv.LOGTO_APP_ID, 'two applications');
    assert.match(demoEnv.DEMO_USERNAME, /^[A-Z_a-z]\w*$/, "Logto's username rule");
    assert.ok(Buffer.byteLength(demoEnv.SESSION_SECRET) >= 64, 'SESSION_SECRET needs 64 bytes');
    assert.ok(demoEnv.DEMO_PASSWORD_HASH.length <= 128, 'users.password_encrypted is varchar(128)');
    assert.match(demoEnv.POSTGRES_PASSWORD, /^[\w.-]+$/, 'kept URL-safe: it is repeated in DB_URL');
  });

  test("DEMO_PASSWORD_HASH is an Argon2i hash of DEMO_PASSWORD with Logto's parameters", async () => {
    assert.ok(demoEnv.DEMO_PASSWORD_HASH.startsWith('$argon2i$v=19$m=8192,t=8,p=1$'));
    // hash-wasm's argon2Verify is what Logto checks passwords with.
    assert.equal(await argon2Verify({ password: demoEnv.DEMO_PASSWORD, hash: demoEnv.DEMO_PASSWORD_HASH }), true);
    assert.equal(await argon2Verify({ password: `${demoEnv.DEMO_PASSWORD}x`, hash: demoEnv.DEMO_PASSWORD_HASH }), false);
    // The comment next to it names the same password.
    assert.ok(text.includes(`Argon2i hash of DEMO_PASSWORD ("${demoEnv.DEMO_PASSWORD}")`));
  });
});

describe('.env.example and the README configuration table', () => {
  /** Every variable .env.example names, set or commented out (`# NAME=value`). */
  const envExample = new Set(
    [...readRepoFile('.env.example').matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map(([, name]) => name),
  );
  /** Every variable in the first column of README's table under "## Configuration". */
  const readmeTable = (() => {
    const readme = readRepoFile('README.md');
    const section = readme.slice(readme.indexOf('\n## Configuration\n'));
    const table = section.slice(0, section.indexOf('\n## ', 1));
    const firstColumns = [...table.matchAll(/^\| ([^|]*) \|/gm)].map(([, cell]) => cell);
    return new Set(firstColumns.flatMap((cell) => [...cell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map(([, name]) => name)));
  })();
  /** Every variable the Rust code reads: names passed to env::var, env, get, lookup, non_empty. */
  const readByCode = (() => {
    const rustFiles = (dir) =>
      readdirSync(repoFile(dir), { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? rustFiles(`${dir}/${entry.name}`) : entry.name.endsWith('.rs') ? [`${dir}/${entry.name}`] : [],
      );
    const files = ['src', 'crates/logto-client/src', 'crates/logto-actix/src', 'examples'].flatMap(rustFiles);
    const call = /\b(?:env::var|env|get|lookup|non_empty\(&\w+,)\s*\(?\s*"([A-Z][A-Z0-9_]+)"/g;
    return new Set(files.flatMap((file) => [...readRepoFile(file).matchAll(call)].map(([, name]) => name)));
  })();

  test('the scan finds the settings it should (the app, logto-client, examples/m2m.rs)', () => {
    for (const name of ['LOGTO_ENDPOINT', 'SESSION_STORE', 'TRUST_PROXY', 'LOGTO_M2M_APP_ID', 'LOGTO_M2M_APP_SECRET']) {
      assert.ok(readByCode.has(name), `${name} not found in the code`);
    }
  });

  test('.env.example documents every variable the code reads', () => {
    const missing = [...readByCode].filter((name) => !envExample.has(name));
    assert.deepEqual(missing, []);
  });

  test("README's configuration table lists the same variables as .env.example", () => {
    assert.deepEqual([...readmeTable].sort(), [...envExample].sort());
  });
});

describe('Dockerfile', () => {
  const stages = parseDockerfile(readRepoFile('Dockerfile'));
  const [builder] = stages;
  const runtime = stages.at(-1);
  const all = (stage, keyword) => stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

  test('is multi-stage: a Rust builder, a distroless non-root runtime', () => {
    assert.equal(stages.length, 2);
    assert.equal(builder.from, 'rust:1.95-slim-bookworm AS builder');
    assert.equal(runtime.from, 'gcr.io/distroless/cc-debian12:nonroot');
  });

  test('builds the dependencies in a layer of their own, then the crate, both --release --locked', () => {
    const runs = all(builder, 'RUN');
    const builds = runs.filter((run) => run.includes('cargo build --release --locked'));
    assert.equal(builds.length, 2);
    const copies = all(builder, 'COPY');
    assert.equal(copies[0], 'Cargo.toml Cargo.lock ./', 'the manifest comes first');
    // Then each workspace crate's manifest, with nothing else of the crate.
    const crates = readdirSync(repoFile('crates')).filter((name) => existsSync(repoFile('crates', name, 'Cargo.toml')));
    assert.ok(crates.length > 0);
    assert.deepEqual(
      copies.slice(1, 1 + crates.length).sort(),
      crates.map((name) => `crates/${name}/Cargo.toml crates/${name}/`).sort(),
      'every crate manifest is copied before the dependency build',
    );
    for (const name of crates) {
      assert.match(builds[0], new RegExp(`touch [^&]*crates/${name}/src/lib\\.rs`), `crates/${name} gets a dummy lib.rs`);
      assert.match(builds[1], new RegExp(`touch [^&]*crates/${name}/src/lib\\.rs`), `crates/${name}'s real lib.rs is touched`);
    }
    for (const build of builds) assert.match(build, /cargo build --release --locked -p logto-bookstore\b/);
    assert.match(builds[0], /fn main\(\) \{\}/, 'the first build is against a dummy main');
    const firstBuild = builder.instructions.findIndex((i) => i.args === builds[0]);
    const sourceCopy = builder.instructions.findIndex((i) => i.keyword === 'COPY' && i.args.startsWith('src '));
    assert.ok(firstBuild < sourceCopy, 'dependencies build before the sources are copied');
    assert.ok(all(builder, 'ENV').some((env) => env.includes('CARGO_PROFILE_RELEASE_STRIP=symbols')));
  });

  test('copies every build input, and only what exists (add a build.rs here if one appears)', () => {
    const sources = all(builder, 'COPY')
      .filter((args) => !args.startsWith('--from'))
      .flatMap((args) => args.split(' ').slice(0, -1));
    const manifests = readdirSync(repoFile('crates')).map((name) => `crates/${name}/Cargo.toml`);
    assert.deepEqual(sources.sort(), ['Cargo.lock', 'Cargo.toml', 'build.rs', 'crates', ...manifests, 'src', 'static', 'templates'].sort());
    for (const source of sources) assert.ok(existsSync(repoFile(source)), `${source} is missing`);
    if (existsSync(repoFile('build.rs'))) assert.ok(sources.includes('build.rs'), 'build.rs is not copied');
  });

  test('runs the binary as nonroot, on 0.0.0.0:3000, with a HEALTHCHECK', () => {
    assert.deepEqual(all(runtime, 'COPY'), ['--from=builder /build/logto-bookstore /usr/local/bin/logto-bookstore']);
    assert.deepEqual(all(runtime, 'USER'), ['nonroot']);
    assert.deepEqual(all(runtime, 'EXPOSE'), ['3000']);
    const env = all(runtime, 'ENV').join(' ');
    assert.match(env, /\bHOST=0\.0\.0\.0\b/);
    assert.match(env, /\bPORT=3000\b/);
    const [healthcheck] = all(runtime, 'HEALTHCHECK');
    assert.match(healthcheck, /CMD \["\/usr\/local\/bin\/logto-bookstore", "healthcheck"\]$/);
    assert.deepEqual(all(runtime, 'ENTRYPOINT'), ['["/usr/local/bin/logto-bookstore"]']);
  });

  test('the builder binary is the one Cargo.toml names', () => {
    assert.match(readRepoFile('Cargo.toml'), /\[\[bin\]\]\s*name = "logto-bookstore"/);
  });
});

describe('.dockerignore', () => {
  // Docker's rules (see docker-build.mjs): the last matching line wins; a pattern matching a
  // parent directory matches everything under it.
  const excluded = dockerignoreMatcher(readRepoFile('.dockerignore')).ignores;

  test('lets in what the Dockerfile copies', () => {
    for (const file of ['Cargo.toml', 'Cargo.lock', 'build.rs', 'src/main.rs', 'src/lib.rs', 'templates/base.html', 'static/style.css']) {
      assert.equal(excluded(file), false, `${file} is left out of the build context`);
    }
    for (const dir of ['src', 'templates', 'static']) {
      for (const file of readdirSync(repoFile(dir))) assert.equal(excluded(`${dir}/${file}`), false);
    }
    // Each crate's manifest, sources and README (its rustdoc includes the README).
    for (const name of readdirSync(repoFile('crates'))) {
      for (const file of ['Cargo.toml', 'README.md', 'src/lib.rs']) {
        assert.equal(excluded(`crates/${name}/${file}`), false, `crates/${name}/${file} is left out of the build context`);
      }
    }
  });

  test('leaves out build output, dependencies, git, secrets and test artefacts', () => {
    for (const file of [
      'target/release/logto-bookstore',
      '.git/HEAD',
      '.env',
      '.env.demo',
      'node_modules/yaml/package.json',
      'dev/idp/node_modules/x/index.js',
      'tests/e2e/output/shot.png',
      'tests/e2e/node_modules/x/index.js',
      'tests/api/main.rs',
      'crates/logto-client/tests/client/main.rs',
      'crates/logto-client/examples/flow.rs',
      'src/.env',
      'docs/home-signed-in.png',
      'README.md',
    ]) {
      assert.equal(excluded(file), true, `${file} would be sent to the builder`);
    }
  });
});
