-- Registers the Bookstore in Logto's database, in Logto's `default` tenant: a Traditional web
-- application and a demo user, and what README "Protect your API" has you create in the
-- Console: the API resource with its permission read:books, a user role holding it (given to
-- the demo user), and a machine-to-machine app with an M2M role holding it. DEMO ONLY: the
-- values come from .env.demo and docker-compose.yml.
--
-- Run by provision.sh once Logto's seed has committed (the `default` tenant row exists), as
-- the database superuser, which Logto's row-level security does not apply to:
--   psql -v ON_ERROR_STOP=1 -v app_id=... -v app_secret=... -v base_url=... \
--        -v username=... -v password_hash=... -v api_resource=... \
--        -v m2m_app_id=... -v m2m_app_secret=... -f provision.sql
--
-- Ids are fixed. Logto's user ids are at most 12 characters; its other ids here (resources,
-- scopes, roles and the relation rows) are varchar(21), the seed's default id format.
--
-- Idempotent: ON CONFLICT DO NOTHING keeps existing rows as they are. If a row already exists
-- with other values (.env.demo changed after the first `docker compose up`), it fails and says
-- to start over, rather than leave a sign-in that cannot work.

\set QUIET on
\set ON_ERROR_STOP on

BEGIN;

-- A Traditional web app signs in with the authorization code flow and authenticates at the
-- token endpoint with client_secret_basic. Logto accepts the plaintext `secret` column.
INSERT INTO applications (tenant_id, id, name, secret, description, type, oidc_client_metadata)
VALUES (
  'default',
  :'app_id',
  'Logto Bookstore (demo)',
  :'app_secret',
  'Created by deploy/provision for docker compose. Demo only.',
  'Traditional',
  jsonb_build_object(
    'redirectUris', jsonb_build_array(:'base_url' || '/callback'),
    'postLogoutRedirectUris', jsonb_build_array(:'base_url' || '/')
  )
)
ON CONFLICT DO NOTHING;

-- Logto stores Argon2i hashes ($argon2i$v=19$m=8192,t=8,p=1$...) and verifies them with
-- argon2Verify; the default sign-in experience signs in with username and password.
INSERT INTO users (tenant_id, id, username, name, password_encrypted, password_encryption_method)
VALUES ('default', 'bookreader01', :'username', 'Demo Reader', :'password_hash', 'Argon2i')
ON CONFLICT DO NOTHING;

-- The API resource (Console: API resources). Logto's `resources`: `indicator` is the token's
-- `aud`, unique per tenant; `access_token_ttl` defaults to 3600 s; `is_default` (the resource
-- for requests that name none) stays false, so a token request must send `resource`.
INSERT INTO resources (tenant_id, id, name, indicator)
VALUES ('default', 'bookstore-api', 'Bookstore API (demo)', :'api_resource')
ON CONFLICT DO NOTHING;

-- Its permission. Logto's `scopes` are a resource's permissions, unique per
-- (tenant_id, resource_id, name). Looked up by indicator: a resource made in the Console first
-- keeps its own id.
INSERT INTO scopes (tenant_id, id, resource_id, name, description)
SELECT 'default', 'bookstore-read-books', r.id, 'read:books', 'List the books'
FROM resources r
WHERE r.tenant_id = 'default' AND r.indicator = :'api_resource'
ON CONFLICT DO NOTHING;

-- Two roles holding it (`roles.type`: 'User' or 'MachineToMachine'; names unique per tenant):
-- one for users, given to the demo user, and one for machine-to-machine apps.
INSERT INTO roles (tenant_id, id, name, description, type)
VALUES
  ('default', 'bookstore-reader', 'Reader', 'Lists the books (read:books)', 'User'),
  ('default', 'bookstore-m2m-reader', 'Reader app', 'An app that lists the books (read:books)',
   'MachineToMachine')
ON CONFLICT DO NOTHING;

INSERT INTO roles_scopes (tenant_id, id, role_id, scope_id)
SELECT 'default',
       CASE ro.name WHEN 'Reader' THEN 'bookstore-reader-rb' ELSE 'bookstore-m2m-rb' END,
       ro.id, sc.id
FROM roles ro, scopes sc JOIN resources r ON r.id = sc.resource_id
WHERE ro.tenant_id = 'default' AND ro.name IN ('Reader', 'Reader app')
  AND sc.tenant_id = 'default' AND sc.name = 'read:books' AND r.indicator = :'api_resource'
ON CONFLICT DO NOTHING;

INSERT INTO users_roles (tenant_id, id, user_id, role_id)
SELECT 'default', 'bookstore-reader-demo', u.id, ro.id
FROM users u, roles ro
WHERE u.tenant_id = 'default' AND u.username = :'username'
  AND ro.tenant_id = 'default' AND ro.name = 'Reader' AND ro.type = 'User'
ON CONFLICT DO NOTHING;

-- The machine-to-machine app (Console: Applications, Machine-to-machine). Logto gives an M2M
-- client the client_credentials grant, client_secret_basic and no redirect URIs by its type
-- (oidc/utils.ts getConstantClientMetadata); `oidc_client_metadata` still needs both lists.
-- Its secret goes in `applications.secret` (what the OIDC client is built from) and, as the
-- Console's "App secrets" list shows it, in `application_secrets` (name unique per app).
INSERT INTO applications (tenant_id, id, name, secret, description, type, oidc_client_metadata)
VALUES (
  'default',
  :'m2m_app_id',
  'Logto Bookstore M2M client (demo)',
  :'m2m_app_secret',
  'Created by deploy/provision for docker compose: examples/m2m.rs. Demo only.',
  'MachineToMachine',
  jsonb_build_object('redirectUris', jsonb_build_array(), 'postLogoutRedirectUris', jsonb_build_array())
)
ON CONFLICT DO NOTHING;

INSERT INTO application_secrets (tenant_id, application_id, name, value)
SELECT 'default', a.id, 'Default secret', a.secret
FROM applications a
WHERE a.tenant_id = 'default' AND a.id = :'m2m_app_id' AND a.type = 'MachineToMachine'
ON CONFLICT DO NOTHING;

-- Logto grants an M2M app the permissions of its assigned roles (`applications_roles`, whose
-- check constraint takes only 'MachineToMachine' roles).
INSERT INTO applications_roles (tenant_id, id, application_id, role_id)
SELECT 'default', 'bookstore-m2m-reader', a.id, ro.id
FROM applications a, roles ro
WHERE a.tenant_id = 'default' AND a.id = :'m2m_app_id' AND a.type = 'MachineToMachine'
  AND ro.tenant_id = 'default' AND ro.name = 'Reader app' AND ro.type = 'MachineToMachine'
ON CONFLICT DO NOTHING;

-- Whatever was there before must agree with .env.demo.
SELECT
  count(*) FILTER (WHERE a.type = 'Traditional'
                     AND a.secret = :'app_secret'
                     AND a.oidc_client_metadata->'redirectUris' ? (:'base_url' || '/callback')) = 1
    AS app_ok,
  (SELECT count(*) FROM users u
    WHERE u.tenant_id = 'default' AND u.username = :'username'
      AND u.password_encrypted = :'password_hash') = 1
    AS user_ok
FROM applications a
WHERE a.tenant_id = 'default' AND a.id = :'app_id'
\gset

-- What the API needs: read:books on the resource, held by the demo user through a user role
-- and by the M2M app (with .env.demo's secret) through an M2M role.
SELECT
  EXISTS (
    SELECT 1 FROM scopes sc JOIN resources r ON r.id = sc.resource_id
    WHERE r.tenant_id = 'default' AND r.indicator = :'api_resource' AND sc.name = 'read:books'
  ) AS api_ok,
  EXISTS (
    SELECT 1
    FROM users u
      JOIN users_roles ur ON ur.user_id = u.id
      JOIN roles ro ON ro.id = ur.role_id AND ro.type = 'User'
      JOIN roles_scopes rs ON rs.role_id = ro.id
      JOIN scopes sc ON sc.id = rs.scope_id
      JOIN resources r ON r.id = sc.resource_id
    WHERE u.tenant_id = 'default' AND u.username = :'username'
      AND r.indicator = :'api_resource' AND sc.name = 'read:books'
  ) AS reader_ok,
  EXISTS (
    SELECT 1
    FROM applications a
      JOIN application_secrets secret ON secret.application_id = a.id
      JOIN applications_roles ar ON ar.application_id = a.id
      JOIN roles_scopes rs ON rs.role_id = ar.role_id
      JOIN scopes sc ON sc.id = rs.scope_id
      JOIN resources r ON r.id = sc.resource_id
    WHERE a.tenant_id = 'default' AND a.id = :'m2m_app_id' AND a.type = 'MachineToMachine'
      AND a.secret = :'m2m_app_secret' AND secret.value = :'m2m_app_secret'
      AND r.indicator = :'api_resource' AND sc.name = 'read:books'
  ) AS m2m_ok
\gset

\if :app_ok
\else
  \echo 'provision: application' :'app_id' 'already exists with another secret, type or redirect URI.'
  \echo 'provision: did .env.demo change after the first start? Start over: docker compose down -v'
  DO $$ BEGIN RAISE EXCEPTION 'the existing application disagrees with .env.demo'; END $$;
\endif
\if :user_ok
\else
  \echo 'provision: user' :'username' 'already exists with another password, or its id is taken.'
  \echo 'provision: did .env.demo change after the first start? Start over: docker compose down -v'
  DO $$ BEGIN RAISE EXCEPTION 'the existing demo user disagrees with .env.demo'; END $$;
\endif
\if :api_ok
\else
  \echo 'provision: the API resource' :'api_resource' 'has no read:books, or its id is taken by another resource.'
  \echo 'provision: did docker-compose.yml change after the first start? Start over: docker compose down -v'
  DO $$ BEGIN RAISE EXCEPTION 'the API resource disagrees with docker-compose.yml'; END $$;
\endif
\if :reader_ok
\else
  \echo 'provision: user' :'username' 'holds no user role with read:books (is a role named Reader of another type?).'
  \echo 'provision: Start over: docker compose down -v'
  DO $$ BEGIN RAISE EXCEPTION 'the demo user lacks read:books'; END $$;
\endif
\if :m2m_ok
\else
  \echo 'provision: M2M application' :'m2m_app_id' 'already exists with another type or secret, or without an M2M role with read:books.'
  \echo 'provision: did .env.demo change after the first start? Start over: docker compose down -v'
  DO $$ BEGIN RAISE EXCEPTION 'the existing M2M application disagrees with .env.demo'; END $$;
\endif

COMMIT;
