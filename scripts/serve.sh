#!/usr/bin/env bash
# `just serve`: `hub-cli serve` against a local anvil demo chain, with an API
# key for a demo tenant, until Ctrl-C.
#
# Everything it writes stays under .demo/serve/ (git-ignored); the node and
# the service are stopped on exit. The API key it prints is for this local
# demo only.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${COLDSIGN_TOOLS:-$root/.tools}
work=$root/.demo/serve
anvil=$tools/bin/anvil
[ -x "$anvil" ] || { echo "serve: anvil missing: run \`just tools\`" >&2; exit 2; }
listen=${HUB_LISTEN:-127.0.0.1:8080}

cargo build --locked --quiet -p coldsign-hub
hub=${CARGO_TARGET_DIR:-$root/target}/debug/hub-cli
export HUB_OPERATOR="${HUB_OPERATOR:-demo}"
export HUB_DATABASE_URL=$work/hub.db
rm -rf "$work"
mkdir -p "$work"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$anvil" --host 127.0.0.1 --port "$port" --block-time 1 --silent > "$work/anvil.log" 2>&1 &
anvil_pid=$!
cleanup() { kill "$anvil_pid" 2>/dev/null || true; wait "$anvil_pid" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in $(seq 100); do
    "$hub" migrate >/dev/null 2>&1 || true
    "$hub" chain add local --chain-id 31337 --rpc "http://127.0.0.1:$port" --confirmations 1 >/dev/null 2>&1 && break
    sleep 0.1
done
key=$("$hub" apikey create --tenant demo --scope orders:write,orders:read,batches:operate --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["key"])')
cat <<INFO
anvil (chain "local", id 31337) at http://127.0.0.1:$port
the hub's database: $HUB_DATABASE_URL
API key of tenant "demo" (local demo only): $key

  curl -s http://$listen/readyz
  curl -s -H "Authorization: Bearer $key" http://$listen/v1/orders

Ctrl-C stops the service and the node.
INFO
"$hub" serve --listen "$listen"
