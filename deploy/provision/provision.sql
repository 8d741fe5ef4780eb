-- Registers the Bookstore in Logto's database: a Traditional web application and a demo user,
-- both in Logto's `default` tenant. DEMO ONLY: the values come from .env.demo.
--
-- Run by provision.sh once Logto's seed has committed (the `default` tenant row exists), as
-- the database superuser, which Logto's row-level security does not apply to:
--   psql -v ON_ERROR_STOP=1 -v app_id=... -v app_secret=... -v base_url=... \
--        -v username=... -v password_hash=... -f provision.sql
--
-- The user's id is fixed: Logto ids are at most 12 characters.
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

COMMIT;
