#!/usr/bin/env node
// Peer for the address-export benchmark (signer/benches/addresses.rs):
// derives the addresses m/44'/60'/0'/0/START .. START+COUNT-1 of a mnemonic
// with ethers.js v6 and prints them as a JSON array of EIP-55 strings on
// stdout; its timing (node start-up and `require` excluded) goes to stderr
// as JSON.
//
// Usage: node ethers-derive.js MNEMONIC_FILE START COUNT
// Run with NODE_PATH=<tools>/node_modules.
//
// Derivation: the BIP39 seed and the account node m/44'/60'/0'/0 once
// (HDNodeWallet.fromPhrase), then HDNodeWallet.deriveChild(i) for each
// index, reading each child's address. No key is printed.
"use strict";
const fs = require("fs");
const { HDNodeWallet } = require("ethers");

const [mnemonicFile, startArg, countArg] = process.argv.slice(2);
if (!mnemonicFile || startArg === undefined || countArg === undefined) {
  console.error("usage: ethers-derive.js MNEMONIC_FILE START COUNT");
  process.exit(2);
}
const start = Number(startArg);
const count = Number(countArg);

const t0 = process.hrtime.bigint();
const phrase = fs.readFileSync(mnemonicFile, "utf8").trim().split(/\s+/).join(" ");
const account = HDNodeWallet.fromPhrase(phrase, "", "m/44'/60'/0'/0");
const tAccount = process.hrtime.bigint();
const out = new Array(count);
for (let i = 0; i < count; i++) {
  out[i] = account.deriveChild(start + i).address;
}
const tDone = process.hrtime.bigint();
process.stdout.write(JSON.stringify(out) + "\n");
const ms = (a, b) => Number(b - a) / 1e6;
process.stderr.write(
  JSON.stringify({
    peer: "ethers.js",
    version: require("ethers").version,
    node: process.version,
    addresses: count,
    account_node_ms: ms(t0, tAccount),
    derive_ms: ms(tAccount, tDone),
    total_ms: ms(t0, tDone),
  }) + "\n",
);
