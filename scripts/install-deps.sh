#!/usr/bin/env bash
# Installs what overseer needs to build, test and benchmark, from Debian 12 packages.
# Idempotent: installs only what is missing and says what it installs.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev        # Asio, Beast, JSON, URL (1.74 has no Boost.JSON)
  libsqlite3-dev sqlite3  # embedded store
  libpq-dev postgresql    # PostgreSQL store and its test server
  libssl-dev              # JWT signatures (OpenSSL 3 EVP)
  libcli11-dev            # command line
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  gcovr                   # coverage gate in make test
  wrk                     # bench/api
  python3 python3-jwt python3-cryptography  # interop test: tokens minted by PyJWT
  procps curl
  chromium                # the Swagger UI browser test (driven by npm's playwright-core)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js + npm for the contract tooling (spectral, ajv, newman, playwright-core, swagger-ui-dist):
# many machines of this kind ship their own Node 20; else Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing_node=1
else
  missing_node=0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ((missing_node)); then missing+=(nodejs npm); fi
if ((${#missing[@]} == 0)); then
  echo "deps: all ${#PACKAGES[@]} Debian packages present"
else
  echo "deps: installing ${#missing[@]} Debian packages: ${missing[*]}"
  log=$(mktemp)
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log"; echo "deps: apt-get failed (see above)"; exit 1
  fi
  grep -E "^Setting up" "$log" | sed 's/^/deps:   /' || true
  rm -f "$log"
fi

# npm packages pinned by package-lock.json, into ./node_modules (only when the lock changed).
cd "$(dirname "$0")/.."
if [[ -f package-lock.json ]]; then
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  have=$(cat node_modules/.overseer-lock-sha256 2>/dev/null || true)
  if [[ "$want" != "$have" ]]; then
    echo "deps: installing npm packages pinned by package-lock.json (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > node_modules/.overseer-lock-sha256
  else
    echo "deps: npm packages present"
  fi
fi
echo "deps: done"
