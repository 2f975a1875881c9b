//! The JSON form of an unsigned transaction inside a batch file: the field
//! names and hex quantities of Ethereum JSON-RPC, every field required.

use crate::{
    address::Address,
    amount::U256,
    hex_data::serde_hex::{bytes, u256_quantity, u64_quantity},
    transaction::{AccessList, Transaction, TxEip1559, TxLegacy},
};
use serde::{Deserialize, Serialize};

/// A transaction as written in a batch file, tagged by its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum TxJson {
    /// Legacy, EIP-155.
    #[serde(rename = "0x0")]
    Legacy(LegacyJson),
    /// EIP-1559.
    #[serde(rename = "0x2")]
    Eip1559(Eip1559Json),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LegacyJson {
    #[serde(with = "u64_quantity")]
    chain_id: u64,
    #[serde(with = "u64_quantity")]
    nonce: u64,
    #[serde(with = "u256_quantity")]
    gas_price: U256,
    #[serde(with = "u64_quantity")]
    gas: u64,
    #[serde(deserialize_with = "required_to")]
    to: Option<Address>,
    #[serde(with = "u256_quantity")]
    value: U256,
    #[serde(with = "bytes")]
    input: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Eip1559Json {
    #[serde(with = "u64_quantity")]
    chain_id: u64,
    #[serde(with = "u64_quantity")]
    nonce: u64,
    #[serde(with = "u256_quantity")]
    max_priority_fee_per_gas: U256,
    #[serde(with = "u256_quantity")]
    max_fee_per_gas: U256,
    #[serde(with = "u64_quantity")]
    gas: u64,
    #[serde(deserialize_with = "required_to")]
    to: Option<Address>,
    #[serde(with = "u256_quantity")]
    value: U256,
    #[serde(with = "bytes")]
    input: Vec<u8>,
    access_list: AccessList,
}

/// `to` must be present: an address, or `null` for contract creation.
fn required_to<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Address>, D::Error> {
    Option::<Address>::deserialize(d)
}

impl From<&Transaction> for TxJson {
    fn from(tx: &Transaction) -> Self {
        match tx {
            Transaction::Legacy(t) => Self::Legacy(LegacyJson {
                chain_id: t.chain_id,
                nonce: t.nonce,
                gas_price: t.gas_price,
                gas: t.gas_limit,
                to: t.to,
                value: t.value,
                input: t.input.clone(),
            }),
            Transaction::Eip1559(t) => Self::Eip1559(Eip1559Json {
                chain_id: t.chain_id,
                nonce: t.nonce,
                max_priority_fee_per_gas: t.max_priority_fee_per_gas,
                max_fee_per_gas: t.max_fee_per_gas,
                gas: t.gas_limit,
                to: t.to,
                value: t.value,
                input: t.input.clone(),
                access_list: t.access_list.clone(),
            }),
        }
    }
}

impl From<TxJson> for Transaction {
    fn from(tx: TxJson) -> Self {
        match tx {
            TxJson::Legacy(t) => Self::Legacy(TxLegacy {
                chain_id: t.chain_id,
                nonce: t.nonce,
                gas_price: t.gas_price,
                gas_limit: t.gas,
                to: t.to,
                value: t.value,
                input: t.input,
            }),
            TxJson::Eip1559(t) => Self::Eip1559(TxEip1559 {
                chain_id: t.chain_id,
                nonce: t.nonce,
                max_priority_fee_per_gas: t.max_priority_fee_per_gas,
                max_fee_per_gas: t.max_fee_per_gas,
                gas_limit: t.gas,
                to: t.to,
                value: t.value,
                input: t.input,
                access_list: t.access_list,
            }),
        }
    }
}
