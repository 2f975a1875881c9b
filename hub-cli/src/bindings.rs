//! Nonce bindings: how the hub keeps every order paid at most once.
//!
//! Once an order's transaction has left the hub (its unsigned file was
//! exported), the order is bound to (chain, sender, nonce). Every later
//! version of the order (a rebuild, a re-batch after a cancel, its void)
//! is built at the same nonce, so at most one version can ever be mined.
//! The binding is released only when the chain shows the nonce consumed by
//! a transaction that is none of the order's own versions; when it was
//! consumed by one of them, the order is settled by that transaction.
//!
//! The versions are the unsigned transactions that left the hub, recorded
//! at export (`tx_versions`). A transaction found on chain is the order's
//! own when its signing hash, recomputed from its signed bytes, is one of
//! them: the node's word for the fields is never taken.

use crate::{
    clock::now_rfc3339,
    db::{params, Db, Value},
    error::{HubError, Result},
    model::{db_int, parse_address, Item},
    rpc::{Rpc, RpcError},
};
use coldsign_core::{batch::ItemKind, hex_data, Address, SignedTransaction, B256};
use std::collections::HashMap;

/// A live binding of an order to a sender's nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Binding {
    /// The order (database id).
    pub(crate) order_ref: i64,
    /// The sending address.
    pub(crate) sender: Address,
    /// The nonce.
    pub(crate) nonce: u64,
}

/// The live bindings on `chain`, by order.
pub(crate) fn live(db: &mut Db, chain: i64) -> Result<HashMap<i64, Binding>> {
    let rows = db.query(
        "SELECT order_ref, sender, nonce FROM nonce_bindings WHERE chain = ? AND released_at IS NULL",
        params![chain],
    )?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        let b = Binding {
            order_ref: r.int(0)?,
            sender: parse_address(&r.text(1)?)?,
            nonce: u64::try_from(r.int(2)?).unwrap_or_default(),
        };
        out.insert(b.order_ref, b);
    }
    Ok(out)
}

/// The live binding of one order, if any.
pub(crate) fn of_order(db: &mut Db, order_ref: i64) -> Result<Option<Binding>> {
    let row = db.query_opt(
        "SELECT order_ref, sender, nonce FROM nonce_bindings WHERE order_ref = ? AND released_at IS NULL",
        params![order_ref],
    )?;
    row.map(|r| {
        Ok(Binding {
            order_ref: r.int(0)?,
            sender: parse_address(&r.text(1)?)?,
            nonce: u64::try_from(r.int(2)?).unwrap_or_default(),
        })
    })
    .transpose()
}

/// Records, inside the caller's transaction, that the unsigned file of
/// `batch` with `digest` leaves the hub: a binding for every order not yet
/// bound, a version for every transaction, and the file itself. Safe to run
/// again for the same file (export twice writes nothing new).
pub(crate) fn record_export(
    db: &mut Db,
    chain: i64,
    batch: i64,
    digest: B256,
    items: &[Item],
) -> Result<()> {
    let now = now_rfc3339();
    for i in items {
        let (Some(nonce), Some(signing_hash)) = (i.nonce, i.signing_hash) else {
            return Err(HubError::Internal(format!(
                "order {} has no built transaction to export",
                i.order.order_id
            )));
        };
        match of_order(db, i.order.id)? {
            Some(b) if b.sender == i.sender && b.nonce == nonce => {}
            Some(b) => {
                return Err(HubError::Internal(format!(
                    "order {} is bound to nonce {} of {} but was built at nonce {nonce} of {}: \
                     refusing to export a second nonce for one order",
                    i.order.order_id, b.nonce, b.sender, i.sender
                )))
            }
            None => {
                db.execute(
                    "INSERT INTO nonce_bindings (chain, sender, nonce, order_ref, bound_at) VALUES (?, ?, ?, ?, ?)",
                    params![chain, i.sender.to_checksum(), db_int(nonce)?, i.order.id, now.as_str()],
                )?;
            }
        }
        db.execute(
            "INSERT INTO tx_versions (order_ref, batch, chain, sender, nonce, kind, signing_hash, exported_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch, signing_hash) DO NOTHING",
            params![
                i.order.id,
                batch,
                chain,
                i.sender.to_checksum(),
                db_int(nonce)?,
                kind_name(i.kind),
                signing_hash.to_string(),
                now.as_str()
            ],
        )?;
    }
    db.execute(
        "INSERT INTO batch_files (batch, digest, exported_at) VALUES (?, ?, ?) \
         ON CONFLICT (batch, digest) DO NOTHING",
        params![batch, digest.to_string(), now.as_str()],
    )?;
    Ok(())
}

/// Whether batch `batch` has an exported file that is not void.
pub(crate) fn exported_file(db: &mut Db, batch: i64) -> Result<Option<B256>> {
    db.query_opt(
        "SELECT digest FROM batch_files WHERE batch = ? AND voided_at IS NULL ORDER BY id DESC",
        params![batch],
    )?
    .map(|r| parse_hash(&r.text(0)?))
    .transpose()
}

/// Voids every exported file of `batch` (a forced rebuild).
pub(crate) fn void_files(db: &mut Db, batch: i64) -> Result<u64> {
    Ok(db.execute(
        "UPDATE batch_files SET voided_at = ? WHERE batch = ? AND voided_at IS NULL",
        params![now_rfc3339(), batch],
    )?)
}

/// Whether `digest` is a voided file of `batch`.
pub(crate) fn is_void_file(db: &mut Db, batch: i64, digest: B256) -> Result<bool> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM batch_files WHERE batch = ? AND digest = ? AND voided_at IS NOT NULL",
            params![batch, digest.to_string()],
        )?
        .is_some())
}

/// Records the signed hash of each version of `batch` (by signing hash).
pub(crate) fn record_signed(db: &mut Db, batch: i64, signed: &[(B256, B256)]) -> Result<()> {
    for (signing_hash, tx_hash) in signed {
        db.execute(
            "UPDATE tx_versions SET tx_hash = ? WHERE batch = ? AND signing_hash = ?",
            params![tx_hash.to_string(), batch, signing_hash.to_string()],
        )?;
    }
    Ok(())
}

/// Releases the live binding of `order_ref`: the chain showed its nonce
/// consumed by a transaction that is none of the order's own.
pub(crate) fn release(db: &mut Db, order_ref: i64, reason: &str) -> Result<()> {
    db.execute(
        "UPDATE nonce_bindings SET released_at = ?, release_reason = ? \
         WHERE order_ref = ? AND released_at IS NULL",
        params![now_rfc3339(), reason, order_ref],
    )?;
    Ok(())
}

/// One version of an order that left the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    /// The batch whose file carried it.
    pub(crate) batch: i64,
    /// The nonce.
    pub(crate) nonce: u64,
    /// Payment or void.
    pub(crate) kind: ItemKind,
    /// Its signing hash.
    pub(crate) signing_hash: B256,
    /// Its signed hash, once a signed file with it was accepted.
    pub(crate) tx_hash: Option<B256>,
}

/// Every version of `order_ref`, oldest first.
pub(crate) fn versions(db: &mut Db, order_ref: i64) -> Result<Vec<Version>> {
    db.query(
        "SELECT batch, nonce, kind, signing_hash, tx_hash FROM tx_versions WHERE order_ref = ? ORDER BY id",
        params![order_ref],
    )?
    .iter()
    .map(|r| {
        Ok(Version {
            batch: r.int(0)?,
            nonce: u64::try_from(r.int(1)?).unwrap_or_default(),
            kind: parse_kind(&r.text(2)?)?,
            signing_hash: parse_hash(&r.text(3)?)?,
            tx_hash: r.opt_text(4)?.map(|h| parse_hash(&h)).transpose()?,
        })
    })
    .collect()
}

/// The signed hashes of every version of `order_ref` the hub has seen.
pub(crate) fn signed_hashes(db: &mut Db, order_ref: i64) -> Result<Vec<B256>> {
    Ok(versions(db, order_ref)?
        .into_iter()
        .filter_map(|v| v.tx_hash)
        .collect())
}

/// The transaction that consumed a sender's nonce, checked from its signed
/// bytes: it hashes to its hash, it is signed by the sender, at that nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Consumer {
    /// Its hash.
    pub(crate) hash: B256,
    /// The signing hash recomputed from its bytes.
    pub(crate) signing_hash: B256,
    /// The block it was mined in.
    pub(crate) block_number: u64,
}

/// What the chain shows of a sender's nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NonceUse {
    /// Not consumed yet (at the latest block).
    Unused,
    /// Consumed by this transaction.
    ConsumedBy(Consumer),
    /// Consumed, but the node does not show by which transaction in a way
    /// the hub can check (why).
    ConsumedUnknown(String),
}

/// Finds what consumed `nonce` of `sender`: the first block after which the
/// sender's transaction count passed it (a binary search over
/// `eth_getTransactionCount` at past blocks), that block's transaction of
/// the sender at that nonce, and its raw signed bytes, checked here.
pub(crate) fn nonce_use(rpc: &Rpc, sender: Address, nonce: u64) -> Result<NonceUse> {
    let unknown = |why: String| Ok(NonceUse::ConsumedUnknown(why));
    let latest = rpc.block_number()?;
    if rpc.nonce_at(sender, latest)? <= nonce {
        return Ok(NonceUse::Unused);
    }
    let (mut lo, mut hi) = (0u64, latest);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match rpc.nonce_at(sender, mid) {
            Ok(n) if n > nonce => hi = mid,
            Ok(_) => lo = mid + 1,
            Err(RpcError::Node { message, .. }) => {
                return unknown(format!(
                    "the node cannot show {sender}'s nonce at block {mid} ({message}); \
                     an archive node can"
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let Some(block) = rpc.block_with_txs(hi)? else {
        return unknown(format!("the node does not show block {hi}"));
    };
    let Some(tx) = block
        .transactions
        .iter()
        .find(|t| t.from == sender && t.nonce == nonce)
    else {
        return unknown(format!(
            "block {hi} lists no transaction of {sender} with nonce {nonce}"
        ));
    };
    let raw = match rpc.raw_transaction(tx.hash) {
        Ok(Some(raw)) => raw,
        Ok(None) => return unknown(format!("the node has no raw bytes for {}", tx.hash)),
        Err(RpcError::Node { message, .. }) => {
            return unknown(format!(
                "the node does not give the raw bytes of {} ({message})",
                tx.hash
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let Ok(signed) = SignedTransaction::decode(&raw) else {
        return unknown(format!("the raw bytes of {} do not decode", tx.hash));
    };
    let signer = signed.recover_sender().ok();
    if signed.hash() != tx.hash || signer != Some(sender) || signed.transaction().nonce() != nonce {
        return unknown(format!(
            "the raw bytes the node gave for {} are not a transaction of {sender} at nonce {nonce}",
            tx.hash
        ));
    }
    Ok(NonceUse::ConsumedBy(Consumer {
        hash: tx.hash,
        signing_hash: signed.transaction().signing_hash(),
        block_number: hi,
    }))
}

/// Whose a consuming transaction is, for one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whose {
    /// One of the order's own versions, of this kind.
    Own(ItemKind),
    /// None of them.
    Foreign,
}

/// Whether `consumer` is one of `versions`.
pub(crate) fn whose(versions: &[Version], consumer: &Consumer) -> Whose {
    versions
        .iter()
        .find(|v| v.signing_hash == consumer.signing_hash || v.tx_hash == Some(consumer.hash))
        .map_or(Whose::Foreign, |v| Whose::Own(v.kind))
}

/// `payment` or `void`, as stored.
pub(crate) fn kind_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Payment => "payment",
        ItemKind::Void => "void",
    }
}

/// The stored kind name.
pub(crate) fn parse_kind(s: &str) -> Result<ItemKind> {
    match s {
        "payment" => Ok(ItemKind::Payment),
        "void" => Ok(ItemKind::Void),
        other => Err(HubError::Internal(format!("unknown item kind {other:?}"))),
    }
}

fn parse_hash(s: &str) -> Result<B256> {
    hex_data::decode_fixed::<32>(s)
        .map(B256)
        .map_err(|e| HubError::Internal(format!("stored hash {s:?}: {e}")))
}

/// A value for the `kind` column.
pub(crate) fn kind_value(kind: ItemKind) -> Value {
    Value::from(kind_name(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(kind: ItemKind, signing: u8, tx: Option<u8>) -> Version {
        Version {
            batch: 1,
            nonce: 0,
            kind,
            signing_hash: B256([signing; 32]),
            tx_hash: tx.map(|t| B256([t; 32])),
        }
    }

    #[test]
    fn a_consumer_is_own_by_signing_hash_or_signed_hash() {
        let versions = [
            version(ItemKind::Payment, 1, None),
            version(ItemKind::Void, 2, Some(3)),
        ];
        let c = |signing: u8, hash: u8| Consumer {
            hash: B256([hash; 32]),
            signing_hash: B256([signing; 32]),
            block_number: 1,
        };
        assert_eq!(whose(&versions, &c(1, 9)), Whose::Own(ItemKind::Payment));
        assert_eq!(whose(&versions, &c(2, 9)), Whose::Own(ItemKind::Void));
        assert_eq!(whose(&versions, &c(8, 3)), Whose::Own(ItemKind::Void));
        assert_eq!(whose(&versions, &c(8, 9)), Whose::Foreign);
        assert_eq!(whose(&[], &c(1, 1)), Whose::Foreign);
    }

    #[test]
    fn kind_names_round_trip() {
        for k in [ItemKind::Payment, ItemKind::Void] {
            assert_eq!(parse_kind(kind_name(k)).ok(), Some(k));
        }
        assert!(parse_kind("refund").is_err());
    }
}
