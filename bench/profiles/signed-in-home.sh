#!/usr/bin/env bash
# Instruction counts (callgrind) per signed-in `GET /`, cookie and Redis stores, and per `GET /`
# of the baseline with the same Cookie header. Signs in once per store through the dev IdP, as
# bench/bench.mjs does, then replays the session cookie N times on one keep-alive connection
# with instrumentation on only around those N requests.
#
#   bench/profiles/signed-in-home.sh <out-dir> [N]   (release build in $CARGO_TARGET_DIR)
#   callgrind_annotate --inclusive=yes <out-dir>/cookie.<pid>.out.1
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$1 n=${2:-2000}
release=${CARGO_TARGET_DIR:-$repo/target}/release
mkdir -p "$out"
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
redis_port=$(port) idp_port=$(port) cookie_port=$(port) redis_app_port=$(port) baseline_port=$(port)
idp=http://127.0.0.1:$idp_port
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir /tmp >/dev/null &
pids+=($!)
(cd "$repo" && IDP_PORT=$idp_port IDP_ORIGIN=$idp LOGTO_APP_ID=bookstore-bench \
  LOGTO_APP_SECRET=bookstore-bench-secret \
  BASE_URL="http://127.0.0.1:$cookie_port http://127.0.0.1:$redis_app_port" \
  node dev/idp/server.mjs >"$out/idp.log" 2>&1) &
pids+=($!)
sleep 2
# `HOST` names the vgdb pipes: callgrind_control must see the app's value.
control() { HOST=127.0.0.1 callgrind_control "$@" >/dev/null; }
drive() { # url cookie count: prints the status codes it got, counted
  local urls=()
  for _ in $(seq "$3"); do urls+=("$1"); done
  curl -s -H "Cookie: bookstore_session=$2" -w '%{stderr}%{http_code}\n' "${urls[@]}" 2>&1 >/dev/null | sort | uniq -c
}
sign_in() { # app origin: prints the session cookie's value
  (cd "$repo" && node --input-type=module -e "
    import { signIn } from './bench/sign-in-driver.mjs';
    const jar = await signIn({ app: '$1', idp: '$idp', username: 'alice',
      password: 'alice-password', name: 'Alice Liddell' });
    console.log(jar.value(new URL('$1'), 'bookstore_session'));")
}
profile() { # name pid url cookie
  drive "$3" "$4" 20
  control -i on "$2"
  drive "$3" "$4" "$n"
  control -d "$2"
  kill "$2"
  wait "$2" 2>/dev/null || true
}
for store in cookie redis; do
  app_port=$cookie_port
  [ "$store" = redis ] && app_port=$redis_app_port
  env -i PATH="$PATH" HOST=127.0.0.1 PORT="$app_port" BASE_URL="http://127.0.0.1:$app_port" \
    LOGTO_ENDPOINT="$idp" LOGTO_APP_ID=bookstore-bench LOGTO_APP_SECRET=bookstore-bench-secret \
    LOGTO_SCOPES=email SESSION_STORE=$store REDIS_URL="redis://127.0.0.1:$redis_port" \
    SESSION_SECRET="$(printf 'bench-only-session-secret-%.0s' 1 2 3)" RUST_LOG=warn \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/$store.%p.out" \
    "$release/logto-bookstore" >"$out/$store.log" 2>&1 &
  app=$!
  pids+=("$app")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$app_port/readyz" >/dev/null && break; sleep 0.5; done
  sign_in "http://127.0.0.1:$app_port" >"$out/$store.cookie"
  profile "$store" "$app" "http://127.0.0.1:$app_port/" "$(cat "$out/$store.cookie")"
done
HOST=127.0.0.1 PORT=$baseline_port valgrind --tool=callgrind --instr-atstart=no \
  --callgrind-out-file="$out/baseline.%p.out" "$release/examples/bench_baseline" >"$out/baseline.log" 2>&1 &
baseline=$!
pids+=("$baseline")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$baseline_port/" >/dev/null && break; sleep 0.5; done
profile baseline "$baseline" "http://127.0.0.1:$baseline_port/" "$(cat "$out/cookie.cookie")"
for file in "$out"/*.out.1; do
  total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ && !seen { gsub(",", "", $1); print $1; seen = 1 }')
  echo "$(basename "$file"): $((total / n)) Ir per request"
done
