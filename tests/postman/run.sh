#!/usr/bin/env bash
# Runs the Postman collection (postman/) with newman against a real daemon.
#
# Usage: tests/postman/run.sh <path-to-overseer-binary> [extra newman options, e.g. --folder Errors]
#
# Starts `overseer serve` on 127.0.0.1 port 0 with a fresh state directory and JWT secret,
# mints three tokens (all scopes in workspace "default", all scopes in workspace "other",
# jobs:read only in "default"), runs the collection, stops the daemon (SIGTERM, then waits)
# whatever happens, and exits with newman's status. Needs `npm ci` (or `npm install`) at the
# repository root first, for the locally installed newman.
set -euo pipefail

if [[ $# -lt 1 || ! -x "$1" ]]; then
  echo "usage: $0 <path-to-overseer-binary> [newman options]" >&2
  exit 2
fi
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
shift
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
newman="$repo/node_modules/.bin/newman"
if [[ ! -x "$newman" ]]; then
  echo "postman: $newman not found; run 'npm ci' in $repo first" >&2
  exit 2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/overseer-postman.XXXXXX")"
daemon_pid=""
daemon_status=0
newman_pid=""

stop_daemon() {
  if [[ -n "$daemon_pid" ]]; then
    if kill -0 "$daemon_pid" 2>/dev/null; then kill -TERM "$daemon_pid" 2>/dev/null || true; fi
    daemon_status=0
    wait "$daemon_pid" || daemon_status=$?
    daemon_pid=""
  fi
}
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [[ -n "$newman_pid" ]]; then
    kill -TERM "$newman_pid" 2>/dev/null || true
    wait "$newman_pid" 2>/dev/null || true
  fi
  stop_daemon
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

head -c 48 /dev/urandom | base64 >"$tmp/secret"
chmod 600 "$tmp/secret"
export OVERSEER_JWT_SECRET_FILE="$tmp/secret"

"$bin" serve --listen 127.0.0.1:0 --state-dir "$tmp/data" >"$tmp/daemon.out" 2>"$tmp/daemon.err" &
daemon_pid=$!

# Wait (at most 60 s: sanitizer builds start slowly) for the line that says the daemon listens.
base_url=""
deadline=$((SECONDS + 60))
while [[ -z "$base_url" ]]; do
  base_url="$(sed -n 's|^overseer listening on \(http://[^ ]*\)$|\1|p' "$tmp/daemon.out" | head -n 1)"
  [[ -n "$base_url" ]] && break
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo "postman: the daemon exited before listening; its stderr:" >&2
    cat "$tmp/daemon.err" >&2
    exit 1
  fi
  if ((SECONDS > deadline)); then
    echo "postman: the daemon did not print its listening line within 60 s; its stderr:" >&2
    cat "$tmp/daemon.err" >&2
    exit 1
  fi
  sleep 0.1
done

all_scopes="supervisor:read,supervisor:write,jobs:read,jobs:write,resources:read,resources:write,resources:admin,supervisor:admin"
token="$("$bin" token create --sub postman --workspace default --scopes "$all_scopes" --ttl 1h)"
other_token="$("$bin" token create --sub postman-other --workspace other --scopes "$all_scopes" --ttl 1h)"
read_only_token="$("$bin" token create --sub postman-ro --workspace default --scopes jobs:read --ttl 1h)"

report="$tmp/newman.json"
newman_status=0
# In the background, so that a signal to this script interrupts `wait` and the trap runs now.
(cd "$repo" && exec "$newman" run postman/overseer.postman_collection.json \
  -e postman/overseer.postman_environment.json \
  --env-var "baseUrl=$base_url" \
  --env-var "token=$token" \
  --env-var "otherWorkspaceToken=$other_token" \
  --env-var "readOnlyToken=$read_only_token" \
  --timeout-request 60000 \
  --reporters cli,json --reporter-json-export "$report" "$@") &
newman_pid=$!
wait "$newman_pid" || newman_status=$?
newman_pid=""

stop_daemon
if [[ $daemon_status -ne 0 ]]; then
  # Reported, not counted: this run's verdict is newman's. The daemon's own tests own its exit.
  kept="$(mktemp "${TMPDIR:-/tmp}/overseer-postman-daemon.XXXXXX.log")"
  cp "$tmp/daemon.err" "$kept"
  echo "postman: warning: the daemon exited with status $daemon_status after SIGTERM (stderr kept in $kept)" >&2
  grep -E '^SUMMARY:|runtime error:' "$kept" | head -n 5 >&2 || true
fi

# One closing line from newman's JSON report: assertions passed, and everything that failed
# (assertions, script errors, requests that got no answer).
if [[ -s "$report" ]]; then
  # shellcheck disable=SC2016  # JavaScript, not shell
  node -e '
    const run = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).run;
    const s = run.stats;
    const passed = s.assertions.total - s.assertions.failed;
    const failed = s.assertions.failed + s.testScripts.failed + s.prerequestScripts.failed + s.requests.failed;
    console.log(`postman: ${passed} passed, ${failed} failed`);
  ' "$report"
else
  echo "postman: 0 passed, 1 failed"
  [[ $newman_status -ne 0 ]] || newman_status=1
fi

exit "$newman_status"
