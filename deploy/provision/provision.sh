#!/bin/sh
# One-shot provisioning for `docker compose up` (DEMO ONLY): waits until Logto has seeded its
# database, registers the Bookstore application, a demo user, the Bookstore's API resource with
# read:books in roles for the user and for an M2M app, and that M2M app (provision.sql), then
# prints where to sign in and with what. Safe to run again: existing rows are kept as they are.
#
# The compose service `provision` runs it in the postgres:17-alpine image (for psql):
#   sh /provision/provision.sh
# Environment (docker-compose.yml, .env.demo):
#   PGHOST, PGPORT, PGUSER, PGDATABASE  where Logto's database is (postgres, 5432, postgres, logto)
#   POSTGRES_PASSWORD                   the superuser's password (or PGPASSWORD)
#   LOGTO_APP_ID, LOGTO_APP_SECRET      the application to create
#   DEMO_USERNAME, DEMO_PASSWORD, DEMO_PASSWORD_HASH   the demo user (Argon2i hash)
#   LOGTO_M2M_APP_ID, LOGTO_M2M_APP_SECRET   the machine-to-machine app to create
#   API_RESOURCE                        the API resource's indicator (https://api.bookstore.example)
#   BASE_URL                            the app's public origin (redirect URIs)
#   LOGTO_ENDPOINT, LOGTO_ADMIN_ENDPOINT   only printed
#   PROVISION_TIMEOUT_SECONDS (600), PROVISION_POLL_SECONDS (2)   how long, how often to wait
set -eu

here=$(cd "$(dirname "$0")" && pwd)

PGHOST=${PGHOST:-postgres}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
PGDATABASE=${PGDATABASE:-logto}
PGPASSWORD=${PGPASSWORD:-${POSTGRES_PASSWORD:-}}
PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-5}
export PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGCONNECT_TIMEOUT

BASE_URL=${BASE_URL:-http://localhost:3000}
BASE_URL=${BASE_URL%/}
API_RESOURCE=${API_RESOURCE:-https://api.bookstore.example}
timeout=${PROVISION_TIMEOUT_SECONDS:-600}
poll=${PROVISION_POLL_SECONDS:-2}

missing=""
for name in LOGTO_APP_ID LOGTO_APP_SECRET LOGTO_M2M_APP_ID LOGTO_M2M_APP_SECRET \
    DEMO_USERNAME DEMO_PASSWORD DEMO_PASSWORD_HASH; do
  eval "value=\${$name:-}"
  [ -n "$value" ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
  echo "provision: not set:$missing (they come from .env.demo)" >&2
  exit 1
fi

# Logto's seed (`npm run cli db seed -- --swe`) creates the database, its tables and the
# `default` tenant in one transaction: once that row is visible, the seed has committed.
# Until then the database or the table may not exist yet, so every error means "not yet".
echo "provision: waiting for Logto to seed its database ($PGUSER@$PGHOST:$PGPORT/$PGDATABASE)"
deadline=$(( $(date +%s) + timeout ))
while :; do
  if out=$(psql -X -w -q -t -A -v ON_ERROR_STOP=1 \
      -c "SELECT 1 FROM tenants WHERE id = 'default'" 2>&1) && [ "$out" = 1 ]; then
    break
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "provision: gave up after ${timeout}s; Logto's database is not seeded. Last answer:" >&2
    echo "${out:-<no rows>}" >&2
    exit 1
  fi
  sleep "$poll"
done
echo "provision: Logto's database is seeded"

psql -X -w -q -v ON_ERROR_STOP=1 \
  -v app_id="$LOGTO_APP_ID" \
  -v app_secret="$LOGTO_APP_SECRET" \
  -v base_url="$BASE_URL" \
  -v username="$DEMO_USERNAME" \
  -v password_hash="$DEMO_PASSWORD_HASH" \
  -v api_resource="$API_RESOURCE" \
  -v m2m_app_id="$LOGTO_M2M_APP_ID" \
  -v m2m_app_secret="$LOGTO_M2M_APP_SECRET" \
  -f "$here/provision.sql"

cat <<EOF
provision: done. The app starts next; once it is up (docker compose ps: healthy), sign in.
==========================================================================================
  DEMO ONLY: these credentials come from .env.demo and are public.

  Logto Bookstore    $BASE_URL   (click "Sign in")
  Username           $DEMO_USERNAME
  Password           $DEMO_PASSWORD

  Logto              ${LOGTO_ENDPOINT:-http://localhost:3001}
  Logto Console      ${LOGTO_ADMIN_ENDPOINT:-http://localhost:3002}   (first visit: create an admin)
  Application        $LOGTO_APP_ID (Traditional web), redirect URI $BASE_URL/callback
  API resource       $API_RESOURCE, permission read:books (role "Reader", given to $DEMO_USERNAME)
  M2M application    $LOGTO_M2M_APP_ID (role "Reader app"): the Bookstore's API from a script,
    LOGTO_ENDPOINT=${LOGTO_ENDPOINT:-http://localhost:3001} LOGTO_RESOURCES=$API_RESOURCE \\
    LOGTO_M2M_APP_ID=$LOGTO_M2M_APP_ID LOGTO_M2M_APP_SECRET=$LOGTO_M2M_APP_SECRET \\
    BASE_URL=$BASE_URL cargo run --example m2m
==========================================================================================
EOF
