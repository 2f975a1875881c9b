//! The ledger: every item this signer ever signed, as recorded in the audit
//! log (the `ledger` of each `sign` entry whose result is `signed`), indexed
//! at unlock by order id and by (chain, sender, nonce), and the checks every
//! item of a new batch passes against it before anything is signed.
//!
//! The rule: once an order's transaction has left the hub it is bound to
//! (chain, sender, nonce), and every later version of it (a rebuild, a fee
//! bump, its void) uses the same sender and nonce, so at most one can ever
//! be mined. The signer checks it itself:
//!
//! | the order was signed before | this item | outcome |
//! |---|---|---|
//! | at another (chain, sender, nonce) | anything | refused, unless `--allow-reissue ORDER` |
//! | at this nonce, identical transaction | | allowed: a re-sign (same signature) |
//! | at this nonce, same kind, recipient, value and calldata | other fees | allowed: replaces the earlier signature |
//! | at this nonce, as a payment | its void | allowed: cancels the order |
//! | at this nonce, as a void | a payment | refused |
//! | at this nonce | another recipient, value or calldata | refused |
//!
//! A (chain, sender, nonce) signed before for another order is not refused:
//! the review shows that this item replaces that order's earlier signature.
//!
//! Lookups are hash-map lookups, so checking a 100,000-item batch against a
//! ledger of millions of items stays linear.

use crate::{
    audit::{AuditLog, Entry, MacKey, Scan},
    error::{Result, SignerError},
    sign::CheckedBatch,
};
use coldsign_core::{
    batch::{ItemKind, LedgerHead, SignedBatch},
    keccak256, Address, B256, U256,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};

/// One signed item, as the ledger records it. The batch id, chain id and
/// unsigned digest are the entry's. Addresses are written in lower case
/// (no EIP-55 checksum to compute for a 100,000-item entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerItem {
    /// keccak256 of the calldata (of the empty string for a native transfer).
    pub data_hash: B256,
    /// The sender.
    #[serde(with = "lower_case")]
    pub from: Address,
    /// Payment or void.
    pub kind: ItemKind,
    /// The nonce.
    pub nonce: u64,
    /// The order id.
    pub order_id: String,
    /// Who a token payment pays (the `transfer` recipient), when that is
    /// not `to`; absent for native payments and voids, and in entries
    /// written before it was recorded.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "lower_case_opt"
    )]
    pub recipient: Option<Address>,
    /// The transaction's signing hash: equal only for identical transactions.
    pub signing_hash: B256,
    /// The transaction's recipient (`tx.to`: the token contract for a token
    /// transfer, the sender itself for a void).
    #[serde(with = "lower_case")]
    pub to: Address,
    /// The hash of the signed transaction, as the chain will know it.
    pub tx_hash: B256,
    /// The native value, in wei.
    #[serde(with = "coldsign_core::hex_data::serde_hex::u256_quantity")]
    pub value: U256,
}

/// Addresses as `0x` and 40 lower-case hex digits.
mod lower_case {
    use coldsign_core::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
        let mut text = [0u8; 42];
        text[..2].copy_from_slice(b"0x");
        // 20 bytes always fit 40 hex digits.
        let _ = hex::encode_to_slice(a.0, &mut text[2..]);
        s.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// [`lower_case`] for an optional address.
mod lower_case_opt {
    use coldsign_core::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(a: &Option<Address>, s: S) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => super::lower_case::serialize(a, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Address>, D::Error> {
        let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        text.map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl LedgerItem {
    /// What the item pays, whatever the fees: kind, recipient, value, calldata.
    fn content(&self) -> (ItemKind, Address, U256, B256) {
        (self.kind, self.to, self.value, self.data_hash)
    }
}

/// The ledger items of a signed batch, in item order.
pub fn items_of(checked: &CheckedBatch<'_>, signed: &SignedBatch) -> Result<Vec<LedgerItem>> {
    use rayon::prelude::*;
    let items = checked.batch().items();
    if signed.items.len() != items.len() {
        return Err(SignerError::Unexpected(
            "the signed batch does not have the unsigned batch's items".into(),
        ));
    }
    items
        .par_iter()
        .zip(signed.items.par_iter())
        .map(|(item, s)| {
            let tx = item.transaction();
            let to = tx.to().ok_or_else(|| {
                SignerError::Unexpected("a contract creation reached the ledger".into())
            })?;
            Ok(LedgerItem {
                data_hash: keccak256(tx.input()),
                from: item.from(),
                kind: item.kind(),
                nonce: tx.nonce(),
                order_id: item.order_id().to_owned(),
                recipient: token_recipient(item),
                signing_hash: item.signing_hash(),
                to,
                tx_hash: s.tx_hash,
                value: tx.value(),
            })
        })
        .collect()
}

/// Who a token payment pays, when that is not its `to` (the contract).
fn token_recipient(item: &coldsign_core::batch::UnsignedItem) -> Option<Address> {
    let s = item.summary();
    (item.kind() == ItemKind::Payment && s.token.is_some()).then_some(s.recipient)
}

/// A batch recorded in the ledger: one `sign` entry and its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The entry's sequence number.
    pub seq: u64,
    /// The entry's MAC.
    pub mac: B256,
    /// The batch id.
    pub batch_id: u64,
    /// The chain id.
    pub chain_id: u64,
    /// The unsigned batch's digest.
    pub unsigned_digest: B256,
}

impl Recording {
    /// The ledger head right after this batch was recorded.
    pub fn head(&self) -> LedgerHead {
        LedgerHead {
            seq: self.seq,
            mac: self.mac,
        }
    }
}

/// No record: the end of a chain.
const END: u32 = u32::MAX;

#[derive(Debug)]
struct Record {
    recording: u32,
    /// The previous record with the same order-id key, or [`END`].
    older_of_order: u32,
    /// The previous record of the same (chain, sender, nonce), or [`END`].
    older_of_slot: u32,
    item: LedgerItem,
}

/// (chain id, sender, nonce): what a transaction consumes.
type Slot = (u64, Address, u64);

/// The ledger, indexed: each map points at the latest record of its key,
/// and each record at the previous one of the same key, so a key costs
/// one map entry however often it was signed.
#[derive(Debug, Default)]
pub struct Ledger {
    recordings: Vec<Recording>,
    records: Vec<Record>,
    /// By a 64-bit hash of the order id (records of colliding ids share a
    /// chain; lookups compare the id).
    by_order: HashMap<u64, u32>,
    by_slot: HashMap<Slot, u32>,
    by_digest: HashMap<B256, u32>,
    macs: Vec<Option<B256>>,
    /// (chain, recipient) of every payment recorded: the recipient of a
    /// token payment, `to` of a native one.
    paid: HashSet<(u64, Address)>,
}

fn order_key(order_id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    order_id.hash(&mut h);
    h.finish()
}

/// The records of a chain, latest first.
struct Chain<'a> {
    records: &'a [Record],
    next: u32,
    slot: bool,
}

impl<'a> Iterator for Chain<'a> {
    type Item = &'a Record;
    fn next(&mut self) -> Option<&'a Record> {
        let r = self.records.get(self.next as usize)?;
        self.next = if self.slot {
            r.older_of_slot
        } else {
            r.older_of_order
        };
        Some(r)
    }
}

/// How many notes of each kind a [`LedgerReport`] keeps (all are counted).
pub const NOTES_KEPT: usize = 50;

/// One observation about one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// Position in the batch, from 0.
    pub index: usize,
    /// The item's order id.
    pub order_id: String,
    /// What the operator should know.
    pub text: String,
}

/// Notes of one kind: how many, and the first [`NOTES_KEPT`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notes {
    /// How many items this applies to.
    pub count: usize,
    /// The first of them.
    pub first: Vec<Note>,
}

impl Notes {
    fn push(&mut self, index: usize, order_id: &str, text: String) {
        self.count += 1;
        if self.first.len() < NOTES_KEPT {
            self.first.push(Note {
                index,
                order_id: order_id.to_owned(),
                text,
            });
        }
    }
}

/// What the ledger says about a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LedgerReport {
    /// Whether the ledger's MACs were verified (`sign`), or only its hash
    /// chain (`inspect`, which has no password).
    pub authenticated: bool,
    /// Batches the ledger holds.
    pub recorded_batches: usize,
    /// Items the ledger holds.
    pub recorded_items: usize,
    /// Items whose order and (chain, sender, nonce) were never signed.
    pub new: usize,
    /// Items identical to a transaction signed before (signing again gives
    /// the same signature).
    pub identical: usize,
    /// Items that replace an earlier signature of their order at the same
    /// nonce, only the fees changed.
    pub replacements: Notes,
    /// Void items: the cancellation of their order.
    pub cancellations: Notes,
    /// Orders signed before at another (chain, sender, nonce), allowed by
    /// `--allow-reissue`.
    pub reissues: Notes,
    /// Items whose (chain, sender, nonce) was signed before for another order.
    pub nonce_reuses: Notes,
    /// Items the ledger refuses: any one refuses the batch.
    pub refusals: Notes,
    /// `--allow-reissue` orders that needed no allowance.
    pub unused_allowances: Vec<String>,
    /// The entry that already recorded this very batch (same digest):
    /// signing it again records nothing new and gives the same signed file.
    pub recorded_as: Option<LedgerHead>,
    /// The batch's recipients this signer never paid on this chain, sorted.
    pub new_recipients: Vec<Address>,
}

fn describe(item: &LedgerItem) -> String {
    match item.kind {
        ItemKind::Void => "a void".into(),
        ItemKind::Payment => format!(
            "a payment (to {}, value {} wei{})",
            item.to,
            item.value,
            if item.data_hash == keccak256([]) {
                String::new()
            } else {
                format!(", calldata hash {}", item.data_hash)
            }
        ),
    }
}

fn differences(was: &LedgerItem, now: &LedgerItem) -> String {
    let mut d = Vec::new();
    if was.to != now.to {
        d.push(format!("recipient {} (was {})", now.to, was.to));
    }
    if was.value != now.value {
        d.push(format!("value {} wei (was {} wei)", now.value, was.value));
    }
    if was.data_hash != now.data_hash {
        d.push("calldata (a token transfer's recipient or amount)".to_owned());
    }
    if d.is_empty() {
        "other content".into()
    } else {
        d.join(", ")
    }
}

impl Ledger {
    /// Reads the ledger from `log`, verifying the hash chain and, with `key`,
    /// every MAC (see [`AuditLog::scan`]).
    pub fn load(log: &AuditLog, key: Option<&MacKey>) -> Result<(Self, Scan)> {
        Self::load_inspecting(log, key, |_| ())
    }

    /// [`Ledger::load`], showing `inspect` every verified entry first.
    pub fn load_inspecting(
        log: &AuditLog,
        key: Option<&MacKey>,
        mut inspect: impl FnMut(&Entry),
    ) -> Result<(Self, Scan)> {
        let mut ledger = Self::default();
        let path = log.path().to_owned();
        let scan = log.scan(key, |entry| {
            inspect(&entry);
            ledger.add(entry, &path)
        })?;
        Ok((ledger, scan))
    }

    fn add(&mut self, mut entry: Entry, path: &std::path::Path) -> Result<()> {
        self.macs.push(entry.mac);
        let Some(items) = entry.ledger.take() else {
            return Ok(());
        };
        let broken = |what: &str| SignerError::LedgerIntegrity {
            path: path.to_owned(),
            reason: format!("entry {} records signed items {what}", entry.seq),
        };
        let (Some(batch_id), Some(chain_id), Some(unsigned_digest), Some(mac)) = (
            entry.batch_id,
            entry.chain_id,
            entry.unsigned_digest,
            entry.mac,
        ) else {
            return Err(broken("without its batch id, chain id, digest or MAC"));
        };
        let recording = u32::try_from(self.recordings.len())
            .map_err(|_| broken("beyond the ledger's capacity"))?;
        self.recordings.push(Recording {
            seq: entry.seq,
            mac,
            batch_id,
            chain_id,
            unsigned_digest,
        });
        self.by_digest.entry(unsigned_digest).or_insert(recording);
        self.records.reserve(items.len());
        for item in items {
            if item.kind == ItemKind::Payment {
                self.paid
                    .insert((chain_id, item.recipient.unwrap_or(item.to)));
            }
            let slot = (chain_id, item.from, item.nonce);
            let key = order_key(&item.order_id);
            let known = self.of_order(key, &item.order_id).any(|r| {
                r.item.signing_hash == item.signing_hash
                    && self.recordings[r.recording as usize].chain_id == chain_id
            });
            if known {
                // Signed again, identical: one record is enough.
                continue;
            }
            let id = u32::try_from(self.records.len())
                .ok()
                .filter(|&id| id != END)
                .ok_or_else(|| broken("beyond the ledger's capacity"))?;
            let older_of_order = self.by_order.insert(key, id).unwrap_or(END);
            let older_of_slot = self.by_slot.insert(slot, id).unwrap_or(END);
            self.records.push(Record {
                recording,
                older_of_order,
                older_of_slot,
                item,
            });
        }
        Ok(())
    }

    /// The records of `order_id` (`key` is its [`order_key`]), latest first.
    fn of_order<'a>(&'a self, key: u64, order_id: &'a str) -> impl Iterator<Item = &'a Record> {
        Chain {
            records: &self.records,
            next: self.by_order.get(&key).copied().unwrap_or(END),
            slot: false,
        }
        .filter(move |r| r.item.order_id == order_id)
    }

    /// The records of `slot`, latest first.
    fn of_slot(&self, slot: &Slot) -> impl Iterator<Item = &Record> {
        Chain {
            records: &self.records,
            next: self.by_slot.get(slot).copied().unwrap_or(END),
            slot: true,
        }
    }

    /// The number of entries of the log.
    pub fn entries(&self) -> u64 {
        self.macs.len() as u64
    }

    /// Batches recorded.
    pub fn recorded_batches(&self) -> usize {
        self.recordings.len()
    }

    /// Distinct items recorded.
    pub fn recorded_items(&self) -> usize {
        self.records.len()
    }

    /// The entry that recorded the batch of this unsigned digest, if any.
    pub fn recording_of(&self, digest: &B256) -> Option<&Recording> {
        self.by_digest
            .get(digest)
            .map(|&r| &self.recordings[r as usize])
    }

    /// Whether the log holds `head`: an entry at `head.seq` with `head.mac`.
    /// The error says what is wrong.
    pub fn holds(&self, head: LedgerHead) -> std::result::Result<(), String> {
        let last = match self.macs.len() {
            0 => "the log is empty".to_owned(),
            n => format!("its last entry is {}", n - 1),
        };
        match usize::try_from(head.seq)
            .ok()
            .and_then(|s| self.macs.get(s))
        {
            None => Err(format!(
                "there is no entry {} ({last}): entries were removed or the log was deleted",
                head.seq
            )),
            Some(None) => Err(format!("entry {} has no MAC", head.seq)),
            Some(Some(m)) if *m != head.mac => Err(format!(
                "entry {} has MAC {m}, not {}: the log was replaced",
                head.seq, head.mac
            )),
            Some(Some(_)) => Ok(()),
        }
    }

    /// Checks every item of `checked` against the ledger. `allow_reissue`
    /// lists the orders the operator allows to be signed again at another
    /// (chain, sender, nonce).
    pub fn check(
        &self,
        checked: &CheckedBatch<'_>,
        allow_reissue: &[String],
        authenticated: bool,
    ) -> LedgerReport {
        let batch = checked.batch();
        let chain = batch.chain_id();
        let allowed: BTreeSet<&str> = allow_reissue.iter().map(String::as_str).collect();
        let mut used: BTreeSet<&str> = BTreeSet::new();
        let mut r = LedgerReport {
            authenticated,
            recorded_batches: self.recordings.len(),
            recorded_items: self.records.len(),
            recorded_as: self.recording_of(&batch.digest()).map(Recording::head),
            ..LedgerReport::default()
        };
        let mut new_recipients = BTreeSet::new();
        for (index, item) in batch.items().iter().enumerate() {
            let order = item.order_id();
            let tx = item.transaction();
            let slot: Slot = (chain, item.from(), tx.nonce());
            if item.kind() == ItemKind::Payment
                && !self.paid.contains(&(chain, item.summary().recipient))
            {
                new_recipients.insert(item.summary().recipient);
            }
            let now = LedgerItem {
                data_hash: keccak256(tx.input()),
                from: item.from(),
                kind: item.kind(),
                nonce: tx.nonce(),
                order_id: String::new(),
                recipient: None,
                signing_hash: item.signing_hash(),
                to: tx.to().unwrap_or_default(),
                tx_hash: B256::default(),
                value: tx.value(),
            };
            let at = |rec: &Record| &self.recordings[rec.recording as usize];
            // The latest prior record of each kind of relation (the chains
            // run latest first).
            let mut other_slot: Option<&Record> = None;
            let mut identical = false;
            let mut replaced: Option<&Record> = None;
            let mut cancelled: Option<&Record> = None;
            let mut refusal: Option<String> = None;
            let mut signed_before = false;
            for rec in self.of_order(order_key(order), order) {
                signed_before = true;
                let b = at(rec);
                let was = &rec.item;
                if (b.chain_id, was.from, was.nonce) != slot {
                    other_slot.get_or_insert(rec);
                } else if was.signing_hash == now.signing_hash {
                    identical = true;
                } else if was.content() == now.content() {
                    replaced.get_or_insert(rec);
                } else if was.kind == ItemKind::Payment && now.kind == ItemKind::Void {
                    cancelled.get_or_insert(rec);
                } else if was.kind == ItemKind::Void && now.kind == ItemKind::Payment {
                    refusal.get_or_insert_with(|| {
                        format!(
                            "the order was cancelled: its void was signed in batch {} (ledger entry {}) at nonce {} of {}; a payment after its void is never signed",
                            b.batch_id, b.seq, was.nonce, was.from
                        )
                    });
                } else {
                    refusal.get_or_insert_with(|| {
                        format!(
                            "batch {} (ledger entry {}) signed this order at the same nonce {} of {} as {}; this item changes its {}: only the fees may change under the same nonce (or the order be voided)",
                            b.batch_id,
                            b.seq,
                            was.nonce,
                            was.from,
                            describe(was),
                            differences(was, &now)
                        )
                    });
                }
            }
            if let Some(rec) = other_slot {
                let b = at(rec);
                let was = &rec.item;
                let chain_note = if b.chain_id == chain {
                    String::new()
                } else {
                    format!(" on chain {}", b.chain_id)
                };
                if allowed.contains(order) {
                    used.insert(order);
                    r.reissues.push(
                        index,
                        order,
                        format!(
                            "REISSUE allowed by --allow-reissue: order {order:?} was signed in batch {} (ledger entry {}) at nonce {} of {}{chain_note}; this item pays it at nonce {} of {}. Both can be mined unless nonce {} is consumed by another transaction",
                            b.batch_id, b.seq, was.nonce, was.from, now.nonce, now.from, was.nonce
                        ),
                    );
                } else {
                    refusal.get_or_insert_with(|| {
                        format!(
                            "order {order:?} was signed before in batch {} (ledger entry {}) at nonce {} of {}{chain_note}; this item has it at nonce {} of {}: both could be mined and the order paid twice. Void nonce {} instead to abandon the earlier version; only if it can never be mined (its nonce was consumed by another transaction), sign with --allow-reissue {order}",
                            b.batch_id, b.seq, was.nonce, was.from, now.nonce, now.from, was.nonce
                        )
                    });
                }
            }
            if let Some(reason) = refusal {
                r.refusals.push(
                    index,
                    order,
                    format!("item {index} (order {order:?}): {reason}"),
                );
                continue;
            }
            if now.kind == ItemKind::Void {
                let text = match cancelled {
                    Some(rec) => format!(
                        "cancels order {order:?}: its payment was signed in batch {} (ledger entry {}) at nonce {} of {}; this 0-value transfer to itself consumes that nonce, so that payment can never be mined",
                        at(rec).batch_id, at(rec).seq, now.nonce, now.from
                    ),
                    None if identical || replaced.is_some() => format!(
                        "cancels order {order:?} (its void was signed before; this one {})",
                        if identical { "is identical" } else { "has other fees" }
                    ),
                    None => format!(
                        "cancels order {order:?}, which this signer never signed: it only consumes nonce {} of {}",
                        now.nonce, now.from
                    ),
                };
                r.cancellations.push(index, order, text);
            }
            if identical {
                r.identical += 1;
            } else if let Some(rec) = replaced {
                r.replacements.push(
                    index,
                    order,
                    format!(
                        "replaces the earlier signature of batch {} (ledger entry {}, tx {}): same nonce {} of {}, only the fees changed",
                        at(rec).batch_id, at(rec).seq, rec.item.tx_hash, now.nonce, now.from
                    ),
                );
            }
            let other_order = self.of_slot(&slot).find(|rec| rec.item.order_id != order);
            if let Some(rec) = other_order {
                r.nonce_reuses.push(
                    index,
                    order,
                    format!(
                        "nonce {} of {} was signed before for order {:?} in batch {} (ledger entry {}): this replaces that order's earlier signature (at most one of them can be mined)",
                        now.nonce, now.from, rec.item.order_id, at(rec).batch_id, at(rec).seq
                    ),
                );
            }
            if !signed_before && other_order.is_none() && now.kind == ItemKind::Payment {
                r.new += 1;
            }
        }
        r.unused_allowances = allowed.difference(&used).map(|s| (*s).to_owned()).collect();
        r.new_recipients = new_recipients.into_iter().collect();
        r
    }
}

impl LedgerReport {
    /// The refusals as one message: each item, its order, the earlier batch
    /// and nonce (the first 20).
    pub fn refusal_message(&self) -> String {
        let mut msg = format!(
            "{} item(s) conflict with what this signer signed before",
            self.refusals.count
        );
        for n in self.refusals.first.iter().take(20) {
            msg.push_str("\n  - ");
            msg.push_str(&n.text);
        }
        if self.refusals.count > 20 {
            msg.push_str(&format!("\n  ... and {} more", self.refusals.count - 20));
        }
        msg
    }
}
