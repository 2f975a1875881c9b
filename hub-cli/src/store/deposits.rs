//! The store's statements for deposits (see [`crate::store`]): the tenants'
//! deposit addresses, and the deposits the chain follower recorded.

use crate::{
    clock::now_rfc3339,
    db::{params, Db, Row, Value},
    error::Result,
    model::parse_u256,
};
use coldsign_core::{Address, U256};

/// How an address is registered on a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registration {
    /// `cold` or `deposit`.
    pub(crate) role: String,
    /// The tenant of a deposit address.
    pub(crate) tenant: Option<String>,
}

/// How `address` is registered on `chain`, if it is.
pub(crate) fn registration(
    db: &mut Db,
    chain: i64,
    address: Address,
) -> Result<Option<Registration>> {
    db.query_opt(
        "SELECT role, tenant FROM addresses WHERE chain = ? AND address = ?",
        params![chain, address.to_checksum()],
    )?
    .map(|r| {
        Ok(Registration {
            role: r.text(0)?,
            tenant: r.opt_text(1)?,
        })
    })
    .transpose()
}

/// Inserts `address` on `chain` as a deposit address of `tenant` with the
/// tenant's `reference`, created now. An address registered meanwhile
/// fails with [`crate::db::DbError::Unique`].
pub(crate) fn insert_deposit_address(
    db: &mut Db,
    chain: i64,
    address: Address,
    tenant: &str,
    reference: Option<&str>,
) -> Result<()> {
    db.execute(
        "INSERT INTO addresses (chain, address, role, tenant, reference, created_at) VALUES (?, ?, 'deposit', ?, ?, ?)",
        params![chain, address.to_checksum(), tenant, reference, now_rfc3339()],
    )?;
    Ok(())
}

/// Which deposits [`deposits`] reads: each filter given narrows them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DepositQuery<'a> {
    /// Only this deposit (database id).
    pub(crate) id: Option<i64>,
    /// Only this tenant's.
    pub(crate) tenant: Option<&'a str>,
    /// Only on the chain of this name.
    pub(crate) chain: Option<&'a str>,
    /// Only to this address.
    pub(crate) address: Option<Address>,
    /// Only in this state (SEEN, CONFIRMED, REORGED).
    pub(crate) state: Option<&'a str>,
    /// Only recorded at or after this time (to the second).
    pub(crate) since: Option<time::OffsetDateTime>,
}

/// A recorded deposit, with its chain's name and its asset's decimals.
#[derive(Debug, Clone)]
pub(crate) struct DepositRow {
    /// Database id.
    pub(crate) id: i64,
    /// The chain's name.
    pub(crate) chain: String,
    /// The transaction that paid it.
    pub(crate) tx_hash: String,
    /// Where in the transaction, as stored.
    pub(crate) position: String,
    /// The block it was seen in.
    pub(crate) block_number: i64,
    /// That block's hash.
    pub(crate) block_hash: String,
    /// The deposit address paid.
    pub(crate) address: String,
    /// The address's tenant.
    pub(crate) tenant: Option<String>,
    /// The tenant's reference of the address.
    pub(crate) reference: Option<String>,
    /// The asset's symbol.
    pub(crate) asset: String,
    /// Who paid.
    pub(crate) from: String,
    /// The amount in base units.
    pub(crate) amount: U256,
    /// SEEN, CONFIRMED or REORGED.
    pub(crate) state: String,
    /// When it was recorded.
    pub(crate) created_at: String,
    /// When it last changed.
    pub(crate) updated_at: String,
    /// The asset's decimals (18 if out of range).
    pub(crate) decimals: u8,
}

impl DepositRow {
    fn from_row(r: &Row) -> Result<Self> {
        let amount = parse_u256(&r.text(11)?)?;
        let decimals = u8::try_from(r.int(15)?).unwrap_or(18);
        Ok(Self {
            id: r.int(0)?,
            chain: r.text(1)?,
            tx_hash: r.text(2)?,
            position: r.text(3)?,
            block_number: r.int(4)?,
            block_hash: r.text(5)?,
            address: r.text(6)?,
            tenant: r.opt_text(7)?,
            reference: r.opt_text(8)?,
            asset: r.text(9)?,
            from: r.text(10)?,
            amount,
            state: r.text(12)?,
            created_at: r.text(13)?,
            updated_at: r.text(14)?,
            decimals,
        })
    }
}

/// The deposits matching `q`, oldest first.
pub(crate) fn deposits(db: &mut Db, q: &DepositQuery<'_>) -> Result<Vec<DepositRow>> {
    let mut sql = String::from(
        "SELECT d.id, c.name, d.tx_hash, d.position, d.block_number, d.block_hash, d.address, d.tenant, d.reference, \
         d.asset, d.from_address, d.amount, d.state, d.created_at, d.updated_at, \
         COALESCE(t.decimals, c.native_decimals) FROM deposits d JOIN chains c ON c.id = d.chain \
         LEFT JOIN tokens t ON t.id = d.token WHERE 1 = 1",
    );
    let mut values: Vec<Value> = Vec::new();
    if let Some(id) = q.id {
        sql.push_str(" AND d.id = ?");
        values.push(id.into());
    }
    if let Some(t) = q.tenant {
        sql.push_str(" AND d.tenant = ?");
        values.push(t.into());
    }
    if let Some(c) = q.chain {
        sql.push_str(" AND c.name = ?");
        values.push(c.into());
    }
    if let Some(a) = q.address {
        sql.push_str(" AND d.address = ?");
        values.push(a.to_checksum().into());
    }
    if let Some(s) = q.state {
        sql.push_str(" AND d.state = ?");
        values.push(s.into());
    }
    if let Some(t) = q.since {
        // Whole seconds, as `order list` compares them: stored times have
        // as many fraction digits as needed and do not sort as text.
        sql.push_str(" AND substr(d.created_at, 1, 19) >= ?");
        values.push(crate::clock::whole_seconds(t).into());
    }
    sql.push_str(" ORDER BY d.id");
    db.query(&sql, &values)?
        .iter()
        .map(DepositRow::from_row)
        .collect()
}
