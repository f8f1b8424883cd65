#!/usr/bin/env bash
# bench/compare.sh OLD NEW [ROUNDS]: runs bench/api against two overseer binaries alternately
# (old, new, old, new, ...; ROUNDS rounds, default 3, same settings, same submit client) and prints,
# per figure, the median of each side over the rounds with its range, the ratio new / old (of the
# medians, and round by round), the target, the spread of each side between its own rounds, and a
# verdict: "noise" when the two sides' ranges overlap (the binaries differ by no more than one
# binary differs from itself between rounds), else better / WORSE (for the new binary).
# The load average (uptime) is recorded before and after every run and printed.
#
#   bench/compare.sh /tmp/old/build/release/overseer build/release/overseer 3
#
# BENCH_SECONDS (default here 5) and BENCH_RUNS (default 3) are passed to every bench/api run.
# OVERSEER_BENCH_CLIENT: the submit client for both sides (default: the one beside NEW), so that
# a change of the client is not counted as a change of the daemon. COMPARE_DIR: where each run's
# output is kept (default: a new directory under /tmp, printed at the end).
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: bench/compare.sh OLD_BINARY NEW_BINARY [ROUNDS]"; exit 2; }
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROUNDS=${3:-3}
for b in "$OLD" "$NEW"; do
  [[ -x "$b" ]] || { echo "compare: $b is not an executable"; exit 1; }
done
export OVERSEER_BENCH_CLIENT=${OVERSEER_BENCH_CLIENT:-$(dirname "$NEW")/overseer-bench-submit}
OVERSEER_BENCH_CLIENT=$(realpath "$OVERSEER_BENCH_CLIENT")
export BENCH_SECONDS=${BENCH_SECONDS:-5} BENCH_RUNS=${BENCH_RUNS:-3}
DIR=${COMPARE_DIR:-$(mktemp -d /tmp/overseer-compare.XXXXXX)}
mkdir -p "$DIR"
API="$(dirname "$0")/api"
load() { awk '{print $1, $2, $3}' /proc/loadavg; }

echo "compare: old $OLD"
echo "         new $NEW"
echo "         client $OVERSEER_BENCH_CLIENT"
echo "         $ROUNDS rounds, BENCH_SECONDS=$BENCH_SECONDS BENCH_RUNS=$BENCH_RUNS"
echo "         $(nproc) cores; each run's output in $DIR"
: > "$DIR/loads"
for r in $(seq 1 "$ROUNDS"); do
  for side in old new; do
    bin=$OLD; [[ $side == new ]] && bin=$NEW
    before=$(load)
    start=$(date -u +%H:%M:%S)
    OVERSEER_BENCH_TSV="$DIR/$side.$r.tsv" "$API" "$bin" > "$DIR/$side.$r.out" 2>&1 ||
      { echo "compare: bench/api failed on $side (round $r):"; cat "$DIR/$side.$r.out"; exit 1; }
    after=$(load)
    printf '  round %d %-3s %s–%s UTC  load before %-16s after %s\n' "$r" "$side" "$start" \
      "$(date -u +%H:%M:%S)" "$before" "$after" | tee -a "$DIR/loads"
  done
done

python3 - "$DIR" "$ROUNDS" <<'PY'
import re, statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
# figure -> {"old": [values], "new": [values]}, its unit and target, in bench/api's order.
figs, order = {}, []
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}  # times in ms
def parse(v):
    """The figure's median (the first number of the value), times in ms; (number, unit)."""
    m = re.match(r"\s*([0-9.]+)\s*(us|ms|s|MB|x)?", v)
    x, u = float(m.group(1)), m.group(2) or ""
    if u in UNIT:
        return x * UNIT[u], "ms"
    return x, u
for side in ("old", "new"):
    for r in range(1, rounds + 1):
        for line in open(f"{d}/{side}.{r}.tsv"):
            name, value, target = line.rstrip("\n").split("\t")
            parts = [(name, value)]
            if " / " in value:  # "p50 / p99" in one row
                a, b = name.rsplit(": ", 1)[0], value.split(" / ")
                parts = [(a + ": p50", b[0]), (a + ": p99", b[1])]
            for n, v in parts:
                x, unit = parse(v)
                f = figs.setdefault(n, {"old": [], "new": [], "unit": unit, "target": target})
                if n not in order:
                    order.append(n)
                f[side].append(x)
                if side == "new":
                    f["target"] = target
def higher_is_better(name):
    return "requests/s" in name
def cell(v, m, unit):
    """median [min-max] in one unit: s or ms for times, MB, x, or none for rates."""
    if unit == "ms":
        sc, u, p = (1e3, "s", 3) if m >= 1000 else (1.0, "ms", 2)
    else:
        sc, u, p = 1.0, unit, (2 if unit == "x" else 0)
    n = lambda x: "%.*f" % (p, x / sc)
    return ("%s %s" % (n(m), u)).strip() + " [%s-%s]" % (n(min(v)), n(max(v)))
print()
print("per figure: median of the %d rounds [min-max]; ratio: new/old of the medians;" % rounds,
      "paired: the")
print("median [min-max] of the per-round ratios (round r's new run / its old run, minutes apart);")
print("spread: the larger of the two sides' (max - min) / median, to set beside the ratio")
print("  %-50s %-24s %-24s %5s %-16s %6s  %-7s %s" % ("figure", "old", "new", "ratio", "paired",
                                                     "spread", "verdict", "target"))
for n in order:
    f = figs[n]
    o, w, u = f["old"], f["new"], f["unit"]
    mo, mw = statistics.median(o), statistics.median(w)
    ratio = mw / mo if mo else float("nan")
    spread = max((max(v) - min(v)) / m if m else 0.0 for v, m in ((o, mo), (w, mw)))
    if rounds < 2:
        verdict = "-"  # one round has no spread to judge by
    elif max(o) >= min(w) and max(w) >= min(o):
        verdict = "noise"
    else:
        better = (mw > mo) == higher_is_better(n)
        verdict = "better" if better else "WORSE"
    pr = [b / a for a, b in zip(o, w) if a]
    paired = "%.2f [%.2f-%.2f]" % (statistics.median(pr), min(pr), max(pr)) if pr else "-"
    print("  %-50s %-24s %-24s %5.2f %-16s %5.0f%%  %-7s %s" % (
        n[:50], cell(o, mo, u), cell(w, mw, u), ratio, paired, 100 * spread, verdict, f["target"]))
PY
echo
echo "loads (1, 5, 15 min) before and after each run:"
cat "$DIR/loads"
echo "raw outputs: $DIR"
