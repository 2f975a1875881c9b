//! What the deposit follower reads from a node, typed: runs of blocks with
//! their transactions, `Transfer` logs, receipts' outcomes and the internal
//! calls of `trace_block`. Hashes are kept as lower-case `0x…` text, as the
//! follower stores them.

use super::{bad, field, quantity, quantity_u64, Call, Rpc, RpcError};
use coldsign_core::{hex_data, Address, U256};
use serde_json::{json, Value};

/// keccak256("Transfer(address,address,uint256)").
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
/// Recipients named in one `eth_getLogs` filter at most.
const RECIPIENTS_PER_FILTER: usize = 500;

/// A block as the follower reads it.
#[derive(Debug, Clone)]
pub(crate) struct FollowedBlock {
    pub(crate) number: u64,
    pub(crate) hash: String,
    pub(crate) parent: String,
    pub(crate) timestamp: u64,
    /// (hash, from, to, value) of each transaction.
    pub(crate) txs: Vec<(String, Address, Option<Address>, U256)>,
}

/// A `Transfer` log of a token.
#[derive(Debug, Clone)]
pub(crate) struct TransferLog {
    pub(crate) block_hash: String,
    pub(crate) tx_hash: String,
    /// Its index in the block (`u64::MAX` if the node gave none).
    pub(crate) log_index: u64,
    /// The token contract, if the node named a valid address.
    pub(crate) contract: Option<Address>,
    /// The indexed sender and recipient (`None` unless the log has exactly
    /// the three topics of a `Transfer`).
    pub(crate) parties: Option<(Address, Address)>,
    /// The amount, when the data is one 32-byte word.
    pub(crate) amount: Option<U256>,
    /// The node says the log was removed (a reorganisation).
    pub(crate) removed: bool,
}

/// What a receipt says of its transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReceiptOutcome {
    /// Status 1.
    pub(crate) succeeded: bool,
    /// The block it names (lower case), if any.
    pub(crate) block_hash: Option<String>,
}

/// An internal call of a block's trace.
#[derive(Debug, Clone)]
pub(crate) struct InternalCall {
    pub(crate) tx_hash: String,
    /// Its place in the call tree (empty: the transaction itself).
    pub(crate) trace_address: Vec<u64>,
    /// The call reverted.
    pub(crate) failed: bool,
    pub(crate) from: Option<Address>,
    pub(crate) to: Option<Address>,
    pub(crate) value: U256,
}

fn text<'a>(v: &'a Value, field: &str, method: &str) -> Result<&'a str, RpcError> {
    v.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(method, format!("missing field {field}")))
}

fn hash_of(v: &Value, field: &str, method: &str) -> Result<String, RpcError> {
    let h = text(v, field, method)?;
    hex_data::decode_fixed::<32>(h).map_err(|e| bad(method, format!("{field}: {e}")))?;
    Ok(h.to_ascii_lowercase())
}

/// A `u64` quantity field; one that does not fit is refused, not cut.
fn number(v: &Value, name: &str, method: &str) -> Result<u64, RpcError> {
    quantity_u64(method, field(method, v, name)?)
}

fn address(s: &str) -> Option<Address> {
    s.parse().ok()
}

/// A block with full transactions; `None` for `null` (not shown).
fn parse_block(v: &Value) -> Result<Option<FollowedBlock>, RpcError> {
    const M: &str = "eth_getBlockByNumber";
    if v.is_null() {
        return Ok(None);
    }
    let mut txs = Vec::new();
    for t in v
        .get("transactions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let to = t.get("to").and_then(Value::as_str).and_then(address);
        let from = address(text(t, "from", M)?).ok_or_else(|| bad(M, "bad from"))?;
        let value = quantity(M, t.get("value").unwrap_or(&Value::Null))?;
        txs.push((hash_of(t, "hash", M)?, from, to, value));
    }
    Ok(Some(FollowedBlock {
        number: number(v, "number", M)?,
        hash: hash_of(v, "hash", M)?,
        parent: hash_of(v, "parentHash", M)?,
        timestamp: number(v, "timestamp", M)?,
        txs,
    }))
}

fn parse_log(l: &Value) -> Result<TransferLog, RpcError> {
    const M: &str = "eth_getLogs";
    let topics: Vec<&str> = l
        .get("topics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let word = |t: &str| {
        hex_data::decode_fixed::<32>(t)
            .ok()
            .map(|w| Address(w[12..].try_into().unwrap_or([0; 20])))
    };
    let parties = match topics.as_slice() {
        [_, from, to] => word(from).zip(word(to)),
        _ => None,
    };
    let data = hex_data::decode(text(l, "data", M)?).unwrap_or_default();
    Ok(TransferLog {
        block_hash: hash_of(l, "blockHash", M)?,
        tx_hash: hash_of(l, "transactionHash", M)?,
        log_index: number(l, "logIndex", M).unwrap_or(u64::MAX),
        contract: address(text(l, "address", M)?),
        parties,
        amount: (data.len() == 32).then(|| U256::from_big_endian(&data)),
        removed: l.get("removed").and_then(Value::as_bool) == Some(true),
    })
}

fn parse_trace(tr: &Value) -> InternalCall {
    let action = tr.get("action").unwrap_or(&Value::Null);
    let addr_of = |k: &str| action.get(k).and_then(Value::as_str).and_then(address);
    InternalCall {
        tx_hash: tr
            .get("transactionHash")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase(),
        trace_address: tr
            .get("traceAddress")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect(),
        failed: tr.get("error").is_some(),
        from: addr_of("from"),
        to: addr_of("to"),
        value: quantity("trace_block", action.get("value").unwrap_or(&json!("0x0")))
            .unwrap_or_default(),
    }
}

impl Rpc {
    /// Blocks `from..=to` with their transactions, with one JSON-RPC batch
    /// request, up to the first the node does not show (yet): its head is
    /// never trusted beyond what it has shown.
    pub(crate) fn followed_blocks(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<FollowedBlock>, RpcError> {
        let calls: Vec<Call> = (from..=to)
            .map(|k| {
                (
                    "eth_getBlockByNumber",
                    json!([hex_data::quantity_u64(k), true]),
                )
            })
            .collect();
        let mut blocks = Vec::with_capacity(calls.len());
        for answer in self.batch(&calls)? {
            match parse_block(&answer?)? {
                Some(b) => blocks.push(b),
                None => break,
            }
        }
        Ok(blocks)
    }

    /// The `Transfer` logs of `contracts` to any of `recipients` in blocks
    /// `from..=to`: one filtered `eth_getLogs` per
    /// [`RECIPIENTS_PER_FILTER`] recipients.
    pub(crate) fn transfer_logs(
        &self,
        from: u64,
        to: u64,
        contracts: &[Address],
        recipients: &[Address],
    ) -> Result<Vec<TransferLog>, RpcError> {
        let topics: Vec<String> = recipients
            .iter()
            .map(|a| {
                format!(
                    "0x000000000000000000000000{}",
                    hex_data::encode(a.0).trim_start_matches("0x")
                )
            })
            .collect();
        let mut logs = Vec::new();
        for chunk in topics.chunks(RECIPIENTS_PER_FILTER) {
            let filter = json!({
                "fromBlock": hex_data::quantity_u64(from),
                "toBlock": hex_data::quantity_u64(to),
                "address": contracts.iter().map(|c| hex_data::encode(c.0)).collect::<Vec<_>>(),
                "topics": [TRANSFER_TOPIC, Value::Null, chunk],
            });
            if let Value::Array(got) = self.call("eth_getLogs", json!([filter]))? {
                for l in &got {
                    logs.push(parse_log(l)?);
                }
            }
        }
        Ok(logs)
    }

    /// What the receipt of each transaction says, with one batch request
    /// (no receipt: not succeeded, no block).
    pub(crate) fn receipt_outcomes(
        &self,
        hashes: &[&str],
    ) -> Result<Vec<ReceiptOutcome>, RpcError> {
        let calls: Vec<Call> = hashes
            .iter()
            .map(|h| ("eth_getTransactionReceipt", json!([h])))
            .collect();
        self.batch(&calls)?
            .into_iter()
            .map(|r| {
                let r = r?;
                Ok(ReceiptOutcome {
                    succeeded: r.get("status").and_then(Value::as_str) == Some("0x1"),
                    block_hash: r
                        .get("blockHash")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase),
                })
            })
            .collect()
    }

    /// Whether the node offers `trace_block` (asked once, for `latest`): a
    /// node that refuses it or answers oddly does not.
    pub(crate) fn offers_trace_block(&self) -> Result<bool, RpcError> {
        match self.call("trace_block", json!(["latest"])) {
            Ok(_) => Ok(true),
            Err(RpcError::Node { .. } | RpcError::BadResponse { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The calls of block `number`'s trace (`trace_block`).
    pub(crate) fn internal_calls(&self, number: u64) -> Result<Vec<InternalCall>, RpcError> {
        let t = self.call("trace_block", json!([hex_data::quantity_u64(number)]))?;
        Ok(t.as_array()
            .into_iter()
            .flatten()
            .map(parse_trace)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn log(topics: &[&str], data: &str) -> Value {
        json!({
            "blockHash": format!("0x{}", "AB".repeat(32)),
            "transactionHash": format!("0x{}", "cd".repeat(32)),
            "logIndex": "0x2",
            "address": format!("0x{}", "11".repeat(20)),
            "topics": topics,
            "data": data,
        })
    }

    #[test]
    fn a_transfer_log_is_read_and_anything_else_is_marked() {
        let word = |b: &str| format!("0x{}{}", "00".repeat(12), b.repeat(20));
        let amount = format!("0x{}{}", "00".repeat(31), "07");
        let from = word("22");
        let to = word("33");
        let l = parse_log(&log(&[TRANSFER_TOPIC, &from, &to], &amount)).unwrap();
        assert_eq!(l.block_hash, format!("0x{}", "ab".repeat(32)), "lower case");
        assert_eq!(l.log_index, 2);
        assert_eq!(l.contract, Some(Address([0x11; 20])));
        assert_eq!(l.parties, Some((Address([0x22; 20]), Address([0x33; 20]))));
        assert_eq!(l.amount, Some(U256::from(7u64)));
        assert!(!l.removed);
        // Not a Transfer's three topics, or not one word of data: marked.
        let two = parse_log(&log(&[TRANSFER_TOPIC, &from], &amount)).unwrap();
        assert_eq!(two.parties, None);
        let short = parse_log(&log(&[TRANSFER_TOPIC, &from, &to], "0x07")).unwrap();
        assert_eq!(short.amount, None);
        // A log without its transaction is a bad answer, not a skipped log.
        let mut v = log(&[TRANSFER_TOPIC, &from, &to], &amount);
        v.as_object_mut().unwrap().remove("transactionHash");
        assert!(matches!(parse_log(&v), Err(RpcError::BadResponse { .. })));
    }

    #[test]
    fn a_trace_call_keeps_its_place_and_failure() {
        let c = parse_trace(&json!({
            "transactionHash": format!("0x{}", "EF".repeat(32)),
            "traceAddress": [0, 1],
            "error": "Reverted",
            "action": {"from": format!("0x{}", "44".repeat(20)), "to": format!("0x{}", "55".repeat(20)), "value": "0x10"},
        }));
        assert_eq!(c.tx_hash, format!("0x{}", "ef".repeat(32)));
        assert_eq!(c.trace_address, vec![0, 1]);
        assert!(c.failed);
        assert_eq!(
            (c.from, c.to),
            (Some(Address([0x44; 20])), Some(Address([0x55; 20])))
        );
        assert_eq!(c.value, U256::from(16u64));
        let top = parse_trace(&json!({"traceAddress": [], "action": {}}));
        assert!(top.trace_address.is_empty() && !top.failed && top.value.is_zero());
    }
}
