#!/usr/bin/env bash
# examples/budget_tree.sh: a worked example of subtree budgets (SPEC §11, issue #11): a manager
# claude agent under a $5 budget spawns three claude sub-agents under its own job; together they
# spend the $5, the daemon pauses the whole tree (BUDGET_EXHAUSTED), the budget is raised to $8
# and the tree finishes. Prints the tree, each job's spend and budget left, and each agent's
# tokens and cost at the pause and at the end. examples/budget_tree.md shows a captured run.
#
#   examples/budget_tree.sh            (OVERSEER_BIN=path/to/overseer to pick the binary)
#
# Fully offline: the real `claude` CLI (node_modules/.bin/claude, pinned; `make deps`) talks to
# the scripted fake Messages API tests/fakes/fake_anthropic.js on 127.0.0.1, which plays
# examples/budget_tree.fake.json (each agent's prompt carries its route's marker). The token
# figures are the script's, made up; the dollars are what claude's own price table makes of them
# (the fake answers as the model claude asks for: claude-opus-4-8 by default, $5/M input, $25/M
# output, $0.50/M cache read), and what the daemon charges as they stream.
#
# Needs: a built overseer (build/release or build/ci; `make build-ci` or a release build), node,
# curl. The daemon, the fake and every agent live in a temp dir removed at exit
# (BUDGET_TREE_KEEP=1 keeps it: the daemon's state, the agents' HOME, the fake's request log).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=$PWD

BIN=${OVERSEER_BIN:-}
if [[ -z "$BIN" ]]; then
  for b in build/release/overseer build/ci/overseer build/debug/overseer; do
    [[ -x "$b" ]] && { BIN=$ROOT_DIR/$b; break; }
  done
fi
if [[ -z "$BIN" || ! -x "$BIN" ]]; then
  echo "budget_tree: no overseer binary (make build-ci or a release build; or set OVERSEER_BIN)" >&2
  exit 1
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
CLAUDE=${CLAUDE_BIN:-$ROOT_DIR/node_modules/.bin/claude}
[[ -x "$CLAUDE" ]] || { echo "budget_tree: $CLAUDE missing (make deps installs it)" >&2; exit 1; }
command -v node >/dev/null || { echo "budget_tree: node is required (it runs the fake model)" >&2; exit 1; }
command -v curl >/dev/null || { echo "budget_tree: curl is required" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/budget-tree-XXXXXX")
DAEMON=""
FAKE=""
cleanup() {
  [[ -n "$DAEMON" ]] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  [[ -n "$FAKE" ]] && kill "$FAKE" 2>/dev/null && wait "$FAKE" 2>/dev/null
  if [[ -n "${BUDGET_TREE_KEEP:-}" ]]; then echo "budget_tree: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
mkdir -p "$TMP/home" "$TMP/work"

if [[ -t 1 ]]; then
  say() { printf '\n\033[1m## %s\033[0m\n' "$*"; }
else
  say() { printf '\n## %s\n' "$*"; }
fi
run() {  # prints the command (the binary as `overseer`), then runs it
  local shown=("$@")
  [[ "$1" == "$BIN" ]] && shown[0]=overseer
  printf '$ %s\n' "${shown[*]}"
  "$@"
}

# 1. The fake model: prints PORT=<n> first.
node tests/fakes/fake_anthropic.js examples/budget_tree.fake.json --port 0 \
  --log "$TMP/fake-requests.jsonl" > "$TMP/fake.out" 2> "$TMP/fake.err" &
FAKE=$!
PORT=""
for _ in $(seq 1 200); do
  PORT=$(sed -n 's/^PORT=//p' "$TMP/fake.out")
  [[ -n "$PORT" ]] && break
  sleep 0.05
done
[[ -n "$PORT" ]] || { echo "budget_tree: the fake model did not start" >&2; cat "$TMP/fake.err" >&2; exit 1; }

# 2. The daemon, in a clean environment: claude workers get ANTHROPIC_* (agent credentials go
# only to the agent runtimes' workers); the switches that keep claude off the network go to
# every worker; HOME is the agents' (claude writes ~50 KB there per run).
head -c 48 /dev/urandom | base64 | tr -d '\n' > "$TMP/jwt-secret"
export OVERSEER_JWT_SECRET_FILE=$TMP/jwt-secret
(cd "$TMP/work" && exec env -i PATH="$PATH" HOME="$TMP/home" LANG=C.UTF-8 \
  OVERSEER_JWT_SECRET_FILE="$TMP/jwt-secret" \
  ANTHROPIC_BASE_URL="http://127.0.0.1:$PORT" ANTHROPIC_API_KEY=sk-ant-fake-key \
  DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1 \
  CLAUDE_CODE_MAX_RETRIES=1 ${GCOV_PREFIX:+GCOV_PREFIX="$GCOV_PREFIX"} \
  "$BIN" serve --listen 127.0.0.1:0 --state-dir "$TMP/state" --no-access-log --log-level warn \
  --claude-bin "$CLAUDE") > "$TMP/daemon.out" 2> "$TMP/daemon.err" &
DAEMON=$!
URL=""
for _ in $(seq 1 300); do
  URL=$(sed -n 's/^overseer listening on //p' "$TMP/daemon.out")
  [[ -n "$URL" ]] && break
  kill -0 "$DAEMON" 2>/dev/null || break
  sleep 0.05
done
[[ -n "$URL" ]] || { echo "budget_tree: the daemon did not start" >&2; cat "$TMP/daemon.err" >&2; exit 1; }
export OVERSEER_URL=$URL
OVERSEER_TOKEN=$("$BIN" token create --sub budget-example --workspace default \
  --scopes jobs:read,jobs:write,supervisor:read,supervisor:write --ttl 1h)
export OVERSEER_TOKEN

api() {  # METHOD PATH [BODY]: the answer's body, then its status on a last line of its own
  curl -sS --noproxy '*' -X "$1" "$URL$2" -H "Authorization: Bearer $OVERSEER_TOKEN" \
    ${3:+-H 'Content-Type: application/json' --data-binary "$3"} -w '\n%{http_code}\n'
}
jget() {  # EXPR: evaluates EXPR (JavaScript, `j` = the JSON on stdin) and prints it
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);
    const v=('"$1"');process.stdout.write(v===undefined||v===null?"":String(v))})'
}

# The tree with its figures: each job's status, budget, subtree spend and what is left, then
# each of its agents' tokens and cost. Reads GET /api/jobs/{id}/tree for the shape, GET
# /api/jobs/{id} of each job (live usage, budget_left, its workers) and GET
# /api/supervisor/workers/{id} of each worker (its `agent`: turns, tokens, cost).
report() {
  node - "$URL" "$OVERSEER_TOKEN" "$1" <<'JS'
const [url, token, root] = process.argv.slice(2);
const get = async (p) => {
  const r = await fetch(url + p, {headers: {Authorization: 'Bearer ' + token}});
  if (!r.ok) throw new Error(`GET ${p}: ${r.status} ${await r.text()}`);
  return r.json();
};
const usd = (v) => (v === undefined || v === null ? '-'
  : (v < 0 ? '-$' : '$') + Math.abs(Number(v)).toFixed(4));
const int = (v) => (v === undefined || v === null ? '-' : Number(v).toLocaleString('en-US'));
(async () => {
  const tree = await get(`/api/jobs/${root}/tree`);
  const rows = [];
  const walk = async (node, prefix, last, top) => {
    const j = await get(`/api/jobs/${node.id}`);
    const branch = top ? '' : prefix + (last ? '└─ ' : '├─ ');
    const status = j.status + (j.halted ? ` (halted by ${j.halted.by})` : '');
    const left = j.budget_left ? usd(j.budget_left.usd) + (j.budget ? '' : ' (shared)') : '-';
    rows.push([branch + j.name, j.id, status, j.budget ? usd(j.budget.usd) : '-',
               usd(j.usage && j.usage.usd), left, int(j.usage && j.usage.tokens)]);
    const kids = node.children || [];
    const inner = top ? '' : prefix + (last ? '   ' : '│  ');
    for (const jw of j.workers || []) {
      // The worker's own answer: its agent record as the stream has told it so far.
      const w = await get(`/api/supervisor/workers/${jw.id}`);
      const a = w.agent || {};
      const st = w.status + (w.status_reason ? ` ${w.status_reason}` : '');
      rows.push([inner + (kids.length ? '│  ' : '   ') + 'agent', w.id, st, '',
                 usd(a.cost_usd) + (a.cost_estimated ? '~' : ''), '',
                 `${a.turns ?? '-'} turns: ${int(a.input_tokens)} in + ` +
                 `${int(a.cache_read_tokens)} cache read + ${int(a.output_tokens)} out`]);
    }
    for (let i = 0; i < kids.length; i++) await walk(kids[i], inner, i === kids.length - 1, false);
  };
  await walk(tree, '', true, true);
  const head = ['JOB / AGENT', 'ID', 'STATUS', 'BUDGET', 'SPENT', 'LEFT', 'TOKENS'];
  const all = [head, ...rows];
  const width = head.map((_, c) => Math.max(...all.map((r) => [...r[c]].length)));
  for (const r of all) {
    console.log(r.map((cell, c) => cell + ' '.repeat(width[c] - [...cell].length)).join('  ').trimEnd());
  }
})().catch((e) => { console.error('budget_tree: ' + e.message); process.exit(1); });
JS
}

say "overseer: $BIN; claude $("$CLAUDE" --version 2>/dev/null | head -n 1); fake Messages API on 127.0.0.1:$PORT"

# 3. The manager: a claude agent with a $5 budget for its whole subtree.
say "Submit the manager: a claude agent, budget \$5 for its whole tree"
BODY='{"name":"manager","task":{"runtime":"claude","prompt":"[manager] Review the build logs: split them in three parts and run one claude sub-agent per part under your own job, wait for them, then report.","allowed_tools":["Bash"],"max_turns":10},"budget":{"usd":5}}'
echo "POST /api/jobs $BODY"
OUT=$(api POST /api/jobs "$BODY")
[[ $(tail -n 1 <<< "$OUT") == 201 ]] || { echo "budget_tree: $OUT" >&2; exit 1; }
JOB=$(sed '$d' <<< "$OUT" | jget 'j.id')
echo "-> 201 $JOB"

# A child's budget is reserved from what its parent's has left: $6 does not fit in $5.
BODY='{"name":"too-big","parent_job_id":"'$JOB'","task":{"runtime":"command","command":["true"]},"budget":{"usd":6}}'
echo
echo "POST /api/jobs $BODY"
api POST /api/jobs "$BODY" | sed '$!s/^/-> /;$s/^/-> HTTP /'

# 4. Wait for the budget to be spent: the job is halted by the budget.
say "Wait until the tree has spent its budget"
for _ in $(seq 1 600); do
  J=$(api GET "/api/jobs/$JOB" | sed '$d')
  [[ $(jget 'j.halted ? j.halted.by : ""' <<< "$J") == budget ]] && break
  case $(jget 'j.status' <<< "$J") in COMPLETED | FAILED | CANCELED)
    echo "budget_tree: the job ended before its budget was spent" >&2; report "$JOB"; exit 1 ;;
  esac
  sleep 0.5
done
[[ $(jget 'j.halted ? j.halted.by : ""' <<< "$J") == budget ]] || { echo "budget_tree: no budget halt after 5 min" >&2; exit 1; }
sleep 1.5  # the tree's stored usage is written within a second of changing
run "$BIN" jobs show "$JOB"
echo
run "$BIN" jobs tree "$JOB"
echo
echo "The tree's figures (GET /api/jobs/{id} of each job; ~ = estimated by the daemon's price table while the agent runs):"
report "$JOB"

M=$(api GET "/api/jobs/$JOB" | sed '$d' | jget 'j.workers[0].id')
echo
run "$BIN" workers transcript "$M"
W1_JOB=$(api GET "/api/jobs/$JOB" | sed '$d' | jget 'j.children[0]')
W1=$(api GET "/api/jobs/$W1_JOB" | sed '$d' | jget 'j.workers[0].id')
echo
run "$BIN" workers ls --job "$W1_JOB"
echo
run "$BIN" workers transcript "$W1" --tail 3

say "While it is spent, nothing new starts in the tree"
BODY='{"name":"one-more","parent_job_id":"'$JOB'","task":{"runtime":"command","command":["true"]}}'
echo "POST /api/jobs $BODY"
api POST /api/jobs "$BODY" | sed '$!s/^/-> /;$s/^/-> HTTP /'

# 5. Raise the budget: the tree resumes and finishes.
say "Raise the budget to \$8: the tree resumes"
run "$BIN" jobs budget "$JOB" --budget-usd 8
echo
run "$BIN" jobs wait "$JOB" --timeout 300 || true
sleep 1.5
echo
run "$BIN" jobs tree "$JOB"
echo
report "$JOB"
echo
run "$BIN" workers transcript "$M" --tail 3

say "What the fake model served"
# shellcheck disable=SC2016 # JavaScript, not shell
node -e 'const fs=require("fs");const n={};for(const l of fs.readFileSync(process.argv[1],"utf8").split("\n")){
  if(!l)continue;const r=JSON.parse(l);if(r.method!=="POST")continue;const k=(r.route??"top")+" "+r.model;n[k]=(n[k]||0)+1}
  const names=["manager","worker-1","worker-2","worker-3"];
  for(const [k,v] of Object.entries(n).sort()){const [r,m]=k.split(" ");console.log(`${names[r]??r}: ${v} requests (model ${m})`)}' \
  "$TMP/fake-requests.jsonl"
