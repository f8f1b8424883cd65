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
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#PACKAGES[@]} Debian packages present"
  exit 0
fi

echo "deps: installing ${#missing[@]} Debian packages: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
  | grep -E "^(Setting up|Unpacking)" | sed 's/^/deps:   /' || true
echo "deps: done"
