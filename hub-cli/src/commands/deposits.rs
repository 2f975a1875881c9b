//! `deposit watch` and `deposit list`: the tenants' deposit addresses, and
//! what the chain follower of `hub-cli serve` found paid to them.

use super::Ctx;
use crate::{
    clock::now_rfc3339,
    db::{params, Db, DbError, Value},
    error::{HubError, Result},
    model::{parse_address, Chain},
    output::{Output, Table},
};
use serde_json::{json, Value as Json};

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
        return Err(HubError::Input(format!(
            "{} address(es) refused, none taken: {}",
            errors.len(),
            errors.join("; ")
        )));
    }
    db.transaction(|db| {
        let mut added = 0;
        for (a, reference) in &parsed {
            let existing = db.query_opt(
                "SELECT role, tenant FROM addresses WHERE chain = ? AND address = ?",
                params![chain.id, a.to_checksum()],
            )?;
            match existing {
                Some(r) if r.text(0)? == "deposit" && r.opt_text(1)?.as_deref() == Some(tenant) => {}
                Some(r) => {
                    return Err(HubError::Conflict(format!(
                        "{a} is already registered on {} as a {} address{}: it cannot be a deposit address of {tenant}",
                        chain.name,
                        r.text(0)?,
                        if r.text(0)? == "deposit" { " of another tenant" } else { "" }
                    )))
                }
                None => {
                    let res = db.execute(
                        "INSERT INTO addresses (chain, address, role, tenant, reference, created_at) VALUES (?, ?, 'deposit', ?, ?, ?)",
                        params![chain.id, a.to_checksum(), tenant, reference.as_deref(), now_rfc3339()],
                    );
                    match res {
                        Err(DbError::Unique(_)) => {
                            return Err(HubError::Concurrent(format!("{a} was registered meanwhile: run it again")))
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
    let mut sql = String::from(
        "SELECT d.id, c.name, d.tx_hash, d.position, d.block_number, d.block_hash, d.address, d.tenant, d.reference, \
         d.asset, d.from_address, d.amount, d.state, d.created_at, d.updated_at, \
         COALESCE(t.decimals, c.native_decimals) FROM deposits d JOIN chains c ON c.id = d.chain \
         LEFT JOIN tokens t ON t.id = d.token WHERE 1 = 1",
    );
    let mut values: Vec<Value> = Vec::new();
    if let Some(id) = f.id {
        sql.push_str(" AND d.id = ?");
        values.push(id.into());
    }
    if let Some(t) = tenant {
        sql.push_str(" AND d.tenant = ?");
        values.push(t.into());
    }
    if let Some(c) = &f.chain {
        sql.push_str(" AND c.name = ?");
        values.push(c.as_str().into());
    }
    if let Some(a) = &f.address {
        let a = parse_address(a)?;
        sql.push_str(" AND d.address = ?");
        values.push(a.to_checksum().into());
    }
    if let Some(s) = &f.state {
        if !matches!(s.as_str(), "SEEN" | "CONFIRMED" | "REORGED") {
            return Err(HubError::Usage(format!(
                "state {s:?} is not one of SEEN, CONFIRMED, REORGED"
            )));
        }
        sql.push_str(" AND d.state = ?");
        values.push(s.as_str().into());
    }
    if let Some(s) = &f.since {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|_| HubError::Usage(format!("since {s:?} is not an RFC 3339 time")))?;
        sql.push_str(" AND d.created_at >= ?");
        values.push(s.as_str().into());
    }
    sql.push_str(" ORDER BY d.id");
    db.query(&sql, &values)?
        .iter()
        .map(|r| {
            let units = crate::model::parse_u256(&r.text(11)?)?;
            let decimals = u8::try_from(r.int(15)?).unwrap_or(18);
            Ok(json!({"id": r.int(0)?, "chain": r.text(1)?, "tx_hash": r.text(2)?, "position": r.text(3)?,
                "block_number": r.int(4)?, "block_hash": r.text(5)?, "address": r.text(6)?, "tenant": r.opt_text(7)?,
                "reference": r.opt_text(8)?, "asset": r.text(9)?, "from": r.text(10)?,
                "amount": coldsign_core::amount::format_units(units, decimals).unwrap_or_else(|_| units.to_string()),
                "amount_base_units": units.to_string(), "state": r.text(12)?, "seen_at": r.text(13)?,
                "updated_at": r.text(14)?}))
        })
        .collect()
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
