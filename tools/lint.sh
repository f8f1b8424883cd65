#!/usr/bin/env bash
# tools/lint.sh (make lint): clang-tidy 14 with the repo's .clang-tidy (STYLE.md "Tooling") over
# every translation unit of src/ and bench/, using the ci build's compile_commands.json
# (configured here if missing: `cmake --preset ci`; nothing is compiled). Headers are checked
# through the files that include them, and only those under src/ (never Boost, system or gtest).
# Prints each finding once and exits 1 if there is any.
#
#   tools/lint.sh [-j N] [FILE...]     N parallel clang-tidy processes (default 2, or LINT_JOBS)
#
# Not part of `make test` (it costs CI minutes); CI and the pre-commit hook may run it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TIDY=${CLANG_TIDY:-/usr/bin/clang-tidy-14}
JOBS=${LINT_JOBS:-2}
if [[ ${1:-} == -j ]]; then JOBS=$2; shift 2; elif [[ ${1:-} == -j* ]]; then JOBS=${1#-j}; shift; fi
BUILD=build/ci
[[ -x "$TIDY" ]] || { echo "lint: $TIDY missing (apt-get install clang-tidy-14)"; exit 1; }
if [[ ! -f $BUILD/compile_commands.json ]]; then
  echo "lint: configuring $BUILD for its compile_commands.json"
  cmake --preset ci >/dev/null
fi

if (($#)); then
  FILES=("$@")
else
  # Our translation units: src/ (less the Boost implementation unit) and bench/. Generated
  # files (build/) and tests are not linted: GoogleTest macros trip bugprone-* on every TEST.
  mapfile -t FILES < <(git ls-files 'src/*.cc' 'bench/*.cc' | grep -v '^src/boostlib/')
fi

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "lint: clang-tidy-14 on ${#FILES[@]} files, $JOBS at a time"
start=$SECONDS
# GCC-only flags in the compile database (-fprofile-update, -Wno-mismatched-new-delete) are
# unknown to clang: they must not become findings. -Wno-error: the compiler's own warnings are
# GCC's business (see .clang-tidy); under the build's -Werror clang would report them as errors.
# shellcheck disable=SC2016 # expanded by sh -c
printf '%s\n' "${FILES[@]}" | xargs -P "$JOBS" -I{} sh -c '
  f=$1; out=$2/$(printf %s "$f" | tr / _).log
  "$3" -p "$4" --quiet --header-filter="^$5/src/" \
    --extra-arg=-Wno-unknown-warning-option --extra-arg=-Wno-unused-command-line-argument \
    --extra-arg=-Wno-error \
    "$f" > "$out" 2>&1 || echo "$f" >> "$2/failed"
' _ {} "$OUT" "$TIDY" "$BUILD" "$ROOT"

# A header included by several files is reported once per file: keep each finding once.
cat "$OUT"/*.log | grep -E '^/.*:[0-9]+:[0-9]+: (warning|error):' | sed "s|^$ROOT/||" | sort -u > "$OUT/findings" || true
n=$(wc -l < "$OUT/findings")
if ((n)); then
  # Each finding with its source line and caret, as clang-tidy printed it (first occurrence).
  while IFS= read -r line; do
    grep -h -m1 -A2 -F "$ROOT/$line" "$OUT"/*.log | head -n 3 | sed "s|^$ROOT/||"
  done < "$OUT/findings"
  echo
  echo "lint: $n findings ($((SECONDS - start)) s):"
  sed -E 's/^([^:]+:[0-9]+):[0-9]+: [a-z]+: .*\[([^],]+)(,-warnings-as-errors)?\]$/  \1 \2/' "$OUT/findings"
  exit 1
fi
if [[ -f $OUT/failed ]]; then  # clang-tidy failed without a finding (e.g. a file it cannot parse)
  echo "lint: clang-tidy failed on:"; sed 's/^/  /' "$OUT/failed"; cat "$OUT"/*.log; exit 1
fi
echo "lint: clean ($((SECONDS - start)) s)"
