#!/usr/bin/env bash
# make test: every suite of the ci build, then the coverage gate.
set -euo pipefail
BUILD=build/ci
bash tools/check_deps.sh
find "$BUILD" -name '*.gcda' -delete
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "test: running ctest"
ctest --test-dir "$BUILD" --output-on-failure -j 2 --timeout 300
echo "test: line coverage of src/ (gcovr, gate 85 %)"
gcovr -r . --object-directory "$BUILD" --filter 'src/' --exclude 'src/boostlib/' \
  --gcov-ignore-errors=no_working_dir_found --print-summary --fail-under-line 85 \
  -j 2 2>/dev/null | tail -3
