#!/usr/bin/env bash
# `just demo`: the whole coldsign payout runbook on a local anvil chain.
#
# Everything it writes stays under .demo/ (git-ignored). The node it starts is
# stopped on exit, on failure and on Ctrl-C. It can be run again at once.
#
# The mnemonic below is the public BIP39 test mnemonic: it is an INSECURE DEMO
# KEY, known to everyone. Never send real funds to its addresses.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${COLDSIGN_TOOLS:-$root/.tools}
work=$root/.demo
anvil=$tools/bin/anvil
cast=$tools/bin/cast
[ -x "$anvil" ] && [ -x "$cast" ] || { echo "demo: anvil/cast missing: run \`just tools\`" >&2; exit 2; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "building signer and hub-cli"
cargo build --locked --quiet -p coldsign-signer -p coldsign-hub
signer=$root/target/debug/signer
export HUB_OPERATOR="${HUB_OPERATOR:-demo}"
hub=$root/target/debug/hub-cli

rm -rf "$work"
mkdir -p "$work/usb"

step "starting anvil on a free loopback port"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rpc=http://127.0.0.1:$port
"$anvil" --host 127.0.0.1 --port "$port" --block-time 1 --silent > "$work/anvil.log" 2>&1 &
anvil_pid=$!
cleanup() { kill "$anvil_pid" 2>/dev/null || true; wait "$anvil_pid" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in $(seq 100); do
    "$cast" chain-id --rpc-url "$rpc" >/dev/null 2>&1 && break
    sleep 0.1
done
chain_id=$("$cast" chain-id --rpc-url "$rpc")
echo "anvil at $rpc, chain id $chain_id"

# anvil's first development account: a PUBLIC, INSECURE key that anvil funds
# on every start. It plays the exchange's funding wallet here.
funder_key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80

step "deploying a test ERC-20 token (TUSD, 6 decimals)"
token=$("$cast" send --rpc-url "$rpc" --private-key "$funder_key" --json \
    --create "0x$(cat "$root/fixtures/erc20/TestToken.bin")" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["contractAddress"])')
echo "token at $token"

step "signer (air-gapped side): creating the keystore from the public demo mnemonic"
export SIGNER_KEYSTORE=$work/signer/keystore.json
printf '%s\n' "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about" > "$work/demo-mnemonic.txt"
printf '%s\n' "demo password, not a secret" > "$work/demo-password.txt"
"$signer" init --mnemonic-file "$work/demo-mnemonic.txt" --password-file "$work/demo-password.txt"
rm "$work/demo-mnemonic.txt"

step "signer: installing the signing policy beside the keystore (sign refuses to run without one)"
{
    echo "allowed_chain_ids = [$chain_id]"
    echo 'allowed_accounts = [0]'
    echo 'native_symbol = "ETH"'
    echo 'max_fee_per_gas_gwei = "500"'
    echo 'max_total_fee = "1"'
    echo 'allow_contract_creation = false'
    echo 'unlisted_assets = "refuse"'
    echo '[assets.ETH]'
    echo 'token = "native"'
    echo 'max_per_tx = "10"'
    echo 'max_per_batch = "100"'
    echo '[assets.TUSD]'
    echo "token = \"$token\""
    echo 'decimals = 6'
    echo 'max_per_tx = "5000"'
    echo 'max_per_batch = "100000"'
} > "$work/signer/policy.toml"

step "signer: exporting 3 cold addresses for the hub (derived from the seed, so it needs the password; each with a proof of possession the hub verifies)"
"$signer" addresses --count 3 --json --password-file "$work/demo-password.txt" > "$work/usb/addresses.json"
mapfile -t cold < <(python3 - "$work/usb/addresses.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc = doc.get("data", doc)
for a in doc["addresses"]:
    print(a["address"])
PY
)
printf '  %s\n' "${cold[@]}"

step "hub (online side): database, chain, token, cold addresses"
export HUB_DATABASE_URL=$work/hub.db
"$hub" migrate
"$hub" chain add local --chain-id "$chain_id" --rpc "$rpc" --confirmations 2
"$hub" token add --chain local --symbol TUSD --contract "$token" --decimals 6
"$hub" address import "$work/usb/addresses.json" --chain local --role cold
"$hub" address list

step "funding the cold addresses (10 ETH and 5,000 TUSD each)"
for a in "${cold[@]}"; do
    "$cast" send --rpc-url "$rpc" --private-key "$funder_key" --value 10ether "$a" >/dev/null
    "$cast" send --rpc-url "$rpc" --private-key "$funder_key" "$token" "mint(address,uint256)" "$a" 5000000000 >/dev/null
done

step "importing withdrawal orders"
recipients=(0x1111111111111111111111111111111111111111 0x2222222222222222222222222222222222222222 0x3333333333333333333333333333333333333333)
{
    echo "order_id,chain,asset,from,to,amount"
    echo "W-1001,local,ETH,${cold[0]},${recipients[0]},1.5"
    echo "W-1002,local,TUSD,${cold[0]},${recipients[1]},250"
    echo "W-1003,local,ETH,${cold[0]},${recipients[2]},0.25"
    echo "W-1004,local,TUSD,${cold[1]},${recipients[0]},1000.5"
    echo "W-1005,local,ETH,${cold[1]},${recipients[1]},2"
    echo "W-1006,local,TUSD,${cold[2]},${recipients[2]},42.123456"
    echo "W-1007,local,ETH,${cold[2]},${recipients[0]},0.000001"
} > "$work/orders.csv"
"$hub" order import "$work/orders.csv"
"$hub" order list

step "hub: creating and building a batch"
batch=$("$hub" batch create --chain local --all-pending --auto-build)
echo "batch $batch"
"$hub" batch export "$batch" --out "$work/usb"
unsigned=$(ls "$work"/usb/batch_"$batch"_*_unsigned.json)
echo "carry $unsigned to the signer"

step "signer: review and sign"
"$signer" --sign "$unsigned" --password-file "$work/demo-password.txt" --yes
signed=${unsigned%_unsigned.json}_signed.json

step "hub: upload the signed file (verified, then broadcast)"
"$hub" batch upload "$batch" "$signed"

step "hub: waiting until every order is final"
"$hub" batch sync "$batch" --wait --timeout 120
"$hub" batch show "$batch"

step "recipients' balances on chain"
for r in "${recipients[@]}"; do
    eth=$("$cast" balance --rpc-url "$rpc" --ether "$r")
    tusd=$("$cast" call --rpc-url "$rpc" "$token" "balanceOf(address)(uint256)" "$r" | cut -d' ' -f1)
    printf '  %s  %s ETH  %s TUSD base units\n' "$r" "$eth" "$tusd"
done
"$signer" audit verify
echo
echo "demo complete: everything it wrote is under $work"
