//! The review of a batch: what the operator reads before confirming.
//!
//! Batch id, the chain by name and id, item count, totals per asset (with
//! where each asset's decimals come from), who gets the money (every
//! recipient above a threshold and at least the [`TOP_RECIPIENTS`] largest
//! per asset, with their number of payments, and those this signer never
//! paid before marked NEW), the largest payments, the cancellations
//! (voids), the nonce range of each sender, the fee ranges and worst-case
//! fee, the access lists, the payments flagged as rarely intended (to the
//! zero address, to a token contract, back to a sender), the policy (or its
//! absence, in red), its warnings and breaches, and what the ledger says
//! about each item signed before. `signer inspect` prints the same review.
//!
//! Amounts are computed from the transactions (not the summaries' text),
//! with the native coin's 18 decimals, or a token's decimals from the
//! policy's asset table. A token the policy does not list (allowed only by
//! `unlisted_assets = "allow"` or `--no-policy`) is shown with the batch
//! file's decimals and its contract address next to every amount.
//!
//! Every string from the batch or the policy is escaped when rendered
//! ([`crate::term::field`]).

use crate::ledger::{LedgerReport, Notes};
use crate::policy::{Evaluation, Policy, DEFAULT_SHOWN_SHARE_PERCENT, NATIVE_DECIMALS};
use crate::sign::CheckedBatch;
use crate::term::{field, quoted, red};
use coldsign_core::{amount::format_units, batch::ItemKind, Address, Transaction, B256, U256};
use serde::Serialize;
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
};

/// How many of the largest payments per asset the review lists.
pub const LARGEST_SHOWN: usize = 5;
/// At least this many recipients per asset are listed, the largest totals.
pub const TOP_RECIPIENTS: usize = 10;
/// How many senders' nonce ranges, access lists and flags the text review
/// lists (the JSON review has them all, flags up to [`FLAGS_KEPT`]).
pub const LINES_SHOWN: usize = 20;
/// How many flagged payments the review keeps (all are counted).
pub const FLAGS_KEPT: usize = 100;

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

/// What one recipient receives of one asset in the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientTotal {
    /// The recipient.
    pub recipient: Address,
    /// The total, in the asset's units.
    pub total: String,
    /// How many payments.
    pub payments: usize,
    /// Whether this signer never paid it before (on this chain); `None`
    /// when the ledger was not consulted.
    pub new: Option<bool>,
}

/// Where the decimals an asset is shown with come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecimalsFrom {
    /// The native coin: always 18.
    Native,
    /// The policy's `[assets.X]` table (which binds the symbol to the contract).
    Policy,
    /// The batch file, for a token the policy does not list: not checked.
    BatchUnchecked,
}

/// Totals of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetTotal {
    /// The symbol.
    pub asset: String,
    /// The token contract, `None` for the native coin.
    pub token: Option<Address>,
    /// The decimals amounts are shown with.
    pub decimals: u8,
    /// Where those decimals come from.
    pub decimals_from: DecimalsFrom,
    /// How many items pay this asset.
    pub items: usize,
    /// The total, in the asset's units.
    pub total: String,
    /// Distinct recipients of this asset.
    pub recipients: usize,
    /// Every recipient whose total is at least this is listed, in the
    /// asset's units (the policy's `show_recipients_above`, else
    /// [`DEFAULT_SHOWN_SHARE_PERCENT`] of the total).
    pub listed_above: String,
    /// The recipients listed, largest total first: every one at or above
    /// `listed_above`, and at least the [`TOP_RECIPIENTS`] largest.
    pub top_recipients: Vec<RecipientTotal>,
    /// How many recipients are not listed.
    pub other_recipients: usize,
    /// What they receive in total, in the asset's units.
    pub other_total: String,
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

/// The nonces one sender uses in the batch (checked to be contiguous).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SenderNonces {
    /// The sender.
    pub from: Address,
    /// Its derivation path.
    pub path: String,
    /// The lowest nonce.
    pub first: u64,
    /// The highest nonce.
    pub last: u64,
    /// How many items.
    pub items: usize,
}

/// The lowest and highest of a fee field, in gwei.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Range {
    /// The lowest value.
    pub min: String,
    /// The highest value.
    pub max: String,
    /// How many items have the field.
    pub items: usize,
}

/// The worst-case fees of the batch in the chain's native coin, and the
/// ranges of every fee field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeeExposure {
    /// The fee asset's symbol.
    pub asset: String,
    /// Sum over items of gas limit x max fee per gas, in the coin's units.
    pub total: String,
    /// The highest max fee per gas in the batch, in gwei.
    pub highest_max_fee_per_gas_gwei: String,
    /// Priority fee per gas of the EIP-1559 items, in gwei.
    pub max_priority_fee_per_gas_gwei: Option<Range>,
    /// Max fee per gas of the EIP-1559 items, in gwei.
    pub max_fee_per_gas_gwei: Option<Range>,
    /// Gas price of the legacy items, in gwei.
    pub gas_price_gwei: Option<Range>,
    /// Gas limits (in gas).
    pub gas_limit: Option<Range>,
}

/// One item's non-empty access list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessListShown {
    /// Position in the batch.
    pub index: usize,
    /// The order id.
    pub order_id: String,
    /// The accounts it lists, each with its number of storage keys.
    pub accounts: Vec<(Address, usize)>,
}

/// Why a payment is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// It pays the zero address: the money is burnt.
    ZeroAddress,
    /// It pays a token contract (of the policy or of the batch): tokens
    /// sent there are usually lost.
    TokenContract,
    /// It pays its own sender back.
    OwnSender,
    /// It pays another sender of this batch.
    BatchSender,
}

/// A payment that is valid but rarely intended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// Position in the batch.
    pub index: usize,
    /// The order id.
    pub order_id: String,
    /// Why.
    pub kind: FlagKind,
    /// The recipient.
    pub recipient: Address,
}

/// Everything the operator is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    /// The batch id.
    pub batch_id: u64,
    /// The chain id.
    pub chain_id: u64,
    /// The chain's name (built-in table, else the policy's `[chain_names]`).
    pub chain_name: Option<String>,
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
    /// How many recipients this signer never paid before (on this chain),
    /// once the ledger was consulted.
    pub new_recipients: Option<usize>,
    /// Totals per asset (payments only).
    pub assets: Vec<AssetTotal>,
    /// The void items: each cancels its order by consuming its nonce.
    pub cancellations: Vec<Cancellation>,
    /// Each sender's nonces, by sender.
    pub nonces: Vec<SenderNonces>,
    /// Worst-case fees and fee ranges.
    pub fees: FeeExposure,
    /// How many items carry a non-empty access list.
    pub access_list_items: usize,
    /// The first of them.
    pub access_lists: Vec<AccessListShown>,
    /// How many payments are flagged.
    pub flag_count: usize,
    /// The first [`FLAGS_KEPT`] flagged payments.
    pub flags: Vec<Flag>,
    /// The policy applied (its file), or `None`.
    pub policy: Option<String>,
    /// Whether the operator chose to sign without a policy (`--no-policy`).
    pub no_policy: bool,
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
    by_recipient: BTreeMap<Address, (U256, usize)>,
    payments: Vec<(U256, usize)>,
}

#[derive(Default)]
struct MinMax(Option<(U256, U256)>, usize);

impl MinMax {
    fn add(&mut self, v: U256) {
        self.1 += 1;
        self.0 = Some(match self.0 {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }

    fn range(&self, decimals: u8) -> Option<Range> {
        self.0.map(|(lo, hi)| Range {
            min: format_units(lo, decimals).unwrap_or_default(),
            max: format_units(hi, decimals).unwrap_or_default(),
            items: self.1,
        })
    }
}

impl Review {
    /// Builds the review of a checked batch under `policy`, with its
    /// evaluation. `no_policy` says the operator chose to go without one.
    pub fn new(
        checked: &CheckedBatch<'_>,
        policy: &Policy,
        evaluation: &Evaluation,
        no_policy: bool,
    ) -> Result<Self, TotalsOverflow> {
        let batch = checked.batch();
        let overflow = || TotalsOverflow("fees".into());
        let mut assets: BTreeMap<(String, Option<Address>, u8, DecimalsFrom), Acc> =
            BTreeMap::new();
        let mut senders: BTreeMap<Address, SenderNonces> = BTreeMap::new();
        let mut recipients = BTreeSet::new();
        let mut fee = U256::zero();
        let mut highest = U256::zero();
        let (mut priority, mut max_fee, mut gas_price, mut gas_limit) = (
            MinMax::default(),
            MinMax::default(),
            MinMax::default(),
            MinMax::default(),
        );
        let mut native_symbol = policy.native_symbol.clone();
        let mut cancellations = Vec::new();
        let mut access_list_items = 0;
        let mut access_lists = Vec::new();
        // Any asset contract, of the policy or of the batch.
        let contracts: BTreeSet<Address> = policy
            .assets
            .values()
            .filter_map(|r| r.token)
            .chain(batch.items().iter().filter_map(|i| i.summary().token))
            .collect();
        let sender_set: BTreeSet<Address> = batch.items().iter().map(|i| i.from()).collect();
        let mut flag_count = 0;
        let mut flags = Vec::new();
        for (index, item) in batch.items().iter().enumerate() {
            let s = item.summary();
            let tx = item.transaction();
            let nonce = tx.nonce();
            senders
                .entry(item.from())
                .and_modify(|n| {
                    n.first = n.first.min(nonce);
                    n.last = n.last.max(nonce);
                    n.items += 1;
                })
                .or_insert_with(|| SenderNonces {
                    from: item.from(),
                    path: item.derivation_path().to_owned(),
                    first: nonce,
                    last: nonce,
                    items: 1,
                });
            fee = fee
                .checked_add(tx.max_fee().ok_or_else(overflow)?)
                .ok_or_else(overflow)?;
            highest = highest.max(tx.max_fee_per_gas());
            gas_limit.add(U256::from(tx.gas_limit()));
            match tx {
                Transaction::Eip1559(t) => {
                    priority.add(t.max_priority_fee_per_gas);
                    max_fee.add(t.max_fee_per_gas);
                    if !t.access_list.is_empty() {
                        access_list_items += 1;
                        if access_lists.len() < FLAGS_KEPT {
                            access_lists.push(AccessListShown {
                                index,
                                order_id: item.order_id().to_owned(),
                                accounts: t
                                    .access_list
                                    .iter()
                                    .map(|a| (a.address, a.storage_keys.len()))
                                    .collect(),
                            });
                        }
                    }
                }
                Transaction::Legacy(t) => gas_price.add(t.gas_price),
            }
            if item.kind() == ItemKind::Void {
                cancellations.push(Cancellation {
                    index,
                    order_id: item.order_id().to_owned(),
                    from: item.from(),
                    nonce,
                });
                continue;
            }
            let r = s.recipient;
            recipients.insert(r);
            let flag = if r == Address::default() {
                Some(FlagKind::ZeroAddress)
            } else if contracts.contains(&r) {
                Some(FlagKind::TokenContract)
            } else if r == item.from() {
                Some(FlagKind::OwnSender)
            } else if sender_set.contains(&r) {
                Some(FlagKind::BatchSender)
            } else {
                None
            };
            if let Some(kind) = flag {
                flag_count += 1;
                if flags.len() < FLAGS_KEPT {
                    flags.push(Flag {
                        index,
                        order_id: item.order_id().to_owned(),
                        kind,
                        recipient: r,
                    });
                }
            }
            if s.token.is_none() && native_symbol.is_none() {
                native_symbol = Some(s.asset.clone());
            }
            let (decimals, from) = match (s.token, policy.assets.get(&s.asset)) {
                (None, _) => (NATIVE_DECIMALS, DecimalsFrom::Native),
                (Some(t), Some(rule)) if rule.token == Some(t) => {
                    (rule.decimals, DecimalsFrom::Policy)
                }
                (Some(_), _) => (s.decimals, DecimalsFrom::BatchUnchecked),
            };
            let units = checked.amounts()[index];
            let acc = assets
                .entry((s.asset.clone(), s.token, decimals, from))
                .or_insert_with(|| Acc {
                    items: 0,
                    total: U256::zero(),
                    by_recipient: BTreeMap::new(),
                    payments: Vec::new(),
                });
            acc.items += 1;
            acc.total = acc
                .total
                .checked_add(units)
                .ok_or_else(|| TotalsOverflow(s.asset.clone()))?;
            let per = acc.by_recipient.entry(r).or_insert((U256::zero(), 0));
            // Below the asset's total, which did not overflow.
            per.0 = per.0.saturating_add(units);
            per.1 += 1;
            acc.payments.push((units, index));
        }
        let assets = assets
            .into_iter()
            .map(|((asset, token, decimals, decimals_from), acc)| {
                let rule = policy.assets.get(&asset).filter(|r| r.token == token);
                asset_total(checked, asset, token, decimals, decimals_from, rule, acc)
            })
            .collect();
        Ok(Self {
            batch_id: batch.batch_id(),
            chain_id: batch.chain_id(),
            chain_name: policy.chain_name(batch.chain_id()).map(str::to_owned),
            created_at: batch.created_at().to_owned(),
            digest: batch.digest(),
            items: batch.items().len(),
            payments: batch.items().len() - cancellations.len(),
            senders: senders.len(),
            recipients: recipients.len(),
            new_recipients: None,
            assets,
            cancellations,
            nonces: senders.into_values().collect(),
            fees: FeeExposure {
                asset: native_symbol.unwrap_or_else(|| "native coin".into()),
                total: format_units(fee, NATIVE_DECIMALS).unwrap_or_default(),
                highest_max_fee_per_gas_gwei: format_units(highest, 9).unwrap_or_default(),
                max_priority_fee_per_gas_gwei: priority.range(9),
                max_fee_per_gas_gwei: max_fee.range(9),
                gas_price_gwei: gas_price.range(9),
                gas_limit: gas_limit.range(0),
            },
            access_list_items,
            access_lists,
            flag_count,
            flags,
            policy: policy.source.clone(),
            no_policy,
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

    /// The review with what the ledger says about the batch, recipients
    /// never paid before marked new.
    pub fn with_ledger(mut self, report: LedgerReport) -> Self {
        for a in &mut self.assets {
            for r in &mut a.top_recipients {
                r.new = Some(report.new_recipients.binary_search(&r.recipient).is_ok());
            }
        }
        self.new_recipients = Some(report.new_recipients.len());
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

    /// The review as plain text for the terminal.
    pub fn render(&self) -> String {
        self.render_with(false)
    }

    /// The review as text for the terminal, with what needs attention in
    /// red when `colour` (only for a terminal).
    pub fn render_with(&self, colour: bool) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "=== Batch {} for review ===", self.batch_id);
        if self.no_policy {
            let _ = writeln!(
                o,
                "{}",
                red(
                    "!!! NO POLICY (--no-policy): no caps, allowlist, chain or token rules apply; token decimals are NOT checked !!!",
                    colour
                )
            );
        }
        let _ = writeln!(o, "batch id:     {}", self.batch_id);
        let _ = writeln!(o, "chain:        {}", self.chain_line());
        let _ = writeln!(o, "created at:   {}", field(&self.created_at));
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
        let new = match self.new_recipients {
            Some(n) => format!(", {n} never paid before by this signer (NEW)"),
            None => ", never-paid-before NOT checked (ledger not consulted)".to_owned(),
        };
        let _ = writeln!(o, "recipients:   {} distinct{new}", self.recipients);
        let _ = writeln!(o);
        let _ = writeln!(o, "Totals per asset:");
        for a in &self.assets {
            let (token, from) = match a.decimals_from {
                DecimalsFrom::Native => ("native".to_owned(), "native coin"),
                DecimalsFrom::Policy => (
                    a.token.map(|t| t.to_string()).unwrap_or_default(),
                    "from the policy",
                ),
                DecimalsFrom::BatchUnchecked => (
                    a.token.map(|t| t.to_string()).unwrap_or_default(),
                    "from the batch file: NOT in the policy, NOT checked",
                ),
            };
            let _ = writeln!(
                o,
                "  {:<8} {:>28}{}   {} item(s), {} recipient(s), {} ({} decimals, {from})",
                field(&a.asset),
                a.total,
                contract_tag(a),
                a.items,
                a.recipients,
                token,
                a.decimals
            );
        }
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "Recipients per asset (every one receiving at least the threshold, and the {TOP_RECIPIENTS} largest):"
        );
        for a in &self.assets {
            let _ = writeln!(
                o,
                "  {} (threshold {} {}):",
                field(&a.asset),
                a.listed_above,
                field(&a.asset)
            );
            for r in &a.top_recipients {
                let mark = match r.new {
                    Some(true) => "  NEW",
                    Some(false) => "",
                    None => "  (new? ledger not consulted)",
                };
                let _ = writeln!(
                    o,
                    "    {:>28}{}   to {}   {} payment(s){mark}",
                    r.total,
                    contract_tag(a),
                    r.recipient,
                    r.payments
                );
            }
            if a.other_recipients > 0 {
                let _ = writeln!(
                    o,
                    "    {:>28}{}   to {} other recipient(s), each below the threshold",
                    a.other_total,
                    contract_tag(a),
                    a.other_recipients
                );
            }
        }
        let _ = writeln!(o);
        let _ = writeln!(o, "Largest payments:");
        for a in &self.assets {
            for p in &a.largest {
                let _ = writeln!(
                    o,
                    "  {:<8} {:>28}{}   to {}   item {} (order {})",
                    field(&a.asset),
                    p.amount,
                    contract_tag(a),
                    p.recipient,
                    p.index,
                    quoted(&p.order_id)
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
                    "  item {} (order {}): cancels order {}, consuming nonce {} of {}",
                    c.index,
                    quoted(&c.order_id),
                    quoted(&c.order_id),
                    c.nonce,
                    c.from
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
        let _ = writeln!(o, "Nonces per sender:");
        for n in self.nonces.iter().take(LINES_SHOWN) {
            let range = if n.first == n.last {
                format!("nonce {}", n.first)
            } else {
                format!("nonces {} to {}", n.first, n.last)
            };
            let _ = writeln!(
                o,
                "  {} ({}): {range} ({} item(s))",
                n.from,
                field(&n.path),
                n.items
            );
        }
        if self.nonces.len() > LINES_SHOWN {
            let rest = &self.nonces[LINES_SHOWN..];
            let lo = rest.iter().map(|n| n.first).min().unwrap_or(0);
            let hi = rest.iter().map(|n| n.last).max().unwrap_or(0);
            let _ = writeln!(
                o,
                "  ... and {} more sender(s), nonces between {lo} and {hi} (`signer inspect --json` lists them all)",
                rest.len()
            );
        }
        let _ = writeln!(o);
        let _ = writeln!(o, "Fees:");
        let range = |name: &str, r: &Option<Range>, unit: &str, o: &mut String| {
            if let Some(r) = r {
                let v = if r.min == r.max {
                    r.min.clone()
                } else {
                    format!("{} to {}", r.min, r.max)
                };
                let _ = writeln!(o, "  {name:<22} {v} {unit} ({} item(s))", r.items);
            }
        };
        range(
            "priority fee per gas:",
            &self.fees.max_priority_fee_per_gas_gwei,
            "gwei",
            &mut o,
        );
        range(
            "max fee per gas:",
            &self.fees.max_fee_per_gas_gwei,
            "gwei",
            &mut o,
        );
        range(
            "gas price (legacy):",
            &self.fees.gas_price_gwei,
            "gwei",
            &mut o,
        );
        range("gas limit:", &self.fees.gas_limit, "gas", &mut o);
        let _ = writeln!(
            o,
            "  Worst-case fee exposure: {} {} (sum of gas limit x max fee per gas; highest max fee {} gwei)",
            self.fees.total,
            field(&self.fees.asset),
            self.fees.highest_max_fee_per_gas_gwei
        );
        let _ = writeln!(o);
        if self.access_list_items == 0 {
            let _ = writeln!(o, "Access lists: none");
        } else {
            let _ = writeln!(
                o,
                "Access lists: {} item(s) carry one (they change the fee, not who is paid):",
                self.access_list_items
            );
            for a in self.access_lists.iter().take(LINES_SHOWN) {
                let accounts: Vec<String> = a
                    .accounts
                    .iter()
                    .map(|(addr, keys)| format!("{addr} ({keys} storage key(s))"))
                    .collect();
                let _ = writeln!(
                    o,
                    "  item {} (order {}): {}",
                    a.index,
                    quoted(&a.order_id),
                    accounts.join(", ")
                );
            }
            if self.access_list_items > LINES_SHOWN {
                let _ = writeln!(o, "  ... and {} more", self.access_list_items - LINES_SHOWN);
            }
        }
        let _ = writeln!(o);
        if self.flag_count == 0 {
            let _ = writeln!(
                o,
                "Flagged payments: none (to the zero address, a token contract, or a sender)"
            );
        } else {
            let _ = writeln!(
                o,
                "{}",
                red(
                    &format!(
                        "Flagged payments: {} (valid, but rarely intended: check each)",
                        self.flag_count
                    ),
                    colour
                )
            );
            for f in self.flags.iter().take(LINES_SHOWN) {
                let why = match f.kind {
                    FlagKind::ZeroAddress => "the zero address: the money is burnt",
                    FlagKind::TokenContract => {
                        "a token contract: tokens sent there are usually lost"
                    }
                    FlagKind::OwnSender => "its own sender: the money comes back",
                    FlagKind::BatchSender => "one of this batch's own senders",
                };
                let _ = writeln!(
                    o,
                    "  FLAG: item {} (order {}) pays {}, {why}",
                    f.index,
                    quoted(&f.order_id),
                    f.recipient
                );
            }
            if self.flag_count > LINES_SHOWN {
                let _ = writeln!(o, "  FLAG: ... and {} more", self.flag_count - LINES_SHOWN);
            }
        }
        let _ = writeln!(o);
        render_ledger(
            &mut o,
            self.ledger.as_ref(),
            self.ledger_unavailable.as_deref(),
        );
        let _ = writeln!(o);
        if self.no_policy {
            let _ = writeln!(
                o,
                "{}",
                red(
                    "Policy: NONE (--no-policy given: recorded in the audit log)",
                    colour
                )
            );
        } else if let Some(p) = &self.policy {
            let _ = writeln!(o, "Policy: {}", field(p));
        } else {
            let _ = writeln!(
                o,
                "{}",
                red(
                    "Policy: NONE FOUND: `signer sign` refuses to sign without one (give --policy F, install policy.toml beside the keystore, or pass --no-policy)",
                    colour
                )
            );
        }
        for w in &self.warnings {
            let _ = writeln!(o, "  WARNING: {}", field(w));
        }
        for b in &self.breaches {
            let _ = writeln!(o, "  {}", red(&format!("BREACH: {}", field(b)), colour));
        }
        o
    }

    /// The chain as `Name (chain id N)`, or a note that it has no name.
    pub fn chain_line(&self) -> String {
        match &self.chain_name {
            Some(name) => format!("{} (chain id {})", field(name), self.chain_id),
            None => format!(
                "chain id {} (UNKNOWN: not a well-known chain, and the policy's [chain_names] does not name it)",
                self.chain_id
            ),
        }
    }
}

/// `  [token 0x…, unlisted]` after every amount of a token the policy does
/// not list, nothing otherwise.
fn contract_tag(a: &AssetTotal) -> String {
    match (a.decimals_from, a.token) {
        (DecimalsFrom::BatchUnchecked, Some(t)) => format!(" [token {t}, not in the policy]"),
        _ => String::new(),
    }
}

fn asset_total(
    checked: &CheckedBatch<'_>,
    asset: String,
    token: Option<Address>,
    decimals: u8,
    decimals_from: DecimalsFrom,
    rule: Option<&crate::policy::AssetRule>,
    mut acc: Acc,
) -> AssetTotal {
    let batch = checked.batch();
    let units = |v: U256| format_units(v, decimals).unwrap_or_default();
    // Largest first; ties in file order, so the review is deterministic.
    acc.payments
        .sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let largest = acc
        .payments
        .iter()
        .take(LARGEST_SHOWN)
        .map(|&(amount, index)| {
            let item = &batch.items()[index];
            Payment {
                index,
                order_id: item.order_id().to_owned(),
                recipient: item.summary().recipient,
                amount: units(amount),
            }
        })
        .collect();
    let threshold = rule
        .and_then(|r| r.show_recipients_above)
        .unwrap_or_else(|| {
            // Rounded up, so at most 100 / DEFAULT_SHOWN_SHARE_PERCENT
            // recipients are at or above it.
            let hundred = U256::from(100u64);
            let share = acc
                .total
                .saturating_mul(U256::from(DEFAULT_SHOWN_SHARE_PERCENT));
            let (q, r) = share.div_mod(hundred);
            if r.is_zero() {
                q
            } else {
                q.saturating_add(U256::one())
            }
        });
    let mut per: Vec<(Address, U256, usize)> = acc
        .by_recipient
        .iter()
        .map(|(a, (t, n))| (*a, *t, *n))
        .collect();
    per.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let above = per
        .iter()
        .take_while(|(_, t, _)| !threshold.is_zero() && *t >= threshold)
        .count();
    let shown = above.max(TOP_RECIPIENTS).min(per.len());
    let other_total = per[shown..]
        .iter()
        .fold(U256::zero(), |s, (_, t, _)| s.saturating_add(*t));
    AssetTotal {
        total: units(acc.total),
        asset,
        token,
        decimals,
        decimals_from,
        items: acc.items,
        recipients: per.len(),
        listed_above: units(threshold),
        top_recipients: per[..shown]
            .iter()
            .map(|(recipient, total, payments)| RecipientTotal {
                recipient: *recipient,
                total: units(*total),
                payments: *payments,
                new: None,
            })
            .collect(),
        other_recipients: per.len() - shown,
        other_total: units(other_total),
        largest,
    }
}

/// How many lines of each kind of ledger note the text review shows.
pub const LEDGER_LINES_SHOWN: usize = 20;

fn render_notes(o: &mut String, tag: &str, notes: &Notes) {
    for n in notes.first.iter().take(LEDGER_LINES_SHOWN) {
        let _ = writeln!(
            o,
            "  {tag}: item {} (order {}): {}",
            n.index,
            quoted(&n.order_id),
            field(&n.text)
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
            field(unavailable.unwrap_or("no ledger"))
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
            "  note: --allow-reissue {}: not needed (that order is not signed at another nonce in this batch)",
            field(order)
        );
    }
}
