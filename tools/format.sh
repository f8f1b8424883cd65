#!/usr/bin/env bash
# tools/format.sh (make format): clang-format 14 with the repo's .clang-format on every C++ file
# of src/, tests/ and bench/ that git knows.
#   tools/format.sh            rewrites the files in place
#   tools/format.sh --check    changes nothing; lists the files that are not formatted, exits 1 if any
#   tools/format.sh [--check] FILE...   only those files
set -euo pipefail
cd "$(dirname "$0")/.."
FMT=${CLANG_FORMAT:-clang-format-14}
command -v "$FMT" >/dev/null || { echo "format: $FMT missing (apt-get install clang-format-14)"; exit 1; }
CHECK=0
if [[ ${1:-} == --check ]]; then CHECK=1; shift; fi
if (($#)); then
  FILES=("$@")
else
  mapfile -t FILES < <(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc' 'bench/*.h')
fi
((${#FILES[@]})) || exit 0
if ((CHECK)); then
  bad=()
  for f in "${FILES[@]}"; do
    "$FMT" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if ((${#bad[@]})); then
    echo "format: not clang-formatted (run tools/format.sh):"; printf '  %s\n' "${bad[@]}"; exit 1
  fi
  echo "format: ok (${#FILES[@]} files)"
else
  "$FMT" -i "${FILES[@]}"
fi
