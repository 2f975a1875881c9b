#!/usr/bin/env python3
"""Independent peer for the coldsign signer: signs every transaction of an
unsigned batch file with eth-account, deriving each key from the mnemonic with
eth-account's own BIP39/BIP32 code, and prints the raw signed transactions as
a JSON array of hex strings on stdout (the same output as ethers-sign.js).

Used by `cargo bench -p coldsign-signer` (signer/benches/sign.rs) as the
second peer measured in the same run; the timing (derivation included,
interpreter start-up and imports excluded) is printed on stderr as JSON.

Usage: python eth_account_sign.py BATCH_FILE MNEMONIC_FILE
Run with the interpreter of one of the tools' venvs, which hold the same
pinned eth-account: <tools>/venv/bin/python (no coincurve: eth-keys signs
with its pure-Python backend) or <tools>/venv-coincurve/bin/python
(coincurve installed: eth-keys picks its libsecp256k1 backend). The report
names the backend and coincurve's version.

Derivation: the BIP39 seed (eth_account.hdaccount.seed_from_mnemonic) once,
each account node m/44'/60'/A'/0 once, then each distinct child once, with
eth-account's own BIP32 child derivation (hdaccount.deterministic) - the
same work the Rust signer and the ethers.js peer do. This is what
`Account.from_mnemonic(phrase, account_path=...)` runs, without its
repeating the seed and the four upper levels for every sender. No key is
ever printed.
"""
import json
import sys
import time

from eth_account import Account
from eth_account import __version__ as ETH_ACCOUNT_VERSION
from eth_account.hdaccount import seed_from_mnemonic
from eth_account.hdaccount.deterministic import HDPath, Node, derive_child_key
from eth_account.hdaccount._utils import hmac_sha512
import eth_keys.backends
from importlib import metadata


def fields(tx):
    """The eth-account transaction dict of one item's `tx` (hex quantities)."""
    out = {
        "chainId": int(tx["chainId"], 16),
        "nonce": int(tx["nonce"], 16),
        "gas": int(tx["gas"], 16),
        "value": int(tx["value"], 16),
        "data": tx["input"],
    }
    if tx.get("to") is not None:
        out["to"] = tx["to"]
    if tx["type"] == "0x2":
        out["type"] = 2
        out["maxPriorityFeePerGas"] = int(tx["maxPriorityFeePerGas"], 16)
        out["maxFeePerGas"] = int(tx["maxFeePerGas"], 16)
        out["accessList"] = [
            {"address": e["address"], "storageKeys": e["storageKeys"]}
            for e in tx["accessList"]
        ]
    else:
        out["gasPrice"] = int(tx["gasPrice"], 16)
    return out


def main():
    if len(sys.argv) != 3:
        print("usage: eth_account_sign.py BATCH_FILE MNEMONIC_FILE", file=sys.stderr)
        sys.exit(2)
    batch_file, mnemonic_file = sys.argv[1:]

    t0 = time.perf_counter()
    with open(batch_file, encoding="utf-8") as f:
        batch = json.load(f)
    with open(mnemonic_file, encoding="utf-8") as f:
        phrase = " ".join(f.read().split())
    t_parsed = time.perf_counter()

    seed = seed_from_mnemonic(phrase, "")
    master = hmac_sha512(b"Bitcoin seed", seed)
    accounts = {}  # "m/44'/60'/A'/0" -> (key, chain code)
    keys = {}  # full path -> private key bytes

    def key_for(path):
        k = keys.get(path)
        if k is not None:
            return k
        parent_path, _, index = path.rpartition("/")
        parent = accounts.get(parent_path)
        if parent is None:
            key, chain = master[:32], master[32:]
            for node in HDPath(parent_path)._path:
                key, chain = derive_child_key(key, chain, node)
            parent = accounts[parent_path] = (key, chain)
        k, _ = derive_child_key(parent[0], parent[1], Node.decode(index))
        keys[path] = k
        return k

    raws = []
    for item in batch["items"]:
        key = key_for(item["derivation_path"])
        signed = Account.sign_transaction(fields(item["tx"]), key)
        raws.append("0x" + bytes(signed.raw_transaction).hex())
    t_done = time.perf_counter()

    json.dump(raws, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    ms = lambda a, b: (b - a) * 1e3  # noqa: E731
    backend = type(eth_keys.backends.get_backend()).__name__
    try:
        coincurve = metadata.version("coincurve")
    except metadata.PackageNotFoundError:
        coincurve = None
    json.dump(
        {
            "peer": "eth-account",
            "version": ETH_ACCOUNT_VERSION,
            "python": sys.version.split()[0],
            "eth_keys_backend": backend,
            "coincurve": coincurve,
            "items": len(raws),
            "distinct_keys": len(keys),
            "parse_ms": ms(t0, t_parsed),
            "derive_and_sign_ms": ms(t_parsed, t_done),
            "total_ms": ms(t0, t_done),
        },
        sys.stderr,
    )
    sys.stderr.write("\n")


main()
