#!/usr/bin/env bash
# Counts the app's instructions per sign-in under callgrind (bench/profiles/sign-in.md), with
# bench/bench.mjs's setup: redis-server without persistence, the dev IdP, the app with the
# bench's env, all on free loopback ports. 40 sign-ins warm up, then the counters are zeroed,
# N sign-ins run (bench/sign-in-driver.mjs, 8 workers), and the counters are dumped.
#
#   CARGO_TARGET_DIR=… bench/profile-sign-in.sh cookie 200 /tmp/profile-cookie
#   CARGO_TARGET_DIR=… bench/profile-sign-in.sh baseline 2000 /tmp/profile-baseline
#   callgrind_annotate --inclusive=yes /tmp/profile-cookie/callgrind.out.1
#
# Ir per sign-in is the dump's total divided by N; for `baseline`, N keep-alive `GET /` of
# examples/bench_baseline.rs (one curl). Needs a release build with symbols (not bench/run's
# stripped one), valgrind, redis-server, node and dev/idp's npm packages.
set -euo pipefail

store=$1 count=$2 out=$3
repo=$(cd "$(dirname "$0")/.." && pwd)
release=${CARGO_TARGET_DIR:-$repo/target}/release
mkdir -p "$out" && rm -f "$out"/callgrind.out*
children=()
trap 'for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# The app reads HOST, which valgrind also puts in its control pipes' names.
callgrind() { HOST=127.0.0.1 callgrind_control --vgdb-prefix="$out/vgdb" "$@" >/dev/null; }
under_callgrind=(valgrind --tool=callgrind --vgdb-prefix="$out/vgdb" --callgrind-out-file="$out/callgrind.out")
app_port=$(free_port)

if [ "$store" = baseline ]; then
  HOST=127.0.0.1 PORT=$app_port "${under_callgrind[@]}" "$release/examples/bench_baseline" >"$out/app.log" 2>&1 &
  app=$!; children+=("$app")
  until curl -sf -o /dev/null "http://127.0.0.1:$app_port/"; do sleep 0.3; done
  urls() { for _ in $(seq "$1"); do echo "http://127.0.0.1:$app_port/"; done; }
  curl -s $(urls 200) >/dev/null
  callgrind -z "$app"
  curl -s $(urls "$count") >/dev/null
  callgrind -d "$app"
  kill "$app"; wait "$app" || true
  exit 0
fi

redis_port=$(free_port) idp_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$out" >"$out/redis.log" 2>&1 &
children+=($!)
cd "$repo"
IDP_PORT=$idp_port IDP_ORIGIN=http://127.0.0.1:$idp_port LOGTO_APP_ID=bookstore-bench \
  LOGTO_APP_SECRET=bookstore-bench-secret BASE_URL=http://127.0.0.1:$app_port \
  node dev/idp/server.mjs >"$out/idp.log" 2>&1 &
children+=($!)
until curl -sf -o /dev/null "http://127.0.0.1:$idp_port/oidc/.well-known/openid-configuration"; do sleep 0.2; done
env -i PATH="$PATH" HOST=127.0.0.1 PORT="$app_port" BASE_URL="http://127.0.0.1:$app_port" \
  LOGTO_ENDPOINT="http://127.0.0.1:$idp_port" LOGTO_APP_ID=bookstore-bench \
  LOGTO_APP_SECRET=bookstore-bench-secret LOGTO_SCOPES=email SESSION_STORE="$store" \
  REDIS_URL="redis://127.0.0.1:$redis_port" SESSION_SECRET="$(printf 'bench-only-session-secret-%.0s' 1 2 3)" \
  RUST_LOG=warn "${under_callgrind[@]}" "$release/logto-bookstore" >"$out/app.log" 2>&1 &
app=$!; children+=("$app")
until curl -sf -o /dev/null "http://127.0.0.1:$app_port/readyz"; do sleep 0.3; done
sign_in() {
  node bench/sign-in-driver.mjs --app "http://127.0.0.1:$app_port" --idp "http://127.0.0.1:$idp_port" \
    --duration 600 --workers 8 --max "$1" --name 'Alice Liddell'
}
sign_in 40 >"$out/warm-up.json"
callgrind -z "$app"
sign_in "$count" | tee "$out/driver.json"
callgrind -d "$app"
kill "$app"; wait "$app" || true
