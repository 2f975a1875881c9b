//! The signing policy (`policy.toml`): rules a batch must meet before
//! anything is signed. A breach refuses the whole batch and names the rule
//! and the item. See `docs/policy.example.toml` for every field.

use crate::error::{Result, SignerError};
use crate::sign::CheckedBatch;
use coldsign_core::{
    amount::{format_units, parse_units},
    batch::ItemKind,
    Address, U256,
};
use serde::Deserialize;
use std::{collections::BTreeMap, fmt, path::Path};

/// Decimals of the native coin of every EVM chain.
pub const NATIVE_DECIMALS: u8 = 18;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyToml {
    allowed_chain_ids: Option<Vec<u64>>,
    allowed_accounts: Option<Vec<u32>>,
    native_symbol: Option<String>,
    max_fee_per_gas_gwei: Option<String>,
    max_total_fee: Option<String>,
    recipient_allowlist: Option<Vec<Address>>,
    allow_contract_creation: Option<bool>,
    unlisted_assets: Option<String>,
    #[serde(default)]
    chain_names: BTreeMap<String, String>,
    #[serde(default)]
    assets: BTreeMap<String, AssetToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssetToml {
    token: String,
    decimals: Option<u8>,
    max_per_tx: Option<String>,
    max_per_batch: Option<String>,
    show_recipients_above: Option<String>,
}

/// The rules for one asset symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRule {
    /// The token contract, or `None` for the native coin.
    pub token: Option<Address>,
    /// The asset's decimals.
    pub decimals: u8,
    /// The most one transaction may pay, in base units.
    pub max_per_tx: Option<U256>,
    /// The most the whole batch may pay, in base units.
    pub max_per_batch: Option<U256>,
    /// The review lists every recipient whose total in the batch is at
    /// least this, in base units (default: [`DEFAULT_SHOWN_SHARE_PERCENT`]
    /// of the asset's total in the batch).
    pub show_recipients_above: Option<U256>,
}

/// Without `show_recipients_above`, the review lists every recipient that
/// receives at least this share of an asset's total in the batch (besides
/// the [`crate::review::TOP_RECIPIENTS`] largest).
pub const DEFAULT_SHOWN_SHARE_PERCENT: u64 = 1;

/// A loaded, validated policy. [`Policy::default`] is the empty policy:
/// nothing beyond the built-in checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Where it was loaded from, if anywhere.
    pub source: Option<String>,
    /// keccak256 of the file's bytes, when loaded from a file.
    pub source_digest: Option<coldsign_core::B256>,
    /// Chains that may be signed for; `None` allows any non-zero chain id.
    pub allowed_chain_ids: Option<Vec<u64>>,
    /// Accounts (`m/44'/60'/<account>'`) that may sign; `None` allows any.
    pub allowed_accounts: Option<Vec<u32>>,
    /// Symbol of the chain's native coin, for showing fees.
    pub native_symbol: Option<String>,
    /// Ceiling on max fee per gas (or gas price), in wei.
    pub max_fee_per_gas: Option<U256>,
    /// Ceiling on the batch's summed worst-case fee, in wei.
    pub max_total_fee: Option<U256>,
    /// If set, the only recipients that may be paid.
    pub recipient_allowlist: Option<Vec<Address>>,
    /// Whether assets not listed in `assets` are allowed.
    pub allow_unlisted_assets: bool,
    /// Rules per asset symbol.
    pub assets: BTreeMap<String, AssetRule>,
    /// Names of chains the built-in table does not know, by chain id.
    pub chain_names: BTreeMap<u64, String>,
}

/// A broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// The rule's name as written in `policy.toml`.
    pub rule: String,
    /// The offending item (index from 0, order id), if the rule is per item.
    pub item: Option<(usize, String)>,
    /// What happened.
    pub detail: String,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule `{}`", self.rule)?;
        if let Some((index, order)) = &self.item {
            write!(f, ", item {index} (order {order:?})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// The result of applying a policy to a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Broken rules: any one refuses the batch.
    pub breaches: Vec<Breach>,
    /// Things the operator should look at that do not refuse the batch.
    pub warnings: Vec<String>,
}

fn bad(path: &Path, msg: impl fmt::Display) -> SignerError {
    SignerError::Usage(format!("policy {}: {msg}", crate::term::path(path)))
}

/// A TOML error as one line, `line L, column C: message`, with the message
/// (which echoes unknown keys and values) escaped.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let at = e.span().map(|span| {
        let before = &text.as_bytes()[..span.start.min(text.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        format!("line {line}, column {column}: ")
    });
    format!(
        "{}{}",
        at.unwrap_or_default(),
        crate::term::field(e.message().trim_end())
    )
}

fn amount(path: &Path, field: &str, text: &str, decimals: u8) -> Result<U256> {
    parse_units(text, decimals).map_err(|e| bad(path, format!("{field}: {e}")))
}

impl Policy {
    /// Reads and validates a `policy.toml`.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            crate::fsutil::read_text_bounded(path, "policy", crate::fsutil::MAX_CONFIG_FILE_BYTES)?;
        let mut policy = Self::parse(&text, path)?;
        policy.source_digest = Some(coldsign_core::keccak256(text.as_bytes()));
        Ok(policy)
    }

    /// Parses and validates policy text (`path` is only used in messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let raw: PolicyToml = toml::from_str(text).map_err(|e| bad(path, toml_error(text, &e)))?;
        if raw.allow_contract_creation == Some(true) {
            return Err(bad(
                path,
                "allow_contract_creation = true is not supported: the signer never signs contract creation",
            ));
        }
        if let Some(ids) = &raw.allowed_chain_ids {
            if ids.contains(&0) {
                return Err(bad(path, "allowed_chain_ids: chain id 0 is never allowed"));
            }
        }
        let allow_unlisted_assets = match raw.unlisted_assets.as_deref() {
            None | Some("refuse") => false,
            Some("allow") => true,
            Some(other) => {
                return Err(bad(
                    path,
                    format!("unlisted_assets must be \"refuse\" or \"allow\", not {other:?}"),
                ))
            }
        };
        let mut assets = BTreeMap::new();
        for (symbol, a) in raw.assets {
            let token = if a.token == "native" {
                None
            } else {
                Some(
                    a.token
                        .parse::<Address>()
                        .map_err(|e| bad(path, format!("assets.{symbol}.token: {e}")))?,
                )
            };
            let decimals = match (token, a.decimals) {
                (None, Some(d)) if d != NATIVE_DECIMALS => {
                    return Err(bad(
                        path,
                        format!(
                            "assets.{}.decimals = {d}: the native coin always has {NATIVE_DECIMALS} decimals",
                            crate::term::field(&symbol)
                        ),
                    ))
                }
                (_, Some(d)) => d,
                (None, None) => NATIVE_DECIMALS,
                (Some(_), None) => {
                    return Err(bad(
                        path,
                        format!("assets.{symbol}.decimals is required for a token"),
                    ))
                }
            };
            let cap = |field: &str, v: &Option<String>| {
                v.as_deref()
                    .map(|t| amount(path, &format!("assets.{symbol}.{field}"), t, decimals))
                    .transpose()
            };
            assets.insert(
                symbol.clone(),
                AssetRule {
                    token,
                    decimals,
                    max_per_tx: cap("max_per_tx", &a.max_per_tx)?,
                    max_per_batch: cap("max_per_batch", &a.max_per_batch)?,
                    show_recipients_above: cap("show_recipients_above", &a.show_recipients_above)?,
                },
            );
        }
        let mut chain_names = BTreeMap::new();
        for (id, name) in raw.chain_names {
            let shown = crate::term::field(&id).into_owned();
            let chain_id: u64 =
                id.parse().ok().filter(|&c| c != 0).ok_or_else(|| {
                    bad(path, format!("chain_names: {shown:?} is not a chain id"))
                })?;
            if let Some(known) = crate::chains::well_known(chain_id) {
                return Err(bad(
                    path,
                    format!(
                        "chain_names: chain {chain_id} is {known:?} in the built-in table; a policy may name only other chains"
                    ),
                ));
            }
            let ok = (1..=64).contains(&name.chars().count())
                && !name
                    .chars()
                    .any(|c| c.is_control() || coldsign_core::text::is_hostile(c));
            if !ok {
                return Err(bad(
                    path,
                    format!(
                        "chain_names.{chain_id}: {:?} is not 1 to 64 printable characters",
                        crate::term::field(&name)
                    ),
                ));
            }
            chain_names.insert(chain_id, name);
        }
        Ok(Self {
            source: Some(path.display().to_string()),
            source_digest: None,
            allowed_chain_ids: raw.allowed_chain_ids,
            allowed_accounts: raw.allowed_accounts,
            native_symbol: raw.native_symbol,
            max_fee_per_gas: raw
                .max_fee_per_gas_gwei
                .as_deref()
                .map(|t| amount(path, "max_fee_per_gas_gwei", t, 9))
                .transpose()?,
            max_total_fee: raw
                .max_total_fee
                .as_deref()
                .map(|t| amount(path, "max_total_fee", t, NATIVE_DECIMALS))
                .transpose()?,
            recipient_allowlist: raw.recipient_allowlist,
            allow_unlisted_assets,
            assets,
            chain_names,
        })
    }

    /// The chain's name: the built-in one, else the policy's, else `None`.
    pub fn chain_name(&self, chain_id: u64) -> Option<&str> {
        crate::chains::well_known(chain_id)
            .or_else(|| self.chain_names.get(&chain_id).map(String::as_str))
    }

    /// Whether assets without an `[assets.X]` table may be signed: the
    /// policy allows them (`unlisted_assets = "allow"`), or there is no
    /// policy (`--no-policy`). The review then shows their contract next to
    /// every amount.
    pub fn unlisted_allowed(&self) -> bool {
        self.allow_unlisted_assets || self.is_empty()
    }

    /// Whether this is the empty policy (no file).
    pub fn is_empty(&self) -> bool {
        self.source.is_none()
    }

    /// Applies every rule to a checked batch.
    pub fn evaluate(&self, checked: &CheckedBatch<'_>) -> Evaluation {
        let batch = checked.batch();
        let accounts = checked.paths();
        let amounts = checked.amounts();
        let mut ev = Evaluation::default();
        let mut breach = |rule: &str, item: Option<(usize, &str)>, detail: String| {
            ev.breaches.push(Breach {
                rule: rule.to_owned(),
                item: item.map(|(i, o)| (i, o.to_owned())),
                detail,
            })
        };
        if let Some(ids) = &self.allowed_chain_ids {
            if !ids.contains(&batch.chain_id()) {
                breach(
                    "allowed_chain_ids",
                    None,
                    format!("chain {} is not in {ids:?}", batch.chain_id()),
                );
            }
        }
        let gwei = |v: U256| format_units(v, 9).unwrap_or_default();
        let eth = |v: U256| format_units(v, NATIVE_DECIMALS).unwrap_or_default();
        let mut batch_totals: BTreeMap<&str, U256> = BTreeMap::new();
        let mut total_fee = U256::zero();
        let mut warned_unlisted = std::collections::BTreeSet::new();
        for (index, item) in batch.items().iter().enumerate() {
            let at = Some((index, item.order_id()));
            let tx = item.transaction();
            let summary = item.summary();
            if tx.to().is_none() {
                breach(
                    "no_contract_creation",
                    at,
                    "transaction creates a contract".into(),
                );
            }
            if let (Some(allowed), Some(account)) = (
                &self.allowed_accounts,
                accounts.get(index).map(|p| p.account),
            ) {
                if !allowed.contains(&account) {
                    breach(
                        "allowed_accounts",
                        at,
                        format!(
                            "path {} uses account {account}, allowed are {allowed:?}",
                            item.derivation_path()
                        ),
                    );
                }
            }
            if let Some(cap) = self.max_fee_per_gas {
                if tx.max_fee_per_gas() > cap {
                    breach(
                        "max_fee_per_gas_gwei",
                        at,
                        format!(
                            "max fee per gas {} gwei is above the ceiling {} gwei",
                            gwei(tx.max_fee_per_gas()),
                            gwei(cap)
                        ),
                    );
                }
            }
            total_fee = total_fee.saturating_add(tx.max_fee().unwrap_or(U256::MAX));
            if item.kind() == ItemKind::Void {
                // A void pays nobody (core checked it is a 0-value native
                // transfer to its own sender): recipient and asset rules do
                // not apply; chain, account and fee rules did above.
                continue;
            }
            if let Some(list) = &self.recipient_allowlist {
                if !list.contains(&summary.recipient) {
                    breach(
                        "recipient_allowlist",
                        at,
                        format!("recipient {} is not on the allowlist", summary.recipient),
                    );
                }
            }
            let units = amounts.get(index).copied().unwrap_or(U256::MAX);
            match self.assets.get(&summary.asset) {
                None if self.allow_unlisted_assets || self.is_empty() => {
                    if !self.is_empty() {
                        warned_unlisted.insert(summary.asset.clone());
                    }
                }
                None => breach(
                    "unlisted_assets",
                    at,
                    format!("asset {} is not listed in the policy", summary.asset),
                ),
                Some(rule) => {
                    let rule_name = |f: &str| format!("assets.{}.{f}", summary.asset);
                    if rule.token != summary.token {
                        let show =
                            |t: Option<Address>| t.map_or("native".to_owned(), |a| a.to_string());
                        breach(
                            &rule_name("token"),
                            at,
                            format!(
                                "asset {} is {} in the batch but {} in the policy",
                                summary.asset,
                                show(summary.token),
                                show(rule.token)
                            ),
                        );
                    }
                    if rule.decimals != summary.decimals {
                        breach(
                            &rule_name("decimals"),
                            at,
                            format!(
                                "asset {} has {} decimals in the batch but {} in the policy",
                                summary.asset, summary.decimals, rule.decimals
                            ),
                        );
                    }
                    if let Some(cap) = rule.max_per_tx {
                        if units > cap {
                            breach(
                                &rule_name("max_per_tx"),
                                at,
                                format!(
                                    "pays {} {} to {}, above the per-transaction cap {}",
                                    summary.amount,
                                    summary.asset,
                                    summary.recipient,
                                    format_units(cap, rule.decimals).unwrap_or_default()
                                ),
                            );
                        }
                    }
                    let t = batch_totals.entry(summary.asset.as_str()).or_default();
                    *t = t.saturating_add(units);
                }
            }
        }
        for (symbol, total) in &batch_totals {
            if let Some(rule) = self.assets.get(*symbol) {
                if let Some(cap) = rule.max_per_batch {
                    if *total > cap {
                        breach(
                            &format!("assets.{symbol}.max_per_batch"),
                            None,
                            format!(
                                "batch pays {} {symbol} in total, above the per-batch cap {}",
                                format_units(*total, rule.decimals).unwrap_or_default(),
                                format_units(cap, rule.decimals).unwrap_or_default()
                            ),
                        );
                    }
                }
            }
        }
        if let Some(cap) = self.max_total_fee {
            if total_fee > cap {
                breach(
                    "max_total_fee",
                    None,
                    format!(
                        "worst-case fees of the batch {} are above the ceiling {}",
                        eth(total_fee),
                        eth(cap)
                    ),
                );
            }
        }
        for symbol in warned_unlisted {
            ev.warnings.push(format!(
                "asset {symbol} is not listed in the policy: no caps apply to it"
            ));
        }
        ev
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn example_policy_parses() {
        let text = include_str!("../../docs/policy.example.toml");
        let p = Policy::parse(text, Path::new("policy.example.toml")).unwrap();
        assert!(p.assets.contains_key("ETH"));
        assert_eq!(p.assets["ETH"].token, None);
        assert_eq!(p.max_fee_per_gas, Some(U256::from(200_000_000_000u64)));
    }

    #[test]
    fn chain_names_and_toml_errors() {
        let p = Policy::parse("[chain_names]\n99 = \"My chain\"\n", Path::new("p")).unwrap();
        assert_eq!(p.chain_name(99), Some("My chain"));
        assert_eq!(p.chain_name(1), Some("Ethereum"));
        assert_eq!(p.chain_name(98), None);
        let err = Policy::parse("\"evil\\u001b[2J\" = 1\n", Path::new("p")).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains('\u{1b}') && !text.contains('\n'), "{text}");
        assert!(
            text.contains("\\u{1b}[2J") && text.contains("line 1, column 1"),
            "{text}"
        );
    }

    #[test]
    fn refuses_bad_policies() {
        for bad in [
            "allowed_chain_ids = [0]",
            "allow_contract_creation = true",
            "unknown_rule = 1",
            "unlisted_assets = \"maybe\"",
            "[assets.USDT]\ntoken = \"0xdAC17F958D2ee523a2206206994597C13D831ec7\"",
            "[assets.ETH]\ntoken = \"native\"\nmax_per_tx = \"1.5.0\"",
            "max_fee_per_gas_gwei = \"0.0000000001\"",
            "[assets.ETH]\ntoken = \"native\"\ndecimals = 30",
            "[chain_names]\n1 = \"Not Ethereum\"",
            "[chain_names]\n0 = \"zero\"",
            "[chain_names]\nx = \"x\"",
            "[chain_names]\n99 = \"evil\\u001b[2J\"",
        ] {
            assert!(Policy::parse(bad, Path::new("p")).is_err(), "{bad}");
        }
    }
}
