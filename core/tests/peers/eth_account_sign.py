"""Signs transactions with eth-account, an independent implementation, for the
cross-check in core/tests/it/crosscheck.rs. Same input and output as
ethers-sign.js."""
import json
import sys

from eth_account import Account


def fields(tx):
    out = {
        "chainId": int(tx["chainId"]),
        "nonce": int(tx["nonce"]),
        "gas": int(tx["gas"]),
        "value": int(tx["value"]),
        "data": tx["input"],
    }
    if tx["to"] is not None:
        out["to"] = tx["to"]
    if tx["type"] == 2:
        out["type"] = 2
        out["maxPriorityFeePerGas"] = int(tx["maxPriorityFeePerGas"])
        out["maxFeePerGas"] = int(tx["maxFeePerGas"])
        out["accessList"] = [
            {"address": e["address"], "storageKeys": e["storageKeys"]}
            for e in tx["accessList"]
        ]
    else:
        out["gasPrice"] = int(tx["gasPrice"])
    return out


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    raws = []
    for job in jobs:
        signed = Account.sign_transaction(fields(job["tx"]), job["key"])
        raws.append("0x" + bytes(signed.raw_transaction).hex())
    json.dump(raws, sys.stdout)


main()
