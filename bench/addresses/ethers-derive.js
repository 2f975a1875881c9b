#!/usr/bin/env node
// Peer for the address-export benchmark (signer/benches/addresses.rs):
// derives the addresses m/44'/60'/0'/0/START .. START+COUNT-1 of a mnemonic
// with ethers.js v6, each with the same proof of possession `signer
// addresses` writes (docs/signer.md, "Address proofs"), and prints them as
// a JSON array of [EIP-55 address, proof] on stdout; its timing (node
// start-up and `require` excluded) goes to stderr as JSON.
//
// Usage: node ethers-derive.js MNEMONIC_FILE START COUNT
// Run with NODE_PATH=<tools>/node_modules.
//
// Derivation: the BIP39 seed, the master fingerprint and the account node
// m/44'/60'/0'/0 once (HDNodeWallet.fromPhrase), then for each index
// HDNodeWallet.deriveChild(i), its address, the proof message
// ("coldsign/address-proof/v1" || fingerprint || len(path) || path ||
// address), its keccak256, and SigningKey.sign of that digest (RFC 6979,
// so the same bytes as the signer's). No key is printed.
"use strict";
const fs = require("fs");
const { HDNodeWallet, concat, toUtf8Bytes, getBytes, keccak256 } = require("ethers");

const [mnemonicFile, startArg, countArg] = process.argv.slice(2);
if (!mnemonicFile || startArg === undefined || countArg === undefined) {
  console.error("usage: ethers-derive.js MNEMONIC_FILE START COUNT");
  process.exit(2);
}
const start = Number(startArg);
const count = Number(countArg);

const t0 = process.hrtime.bigint();
const phrase = fs.readFileSync(mnemonicFile, "utf8").trim().split(/\s+/).join(" ");
const fingerprint = getBytes(HDNodeWallet.fromPhrase(phrase, "", "m").fingerprint);
const account = HDNodeWallet.fromPhrase(phrase, "", "m/44'/60'/0'/0");
const domain = toUtf8Bytes("coldsign/address-proof/v1");
const tAccount = process.hrtime.bigint();
const out = new Array(count);
for (let i = 0; i < count; i++) {
  const child = account.deriveChild(start + i);
  const path = toUtf8Bytes(`m/44'/60'/0'/0/${start + i}`);
  const digest = keccak256(
    concat([domain, fingerprint, new Uint8Array([path.length]), path, getBytes(child.address)]),
  );
  out[i] = [child.address, child.signingKey.sign(digest).serialized];
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
    derive_and_prove_ms: ms(tAccount, tDone),
    total_ms: ms(t0, tDone),
  }) + "\n",
);
