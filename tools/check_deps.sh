#!/usr/bin/env bash
# Rejects includes that point the wrong way (STYLE.md "Layout").
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A ALLOWED=(
  [common]="common"
  [core]="common core"
  [store]="common core store"
  [proc]="common proc"
  [service]="common core store proc service"
  [auth]="common auth"
  [http]="common http"
  [api]="common core http auth service api"
  [cli]="common cli"
  [app]="common core store proc service auth http api cli app"
  [exec_helper]=""  # overseer-exec: a standalone static program, system headers only
  [boostlib]=""     # Asio/Beast/JSON/URL compiled once: Boost headers only
)
bad=0
# A module missing from the table would go unchecked: every directory of src/ must be in it.
for dir in src/*/; do
  mod=$(basename "$dir")
  if [[ -z ${ALLOWED[$mod]+set} ]]; then
    echo "check_deps: src/$mod is not in tools/check_deps.sh's table (STYLE.md \"Layout\")"; bad=1
  fi
done
# Includes name a module from src/ ("core/types.h"), never a relative path out of their own.
if grep -rnE '^#include "\.\./' src; then
  echo "check_deps: include through ../ (write \"module/file.h\")"; bad=1
fi
for mod in "${!ALLOWED[@]}"; do
  [[ -d src/$mod ]] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<<"$line")
    if [[ " ${ALLOWED[$mod]} " != *" $inc "* ]]; then
      echo "check_deps: $file includes $inc/ (src/$mod may use: ${ALLOWED[$mod]})"
      bad=1
    fi
  done < <(grep -rHE '^#include "[a-z_]+/' "src/$mod" || true)
done
# Only app names concrete store backends.
if grep -rlE '#include "store/(sqlite|postgres)/' src --include='*.h' --include='*.cc' | grep -v '^src/app/' | grep -v '^src/store/' ; then
  echo "check_deps: only src/app may include a concrete store backend"; bad=1
fi
if ((bad)); then exit 1; fi
echo "check_deps: ok"
