#!/usr/bin/env bash
# Lints the OpenAPI document with Spectral (ruleset .spectral.yaml: spectral:oas).
# Fails on any error; warnings are printed. Needs node_modules (npm ci).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
spectral="$root/node_modules/.bin/spectral"
if [[ ! -x "$spectral" ]]; then
  echo "lint: $spectral not found; run 'npm ci' in $root" >&2
  exit 2
fi
cd "$root"
"$spectral" lint --ruleset .spectral.yaml --fail-severity error api/openapi.yaml
