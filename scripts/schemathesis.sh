#!/usr/bin/env bash
# Part of `just test`: schemathesis (from PyPI) generates requests from
# docs/openapi.json and runs them against a real `hub-cli serve` on a local
# anvil, checking that no request gets a server error and that every answer
# matches the document (status codes, content types, bodies).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${COLDSIGN_TOOLS:-$root/.tools}
work=$(mktemp -d)
hub=${CARGO_TARGET_DIR:-$root/target}/debug/hub-cli
cargo build --locked --quiet -p coldsign-hub
export HUB_OPERATOR=schemathesis
export HUB_DATABASE_URL=$work/hub.db
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
node_port=$(free_port)
"$tools/bin/anvil" --host 127.0.0.1 --port "$node_port" --silent > "$work/anvil.log" 2>&1 &
anvil_pid=$!
serve_pid=
cleanup() {
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
    kill "$anvil_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
"$hub" migrate > /dev/null
for _ in $(seq 100); do
    "$hub" chain add local --chain-id 31337 --rpc "http://127.0.0.1:$node_port" --confirmations 1 > /dev/null 2>&1 && break
    sleep 0.1
done
key=$("$hub" apikey create --tenant fuzz --scope orders:write,orders:read,batches:operate --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["key"])')
port=$(free_port)
HUB_LOG=error "$hub" serve --listen "127.0.0.1:$port" > "$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && break
    sleep 0.1
done
cd "$work" # schemathesis keeps its cache in the current directory
"$tools/venv/bin/schemathesis" run "$root/docs/openapi.json" \
    --url "http://127.0.0.1:$port" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples 25 --seed 1 --workers 1 \
    "$@"
