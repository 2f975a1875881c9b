#!/usr/bin/env node
// Independent peer for the coldsign signer: signs every transaction of an
// unsigned batch file with ethers.js v6, deriving each key from the mnemonic
// with ethers' own BIP39/BIP32 (HDNodeWallet), and prints the raw signed
// transactions as a JSON array of hex strings on stdout.
//
// Used two ways:
//   - by signer's integration tests, as the cross-check of every raw tx;
//   - by `cargo bench -p coldsign-signer`, as the peer measured in the same run
//     (timing, derivation included, is printed on stderr as JSON).
//
// Usage: node ethers-sign.js BATCH_FILE MNEMONIC_FILE
// Run with NODE_PATH=<tools>/node_modules.
//
// Derivation: the BIP39 seed and each account node m/44'/60'/A'/0 are
// derived once (HDNodeWallet.fromPhrase), then each distinct child once
// (deriveChild) - the same work the Rust signer does - and the parent
// keys are never printed.
"use strict";
const fs = require("fs");
const { HDNodeWallet, Transaction, Mnemonic } = require("ethers");

const [batchFile, mnemonicFile] = process.argv.slice(2);
if (!batchFile || !mnemonicFile) {
  console.error("usage: ethers-sign.js BATCH_FILE MNEMONIC_FILE");
  process.exit(2);
}

const t0 = process.hrtime.bigint();
const batch = JSON.parse(fs.readFileSync(batchFile, "utf8"));
const phrase = fs.readFileSync(mnemonicFile, "utf8").trim().split(/\s+/).join(" ");
const tParsed = process.hrtime.bigint();

const mnemonic = Mnemonic.fromPhrase(phrase);
const accounts = new Map(); // "m/44'/60'/A'/0" -> HDNodeWallet
const keys = new Map(); // full path -> SigningKey
function keyFor(path) {
  let k = keys.get(path);
  if (k) return k;
  const cut = path.lastIndexOf("/");
  const parentPath = path.slice(0, cut);
  const index = Number(path.slice(cut + 1));
  let parent = accounts.get(parentPath);
  if (!parent) {
    parent = HDNodeWallet.fromMnemonic(mnemonic, parentPath);
    accounts.set(parentPath, parent);
  }
  const child = parent.deriveChild(index);
  k = child.signingKey;
  keys.set(path, k);
  return k;
}

const out = [];
for (const item of batch.items) {
  const t = item.tx;
  const fields = {
    chainId: BigInt(t.chainId),
    nonce: Number(BigInt(t.nonce)),
    gasLimit: BigInt(t.gas),
    to: t.to,
    value: BigInt(t.value),
    data: t.input,
  };
  if (t.type === "0x2") {
    fields.type = 2;
    fields.maxPriorityFeePerGas = BigInt(t.maxPriorityFeePerGas);
    fields.maxFeePerGas = BigInt(t.maxFeePerGas);
    fields.accessList = t.accessList;
  } else {
    fields.type = 0;
    fields.gasPrice = BigInt(t.gasPrice);
  }
  const tx = Transaction.from(fields);
  tx.signature = keyFor(item.derivation_path).sign(tx.unsignedHash);
  out.push(tx.serialized);
}
const tDone = process.hrtime.bigint();
process.stdout.write(JSON.stringify(out) + "\n");
const ms = (a, b) => Number(b - a) / 1e6;
process.stderr.write(
  JSON.stringify({
    peer: "ethers.js",
    version: require("ethers").version,
    node: process.version,
    items: out.length,
    distinct_keys: keys.size,
    parse_ms: ms(t0, tParsed),
    derive_and_sign_ms: ms(tParsed, tDone),
    total_ms: ms(t0, tDone),
  }) + "\n",
);
