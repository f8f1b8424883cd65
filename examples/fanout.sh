#!/bin/sh
# examples/fanout.sh: a worker splits its work into N sub-jobs under its own job, waits for them
# and prints a summary. Copy it into an agent's toolbox: it needs sh, curl, grep and sed, and the
# variables the daemon gives every worker (OVERSEER_URL, OVERSEER_TOKEN, OVERSEER_JOB_ID).
#
#   fanout.sh [N [COMMAND ARG...]]
#
# Creates N sub-jobs (default 3) each running COMMAND (default: prints which part it is), with
# SUBJOB_INDEX (1..N) and SUBJOB_COUNT (N) in its environment so that each can pick its share of
# the work. Sub-jobs beyond the free slots of their depth wait in the daemon's queue; the wait
# below covers that too. Then waits for every sub-job (long-poll GET /api/jobs/{id}/wait), prints
# one line per sub-job and a total, and exits 0 if all COMPLETED, 1 if not, 2 on a usage or API
# error. FANOUT_TIMEOUT (seconds, default 600) bounds the whole wait.
#
# Each create carries an Idempotency-Key made of this worker's id and the part's index: if the
# worker is retried (a new attempt of the same worker) its sub-jobs are not created twice.
set -eu

: "${OVERSEER_URL:?not set: run this as an overseer worker}"
: "${OVERSEER_TOKEN:?not set: run this as an overseer worker}"
: "${OVERSEER_JOB_ID:?not set: run this as an overseer worker}"
N=${1:-3}
[ "$#" -gt 0 ] && shift
case $N in '' | *[!0-9]*) echo "fanout: N must be a number, not '$N'" >&2; exit 2 ;; esac
if [ "$#" -eq 0 ]; then
  # shellcheck disable=SC2016 # expanded by the sub-job's shell
  set -- sh -c 'echo "part $SUBJOB_INDEX of $SUBJOB_COUNT: done"'
fi
TIMEOUT=${FANOUT_TIMEOUT:-600}
# The daemon is reached directly, never through an HTTP proxy from the environment.
HOST=$(printf '%s' "$OVERSEER_URL" | sed -E 's#^[a-z]+://([^/:]+).*#\1#')

api() {  # METHOD PATH [BODY [IDEMPOTENCY-KEY]] -> the body on stdout; exit 2 unless 2xx
  out=$(curl -sS --noproxy "$HOST" -X "$1" "$OVERSEER_URL$2" \
    -H "Authorization: Bearer $OVERSEER_TOKEN" \
    ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
    ${4:+-H "Idempotency-Key: $4"} -w '\n%{http_code}') || { echo "fanout: $1 $2 failed" >&2; exit 2; }
  code=$(printf '%s' "$out" | tail -n 1)
  body=$(printf '%s' "$out" | sed '$d')
  case $code in 2??) printf '%s\n' "$body" ;; *) echo "fanout: $1 $2: $code $body" >&2; exit 2 ;; esac
}
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
field() {  # NAME: the first "NAME":"value" of the JSON on stdin (the job's own, before its workers)
  grep -o "\"$1\":\"[^\"]*\"" | head -n 1 | sed -E 's/^"[^"]*":"(.*)"$/\1/'
}

argv=""
for a in "$@"; do argv="$argv${argv:+,}$(json_str "$a")"; done

ids=""
i=1
while [ "$i" -le "$N" ]; do
  body="{\"name\":\"fanout-$i-of-$N\",\"parent_job_id\":\"$OVERSEER_JOB_ID\",\
\"task\":{\"runtime\":\"command\",\"command\":[$argv],\
\"env\":{\"SUBJOB_INDEX\":\"$i\",\"SUBJOB_COUNT\":\"$N\"}}}"
  job=$(api POST /api/jobs "$body" "${OVERSEER_WORKER_ID:-$OVERSEER_JOB_ID}-fanout-$i")
  id=$(printf '%s' "$job" | field id)
  [ -n "$id" ] || { echo "fanout: no job id in $job" >&2; exit 2; }
  echo "fanout: created $id (part $i of $N)"
  ids="$ids $id"
  i=$((i + 1))
done

deadline=$(($(date +%s) + TIMEOUT))
completed=0
failed=0
for id in $ids; do
  while :; do
    left=$((deadline - $(date +%s)))
    [ "$left" -gt 0 ] || { echo "fanout: timed out waiting for $id" >&2; exit 1; }
    [ "$left" -gt 60 ] && left=60
    job=$(api GET "/api/jobs/$id/wait?timeout_seconds=$left")
    status=$(printf '%s' "$job" | field status)
    case $status in COMPLETED | FAILED | CANCELED) break ;; esac
  done
  echo "fanout: $id $status"
  if [ "$status" = COMPLETED ]; then completed=$((completed + 1)); else failed=$((failed + 1)); fi
done
echo "fanout: $N sub-jobs: $completed COMPLETED, $failed FAILED or CANCELED"
[ "$failed" -eq 0 ]
