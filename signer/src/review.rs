//! The review of a batch: what the operator reads before confirming.
//!
//! Batch id, chain, item count, totals per asset, recipients (how many, and
//! the largest payments), cancellations (voids), the worst-case fee
//! exposure, policy warnings and breaches, and what the ledger says about
//! each item signed before. `signer inspect` prints the same review.

use crate::ledger::{LedgerReport, Notes};
use crate::policy::{Evaluation, Policy, NATIVE_DECIMALS};
use crate::sign::CheckedBatch;
use coldsign_core::{amount::format_units, batch::ItemKind, Address, B256, U256};
use serde::Serialize;
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
};

/// How many of the largest payments per asset the review lists.
pub const LARGEST_SHOWN: usize = 5;

/// One payment, as listed among the largest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payment {
    /// Position in the batch.
    pub index: usize,
    /// The order id.
    pub order_id: String,
    /// The recipient.
    pub recipient: Address,
    /// The amount, in the asset's units.
    pub amount: String,
}

/// Totals of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetTotal {
    /// The symbol.
    pub asset: String,
    /// The token contract, `None` for the native coin.
    pub token: Option<Address>,
    /// The asset's decimals.
    pub decimals: u8,
    /// How many items pay this asset.
    pub items: usize,
    /// The total, in the asset's units.
    pub total: String,
    /// Distinct recipients of this asset.
    pub recipients: usize,
    /// The largest payments, largest first.
    pub largest: Vec<Payment>,
}

/// A void item: the cancellation of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cancellation {
    /// Position in the batch.
    pub index: usize,
    /// The order it cancels.
    pub order_id: String,
    /// The sender whose nonce it consumes.
    pub from: Address,
    /// The nonce it consumes.
    pub nonce: u64,
}

/// How many lines of each kind of ledger note the text review shows.
pub const LEDGER_LINES_SHOWN: usize = 20;

/// The worst-case fees of the batch in the chain's native coin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeeExposure {
    /// The fee asset's symbol.
    pub asset: String,
    /// Sum over items of gas limit x max fee per gas, in the coin's units.
    pub total: String,
    /// The highest max fee per gas in the batch, in gwei.
    pub highest_max_fee_per_gas_gwei: String,
}

/// Everything the operator is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    /// The batch id.
    pub batch_id: u64,
    /// The chain id.
    pub chain_id: u64,
    /// When the hub created the batch.
    pub created_at: String,
    /// The unsigned file's digest.
    pub digest: B256,
    /// Number of items.
    pub items: usize,
    /// Items that pay (not voids).
    pub payments: usize,
    /// Distinct senders.
    pub senders: usize,
    /// Distinct recipients over all assets.
    pub recipients: usize,
    /// Totals per asset (payments only).
    pub assets: Vec<AssetTotal>,
    /// The void items: each cancels its order by consuming its nonce.
    pub cancellations: Vec<Cancellation>,
    /// Worst-case fees.
    pub fees: FeeExposure,
    /// The policy applied (its file), or `None`.
    pub policy: Option<String>,
    /// Policy warnings.
    pub warnings: Vec<String>,
    /// Policy breaches: any one refuses the batch.
    pub breaches: Vec<String>,
    /// What the ledger says about the items, once it was consulted.
    pub ledger: Option<LedgerReport>,
    /// Why the ledger was not consulted, if it was not.
    pub ledger_unavailable: Option<String>,
}

/// Why a review could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("totals overflow 256 bits for asset {0}: the batch is not plausible")]
pub struct TotalsOverflow(pub String);

struct Acc {
    items: usize,
    total: U256,
    recipients: BTreeSet<Address>,
    payments: Vec<(U256, usize)>,
}

impl Review {
    /// Builds the review of a checked batch under `policy`, with its evaluation.
    pub fn new(
        checked: &CheckedBatch<'_>,
        policy: &Policy,
        evaluation: &Evaluation,
    ) -> Result<Self, TotalsOverflow> {
        let batch = checked.batch();
        let mut assets: BTreeMap<(String, Option<Address>, u8), Acc> = BTreeMap::new();
        let mut senders = BTreeSet::new();
        let mut recipients = BTreeSet::new();
        let mut fee = U256::zero();
        let mut highest = U256::zero();
        let mut native_symbol = policy.native_symbol.clone();
        let mut cancellations = Vec::new();
        for (index, item) in batch.items().iter().enumerate() {
            let s = item.summary();
            let tx = item.transaction();
            senders.insert(item.from());
            let max_fee = tx.max_fee().ok_or_else(|| TotalsOverflow("fees".into()))?;
            fee = fee
                .checked_add(max_fee)
                .ok_or_else(|| TotalsOverflow("fees".into()))?;
            highest = highest.max(tx.max_fee_per_gas());
            if item.kind() == ItemKind::Void {
                cancellations.push(Cancellation {
                    index,
                    order_id: item.order_id().to_owned(),
                    from: item.from(),
                    nonce: tx.nonce(),
                });
                continue;
            }
            recipients.insert(s.recipient);
            if s.token.is_none() && native_symbol.is_none() {
                native_symbol = Some(s.asset.clone());
            }
            let units = checked.amounts()[index];
            let acc = assets
                .entry((s.asset.clone(), s.token, s.decimals))
                .or_insert_with(|| Acc {
                    items: 0,
                    total: U256::zero(),
                    recipients: BTreeSet::new(),
                    payments: Vec::new(),
                });
            acc.items += 1;
            acc.total = acc
                .total
                .checked_add(units)
                .ok_or_else(|| TotalsOverflow(s.asset.clone()))?;
            acc.recipients.insert(s.recipient);
            acc.payments.push((units, index));
        }
        let assets = assets
            .into_iter()
            .map(|((asset, token, decimals), mut acc)| {
                // Largest first; ties in file order, so the review is deterministic.
                acc.payments
                    .sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                let largest = acc
                    .payments
                    .iter()
                    .take(LARGEST_SHOWN)
                    .map(|&(_, index)| {
                        let item = &batch.items()[index];
                        Payment {
                            index,
                            order_id: item.order_id().to_owned(),
                            recipient: item.summary().recipient,
                            amount: item.summary().amount.clone(),
                        }
                    })
                    .collect();
                AssetTotal {
                    total: format_units(acc.total, decimals).unwrap_or_default(),
                    asset,
                    token,
                    decimals,
                    items: acc.items,
                    recipients: acc.recipients.len(),
                    largest,
                }
            })
            .collect();
        Ok(Self {
            batch_id: batch.batch_id(),
            chain_id: batch.chain_id(),
            created_at: batch.created_at().to_owned(),
            digest: batch.digest(),
            items: batch.items().len(),
            payments: batch.items().len() - cancellations.len(),
            senders: senders.len(),
            recipients: recipients.len(),
            assets,
            cancellations,
            fees: FeeExposure {
                asset: native_symbol.unwrap_or_else(|| "native coin".into()),
                total: format_units(fee, NATIVE_DECIMALS).unwrap_or_default(),
                highest_max_fee_per_gas_gwei: format_units(highest, 9).unwrap_or_default(),
            },
            policy: policy.source.clone(),
            warnings: evaluation.warnings.clone(),
            breaches: evaluation
                .breaches
                .iter()
                .map(ToString::to_string)
                .collect(),
            ledger: None,
            ledger_unavailable: None,
        })
    }

    /// The review with what the ledger says about the batch.
    pub fn with_ledger(mut self, report: LedgerReport) -> Self {
        self.ledger = Some(report);
        self.ledger_unavailable = None;
        self
    }

    /// The review, noting why the ledger was not consulted.
    pub fn without_ledger(mut self, why: String) -> Self {
        self.ledger = None;
        self.ledger_unavailable = Some(why);
        self
    }

    /// The review as text for the terminal.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "=== Batch {} for review ===", self.batch_id);
        let _ = writeln!(o, "batch id:     {}", self.batch_id);
        let _ = writeln!(o, "chain id:     {}", self.chain_id);
        let _ = writeln!(o, "created at:   {}", self.created_at);
        let _ = writeln!(o, "digest:       {}", self.digest);
        if self.cancellations.is_empty() {
            let _ = writeln!(o, "items:        {}", self.items);
        } else {
            let _ = writeln!(
                o,
                "items:        {} ({} payment(s), {} cancellation(s))",
                self.items,
                self.payments,
                self.cancellations.len()
            );
        }
        let _ = writeln!(o, "senders:      {}", self.senders);
        let _ = writeln!(o, "recipients:   {} distinct", self.recipients);
        let _ = writeln!(o);
        let _ = writeln!(o, "Totals per asset:");
        for a in &self.assets {
            let token = a.token.map_or("native".to_owned(), |t| t.to_string());
            let _ = writeln!(
                o,
                "  {:<8} {:>28}   {} item(s), {} recipient(s), {} ({} decimals)",
                a.asset, a.total, a.items, a.recipients, token, a.decimals
            );
        }
        let _ = writeln!(o);
        let _ = writeln!(o, "Largest payments:");
        for a in &self.assets {
            for p in &a.largest {
                let _ = writeln!(
                    o,
                    "  {:<8} {:>28}   to {}   item {} (order {})",
                    a.asset, p.amount, p.recipient, p.index, p.order_id
                );
            }
        }
        if !self.cancellations.is_empty() {
            let _ = writeln!(o);
            let _ = writeln!(
                o,
                "Cancellations (voids: a 0-value transfer from the sender to itself at the order's nonce, so that no other version of the order can be mined):"
            );
            for c in self.cancellations.iter().take(LEDGER_LINES_SHOWN) {
                let _ = writeln!(
                    o,
                    "  item {} (order {:?}): cancels order {:?}, consuming nonce {} of {}",
                    c.index, c.order_id, c.order_id, c.nonce, c.from
                );
            }
            if self.cancellations.len() > LEDGER_LINES_SHOWN {
                let _ = writeln!(
                    o,
                    "  ... and {} more",
                    self.cancellations.len() - LEDGER_LINES_SHOWN
                );
            }
        }
        let _ = writeln!(o);
        render_ledger(
            &mut o,
            self.ledger.as_ref(),
            self.ledger_unavailable.as_deref(),
        );
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "Worst-case fee exposure: {} {} (sum of gas limit x max fee per gas; highest max fee {} gwei)",
            self.fees.total, self.fees.asset, self.fees.highest_max_fee_per_gas_gwei
        );
        let _ = writeln!(o, "Policy: {}", self.policy.as_deref().unwrap_or("none"));
        for w in &self.warnings {
            let _ = writeln!(o, "  WARNING: {w}");
        }
        for b in &self.breaches {
            let _ = writeln!(o, "  BREACH: {b}");
        }
        o
    }
}

fn render_notes(o: &mut String, tag: &str, notes: &Notes) {
    for n in notes.first.iter().take(LEDGER_LINES_SHOWN) {
        let _ = writeln!(
            o,
            "  {tag}: item {} (order {:?}): {}",
            n.index, n.order_id, n.text
        );
    }
    if notes.count > LEDGER_LINES_SHOWN {
        let _ = writeln!(
            o,
            "  {tag}: ... and {} more",
            notes.count - LEDGER_LINES_SHOWN
        );
    }
}

fn render_ledger(o: &mut String, ledger: Option<&LedgerReport>, unavailable: Option<&str>) {
    let Some(l) = ledger else {
        let _ = writeln!(
            o,
            "Ledger: not consulted ({})",
            unavailable.unwrap_or("no ledger")
        );
        return;
    };
    let _ = writeln!(
        o,
        "Ledger: {} batch(es), {} item(s) signed before ({})",
        l.recorded_batches,
        l.recorded_items,
        if l.authenticated {
            "MACs verified with the seed's key"
        } else {
            "hash chain only: NOT authenticated without the password; `sign` verifies the MACs"
        }
    );
    let _ = writeln!(
        o,
        "  new: {}; identical re-signs: {}; fee-only replacements: {}; cancellations: {}; reissues allowed: {}; nonces signed before for another order: {}; refused: {}",
        l.new,
        l.identical,
        l.replacements.count,
        l.cancellations.count,
        l.reissues.count,
        l.nonce_reuses.count,
        l.refusals.count
    );
    if let Some(h) = l.recorded_as {
        let _ = writeln!(
            o,
            "  this exact batch was recorded in ledger entry {}: signing it again records nothing new and gives the same signed file",
            h.seq
        );
    }
    render_notes(o, "REFUSED", &l.refusals);
    render_notes(o, "REISSUE", &l.reissues);
    render_notes(o, "REPLACES", &l.replacements);
    render_notes(o, "CANCELS", &l.cancellations);
    render_notes(o, "NONCE", &l.nonce_reuses);
    for order in &l.unused_allowances {
        let _ = writeln!(
            o,
            "  note: --allow-reissue {order}: not needed (that order is not signed at another nonce in this batch)"
        );
    }
}
