//! The unsigned batch: what the hub exports and the signer reads.

use super::{
    check_header, check_order_id, check_timestamp, error::ItemError, summary::Summary,
    tx_json::TxJson, BatchError, ItemKind, LedgerHead, FORMAT_VERSION, MAX_ITEMS, UNSIGNED_FORMAT,
};
use crate::{address::Address, hash::B256, transaction::Transaction};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};

/// One payment in an unsigned batch, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedItem {
    order_id: String,
    from: Address,
    derivation_path: String,
    tx: Transaction,
    summary: Summary,
    kind: ItemKind,
    signing_hash: B256,
}

impl UnsignedItem {
    /// The hub's order id.
    pub fn order_id(&self) -> &str {
        &self.order_id
    }

    /// The sending address.
    pub fn from(&self) -> Address {
        self.from
    }

    /// The BIP32 path of the sending key, e.g. `m/44'/60'/0'/0/7`.
    pub fn derivation_path(&self) -> &str {
        &self.derivation_path
    }

    /// The transaction to sign.
    pub fn transaction(&self) -> &Transaction {
        &self.tx
    }

    /// What the item pays, for people.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Whether the item pays its order or voids it.
    pub fn kind(&self) -> ItemKind {
        self.kind
    }

    /// The signing hash, recomputed from the fields (equal to the file's).
    pub fn signing_hash(&self) -> B256 {
        self.signing_hash
    }
}

/// The inputs of one item, before validation.
#[derive(Debug, Clone)]
pub struct UnsignedItemDraft {
    /// The hub's order id.
    pub order_id: String,
    /// The sending address.
    pub from: Address,
    /// The BIP32 path of the sending key.
    pub derivation_path: String,
    /// The transaction to sign.
    pub tx: Transaction,
    /// What the item pays, for people.
    pub summary: Summary,
    /// A payment, or the void of the order (a 0-value self-transfer that
    /// consumes the order's nonce).
    pub kind: ItemKind,
}

/// A validated unsigned batch.
///
/// Every way to obtain one ([`UnsignedBatch::new`], [`UnsignedBatch::parse`])
/// checks every rule of the format, so holding one means it is consistent:
/// chain ids agree, signing hashes are recomputed, summaries match the
/// transactions, order ids and (sender, nonce) pairs are unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedBatch {
    batch_id: u64,
    chain_id: u64,
    created_at: String,
    ledger_head: Option<LedgerHead>,
    items: Vec<UnsignedItem>,
    digest: B256,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemJson {
    order_id: String,
    from: Address,
    derivation_path: String,
    tx: TxJson,
    summary: Summary,
    /// Absent for a payment: `"void"` is the only value written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<ItemKind>,
    signing_hash: B256,
}

/// The file as parsed: with each item left as its raw JSON text
/// (`FileJson<&RawValue>`), so items can be parsed and validated on all
/// cores; or typed in one pass (`FileJson<ItemJson>`), only to report the
/// first JSON error in file order when the fast path found one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJson<I> {
    format: String,
    version: u32,
    batch_id: u64,
    chain_id: u64,
    created_at: String,
    #[serde(default)]
    ledger_head: Option<LedgerHead>,
    items: Vec<I>,
    digest: B256,
}

/// The file's fields in file order, without the digest: what the digest hashes.
#[derive(Serialize)]
struct Body<'a> {
    format: &'a str,
    version: u32,
    batch_id: u64,
    chain_id: u64,
    created_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ledger_head: Option<LedgerHead>,
    items: &'a [ItemJson],
}

/// The file as written: the body and its digest.
#[derive(Serialize)]
struct FileOut<'a> {
    #[serde(flatten)]
    body: Body<'a>,
    digest: B256,
}

fn check_path(path: &str) -> Result<(), ItemError> {
    let bad = || ItemError::BadDerivationPath(path.to_owned());
    let parsed: bip32::DerivationPath = path.parse().map_err(|_| bad())?;
    // Only the one canonical spelling (`'` for hardened, no leading zeros).
    if parsed.to_string() != path || parsed.is_empty() || parsed.len() > 10 {
        return Err(bad());
    }
    Ok(())
}

fn validate_item(chain_id: u64, draft: UnsignedItemDraft) -> Result<UnsignedItem, ItemError> {
    check_order_id(&draft.order_id)?;
    check_path(&draft.derivation_path)?;
    if draft.tx.chain_id() != chain_id {
        return Err(ItemError::ChainIdMismatch {
            expected: chain_id,
            found: draft.tx.chain_id(),
        });
    }
    draft.tx.check_validity()?;
    draft.summary.check(&draft.tx)?;
    if draft.kind == ItemKind::Void {
        let s = &draft.summary;
        let zero = crate::amount::parse_units(&s.amount, s.decimals).ok() == Some(0.into());
        if s.token.is_some() || s.recipient != draft.from || !zero {
            return Err(ItemError::BadVoid);
        }
    }
    let signing_hash = draft.tx.signing_hash();
    Ok(UnsignedItem {
        order_id: draft.order_id,
        from: draft.from,
        derivation_path: draft.derivation_path,
        tx: draft.tx,
        summary: draft.summary,
        kind: draft.kind,
        signing_hash,
    })
}

fn item_json(item: &UnsignedItem) -> ItemJson {
    ItemJson {
        order_id: item.order_id.clone(),
        from: item.from,
        derivation_path: item.derivation_path.clone(),
        tx: TxJson::from(&item.tx),
        summary: item.summary.clone(),
        kind: (item.kind == ItemKind::Void).then_some(ItemKind::Void),
        signing_hash: item.signing_hash,
    }
}

fn body<'a>(
    batch_id: u64,
    chain_id: u64,
    created_at: &'a str,
    ledger_head: Option<LedgerHead>,
    items: &'a [ItemJson],
) -> Body<'a> {
    Body {
        format: UNSIGNED_FORMAT,
        version: FORMAT_VERSION,
        batch_id,
        chain_id,
        created_at,
        ledger_head,
        items,
    }
}

/// Items serialised per step when hashing: a step's text (about 1 MB) is
/// hashed while the next step's is being serialised, so a 100,000-item
/// batch is never held as one buffer.
const DIGEST_STEP: usize = 1024;
/// Items serialised per task within a step.
const DIGEST_TASK: usize = 64;

/// Keccak-256 of the body's compact JSON.
///
/// The items come last in the body, so the text is the body with no items
/// (up to its `[`), the items' compact JSON joined by commas, and `]}`. The
/// items are serialised on the rayon pool a step at a time, and each step's
/// text is fed to the one hasher, in file order, while the next step is
/// being serialised; `digest_is_the_keccak_of_the_compact_body` checks the
/// result against hashing the body serialised in one piece.
fn digest_of(body: &Body<'_>) -> Result<B256, BatchError> {
    let json_err = |e: &dyn std::fmt::Display| BatchError::Json(e.to_string());
    let empty = serde_json::to_string(&Body {
        items: &[],
        ..*body
    })
    .map_err(|e| json_err(&e))?;
    let prefix = empty
        .strip_suffix("]}")
        .ok_or_else(|| BatchError::Json("the body does not end with its items".into()))?;
    let mut hasher = sha3::Keccak256::default();
    sha3::Digest::update(&mut hasher, prefix.as_bytes());
    let serialise = |step: &[ItemJson]| {
        step.par_chunks(DIGEST_TASK)
            .map(|task| {
                let mut out = Vec::with_capacity(task.len() * 768);
                for item in task {
                    out.push(b',');
                    serde_json::to_writer(&mut out, item)?;
                }
                Ok(out)
            })
            .collect::<Result<Vec<Vec<u8>>, serde_json::Error>>()
    };
    // Every item's text starts with a comma; the very first one is skipped.
    let mut first = true;
    let mut feed = |texts: Vec<Vec<u8>>| {
        for text in &texts {
            let text = if first {
                text.get(1..).unwrap_or_default()
            } else {
                text
            };
            first = false;
            sha3::Digest::update(&mut hasher, text);
        }
    };
    let mut pending: Option<Vec<Vec<u8>>> = None;
    for step in body.items.chunks(DIGEST_STEP) {
        let (texts, ()) = rayon::join(
            || serialise(step),
            || {
                if let Some(texts) = pending.take() {
                    feed(texts);
                }
            },
        );
        pending = Some(texts.map_err(|e| json_err(&e))?);
    }
    if let Some(texts) = pending {
        feed(texts);
    }
    sha3::Digest::update(&mut hasher, b"]}");
    Ok(B256(sha3::Digest::finalize(hasher).into()))
}

impl UnsignedBatch {
    /// Builds a batch from drafts, validating every rule of the format.
    pub fn new(
        batch_id: u64,
        chain_id: u64,
        created_at: &str,
        drafts: Vec<UnsignedItemDraft>,
    ) -> Result<Self, BatchError> {
        Self::with_ledger_head(batch_id, chain_id, created_at, None, drafts)
    }

    /// Builds a batch that carries `ledger_head`, the latest head of the
    /// signer's ledger the hub has seen in a signed file, validating every
    /// rule of the format.
    pub fn with_ledger_head(
        batch_id: u64,
        chain_id: u64,
        created_at: &str,
        ledger_head: Option<LedgerHead>,
        drafts: Vec<UnsignedItemDraft>,
    ) -> Result<Self, BatchError> {
        let items = validate_items(chain_id, created_at, drafts)?;
        let json: Vec<ItemJson> = items.iter().map(item_json).collect();
        let digest = digest_of(&body(batch_id, chain_id, created_at, ledger_head, &json))?;
        Ok(Self {
            batch_id,
            chain_id,
            created_at: created_at.to_owned(),
            ledger_head,
            items,
            digest,
        })
    }

    /// Parses and validates an unsigned batch file.
    ///
    /// Refuses an unknown format or version, unknown or missing fields,
    /// duplicate order ids or (sender, nonce) pairs, an item on another chain,
    /// a summary that disagrees with its transaction, a signing hash that is
    /// not the hash of the fields, and a digest that is not the content's.
    pub fn parse(json: &str) -> Result<Self, BatchError> {
        // One pass splits the file into its fields and each item's raw
        // text; the items are then parsed on all cores. Any JSON error is
        // reported as one typed pass over the whole file reports it, the
        // header's errors first, so the messages do not depend on the path.
        let Ok(file) = serde_json::from_str::<FileJson<&RawValue>>(json) else {
            return Err(Self::first_json_error(json));
        };
        if file.format != UNSIGNED_FORMAT {
            return Err(BatchError::UnknownFormat {
                expected: UNSIGNED_FORMAT,
                found: Some(file.format),
            });
        }
        if file.version != FORMAT_VERSION {
            return Err(BatchError::UnsupportedVersion(Some(file.version.into())));
        }
        if file.items.len() > MAX_ITEMS {
            return Err(BatchError::TooManyItems(file.items.len()));
        }
        let Ok(items) = file
            .items
            .par_iter()
            .map(|raw| serde_json::from_str::<ItemJson>(raw.get()))
            .collect::<Result<Vec<ItemJson>, _>>()
        else {
            return Err(Self::first_json_error(json));
        };
        // Strict parsing leaves every value in its canonical form, so the
        // parsed items serialize to exactly the canonical content: hash them
        // as they are rather than rebuilding them from the validated items.
        let digest = digest_of(&body(
            file.batch_id,
            file.chain_id,
            &file.created_at,
            file.ledger_head,
            &items,
        ))?;
        let mut stated_hashes = Vec::with_capacity(items.len());
        let mut drafts = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            // One spelling only: a payment has no `kind`.
            if item.kind == Some(ItemKind::Payment) {
                return Err(BatchError::Item {
                    index,
                    order_id: item.order_id,
                    reason: ItemError::ExplicitPaymentKind,
                });
            }
            stated_hashes.push(item.signing_hash);
            drafts.push(UnsignedItemDraft {
                order_id: item.order_id,
                from: item.from,
                derivation_path: item.derivation_path,
                tx: item.tx.into(),
                summary: item.summary,
                kind: item.kind.unwrap_or(ItemKind::Payment),
            });
        }
        let items = validate_items(file.chain_id, &file.created_at, drafts)?;
        for (index, (item, stated)) in items.iter().zip(stated_hashes).enumerate() {
            if item.signing_hash != stated {
                return Err(BatchError::Item {
                    index,
                    order_id: item.order_id.clone(),
                    reason: ItemError::SigningHashMismatch {
                        stated,
                        computed: item.signing_hash,
                    },
                });
            }
        }
        if digest != file.digest {
            return Err(BatchError::DigestMismatch {
                stated: file.digest,
                computed: digest,
            });
        }
        Ok(Self {
            batch_id: file.batch_id,
            chain_id: file.chain_id,
            created_at: file.created_at,
            ledger_head: file.ledger_head,
            items,
            digest,
        })
    }

    /// The error of a file the fast path could not parse, as one typed
    /// pass over the whole file reports it (header errors first).
    fn first_json_error(json: &str) -> BatchError {
        if let Err(e) = check_header(json, UNSIGNED_FORMAT) {
            return e;
        }
        match serde_json::from_str::<FileJson<ItemJson>>(json) {
            Err(e) => BatchError::Json(e.to_string()),
            Ok(_) => BatchError::Json("the file could not be parsed".into()),
        }
    }

    /// The file's text: pretty-printed JSON ending in a newline.
    pub fn to_json(&self) -> String {
        let json: Vec<ItemJson> = self.items.iter().map(item_json).collect();
        let out = FileOut {
            body: body(
                self.batch_id,
                self.chain_id,
                &self.created_at,
                self.ledger_head,
                &json,
            ),
            digest: self.digest,
        };
        let mut text = serde_json::to_string_pretty(&out).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The batch id given by the hub.
    pub fn batch_id(&self) -> u64 {
        self.batch_id
    }

    /// The chain every item is for.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// When the hub created the batch, `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn created_at(&self) -> &str {
        &self.created_at
    }

    /// The latest head of the signer's ledger that the hub had seen when it
    /// built this batch, if any: a signer whose own ledger is behind it must
    /// refuse to sign (its ledger was truncated or restored from a backup).
    pub fn ledger_head(&self) -> Option<LedgerHead> {
        self.ledger_head
    }

    /// The items, in file order.
    pub fn items(&self) -> &[UnsignedItem] {
        &self.items
    }

    /// keccak256 of the canonical content: the compact JSON of every field
    /// except `digest`, in file order.
    pub fn digest(&self) -> B256 {
        self.digest
    }

    /// The name the unsigned file is written under.
    pub fn file_name(&self) -> String {
        super::unsigned_file_name(self.batch_id, &self.created_at)
    }
}

/// Validates the timestamp, the item count and every item, then uniqueness.
fn validate_items(
    chain_id: u64,
    created_at: &str,
    drafts: Vec<UnsignedItemDraft>,
) -> Result<Vec<UnsignedItem>, BatchError> {
    check_timestamp(created_at)?;
    if drafts.is_empty() {
        return Err(BatchError::Empty);
    }
    if drafts.len() > MAX_ITEMS {
        return Err(BatchError::TooManyItems(drafts.len()));
    }
    // Every item on all cores; the first failure in file order is reported.
    let results: Vec<Result<UnsignedItem, BatchError>> = drafts
        .into_par_iter()
        .enumerate()
        .map(|(index, draft)| {
            let order_id = draft.order_id.clone();
            validate_item(chain_id, draft).map_err(|reason| BatchError::Item {
                index,
                order_id,
                reason,
            })
        })
        .collect();
    let items = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    check_uniqueness(&items)?;
    Ok(items)
}

fn check_uniqueness(items: &[UnsignedItem]) -> Result<(), BatchError> {
    let mut order_ids = HashSet::with_capacity(items.len());
    let mut nonces: HashMap<(Address, u64), &str> = HashMap::with_capacity(items.len());
    for item in items {
        if !order_ids.insert(item.order_id.as_str()) {
            return Err(BatchError::DuplicateOrderId(item.order_id.clone()));
        }
        let key = (item.from, item.tx.nonce());
        if let Some(first) = nonces.insert(key, &item.order_id) {
            return Err(BatchError::DuplicateNonce {
                from: item.from,
                nonce: item.tx.nonce(),
                first: first.to_owned(),
                second: item.order_id.clone(),
            });
        }
    }
    Ok(())
}
