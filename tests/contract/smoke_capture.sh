#!/usr/bin/env bash
# Contract smoke test: starts the real daemon (port 0, temp state dir, --max-depth 1),
# sends requests to every route with curl (successes and the error statuses that can be
# provoked from outside: 400, 401, 403, 404, 405, 409, 413, 415, 422), checks each status,
# writes every response to a JSONL capture, validates the capture against api/openapi.yaml
# (tests/contract/validate.mjs), and finally checks that the validator does reject a
# capture with a wrong field. Request side: the JSON body of every request is captured too
# (a 2xx means the document's request schema must accept it), and the boundary cases sent
# with `reqx` must be answered 400 and refused by the document's schema as well. Bytes that
# are not UTF-8 are sent in paths, ids and query names: every JSON answer must be UTF-8.
#
# Usage: tests/contract/smoke_capture.sh [BINARY] [CAPTURE.jsonl]
#   BINARY defaults to $OVERSEER_BINARY, else build/ci/overseer; the capture goes to a temp
#   dir, kept only on failure.
# Needs curl, node and node_modules (npm ci). Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${1:-${OVERSEER_BINARY:-$root/build/ci/overseer}}"
tmp="$(mktemp -d /tmp/overseer-smoke.XXXXXX)"
out="${2:-$tmp/capture.jsonl}"
: >"$out"
pid=""
failures=0

cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  # The temp dir (with the capture, if it is there) is kept only when something failed.
  if ((failures == 0)) || [[ "$out" != "$tmp/"* ]]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

fail() {
  echo "smoke: FAIL: $*" >&2
  failures=$((failures + 1))
}

[[ -x "$bin" ]] || { echo "smoke: no daemon binary at $bin (set OVERSEER_BINARY)" >&2; exit 2; }

head -c 48 /dev/urandom | base64 >"$tmp/secret"
export OVERSEER_JWT_SECRET_FILE="$tmp/secret"
TOKEN="$("$bin" token create --sub smoke --workspace default \
  --scopes supervisor:read,supervisor:write,jobs:read,jobs:write,resources:read,resources:write,resources:admin --ttl 1h)"
JOBS_ONLY="$("$bin" token create --sub smoke-ro --workspace default --scopes jobs:read --ttl 1h)"
OTHER_WS="$("$bin" token create --sub smoke-other --workspace other \
  --scopes supervisor:read,jobs:read,resources:read,resources:write --ttl 1h)"
OPERATOR="$("$bin" token create --sub smoke-op --workspace default \
  --scopes supervisor:read,supervisor:admin --ttl 1h)"

"$bin" serve --listen 127.0.0.1:0 --state-dir "$tmp/data" --max-depth 1 \
  >"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!
deadline=$((SECONDS + 30))
until grep -q 'listening on http://' "$tmp/stdout" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/stderr" >&2; echo "smoke: daemon exited" >&2; exit 1; }
  ((SECONDS < deadline)) || { echo "smoke: daemon not listening after 30 s" >&2; exit 1; }
  sleep 0.05
done
base="$(grep -o 'http://[0-9.:]*' "$tmp/stdout" | head -1)"
echo "smoke: daemon at $base"

# record METHOD PATH ROUTE STATUS CONTENT_TYPE BODY_FILE [REQUEST_BODY_FILE [INVALID]]:
# queues one capture record (the JSONL is written in one go by write_capture: one node start
# instead of one per request).
mkdir -p "$tmp/bodies" "$tmp/requests"
nrec=0
record() {
  nrec=$((nrec + 1))
  cp "$6" "$tmp/bodies/$nrec"
  local reqfile=""
  if [[ -n "${7:-}" ]]; then
    reqfile="$tmp/requests/$nrec"
    cp "$7" "$reqfile"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$tmp/bodies/$nrec" \
    "$reqfile" "${8:-}" >>"$tmp/index.tsv"
}
write_capture() {
  node -e '
    const fs = require("fs");
    const [index, out] = process.argv.slice(1);
    const utf8 = new TextDecoder("utf-8", {fatal: true});
    const lines = fs.readFileSync(index, "utf8").split("\n").filter(Boolean).map((l) => {
      const [method, path, route, status, ctype, file, reqfile, invalid] = l.split("\t");
      const raw = fs.readFileSync(file);
      let valid = true;
      try { utf8.decode(raw); } catch { valid = false; }
      const rec = {method, path, route: route || null, status: Number(status),
        content_type: ctype, body: raw.toString("utf8"), body_valid_utf8: valid};
      if (reqfile) rec.request_body = fs.readFileSync(reqfile, "utf8");
      if (invalid) rec.request_invalid = true;
      return JSON.stringify(rec);
    });
    fs.writeFileSync(out, lines.join("\n") + "\n");
  ' "$tmp/index.tsv" "$out"
}

# req EXPECTED METHOD ROUTE PATH [curl args...]: sends one request, records it (with the
# JSON body sent by --data, if any), checks the status. The body is left in $tmp/body, the
# status in $STATUS. REQ_INVALID=1 marks the request as one the document refuses.
req() {
  local expected=$1 method=$2 route=$3 path=$4
  shift 4
  local meta sent="" prev=""
  for a in "$@"; do
    if [[ "$prev" == --data || "$prev" == --data-binary ]] && [[ "$a" != @* ]]; then
      printf '%s' "$a" >"$tmp/request"
      sent="$tmp/request"
    fi
    prev="$a"
  done
  meta="$(curl -sS -X "$method" -o "$tmp/body" -w '%{http_code} %{content_type}' "$@" "$base$path")"
  STATUS="${meta%% *}"
  record "$method" "$path" "$route" "$STATUS" "${meta#* }" "$tmp/body" "$sent" "${REQ_INVALID:-}"
  if [[ "$STATUS" != "$expected" ]]; then
    fail "$method $path: status $STATUS, expected $expected: $(head -c 300 "$tmp/body")"
  fi
}
# reqx METHOD ROUTE PATH [curl args...]: a boundary case the document and the daemon both
# refuse: expects 400, and validate.mjs checks the document's schema refuses the body too.
reqx() { REQ_INVALID=1 req 400 "$@"; }

auth=(-H "Authorization: Bearer $TOKEN")
json=(-H "Content-Type: application/json")

# jget FILE EXPR: evaluates a JS expression on the JSON in FILE (bound to `v`).
jget() { node -e 'const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(eval(process.argv[2]))' "$1" "$2"; }

# wait_worker ID STATE: polls (not recorded) until the worker is in STATE, 20 s at most.
wait_worker() {
  local deadline=$((SECONDS + 20))
  while ((SECONDS < deadline)); do
    curl -sS -o "$tmp/body.poll" "${auth[@]}" "$base/api/supervisor/workers/$1"
    [[ "$(jget "$tmp/body.poll" v.status)" == "$2" ]] && return 0
    sleep 0.05
  done
  fail "worker $1 did not reach $2 (last: $(head -c 300 "$tmp/body.poll"))"
  return 1
}

# create_job BODY: POST /api/jobs expecting 201; echoes nothing, sets JOB and WORKER ids.
create_job() {
  req 201 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data "$1"
  JOB="$(jget "$tmp/body" v.id)"
  req 200 GET /api/jobs/{id} "/api/jobs/$JOB" "${auth[@]}"
  WORKER="$(jget "$tmp/body" 'v.workers[0].id')"
}

# ---- System and docs
req 200 GET /healthz /healthz
req 200 GET /readyz /readyz -H 'X-Request-ID: smoke-1'
req 200 GET /openapi.json /openapi.json
req 200 GET /openapi.yaml /openapi.yaml
req 200 GET /docs /docs
req 200 GET /docs/{file} /docs/swagger-ui.css
req 200 GET /docs/{file} /docs/swagger-initializer.js
req 200 GET /docs/{file} /docs/favicon-32x32.png
req 404 GET /docs/{file} /docs/nothing.js
req 404 GET "" /no/such/path

# ---- Authentication
req 401 GET /api/supervisor/workers /api/supervisor/workers
req 401 GET /api/supervisor/workers /api/supervisor/workers -H 'Authorization: Bearer a.b.c'
req 401 GET /api/jobs /api/jobs -H 'Authorization: Basic Zm9vOmJhcg=='
req 403 GET /api/supervisor/workers /api/supervisor/workers -H "Authorization: Bearer $JOBS_ONLY"
req 403 POST /api/jobs /api/jobs -H "Authorization: Bearer $JOBS_ONLY" "${json[@]}" \
  --data '{"task":{"runtime":"command","command":["true"]}}'

# ---- Jobs
create_job '{"name":"sleeper","task":{"runtime":"command","command":["sleep","600"],"env":{"A":"1"}},"metadata":{"k":"v"},"timeout_seconds":3600}'
J1=$JOB W1=$WORKER
create_job '{"task":{"runtime":"command","command":["sh","-c","echo hello; echo oops >&2"]},"retry":{"max_attempts":2,"initial_backoff_ms":10}}'
J2=$JOB W2=$WORKER
create_job "{\"name\":\"child\",\"parent_job_id\":\"$J1\",\"depth\":1,\"task\":{\"runtime\":\"command\",\"command\":[\"sleep\",\"600\"]}}"
J3=$JOB
req 422 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" \
  --data "{\"parent_job_id\":\"$J3\",\"task\":{\"runtime\":\"command\",\"command\":[\"true\"]}}"
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" \
  --data "{\"parent_job_id\":\"$J1\",\"depth\":3,\"task\":{\"runtime\":\"command\",\"command\":[\"true\"]}}"
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":{"runtime":"command","command":["true"]},"colour":"red"}'
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":{"runtime":"claude","model":"sonnet"}}'
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":{"runtime":"command","command":["true"]},"depends_on":["j_1"]}'
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":{"runtime":"command","command":["true"]},"status":"RUNNING"}'
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":'
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"name":"x"}'
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":{"runtime":"command","command":["true"]},"worker_count":101}'
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"parent_job_id":"j_nosuchjob","task":{"runtime":"command","command":["true"]}}'
req 415 POST /api/jobs /api/jobs "${auth[@]}" -H 'Content-Type: text/plain' --data 'hello'
node -e 'process.stdout.write(JSON.stringify({task: {runtime: "command", command: ["true"]}, metadata: {pad: "x".repeat(2 << 20)}}))' >"$tmp/big.json"
req 413 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data-binary "@$tmp/big.json"
# Idempotency: replay, then the same key with another request.
req 201 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" -H 'Idempotency-Key: smoke-k1' --data '{"task":{"runtime":"command","command":["true"]}}'
first="$(cat "$tmp/body")"
req 201 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" -H 'Idempotency-Key: smoke-k1' --data '{"task":{"runtime":"command","command":["true"]}}'
[[ "$(cat "$tmp/body")" == "$first" ]] || fail "idempotent replay answered another body"
req 422 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" -H 'Idempotency-Key: smoke-k1' --data '{"task":{"runtime":"command","command":["false"]}}'
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" -H 'Idempotency-Key: has space' --data '{"task":{"runtime":"command","command":["true"]}}'
# An empty key is refused too, never taken as "no key" (curl sends 'Idempotency-Key:').
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" -H 'Idempotency-Key;' --data '{"task":{"runtime":"command","command":["true"]}}'
# Boundary cases of the request schema: the daemon and the document refuse them alike.
reqx POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data "{\"task\":{\"runtime\":\"command\",\"command\":[\"true\"]},\"depends_on\":[\"$J1\",\"$J1\"]}"
reqx POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":{"runtime":"command","command":[]}}'
reqx POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":{"runtime":"command","command":["true"]},"worker_count":0}'
# An empty program name: 400 (a rule of command[0] alone, which OpenAPI 3.0 cannot state
# in the schema: it is in the description).
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":{"runtime":"command","command":["","x"]}}'
# Request bytes that are not UTF-8, and a long multi-byte field name, echoed in errors: the
# answers stay UTF-8 (validate.mjs checks every JSON body).
req 400 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data "{\"task\":{\"runtime\":\"command\",\"command\":[\"true\"]},\"$(printf 'é%.0s' {1..40})\":1}"
req 404 GET /docs/{file} '/docs/%FF%FE'
req 404 GET /api/jobs/{id} '/api/jobs/j_%FF' "${auth[@]}"
req 404 GET /api/supervisor/workers/{id} '/api/supervisor/workers/w_%C3' "${auth[@]}"
req 400 GET /api/jobs '/api/jobs?%FF%C0%AF=1' "${auth[@]}"
req 404 GET "" '/no/such/%ED%A0%80path'
req 405 DELETE /api/jobs/{id} '/api/jobs/j_%FF' "${auth[@]}"

req 200 GET /api/jobs /api/jobs "${auth[@]}"
req 200 GET /api/jobs '/api/jobs?limit=1' "${auth[@]}"
cursor="$(jget "$tmp/body" v.next_cursor)"
[[ "$cursor" != null ]] || fail "GET /api/jobs?limit=1 gave no next_cursor"
req 200 GET /api/jobs "/api/jobs?limit=1&cursor=$cursor" "${auth[@]}"
req 200 GET /api/jobs '/api/jobs?depth=1&status=PENDING' "${auth[@]}"
req 200 GET /api/jobs "/api/jobs?parent_job_id=$J1" "${auth[@]}"
req 200 GET /api/jobs '/api/jobs?parent_job_id=' "${auth[@]}"
req 400 GET /api/jobs '/api/jobs?status=NOPE' "${auth[@]}"
req 400 GET /api/jobs '/api/jobs?limit=0' "${auth[@]}"
req 400 GET /api/jobs '/api/jobs?cursor=!!' "${auth[@]}"
req 400 GET /api/jobs '/api/jobs?colour=red' "${auth[@]}"
req 415 GET /api/jobs /api/jobs "${auth[@]}" -H 'Content-Type: text/plain' --data 'x'
req 200 GET /api/jobs/{id} "/api/jobs/$J2" "${auth[@]}"
req 404 GET /api/jobs/{id} /api/jobs/j_nosuchjob "${auth[@]}"
req 404 GET /api/jobs/{id} /api/jobs/not-an-id "${auth[@]}"
req 400 GET /api/jobs/{id} "/api/jobs/$J1?x=1" "${auth[@]}"
# Tree, wait, cancel.
req 200 GET /api/jobs/{id}/tree "/api/jobs/$J1/tree" "${auth[@]}"
[[ "$(jget "$tmp/body" 'v.children[0].id')" == "$J3" ]] || fail "tree of $J1 lacks its child: $(head -c 300 "$tmp/body")"
req 404 GET /api/jobs/{id}/tree /api/jobs/j_nosuchjob/tree "${auth[@]}"
req 400 GET /api/jobs/{id}/tree "/api/jobs/$J1/tree?depth=2" "${auth[@]}"
req 200 GET /api/jobs/{id}/wait "/api/jobs/$J2/wait?timeout_seconds=20" "${auth[@]}"
[[ "$(jget "$tmp/body" v.status)" == COMPLETED ]] || fail "wait for $J2 answered $(head -c 300 "$tmp/body")"
req 200 GET /api/jobs/{id}/wait "/api/jobs/$J1/wait?timeout_seconds=0" "${auth[@]}"
req 400 GET /api/jobs/{id}/wait "/api/jobs/$J1/wait?timeout_seconds=301" "${auth[@]}"
req 404 GET /api/jobs/{id}/wait /api/jobs/j_nosuchjob/wait "${auth[@]}"
create_job '{"name":"to-cancel","task":{"runtime":"command","command":["sleep","600"]}}'
J6=$JOB
create_job "{\"parent_job_id\":\"$J6\",\"task\":{\"runtime\":\"command\",\"command\":[\"sleep\",\"600\"]}}"
J7=$JOB
req 400 POST /api/jobs/{id}/cancel "/api/jobs/$J6/cancel" "${auth[@]}" "${json[@]}" --data '{"grace_seconds":"soon"}'
req 200 POST /api/jobs/{id}/cancel "/api/jobs/$J6/cancel" "${auth[@]}" "${json[@]}" --data '{"grace_seconds":1}'
[[ "$(jget "$tmp/body" v.status)" == CANCELED ]] || fail "cancel answered $(head -c 300 "$tmp/body")"
req 200 GET /api/jobs/{id} "/api/jobs/$J7" "${auth[@]}"
[[ "$(jget "$tmp/body" v.status)" == CANCELED ]] || fail "the child of a canceled job is $(head -c 300 "$tmp/body")"
req 409 POST /api/jobs/{id}/cancel "/api/jobs/$J6/cancel" "${auth[@]}"
req 409 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" \
  --data "{\"parent_job_id\":\"$J6\",\"task\":{\"runtime\":\"command\",\"command\":[\"true\"]}}"
req 404 POST /api/jobs/{id}/cancel /api/jobs/j_nosuchjob/cancel "${auth[@]}"
create_job '{"task":{"runtime":"command","command":["sleep","600"]}}'
req 202 POST /api/jobs/{id}/cancel "/api/jobs/$JOB/cancel" "${auth[@]}" "${json[@]}" --data '{"grace_seconds":0,"wait":false}'

# The kill switch.
ADMIN="$("$bin" token create --sub smoke-admin --workspace default \
  --scopes supervisor:read,supervisor:write,jobs:read,jobs:write,supervisor:admin --ttl 1h)"
create_job '{"name":"to-halt","task":{"runtime":"command","command":["sleep","600"]}}'
J8=$JOB
wait_worker "$WORKER" RUNNING
reqx POST /api/jobs/{id}/halt "/api/jobs/$J8/halt" "${auth[@]}" "${json[@]}" --data '{"mode":"melt","reason":"x"}'
reqx POST /api/jobs/{id}/halt "/api/jobs/$J8/halt" "${auth[@]}" "${json[@]}" --data '{"mode":"freeze"}'
req 200 POST /api/jobs/{id}/halt "/api/jobs/$J8/halt" "${auth[@]}" "${json[@]}" --data '{"mode":"freeze","reason":"smoke"}'
[[ "$(jget "$tmp/body" v.halted.mode)" == freeze ]] || fail "halt answered $(head -c 300 "$tmp/body")"
req 409 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" \
  --data "{\"parent_job_id\":\"$J8\",\"task\":{\"runtime\":\"command\",\"command\":[\"true\"]}}"
[[ "$(jget "$tmp/body" v.error.code)" == HALTED ]] || fail "a child of a halted job: $(head -c 300 "$tmp/body")"
req 409 POST /api/jobs/{id}/halt "/api/jobs/$J8/halt" "${auth[@]}" "${json[@]}" --data '{"reason":"again"}'
req 404 POST /api/jobs/{id}/halt /api/jobs/j_nosuchjob/halt "${auth[@]}" "${json[@]}" --data '{"reason":"x"}'
req 200 POST /api/jobs/{id}/unhalt "/api/jobs/$J8/unhalt" "${auth[@]}"
req 409 POST /api/jobs/{id}/unhalt "/api/jobs/$J8/unhalt" "${auth[@]}"
req 200 GET /api/halt /api/halt "${auth[@]}"
req 200 POST /api/halt /api/halt -H "Authorization: Bearer $ADMIN" "${json[@]}" --data '{"reason":"smoke, all"}'
[[ "$(jget "$tmp/body" v.halted.scope)" == workspace ]] || fail "workspace halt answered $(head -c 300 "$tmp/body")"
req 200 GET /api/halt /api/halt "${auth[@]}"
req 200 POST /api/unhalt /api/unhalt -H "Authorization: Bearer $ADMIN"
req 409 POST /api/unhalt /api/unhalt -H "Authorization: Bearer $ADMIN"
req 200 POST /api/jobs/{id}/cancel "/api/jobs/$J8/cancel" "${auth[@]}" "${json[@]}" --data '{"grace_seconds":0}'

# Budgets (SPEC §11): a budget on create, what is left of it, PATCH /api/jobs/{id}, and the
# 422 BUDGET_EXCEEDED of a child budget, a raise and a fan-out that do not fit.
create_job '{"name":"budgeted","task":{"runtime":"command","command":["sleep","600"]},"budget":{"usd":5,"max_children":2}}'
J9=$JOB
[[ "$(jget "$tmp/body" 'v.budget.usd + "/" + v.budget_left.usd + "/" + v.budget_left.tokens')" == 5/5/null ]] ||
  fail "a budgeted job answered $(head -c 400 "$tmp/body")"
req 422 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" \
  --data "{\"parent_job_id\":\"$J9\",\"task\":{\"runtime\":\"command\",\"command\":[\"true\"]},\"budget\":{\"usd\":6}}"
[[ "$(jget "$tmp/body" 'v.error.code + "/" + v.error.details.limit + "/" + v.error.details.job_id')" == "BUDGET_EXCEEDED/usd/$J9" ]] ||
  fail "a child budget over what is left: $(head -c 300 "$tmp/body")"
create_job "{\"parent_job_id\":\"$J9\",\"task\":{\"runtime\":\"command\",\"command\":[\"sleep\",\"600\"]},\"budget\":{\"usd\":2,\"tokens\":null,\"on_exhausted\":\"terminate\"}}"
J10=$JOB
req 200 GET /api/jobs/{id} "/api/jobs/$J9" "${auth[@]}"
[[ "$(jget "$tmp/body" 'v.budget_left.usd + "/" + v.usage.children + "/" + v.usage.descendants')" == 3/1/1 ]] ||
  fail "the pool after a reservation: $(head -c 400 "$tmp/body")"
req 200 PATCH /api/jobs/{id} "/api/jobs/$J10" "${auth[@]}" "${json[@]}" --data '{"budget":{"usd":3}}'
[[ "$(jget "$tmp/body" 'v.budget.usd + "/" + v.budget.on_exhausted')" == 3/pause ]] ||
  fail "PATCH replaces the budget whole: $(head -c 300 "$tmp/body")"
req 422 PATCH /api/jobs/{id} "/api/jobs/$J10" "${auth[@]}" "${json[@]}" --data '{"budget":{"usd":5.5}}'
[[ "$(jget "$tmp/body" 'v.error.details.requested + "/" + v.error.details.left')" == 5.5/5 ]] ||
  fail "a raise over what is left: $(head -c 300 "$tmp/body")"
create_job "{\"parent_job_id\":\"$J9\",\"task\":{\"runtime\":\"command\",\"command\":[\"sleep\",\"600\"]}}"
req 422 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" \
  --data "{\"parent_job_id\":\"$J9\",\"task\":{\"runtime\":\"command\",\"command\":[\"true\"]}}"
[[ "$(jget "$tmp/body" 'v.error.details.limit')" == max_children ]] || fail "a third child of max_children 2: $(head -c 300 "$tmp/body")"
req 200 GET /api/jobs/{id}/tree "/api/jobs/$J9/tree" "${auth[@]}"
req 200 PATCH /api/jobs/{id} "/api/jobs/$J9" "${auth[@]}" "${json[@]}" --data '{"budget":null}'
[[ "$(jget "$tmp/body" v.budget)" == null ]] || fail "PATCH budget null: $(head -c 300 "$tmp/body")"
req 200 PATCH /api/jobs/{id} "/api/jobs/$J9" "${auth[@]}" "${json[@]}" --data '{"budget":{}}'
reqx PATCH /api/jobs/{id} "/api/jobs/$J9" "${auth[@]}" "${json[@]}" --data '{"budget":{"usd":-1}}'
reqx PATCH /api/jobs/{id} "/api/jobs/$J9" "${auth[@]}" "${json[@]}" --data '{"budget":{"usd":5,"colour":1}}'
reqx PATCH /api/jobs/{id} "/api/jobs/$J9" "${auth[@]}" "${json[@]}" --data '{"budget":{"tokens":1.5}}'
reqx PATCH /api/jobs/{id} "/api/jobs/$J9" "${auth[@]}" "${json[@]}" --data '{"budget":{"on_exhausted":"explode"}}'
reqx PATCH /api/jobs/{id} "/api/jobs/$J9" "${auth[@]}" "${json[@]}" --data '{"budget":null,"status":"RUNNING"}'
reqx PATCH /api/jobs/{id} "/api/jobs/$J9" "${auth[@]}" "${json[@]}" --data '{}'
reqx POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":{"runtime":"command","command":["true"]},"usage":{"usd":0}}'
reqx POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":{"runtime":"command","command":["true"]},"budget":{"max_children":-1}}'
req 400 PATCH /api/jobs/{id} "/api/jobs/$J9?x=1" "${auth[@]}" "${json[@]}" --data '{"budget":null}'
req 404 PATCH /api/jobs/{id} /api/jobs/j_nosuchjob "${auth[@]}" "${json[@]}" --data '{"budget":null}'
req 404 PATCH /api/jobs/{id} /api/jobs/not-an-id "${auth[@]}" "${json[@]}" --data '{"budget":null}'
req 409 PATCH /api/jobs/{id} "/api/jobs/$J6" "${auth[@]}" "${json[@]}" --data '{"budget":{"usd":1}}'
req 200 POST /api/jobs/{id}/cancel "/api/jobs/$J9/cancel" "${auth[@]}" "${json[@]}" --data '{"grace_seconds":0}'

# ---- Resources
req 200 GET /api/resources/quotas /api/resources/quotas "${auth[@]}"
[[ "$(jget "$tmp/body" 'v.quotas[0].max_workers')" == 10 ]] || fail "default quota of depth 0: $(head -c 300 "$tmp/body")"
req 200 PUT /api/resources/quotas /api/resources/quotas "${auth[@]}" "${json[@]}" --data '{"quotas":[{"depth":1,"max_workers":6}]}'
[[ "$(jget "$tmp/body" 'v.quotas[1].max_workers')" == 6 ]] || fail "PUT quotas answered $(head -c 300 "$tmp/body")"
reqx PUT /api/resources/quotas /api/resources/quotas "${auth[@]}" "${json[@]}" --data '{"quotas":[{"depth":9,"max_workers":1}]}'
req 400 PUT /api/resources/quotas /api/resources/quotas "${auth[@]}" "${json[@]}" --data '{"quotas":[{"depth":0,"max_workers":1,"x":1}]}'
req 400 GET /api/resources/quotas '/api/resources/quotas?x=1' "${auth[@]}"
req 200 GET /api/resources/usage /api/resources/usage "${auth[@]}"
req 400 GET /api/resources/usage '/api/resources/usage?x=1' "${auth[@]}"
req 409 POST /api/jobs /api/jobs "${auth[@]}" "${json[@]}" --data '{"task":{"runtime":"command","command":["true"]},"worker_count":11}'
req 405 DELETE /api/resources/quotas /api/resources/quotas "${auth[@]}"
req 201 POST /api/resources/allocate /api/resources/allocate "${auth[@]}" "${json[@]}" --data "{\"job_id\":\"$J1\",\"depth\":1,\"worker_count\":2}"
A1="$(jget "$tmp/body" v.id)"
req 409 POST /api/resources/allocate /api/resources/allocate "${auth[@]}" "${json[@]}" --data "{\"job_id\":\"$J1\",\"depth\":1,\"worker_count\":6}"
req 400 POST /api/resources/allocate /api/resources/allocate "${auth[@]}" "${json[@]}" --data '{"job_id":"j_nosuchjob","depth":1}'
reqx POST /api/resources/allocate /api/resources/allocate "${auth[@]}" "${json[@]}" --data "{\"job_id\":\"$J1\",\"depth\":6}"
reqx POST /api/resources/allocate /api/resources/allocate "${auth[@]}" "${json[@]}" --data "{\"job_id\":\"$J1\",\"depth\":-1}"
# Depth 2 is within the document's maximum (the default max_depth, 5) but beyond this
# daemon's --max-depth 1: a 400 the schema cannot know of.
req 400 POST /api/resources/allocate /api/resources/allocate "${auth[@]}" "${json[@]}" --data "{\"job_id\":\"$J1\",\"depth\":2}"
req 200 GET /api/jobs/{id} "/api/jobs/$J1" "${auth[@]}"
req 200 POST /api/resources/release /api/resources/release "${auth[@]}" "${json[@]}" --data "{\"allocation_id\":\"$A1\"}"
req 404 POST /api/resources/release /api/resources/release "${auth[@]}" "${json[@]}" --data "{\"allocation_id\":\"$A1\"}"
req 200 POST /api/resources/release /api/resources/release "${auth[@]}" "${json[@]}" --data "{\"job_id\":\"$J1\"}"
[[ "$(jget "$tmp/body" 'v.released.length')" == 0 ]] || fail "release of a job holding nothing: $(head -c 300 "$tmp/body")"
req 404 POST /api/resources/release /api/resources/release "${auth[@]}" "${json[@]}" --data '{"job_id":"j_nosuchjob"}'
req 404 POST /api/resources/release /api/resources/release -H "Authorization: Bearer $OTHER_WS" "${json[@]}" --data "{\"job_id\":\"$J1\"}"
reqx POST /api/resources/release /api/resources/release "${auth[@]}" "${json[@]}" --data '{}'
reqx POST /api/resources/release /api/resources/release "${auth[@]}" "${json[@]}" --data "{\"job_id\":\"$J1\",\"allocation_id\":\"$A1\"}"
reqx POST /api/resources/release /api/resources/release "${auth[@]}" "${json[@]}" --data '{"allocation_id":"x_1"}'

# ---- Workers
wait_worker "$W1" RUNNING
wait_worker "$W2" COMPLETED
req 200 GET /api/supervisor/workers /api/supervisor/workers "${auth[@]}"
req 200 GET /api/supervisor/workers "/api/supervisor/workers?job_id=$J1&status=RUNNING" "${auth[@]}"
req 200 GET /api/supervisor/workers '/api/supervisor/workers?limit=1' "${auth[@]}"
cursor="$(jget "$tmp/body" v.next_cursor)"
req 200 GET /api/supervisor/workers "/api/supervisor/workers?cursor=$cursor" "${auth[@]}"
req 400 GET /api/supervisor/workers '/api/supervisor/workers?status=WALKING' "${auth[@]}"
req 400 GET /api/supervisor/workers '/api/supervisor/workers?job_id=w_1' "${auth[@]}"
req 400 GET /api/supervisor/workers '/api/supervisor/workers?limit=1001' "${auth[@]}"
req 200 GET /api/supervisor/workers/{id} "/api/supervisor/workers/$W1" "${auth[@]}"
req 200 GET /api/supervisor/workers/{id} "/api/supervisor/workers/$W2" "${auth[@]}"
req 404 GET /api/supervisor/workers/{id} /api/supervisor/workers/w_nosuchworker "${auth[@]}"
req 400 GET /api/supervisor/workers/{id} "/api/supervisor/workers/$W1?x=1" "${auth[@]}"

req 200 POST /api/supervisor/workers/{id}/pause "/api/supervisor/workers/$W1/pause" "${auth[@]}"
[[ "$(jget "$tmp/body" v.status)" == PAUSED ]] || fail "pause answered $(head -c 200 "$tmp/body")"
req 409 POST /api/supervisor/workers/{id}/pause "/api/supervisor/workers/$W1/pause" "${auth[@]}"
req 200 POST /api/supervisor/workers/{id}/resume "/api/supervisor/workers/$W1/resume" "${auth[@]}" "${json[@]}" --data '{}'
req 409 POST /api/supervisor/workers/{id}/resume "/api/supervisor/workers/$W1/resume" "${auth[@]}"
req 409 POST /api/supervisor/workers/{id}/pause "/api/supervisor/workers/$W2/pause" "${auth[@]}"
req 400 POST /api/supervisor/workers/{id}/pause "/api/supervisor/workers/$W1/pause" "${auth[@]}" "${json[@]}" --data '{"now":true}'
req 404 POST /api/supervisor/workers/{id}/pause /api/supervisor/workers/w_nosuchworker/pause "${auth[@]}"
req 404 POST /api/supervisor/workers/{id}/resume /api/supervisor/workers/w_nosuchworker/resume "${auth[@]}"
req 403 POST /api/supervisor/workers/{id}/pause "/api/supervisor/workers/$W1/pause" -H "Authorization: Bearer $JOBS_ONLY"
req 415 POST /api/supervisor/workers/{id}/resume "/api/supervisor/workers/$W1/resume" "${auth[@]}" -H 'Content-Type: text/plain' --data 'x'
req 200 POST /api/supervisor/workers/{id}/pause "/api/supervisor/workers/$W1/pause" "${auth[@]}" -H 'Idempotency-Key: smoke-p1'
req 422 POST /api/supervisor/workers/{id}/resume "/api/supervisor/workers/$W1/resume" "${auth[@]}" -H 'Idempotency-Key: smoke-p1'

req 200 GET /api/supervisor/workers/{id}/logs "/api/supervisor/workers/$W2/logs" "${auth[@]}"
grep -q hello "$tmp/body" || fail "logs of $W2 lack its output: $(head -c 200 "$tmp/body")"
req 200 GET /api/supervisor/workers/{id}/logs "/api/supervisor/workers/$W1/logs?tail=5" "${auth[@]}"
req 400 GET /api/supervisor/workers/{id}/logs "/api/supervisor/workers/$W2/logs?tail=0" "${auth[@]}"
req 404 GET /api/supervisor/workers/{id}/logs /api/supervisor/workers/w_nosuchworker/logs "${auth[@]}"
req 200 GET /api/supervisor/metrics /api/supervisor/metrics "${auth[@]}"
[[ "$(jget "$tmp/body" 'typeof v.daemon_counters')" == undefined ]] || fail "a workspace token saw daemon-wide counters: $(head -c 300 "$tmp/body")"
req 200 GET /api/supervisor/metrics /api/supervisor/metrics -H "Authorization: Bearer $OPERATOR"
[[ "$(jget "$tmp/body" 'v.daemon_counters.commits > 0')" == true ]] || fail "an operator token got no daemon-wide counters: $(head -c 300 "$tmp/body")"
req 200 GET /api/supervisor/metrics /api/supervisor/metrics -H "Authorization: Bearer $OTHER_WS"
[[ "$(jget "$tmp/body" 'v.counters.jobs_submitted')" == 0 ]] || fail "another workspace sees this one's submits: $(head -c 300 "$tmp/body")"
req 400 GET /api/supervisor/metrics '/api/supervisor/metrics?x=1' "${auth[@]}"

# Terminate: at once (202, worker paused), waiting (200), terminal (409), bad options (400).
req 400 POST /api/supervisor/workers/{id}/terminate "/api/supervisor/workers/$W1/terminate" "${auth[@]}" "${json[@]}" --data '{"grace_seconds":301}'
req 202 POST /api/supervisor/workers/{id}/terminate "/api/supervisor/workers/$W1/terminate" "${auth[@]}" "${json[@]}" --data '{"grace_seconds":1,"wait":false}'
wait_worker "$W1" TERMINATED
req 409 POST /api/supervisor/workers/{id}/terminate "/api/supervisor/workers/$W1/terminate" "${auth[@]}"
req 404 POST /api/supervisor/workers/{id}/terminate /api/supervisor/workers/w_nosuchworker/terminate "${auth[@]}"
create_job '{"task":{"runtime":"command","command":["sleep","600"]}}'
W4=$WORKER
wait_worker "$W4" RUNNING
req 200 POST /api/supervisor/workers/{id}/terminate "/api/supervisor/workers/$W4/terminate" "${auth[@]}"
[[ "$(jget "$tmp/body" v.status)" == TERMINATED ]] || fail "terminate answered $(head -c 200 "$tmp/body")"
req 200 GET /api/supervisor/workers/{id} "/api/supervisor/workers/$W4" "${auth[@]}"

# 409 REQUEST_IN_PROGRESS: two terminates with one key on a worker that ignores SIGTERM
# (2 s of grace): whichever arrives second finds the first in flight.
create_job '{"task":{"runtime":"command","command":["sh","-c","trap \"\" TERM; sleep 600"]}}'
W5=$WORKER
wait_worker "$W5" RUNNING
pair() {
  curl -sS -o "$tmp/body.$1" -w '%{http_code} %{content_type}' -X POST "${auth[@]}" "${json[@]}" \
    -H 'Idempotency-Key: smoke-t1' --data '{"grace_seconds":2}' \
    "$base/api/supervisor/workers/$W5/terminate" >"$tmp/meta.$1"
}
pair a &
pa=$!
pair b &
pb=$!
wait "$pa" "$pb"
for x in a b; do
  meta="$(cat "$tmp/meta.$x")"
  record POST "/api/supervisor/workers/$W5/terminate" /api/supervisor/workers/{id}/terminate \
    "${meta%% *}" "${meta#* }" "$tmp/body.$x"
done
statuses="$(cut -d' ' -f1 "$tmp/meta.a" "$tmp/meta.b" | sort | tr '\n' ' ')"
[[ "$statuses" == "200 409 " ]] || fail "concurrent terminates with one key: statuses $statuses, expected 200 and 409"

# ---- Every protected route: no token (401), a token without its scope (403), a non-JSON
# body (415), and for POSTs a body over 1 MiB (413).
NO_SCOPE="$("$bin" token create --sub smoke-none --workspace default --scopes resources:read --ttl 1h)"
for spec in "GET /api/supervisor/workers /api/supervisor/workers" \
            "GET /api/supervisor/workers/{id} /api/supervisor/workers/$W2" \
            "POST /api/supervisor/workers/{id}/pause /api/supervisor/workers/$W2/pause" \
            "POST /api/supervisor/workers/{id}/resume /api/supervisor/workers/$W2/resume" \
            "POST /api/supervisor/workers/{id}/terminate /api/supervisor/workers/$W2/terminate" \
            "GET /api/supervisor/workers/{id}/logs /api/supervisor/workers/$W2/logs" \
            "GET /api/supervisor/metrics /api/supervisor/metrics" \
            "POST /api/jobs /api/jobs" "GET /api/jobs /api/jobs" "GET /api/jobs/{id} /api/jobs/$J2" \
            "PATCH /api/jobs/{id} /api/jobs/$J2" \
            "GET /api/jobs/{id}/tree /api/jobs/$J2/tree" "GET /api/jobs/{id}/wait /api/jobs/$J2/wait" \
            "POST /api/jobs/{id}/cancel /api/jobs/$J2/cancel" \
            "POST /api/jobs/{id}/halt /api/jobs/$J2/halt" "POST /api/jobs/{id}/unhalt /api/jobs/$J2/unhalt" \
            "GET /api/halt /api/halt" "POST /api/halt /api/halt" "POST /api/unhalt /api/unhalt" \
            "GET /api/resources/quotas /api/resources/quotas" "PUT /api/resources/quotas /api/resources/quotas" \
            "GET /api/resources/usage /api/resources/usage" \
            "POST /api/resources/allocate /api/resources/allocate" "POST /api/resources/release /api/resources/release"; do
  read -r m r p <<<"$spec"
  req 401 "$m" "$r" "$p"
  lacking="$NO_SCOPE"
  [[ "$m $r" == "GET /api/resources/"* ]] && lacking="$JOBS_ONLY"
  req 403 "$m" "$r" "$p" -H "Authorization: Bearer $lacking"
  req 415 "$m" "$r" "$p" "${auth[@]}" -H 'Content-Type: text/plain' --data 'x'
  if [[ "$m" == POST || "$m" == PUT || "$m" == PATCH ]]; then
    req 413 "$m" "$r" "$p" "${auth[@]}" "${json[@]}" --data-binary "@$tmp/big.json"
  fi
done

# ---- Methods a path does not have
req 405 DELETE /api/jobs /api/jobs "${auth[@]}"
req 405 GET /api/supervisor/workers/{id}/pause "/api/supervisor/workers/$W1/pause" "${auth[@]}"

write_capture
lines="$(wc -l <"$out")"
echo "smoke: $lines responses captured in $out"

# ---- The capture against the document
if ! node "$root/tests/contract/validate.mjs" --quiet "$out"; then
  fail "the capture does not match api/openapi.yaml"
fi

# ---- The validator must catch a wrong field (one added to a worker, a misspelt status), a
# request body the daemon took but the document refuses, a refused request the document
# would take, and a JSON body that was not UTF-8.
node -e '
  const fs = require("fs");
  const [src, dst] = process.argv.slice(1);
  const recs = fs.readFileSync(src, "utf8").trim().split("\n").map(JSON.parse);
  const w = recs.find((r) => r.route === "/api/supervisor/workers/{id}" && r.status === 200);
  const j = recs.find((r) => r.route === "/api/jobs" && r.method === "GET" && r.status === 200);
  const a = recs.find((r) => r.route === "/api/resources/allocate" && r.status === 201);
  const x = recs.find((r) => r.route === "/api/resources/release" && r.request_invalid);
  const e = recs.find((r) => r.route === "/api/jobs/{id}" && r.status === 404);
  const wb = JSON.parse(w.body); wb.surprise = 1;
  const jb = JSON.parse(j.body); jb.jobs[0].status = "DONE";
  const ab = JSON.parse(a.request_body); ab.depth = 6;  // taken by the daemon, refused by the document
  const bad = [
    {...w, body: JSON.stringify(wb)},
    {...j, body: JSON.stringify(jb)},
    {...a, request_body: JSON.stringify(ab)},
    // A refused request whose body the document would take.
    {...x, request_body: JSON.stringify({job_id: JSON.parse(a.request_body).job_id})},
    // An error body that was not UTF-8 on the wire.
    {...e, body_valid_utf8: false},
  ];
  fs.writeFileSync(dst, bad.map((r) => JSON.stringify(r)).join("\n") + "\n");
' "$out" "$tmp/mutated.jsonl"
if node "$root/tests/contract/validate.mjs" --quiet "$tmp/mutated.jsonl" >"$tmp/mutated.out"; then
  fail "the validator accepted a capture with an undocumented field"
elif ! grep -q '^0 passed, 5 failed$' "$tmp/mutated.out"; then
  fail "the validator did not reject all five mutated records: $(tail -1 "$tmp/mutated.out")"
fi

if ((failures > 0)); then
  echo "smoke: $failures failure(s)" >&2
  exit 1
fi
echo "smoke: all checks passed"
