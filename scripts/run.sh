#!/usr/bin/env bash
# make run: starts the daemon on $1 with SQLite under $2, after printing a token.
set -euo pipefail
LISTEN="$1"
STATE_DIR="$2"
BIN=build/release/overseer
mkdir -p "$STATE_DIR"
chmod 700 "$STATE_DIR"
SECRET_FILE="$STATE_DIR/jwt-secret"
if [[ ! -s "$SECRET_FILE" ]]; then
  echo "run: generating a JWT secret in $SECRET_FILE"
  (umask 077; head -c 48 /dev/urandom | base64 | tr -d '\n=' > "$SECRET_FILE")
fi
export OVERSEER_JWT_SECRET_FILE="$SECRET_FILE"
TOKEN=$("$BIN" token create --sub operator --workspace default \
  --scopes supervisor:read,supervisor:write,jobs:read,jobs:write,resources:read,resources:write,resources:admin,supervisor:admin \
  --ttl 24h)
cat <<MSG

  overseer is starting on http://$LISTEN  (state: $STATE_DIR, SQLite)

  Token (workspace "default", all scopes, valid 24 h):
    export OVERSEER_TOKEN=$TOKEN
    export OVERSEER_URL=http://$LISTEN

  Try:
    curl -s -X POST http://$LISTEN/api/jobs -H "Authorization: Bearer \$OVERSEER_TOKEN" \\
         -H 'Content-Type: application/json' \\
         -d '{"name":"hello","task":{"runtime":"command","command":["sleep","60"]}}'
    curl -s http://$LISTEN/api/supervisor/workers -H "Authorization: Bearer \$OVERSEER_TOKEN"

  API docs: http://$LISTEN/docs   OpenAPI: http://$LISTEN/openapi.json   Health: http://$LISTEN/healthz
  Stop with Ctrl-C.

MSG
exec "$BIN" serve --listen "$LISTEN" --state-dir "$STATE_DIR"
