//! What the hub counts as evidence that its transaction was mined: never
//! one answer of one node taken on its word.
//!
//! A receipt counts only if it is for the transaction asked about, and the
//! block it names, fetched by hash, has the receipt's number and lists the
//! transaction at the receipt's index. With a witness node configured for
//! the chain, the witness must show the same receipt in the same canonical
//! block before an item is final.

use crate::{
    error::Result,
    rpc::{Block, Receipt, Rpc},
};
use coldsign_core::B256;
use std::collections::HashMap;

/// Blocks fetched by hash, once each per command.
pub(crate) type BlockCache = HashMap<B256, Option<Block>>;

/// `Ok(Ok(()))` if `receipt` proves that `hash` was mined in the block it
/// names, as `rpc` shows it; `Ok(Err(why))` with what the node answered
/// otherwise. Transport failures are errors.
pub(crate) fn check_receipt(
    rpc: &Rpc,
    cache: &mut BlockCache,
    hash: B256,
    receipt: &Receipt,
) -> Result<std::result::Result<(), String>> {
    let node = rpc.display_url();
    if receipt.transaction_hash != hash {
        return Ok(Err(format!(
            "node {node} answered the receipt of {} when asked for {hash}: not counted",
            receipt.transaction_hash
        )));
    }
    let block = match cache.get(&receipt.block_hash) {
        Some(b) => b.clone(),
        None => {
            let b = rpc.block_by_hash(receipt.block_hash)?;
            cache.insert(receipt.block_hash, b.clone());
            b
        }
    };
    let Some(block) = block else {
        return Ok(Err(format!(
            "node {node} gave a receipt for {hash} in block {} that it does not show: not counted",
            receipt.block_hash
        )));
    };
    if block.number != receipt.block_number {
        return Ok(Err(format!(
            "node {node} gave a receipt for {hash} in block {} numbered {}, but that block is number {}: not counted",
            receipt.block_hash, receipt.block_number, block.number
        )));
    }
    let listed = usize::try_from(receipt.transaction_index)
        .ok()
        .and_then(|i| block.transactions.get(i))
        .map(|t| t.hash);
    if listed != Some(hash) {
        return Ok(Err(format!(
            "node {node} gave a receipt for {hash} at index {} of block {} ({}), but that block does not list it there: not counted",
            receipt.transaction_index, receipt.block_number, receipt.block_hash
        )));
    }
    Ok(Ok(()))
}

/// `Ok(Ok(()))` if the witness node shows the same receipt (block and
/// status), proven by its own block, and the same canonical block at that
/// height; `Ok(Err(why))` otherwise.
pub(crate) fn witness_agrees(
    witness: &Rpc,
    cache: &mut BlockCache,
    hash: B256,
    receipt: &Receipt,
) -> Result<std::result::Result<(), String>> {
    let node = witness.display_url();
    let Some(w) = witness.receipt(hash)? else {
        return Ok(Err(format!(
            "witness node {node} has no receipt for {hash} yet"
        )));
    };
    if w.block_hash != receipt.block_hash || w.status != receipt.status {
        return Ok(Err(format!(
            "witness node {node} shows {hash} in block {} with status {}, the node in block {} with status {}",
            w.block_hash, w.status, receipt.block_hash, receipt.status
        )));
    }
    if let Err(why) = check_receipt(witness, cache, hash, &w)? {
        return Ok(Err(why));
    }
    let canonical = witness.block_hash(receipt.block_number)?;
    if canonical != Some(receipt.block_hash) {
        return Ok(Err(format!(
            "witness node {node} has another canonical block at height {}",
            receipt.block_number
        )));
    }
    Ok(Ok(()))
}
