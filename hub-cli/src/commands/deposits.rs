//! `deposit watch` and `deposit list`: the tenants' deposit addresses, and
//! what the chain follower of `hub-cli serve` found paid to them.

use super::Ctx;
use crate::{
    db::{Db, DbError},
    error::{ErrorKind, HubError, OperationError, Result},
    model::{parse_address, Chain},
    output::{Output, Table},
    store::deposits::{self as store, DepositQuery, Registration},
};
use coldsign_core::Address;
use serde_json::{json, Value as Json};

/// Why `deposit watch` (or `address import --role deposit`, or the
/// service's `POST /v1/addresses`) refused deposit addresses. Its
/// [`OperationError::kind`] gives its exit code and HTTP status; nothing
/// was registered in any of them.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DepositError {
    /// Addresses of the list were refused (each message names its item).
    #[error("{} address(es) refused, none taken: {}", .errors.len(), .errors.join("; "))]
    AddressesRefused { errors: Vec<String> },
    /// The address is registered on the chain in another role (a cold
    /// address) or as another tenant's deposit address.
    #[error(
        "{address} is already registered on {chain} as a {role} address{}: it cannot be a deposit address of {tenant}",
        if .role == "deposit" { " of another tenant" } else { "" }
    )]
    RegisteredOtherwise {
        address: Address,
        chain: String,
        role: String,
        tenant: String,
    },
    /// Another process registered the address during the command: nothing
    /// was written.
    #[error("{address} was registered meanwhile: run it again")]
    RegisteredMeanwhile { address: Address },
    /// `deposit list --state`: not a deposit state.
    #[error("state {state:?} is not one of SEEN, CONFIRMED, REORGED")]
    UnknownState { state: String },
    /// `deposit list --since`: not a time.
    #[error(
        "since {since:?} is not an RFC 3339 time: write it like 2026-01-31T00:00:00Z or \
         2026-01-31T09:30:00+02:00 (a zone is needed), or a date like 2026-01-31 (midnight UTC)"
    )]
    BadSince { since: String },
}

crate::error::operation_error!(DepositError);

impl OperationError for DepositError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::AddressesRefused { .. } => ErrorKind::Input,
            Self::UnknownState { .. } | Self::BadSince { .. } => ErrorKind::Usage,
            Self::RegisteredOtherwise { .. } | Self::RegisteredMeanwhile { .. } => {
                ErrorKind::Conflict
            }
        }
    }
}

/// One deposit address to watch.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchInput {
    /// The address.
    pub(crate) address: String,
    /// The tenant's user or account reference.
    #[serde(default)]
    pub(crate) reference: Option<String>,
}

/// Registers deposit addresses of `tenant` on `chain`, all or none. An
/// address already registered the same way is no change; one registered as
/// a cold address, or for another tenant, is refused. Returns how many were
/// added.
pub(crate) fn watch(db: &mut Db, chain: &str, tenant: &str, list: &[WatchInput]) -> Result<u64> {
    crate::serve::auth::check_tenant(tenant)?;
    let chain = Chain::by_name(db, chain)?;
    let mut parsed = Vec::with_capacity(list.len());
    let mut errors = Vec::new();
    for (n, w) in list.iter().enumerate() {
        match parse_address(&w.address) {
            Ok(a) if a == coldsign_core::Address([0; 20]) => {
                errors.push(format!("item {n}: the zero address"))
            }
            Ok(a) => parsed.push((a, w.reference.clone())),
            Err(e) => errors.push(format!("item {n}: {e}")),
        }
        if w.reference.as_ref().is_some_and(|r| r.len() > 128) {
            errors.push(format!(
                "item {n}: the reference is longer than 128 characters"
            ));
        }
    }
    if !errors.is_empty() {
        return Err(DepositError::AddressesRefused { errors }.into());
    }
    db.transaction(|db| {
        let mut added = 0;
        for (a, reference) in &parsed {
            match store::registration(db, chain.id, *a)? {
                Some(r) if r.role == "deposit" && r.tenant.as_deref() == Some(tenant) => {}
                Some(Registration { role, .. }) => {
                    return Err(DepositError::RegisteredOtherwise {
                        address: *a,
                        chain: chain.name.clone(),
                        role,
                        tenant: tenant.to_owned(),
                    }
                    .into())
                }
                None => {
                    let res = store::insert_deposit_address(
                        db,
                        chain.id,
                        *a,
                        tenant,
                        reference.as_deref(),
                    );
                    match res {
                        Err(HubError::Db(DbError::Unique(_))) => {
                            return Err(DepositError::RegisteredMeanwhile { address: *a }.into())
                        }
                        other => other?,
                    };
                    added += 1;
                }
            }
        }
        Ok::<_, HubError>(added)
    })
}

/// Filters of a deposit list.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DepositFilter {
    /// Only this chain.
    pub(crate) chain: Option<String>,
    /// Only to this address.
    pub(crate) address: Option<String>,
    /// Only in this state (SEEN, CONFIRMED, REORGED).
    pub(crate) state: Option<String>,
    /// Only recorded since this RFC 3339 time.
    pub(crate) since: Option<String>,
    /// Only this deposit.
    #[serde(skip)]
    pub(crate) id: Option<i64>,
}

/// The deposits matching `f` (of `tenant`, when given), oldest first.
pub(crate) fn list(db: &mut Db, f: &DepositFilter, tenant: Option<&str>) -> Result<Vec<Json>> {
    let address = f.address.as_deref().map(parse_address).transpose()?;
    if let Some(s) = &f.state {
        if !matches!(s.as_str(), "SEEN" | "CONFIRMED" | "REORGED") {
            return Err(DepositError::UnknownState { state: s.clone() }.into());
        }
    }
    let since = f
        .since
        .as_deref()
        .map(|s| {
            crate::clock::parse_since(s).ok_or_else(|| DepositError::BadSince {
                since: s.to_owned(),
            })
        })
        .transpose()?;
    let query = DepositQuery {
        id: f.id,
        tenant,
        chain: f.chain.as_deref(),
        address,
        state: f.state.as_deref(),
        since,
    };
    Ok(store::deposits(db, &query)?
        .into_iter()
        .map(|d| {
            let units = d.amount;
            json!({"id": d.id, "chain": d.chain, "tx_hash": d.tx_hash, "position": d.position,
                "block_number": d.block_number, "block_hash": d.block_hash, "address": d.address, "tenant": d.tenant,
                "reference": d.reference, "asset": d.asset, "from": d.from,
                "amount": coldsign_core::amount::format_units(units, d.decimals).unwrap_or_else(|_| units.to_string()),
                "amount_base_units": units.to_string(), "state": d.state, "seen_at": d.created_at,
                "updated_at": d.updated_at})
        })
        .collect())
}

/// `deposit list`.
pub(crate) fn list_command(ctx: &mut Ctx, f: &DepositFilter) -> Result<()> {
    let rows = list(&mut ctx.db, f, ctx.tenant.as_deref())?;
    let mut t = Table::new(&[
        "ID", "CHAIN", "STATE", "AMOUNT", "ASSET", "TO", "TENANT", "BLOCK", "TX",
    ]);
    for d in &rows {
        let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
        t.row(vec![
            d["id"].to_string(),
            s("chain"),
            s("state"),
            s("amount"),
            s("asset"),
            s("address"),
            s("tenant"),
            d["block_number"].to_string(),
            s("tx_hash"),
        ]);
    }
    ctx.out.result(json!(rows), &Output::table(&t));
    Ok(())
}

/// `deposit watch`.
pub(crate) fn watch_command(
    ctx: &mut Ctx,
    chain: &str,
    tenant: &str,
    addresses: &[String],
    reference: Option<String>,
) -> Result<()> {
    let list: Vec<WatchInput> = addresses
        .iter()
        .map(|a| WatchInput {
            address: a.clone(),
            reference: reference.clone(),
        })
        .collect();
    let added = watch(&mut ctx.db, chain, tenant, &list)?;
    ctx.out.result(
        json!({"chain": chain, "tenant": tenant, "added": added}),
        &format!("{added} deposit address(es) of {tenant} watched on {chain}"),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_deposit_error_has_its_kind_and_says_what_to_do() {
        let a = Address([1; 20]);
        let cases = [
            (
                DepositError::AddressesRefused {
                    errors: vec!["item 0: the zero address".into(), "item 2: bad".into()],
                },
                ErrorKind::Input,
                "2 address(es) refused, none taken: item 0: the zero address; item 2: bad",
            ),
            (
                DepositError::RegisteredOtherwise {
                    address: a,
                    chain: "anvil".into(),
                    role: "cold".into(),
                    tenant: "acme".into(),
                },
                ErrorKind::Conflict,
                " on anvil as a cold address: it cannot be a deposit address of acme",
            ),
            (
                DepositError::RegisteredOtherwise {
                    address: a,
                    chain: "anvil".into(),
                    role: "deposit".into(),
                    tenant: "acme".into(),
                },
                ErrorKind::Conflict,
                "as a deposit address of another tenant: it cannot be",
            ),
            (
                DepositError::RegisteredMeanwhile { address: a },
                ErrorKind::Conflict,
                "was registered meanwhile: run it again",
            ),
            (
                DepositError::UnknownState {
                    state: "LOST".into(),
                },
                ErrorKind::Usage,
                "\"LOST\" is not one of SEEN, CONFIRMED, REORGED",
            ),
            (
                DepositError::BadSince {
                    since: "yesterday".into(),
                },
                ErrorKind::Usage,
                "is not an RFC 3339 time",
            ),
        ];
        crate::error::testing::check_errors(cases);
    }
}
