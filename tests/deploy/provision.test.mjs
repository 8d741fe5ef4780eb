// deploy/provision against a real PostgreSQL server with Logto-shaped tables: the same script,
// the same .env.demo and the same environment the compose service `provision` gets, only
// pointed at a server this test starts (initdb in a temporary directory, 127.0.0.1, a free
// port) and stops by its PID at the end, whatever happens.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { argon2Verify } from 'hash-wasm';

import { loadCompose, loadDemoEnv, repoFile, root, serviceEnvironment } from './helpers.mjs';

const compose = loadCompose();
const provisionService = compose.services.provision;
const demoEnv = loadDemoEnv();
const baseUrl = serviceEnvironment(provisionService).BASE_URL;

/** The directory of PostgreSQL's server programs: pg_config's, or the newest Debian one. */
const findPgBin = () => {
  const has = (dir) => dir && existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'postgres'));
  const fromPgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (fromPgConfig.status === 0 && has(fromPgConfig.stdout.trim())) return fromPgConfig.stdout.trim();
  const debian = '/usr/lib/postgresql';
  const versions = existsSync(debian)
    ? readdirSync(debian).filter((v) => has(path.join(debian, v, 'bin'))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length > 0) return path.join(debian, versions[0], 'bin');
  throw new Error('PostgreSQL server programs not found: apt-get install -y postgresql');
};

/** Root may not run initdb or postgres: then they run as the `postgres` OS user. */
const serverUser = () => {
  if (process.getuid?.() !== 0) return {};
  const entry = readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith('postgres:'));
  if (!entry) throw new Error('running as root needs the postgres OS user: apt-get install -y postgresql');
  const [, , uid, gid] = entry.split(':');
  return { uid: Number(uid), gid: Number(gid) };
};

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

let pg; // { bin, dir, sock, port, child, log }

const stopPostgres = async () => {
  if (!pg) return;
  const { child, dir } = pg;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid, 'SIGINT'); // fast shutdown
    const stopped = await Promise.race([exited.then(() => true), sleep(10_000, false, { ref: false })]);
    if (!stopped) {
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  pg = undefined;
};

const startPostgres = async (password) => {
  const bin = findPgBin();
  const user = serverUser();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bookstore-provision-'));
  const sock = path.join(dir, 'sock');
  const data = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pwfile');
  mkdirSync(sock);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (user.uid !== undefined) for (const p of [dir, sock, pwfile]) chownSync(p, user.uid, user.gid);
  const env = { PATH: process.env.PATH, LANG: 'C', HOME: dir };

  const initdb = spawnSync(
    path.join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-sync'],
    { ...user, env, encoding: 'utf8' },
  );
  if (initdb.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed:\n${initdb.stdout}${initdb.stderr}`);
  }

  const port = await freePort();
  const child = spawn(
    path.join(bin, 'postgres'),
    ['-D', data, '-p', String(port), '-k', sock, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'synchronous_commit=off'],
    { ...user, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  pg = { bin, dir, sock, port, child, log: '' };
  child.stdout.on('data', (chunk) => (pg.log += chunk));
  child.stderr.on('data', (chunk) => (pg.log += chunk));

  for (let i = 0; i < 150; i += 1) {
    if (child.exitCode !== null) break;
    const ready = spawnSync(path.join(bin, 'pg_isready'), ['-q', '-h', sock, '-p', String(port)]);
    if (ready.status === 0) return;
    await sleep(100);
  }
  const log = pg.log;
  await stopPostgres();
  throw new Error(`PostgreSQL did not start:\n${log}`);
};

// Last resort if the test process ends without `after` (a crash, a cancelled run).
process.on('exit', () => {
  if (pg && pg.child.exitCode === null) pg.child.kill('SIGKILL');
});

/** Runs SQL as the superuser over the Unix socket (trust), as Logto's seed would have. */
const sql = (database, query) => {
  const run = spawnSync(
    path.join(pg.bin, 'psql'),
    ['-X', '-w', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', pg.sock, '-p', String(pg.port), '-U', 'postgres', '-d', database, ...query],
    { encoding: 'utf8', env: { PATH: process.env.PATH } },
  );
  if (run.status !== 0) throw new Error(`psql failed: ${run.stderr}`);
  return run.stdout.trim();
};
const sqlCommand = (database, text) => sql(database, ['-c', text]);

/** The compose service's command, with its volume's container path mapped to the repo's. */
const provisionCommand = () => {
  const [mount] = provisionService.volumes;
  const [hostPath, containerPath] = mount.split(':');
  return provisionService.entrypoint.map((arg) =>
    arg.startsWith(`${containerPath}/`) ? path.join(root, hostPath, arg.slice(containerPath.length)) : arg,
  );
};

/** Starts deploy/provision with what compose gives it, but aimed at the test's server. */
const startProvision = (overrides = {}) => {
  const [command, ...args] = provisionCommand();
  const child = spawn(command, args, {
    cwd: root,
    env: {
      PATH: `${pg.bin}:${process.env.PATH}`,
      HOME: pg.dir,
      ...demoEnv,
      ...serviceEnvironment(provisionService),
      PGHOST: '127.0.0.1',
      PGPORT: String(pg.port),
      PROVISION_POLL_SECONDS: '0.2',
      PROVISION_TIMEOUT_SECONDS: '30',
      ...overrides,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run = { child, stdout: '', stderr: '' };
  child.stdout.on('data', (chunk) => (run.stdout += chunk));
  child.stderr.on('data', (chunk) => (run.stderr += chunk));
  run.done = new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout: run.stdout, stderr: run.stderr })));
  return run;
};

const running = (run) => run.child.exitCode === null && run.child.signalCode === null;

/** Every table provisioning writes, as JSON rows. */
const provisionedTables = [
  'applications',
  'application_secrets',
  'users',
  'resources',
  'scopes',
  'roles',
  'roles_scopes',
  'users_roles',
  'applications_roles',
];

const rows = (table) =>
  JSON.parse(sqlCommand('logto', `SELECT coalesce(json_agg(t ORDER BY t), '[]') FROM ${table} t`));

const snapshot = () => Object.fromEntries(provisionedTables.map((table) => [table, JSON.stringify(rows(table))]));

/** The scope names a query's roles grant on `indicator`, sorted. */
const grantedScopes = (query, indicator) =>
  sqlCommand(
    'logto',
    `SELECT coalesce(string_agg(DISTINCT sc.name, ' ' ORDER BY sc.name), '')
     FROM (${query}) holder
       JOIN roles_scopes rs ON rs.role_id = holder.role_id
       JOIN scopes sc ON sc.id = rs.scope_id
       JOIN resources r ON r.id = sc.resource_id
     WHERE r.indicator = '${indicator}'`,
  );

describe('deploy/provision against PostgreSQL with Logto-shaped tables', () => {
  before(() => startPostgres(demoEnv.POSTGRES_PASSWORD));
  after(stopPostgres);

  test('waits for the seed (no database, no table, no default tenant), then provisions', async () => {
    const run = startProvision();
    try {
      // Logto has not even created its database yet.
      await sleep(800);
      assert.ok(running(run), `gave up too early:\n${run.stdout}${run.stderr}`);
      assert.match(run.stdout, /waiting for Logto to seed/);

      // The seed's tables, but only the admin tenant: still not seeded.
      sqlCommand('postgres', 'CREATE DATABASE logto');
      sql('logto', ['-f', path.join(root, 'tests', 'deploy', 'logto-tables.sql')]);
      sqlCommand('logto', "INSERT INTO tenants (id) VALUES ('admin')");
      await sleep(700);
      assert.ok(running(run), `went on before the default tenant existed:\n${run.stdout}${run.stderr}`);
      assert.equal(sqlCommand('logto', 'SELECT count(*) FROM applications'), '0');

      sqlCommand('logto', "INSERT INTO tenants (id) VALUES ('default')");
      const { code, stdout, stderr } = await run.done;
      assert.equal(code, 0, `provision failed:\n${stdout}${stderr}`);
      assert.match(stdout, /seeded/);
      assert.ok(stdout.includes(baseUrl), 'prints the URL');
      assert.ok(stdout.includes(demoEnv.DEMO_USERNAME), 'prints the username');
      assert.ok(stdout.includes(demoEnv.DEMO_PASSWORD), 'prints the password');
      assert.match(stdout, /DEMO ONLY/);
    } finally {
      if (running(run)) run.child.kill('SIGKILL');
    }
  });

  test('created a Traditional web app with the redirect URIs, and an Argon2i demo user', async () => {
    const app = rows('applications').find(({ id }) => id === demoEnv.LOGTO_APP_ID);
    assert.equal(app.tenant_id, 'default');
    assert.equal(app.id, demoEnv.LOGTO_APP_ID);
    assert.equal(app.secret, demoEnv.LOGTO_APP_SECRET);
    assert.equal(app.type, 'Traditional');
    assert.deepEqual(app.oidc_client_metadata, {
      redirectUris: [`${baseUrl}/callback`],
      postLogoutRedirectUris: [`${baseUrl}/`],
    });
    assert.deepEqual(app.custom_client_metadata, {});
    assert.equal(app.is_third_party, false);

    const [user] = JSON.parse(snapshot().users);
    assert.equal(user.tenant_id, 'default');
    assert.equal(user.username, demoEnv.DEMO_USERNAME);
    assert.equal(user.password_encryption_method, 'Argon2i');
    assert.equal(user.is_suspended, false);
    assert.equal(await argon2Verify({ password: demoEnv.DEMO_PASSWORD, hash: user.password_encrypted }), true);
  });

  test('created the API resource with read:books, a user role for the demo user and an M2M app with an M2M role', () => {
    const apiResource = serviceEnvironment(provisionService).API_RESOURCE;
    assert.equal(apiResource, 'https://api.bookstore.example', 'the indicator README names');
    const [resource] = rows('resources');
    assert.equal(resource.tenant_id, 'default');
    assert.equal(resource.indicator, apiResource);
    assert.equal(resource.is_default, false, 'token requests must name the resource');
    assert.deepEqual(rows('scopes').map(({ name, resource_id }) => [name, resource_id]), [['read:books', resource.id]]);

    const roles = Object.fromEntries(rows('roles').map((role) => [role.name, role]));
    assert.deepEqual(Object.keys(roles).sort(), ['Reader', 'Reader app']);
    assert.equal(roles.Reader.type, 'User');
    assert.equal(roles['Reader app'].type, 'MachineToMachine');

    const userRoles = `SELECT ur.role_id FROM users_roles ur JOIN users u ON u.id = ur.user_id
                       WHERE u.username = '${demoEnv.DEMO_USERNAME}'`;
    assert.equal(grantedScopes(userRoles, apiResource), 'read:books', "the demo user's roles");

    const m2m = rows('applications').find(({ id }) => id === demoEnv.LOGTO_M2M_APP_ID);
    assert.ok(m2m, 'the M2M app exists');
    assert.equal(m2m.tenant_id, 'default');
    assert.equal(m2m.type, 'MachineToMachine');
    assert.equal(m2m.secret, demoEnv.LOGTO_M2M_APP_SECRET);
    assert.deepEqual(m2m.oidc_client_metadata, { redirectUris: [], postLogoutRedirectUris: [] });
    assert.deepEqual(
      rows('application_secrets').map(({ application_id, value, expires_at }) => [application_id, value, expires_at]),
      [[demoEnv.LOGTO_M2M_APP_ID, demoEnv.LOGTO_M2M_APP_SECRET, null]],
    );
    const appRoles = `SELECT role_id FROM applications_roles WHERE application_id = '${demoEnv.LOGTO_M2M_APP_ID}'`;
    assert.equal(grantedScopes(appRoles, apiResource), 'read:books', "the M2M app's roles");
    const webAppRoles = `SELECT role_id FROM applications_roles WHERE application_id = '${demoEnv.LOGTO_APP_ID}'`;
    assert.equal(grantedScopes(webAppRoles, apiResource), '', 'the web app gets no M2M role');
  });

  test('keeps an API resource made in the Console first, and gives its read:books to the roles', async () => {
    // The rows without their creation times, which the re-run at the end renews.
    const timeless = () =>
      provisionedTables.map((table) => rows(table).map(({ created_at: _created, ...row }) => row));
    const before = timeless();
    try {
      for (const table of ['applications_roles', 'users_roles', 'roles_scopes', 'roles', 'scopes', 'resources']) {
        sqlCommand('logto', `DELETE FROM ${table}`);
      }
      sqlCommand(
        'logto',
        `INSERT INTO resources (tenant_id, id, name, indicator)
         VALUES ('default', 'consoleMadeId01', 'Made in the Console', 'https://api.bookstore.example')`,
      );
      const { code, stdout, stderr } = await startProvision().done;
      assert.equal(code, 0, `provision failed:\n${stdout}${stderr}`);
      assert.deepEqual(rows('resources').map(({ id }) => id), ['consoleMadeId01']);
      assert.deepEqual(rows('scopes').map(({ resource_id }) => resource_id), ['consoleMadeId01']);
      const userRoles = `SELECT ur.role_id FROM users_roles ur JOIN users u ON u.id = ur.user_id`;
      assert.equal(grantedScopes(userRoles, 'https://api.bookstore.example'), 'read:books');
    } finally {
      for (const table of ['applications_roles', 'users_roles', 'roles_scopes', 'roles', 'scopes', 'resources']) {
        sqlCommand('logto', `DELETE FROM ${table}`);
      }
      const { code, stdout, stderr } = await startProvision().done;
      assert.equal(code, 0, `provision failed:\n${stdout}${stderr}`);
    }
    assert.deepEqual(timeless(), before, 'back as the first run left them');
  });

  test('runs again without error, duplicate or change', async () => {
    const before = snapshot();
    const { code, stdout, stderr } = await startProvision().done;
    assert.equal(code, 0, `second run failed:\n${stdout}${stderr}`);
    assert.deepEqual(snapshot(), before);
    assert.equal(JSON.parse(before.applications).length, 2, 'the web app and the M2M app');
    assert.equal(JSON.parse(before.users).length, 1);
    assert.equal(JSON.parse(before.roles_scopes).length, 2);
  });

  test('refuses, and changes nothing, when .env.demo no longer matches the rows', async () => {
    const before = snapshot();
    for (const overrides of [
      { LOGTO_APP_SECRET: 'another-secret' },
      { LOGTO_M2M_APP_SECRET: 'another-m2m-secret' },
      { API_RESOURCE: 'https://another-api.example' },
      { DEMO_PASSWORD_HASH: '$argon2i$v=19$m=8192,t=8,p=1$c29tZXNhbHRzb21lc2FsdA$WBl8mhQxSyNaaoj6ddbM3kqjXw1pqcwYn/NfOA6AOE8' },
    ]) {
      const { code, stdout, stderr } = await startProvision(overrides).done;
      assert.notEqual(code, 0, `accepted ${Object.keys(overrides)}:\n${stdout}${stderr}`);
      assert.match(stdout + stderr, /docker compose down -v/);
      assert.deepEqual(snapshot(), before);
    }
  });

  test('gives up after PROVISION_TIMEOUT_SECONDS, telling why', async () => {
    const { code, stderr } = await startProvision({ PGDATABASE: 'not_seeded', PROVISION_TIMEOUT_SECONDS: '1' }).done;
    assert.notEqual(code, 0);
    assert.match(stderr, /gave up after 1s/);
    assert.match(stderr, /not_seeded/);
  });

  test('checks the password: a wrong POSTGRES_PASSWORD never counts as seeded', async () => {
    const { code, stderr } = await startProvision({ POSTGRES_PASSWORD: 'wrong', PROVISION_TIMEOUT_SECONDS: '1' }).done;
    assert.notEqual(code, 0);
    assert.match(stderr, /password authentication failed/);
  });
});
