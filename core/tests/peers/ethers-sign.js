// Signs transactions with ethers.js v6, an independent implementation, for the
// cross-check in core/tests/it/crosscheck.rs.
// Input (file argv[2]): [{ "key": "0x…", "tx": { "type": 0|2, "chainId": "…", … } }]
// with integers as decimal strings. Output (stdout): a JSON array of signed raw
// transactions as 0x-hex, in input order.
"use strict";
const fs = require("fs");
const { Transaction, SigningKey } = require("ethers");

const jobs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = jobs.map(({ key, tx }) => {
  const fields = {
    type: tx.type,
    chainId: BigInt(tx.chainId),
    nonce: Number(tx.nonce),
    gasLimit: BigInt(tx.gas),
    to: tx.to,
    value: BigInt(tx.value),
    data: tx.input,
  };
  if (tx.type === 2) {
    fields.maxPriorityFeePerGas = BigInt(tx.maxPriorityFeePerGas);
    fields.maxFeePerGas = BigInt(tx.maxFeePerGas);
    fields.accessList = tx.accessList;
  } else {
    fields.gasPrice = BigInt(tx.gasPrice);
  }
  const t = Transaction.from(fields);
  t.signature = new SigningKey(key).sign(t.unsignedHash);
  return t.serialized;
});
process.stdout.write(JSON.stringify(out));
