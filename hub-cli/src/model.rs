//! The hub's records as loaded from the database, and the helpers that change
//! a state: each change is written together with its event row, inside the
//! caller's database transaction.

use crate::{
    clock::now_rfc3339,
    db::{params, Db, Row, Value},
    error::{HubError, Result},
    fees::FeePolicy,
    state::{derive_batch_state, BatchState, ItemState, OrderState},
    updates::{check_pairing, ItemUpdate},
};
use coldsign_core::{amount::format_units, hex_data, Address, B256, U256};

pub(crate) fn parse_u256(s: &str) -> Result<U256> {
    U256::from_dec_str(s)
        .map_err(|_| HubError::Internal(format!("stored amount {s:?} is not an integer")))
}

pub(crate) fn parse_address(s: &str) -> Result<Address> {
    s.parse()
        .map_err(|e: coldsign_core::address::AddressError| HubError::Input(e.to_string()))
}

/// An address as the hub stored it (checksummed when it was written): its
/// checksum is not checked again at every read, which cost a Keccak-256
/// per address of every row (three per batch item).
fn stored_address(s: &str) -> Result<Address> {
    hex_data::decode_fixed::<20>(s)
        .map(Address)
        .map_err(|e| HubError::Internal(format!("stored address {s:?}: {e}")))
}

fn parse_b256(s: &str) -> Result<B256> {
    hex_data::decode_fixed::<32>(s)
        .map(B256)
        .map_err(|e| HubError::Internal(format!("stored hash {s:?}: {e}")))
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

/// An integer for the database.
pub(crate) fn db_int(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| HubError::Input(format!("{v} is too large to store")))
}

/// A chain.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) chain_id: u64,
    pub(crate) rpc_url: String,
    pub(crate) confirmations: u64,
    pub(crate) native_symbol: String,
    pub(crate) native_decimals: u8,
    pub(crate) fees: FeePolicy,
    /// A second, independent node that must agree before an item is final.
    pub(crate) witness_rpc_url: Option<String>,
}

const CHAIN_COLS: &str = "id, name, chain_id, rpc_url, confirmations, native_symbol, native_decimals, \
     base_fee_multiplier_pct, priority_fee_multiplier_pct, max_fee_cap, priority_fee_cap, gas_margin_pct, \
     witness_rpc_url";

impl Chain {
    fn from_row(r: &Row) -> Result<Self> {
        let opt = |v: Option<String>| v.map(|s| parse_u256(&s)).transpose();
        Ok(Self {
            id: r.int(0)?,
            name: r.text(1)?,
            chain_id: to_u64(r.int(2)?),
            rpc_url: r.text(3)?,
            confirmations: to_u64(r.int(4)?),
            native_symbol: r.text(5)?,
            native_decimals: u8::try_from(r.int(6)?).unwrap_or(18),
            fees: FeePolicy {
                base_fee_multiplier_pct: to_u64(r.int(7)?),
                priority_fee_multiplier_pct: to_u64(r.int(8)?),
                max_fee_cap: opt(r.opt_text(9)?)?,
                priority_fee_cap: opt(r.opt_text(10)?)?,
                gas_margin_pct: to_u64(r.int(11)?),
            },
            witness_rpc_url: r.opt_text(12)?,
        })
    }

    /// The chain named `name`.
    pub(crate) fn by_name(db: &mut Db, name: &str) -> Result<Self> {
        let row = db
            .query_opt(&format!("SELECT {CHAIN_COLS} FROM chains WHERE name = ?"), params![name])?
            .ok_or_else(|| {
                HubError::NotFound(format!(
                    "no chain named {name:?}: see `hub-cli chain list`, or add it with `hub-cli chain add`"
                ))
            })?;
        Self::from_row(&row)
    }

    /// The chain with database id `id`.
    pub(crate) fn by_id(db: &mut Db, id: i64) -> Result<Self> {
        let row = db.query_one(
            &format!("SELECT {CHAIN_COLS} FROM chains WHERE id = ?"),
            params![id],
        )?;
        Self::from_row(&row)
    }

    /// Every chain.
    pub(crate) fn all(db: &mut Db) -> Result<Vec<Self>> {
        db.query(
            &format!("SELECT {CHAIN_COLS} FROM chains ORDER BY name"),
            params![],
        )?
        .iter()
        .map(Self::from_row)
        .collect()
    }
}

/// An ERC-20 token.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) id: i64,
    pub(crate) chain: i64,
    pub(crate) symbol: String,
    pub(crate) contract: Address,
    pub(crate) decimals: u8,
}

const TOKEN_COLS: &str = "id, chain, symbol, contract, decimals";

impl Token {
    fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            id: r.int(0)?,
            chain: r.int(1)?,
            symbol: r.text(2)?,
            contract: parse_address(&r.text(3)?)?,
            decimals: u8::try_from(r.int(4)?).unwrap_or(0),
        })
    }

    /// The token `symbol` on `chain`.
    pub(crate) fn by_symbol(db: &mut Db, chain: i64, symbol: &str) -> Result<Option<Self>> {
        db.query_opt(
            &format!("SELECT {TOKEN_COLS} FROM tokens WHERE chain = ? AND symbol = ?"),
            params![chain, symbol],
        )?
        .as_ref()
        .map(Self::from_row)
        .transpose()
    }

    /// The token with database id `id`.
    pub(crate) fn by_id(db: &mut Db, id: i64) -> Result<Self> {
        Self::from_row(&db.query_one(
            &format!("SELECT {TOKEN_COLS} FROM tokens WHERE id = ?"),
            params![id],
        )?)
    }

    /// Every token.
    pub(crate) fn all(db: &mut Db) -> Result<Vec<Self>> {
        db.query(
            &format!("SELECT {TOKEN_COLS} FROM tokens ORDER BY chain, symbol"),
            params![],
        )?
        .iter()
        .map(Self::from_row)
        .collect()
    }
}

/// What an asset is, with its decimals.
#[derive(Debug, Clone)]
pub(crate) struct Asset {
    pub(crate) symbol: String,
    pub(crate) decimals: u8,
    pub(crate) token: Option<Token>,
}

impl Asset {
    /// The asset `symbol` on `chain`: its native coin or a registered token.
    pub(crate) fn resolve(db: &mut Db, chain: &Chain, symbol: &str) -> Result<Self> {
        if symbol == chain.native_symbol {
            return Ok(Self {
                symbol: symbol.to_owned(),
                decimals: chain.native_decimals,
                token: None,
            });
        }
        let token = Token::by_symbol(db, chain.id, symbol)?.ok_or_else(|| {
            HubError::NotFound(format!(
                "asset {symbol:?} is neither {}'s native coin ({}) nor a registered token: add it with `hub-cli token add`",
                chain.name, chain.native_symbol
            ))
        })?;
        Ok(Self {
            symbol: symbol.to_owned(),
            decimals: token.decimals,
            token: Some(token),
        })
    }

    /// `units` as a decimal string in this asset's units.
    pub(crate) fn human(&self, units: U256) -> String {
        format_units(units, self.decimals).unwrap_or_else(|_| units.to_string())
    }
}

/// A registered sending address.
#[derive(Debug, Clone)]
pub(crate) struct AddressRow {
    pub(crate) chain: i64,
    pub(crate) address: Address,
    pub(crate) role: String,
    pub(crate) derivation_path: Option<String>,
    pub(crate) public_key: Option<String>,
    /// The BIP32 fingerprint of the wallet whose key proved possession of
    /// the address at import (none for an address imported before proofs).
    pub(crate) wallet_fingerprint: Option<String>,
}

/// The columns [`AddressRow::from_row`] reads, in order.
const ADDRESS_COLS: &str = "chain, address, role, derivation_path, public_key, wallet_fingerprint";

impl AddressRow {
    fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            chain: r.int(0)?,
            address: parse_address(&r.text(1)?)?,
            role: r.text(2)?,
            derivation_path: r.opt_text(3)?,
            public_key: r.opt_text(4)?,
            wallet_fingerprint: r.opt_text(5)?,
        })
    }

    /// The address on `chain`, if registered.
    pub(crate) fn find(db: &mut Db, chain: i64, address: Address) -> Result<Option<Self>> {
        db.query_opt(
            &format!("SELECT {ADDRESS_COLS} FROM addresses WHERE chain = ? AND address = ?"),
            params![chain, address.to_checksum()],
        )?
        .as_ref()
        .map(Self::from_row)
        .transpose()
    }

    /// The registered rows (on every chain) of these addresses.
    pub(crate) fn of_addresses(db: &mut Db, addresses: &[Address]) -> Result<Vec<Self>> {
        let mut out = Vec::new();
        for chunk in addresses.chunks(bulk_rows(1)) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let values: Vec<Value> = chunk.iter().map(|a| a.to_checksum().into()).collect();
            for r in db.query(
                &format!(
                    "SELECT {ADDRESS_COLS} FROM addresses WHERE address IN ({marks}) ORDER BY chain, id"
                ),
                &values,
            )? {
                out.push(Self::from_row(&r)?);
            }
        }
        Ok(out)
    }

    /// Every address (of one chain).
    pub(crate) fn all(db: &mut Db, chain: Option<i64>) -> Result<Vec<Self>> {
        let rows = match chain {
            Some(c) => db.query(
                &format!("SELECT {ADDRESS_COLS} FROM addresses WHERE chain = ? ORDER BY id"),
                params![c],
            )?,
            None => db.query(
                &format!("SELECT {ADDRESS_COLS} FROM addresses ORDER BY chain, id"),
                params![],
            )?,
        };
        rows.iter().map(Self::from_row).collect()
    }
}

/// A withdrawal order.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) id: i64,
    pub(crate) order_id: String,
    pub(crate) chain: i64,
    pub(crate) asset: String,
    pub(crate) token: Option<i64>,
    pub(crate) from: Address,
    pub(crate) to: Address,
    pub(crate) amount: U256,
    pub(crate) state: OrderState,
    pub(crate) created_at: String,
    /// Set by `order cancel` on an order bound to a nonce: its next batch
    /// carries its void.
    pub(crate) cancel_requested_at: Option<String>,
    /// Set by `order hold`: the order stays out of new batches until
    /// `order release`.
    pub(crate) held_at: Option<String>,
    /// The front system the order came from (`None`: the desk's own).
    pub(crate) tenant: Option<String>,
}

pub(crate) const ORDER_COLS: &str =
    "o.id, o.order_id, o.chain, o.asset, o.token, o.from_address, o.to_address, o.amount, o.state, o.created_at, \
     o.cancel_requested_at, o.held_at, o.tenant";

impl Order {
    pub(crate) fn from_row(r: &Row) -> Result<Self> {
        Self::from_row_at(r, 0)
    }

    /// The order in the [`ORDER_COLS`] columns of `r` from column `at` on.
    fn from_row_at(r: &Row, at: usize) -> Result<Self> {
        Ok(Self {
            id: r.int(at)?,
            order_id: r.text(at + 1)?,
            chain: r.int(at + 2)?,
            asset: r.text(at + 3)?,
            token: r.opt_int(at + 4)?,
            from: stored_address(&r.text(at + 5)?)?,
            to: stored_address(&r.text(at + 6)?)?,
            amount: parse_u256(&r.text(at + 7)?)?,
            state: r.text(at + 8)?.parse()?,
            created_at: r.text(at + 9)?,
            cancel_requested_at: r.opt_text(at + 10)?,
            held_at: r.opt_text(at + 11)?,
            tenant: r.opt_text(at + 12)?,
        })
    }

    /// The order with database id `id`.
    pub(crate) fn by_ref(db: &mut Db, id: i64) -> Result<Self> {
        Self::from_row(&db.query_one(
            &format!("SELECT {ORDER_COLS} FROM orders o WHERE o.id = ?"),
            params![id],
        )?)
    }

    /// The order `order_id`.
    pub(crate) fn by_order_id(db: &mut Db, order_id: &str) -> Result<Self> {
        let row = db
            .query_opt(
                &format!("SELECT {ORDER_COLS} FROM orders o WHERE o.order_id = ?"),
                params![order_id],
            )?
            .ok_or_else(|| {
                HubError::NotFound(format!("no order {order_id:?}: see `hub-cli order list`"))
            })?;
        Self::from_row(&row)
    }
}

/// A batch.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub(crate) id: i64,
    pub(crate) chain: i64,
    pub(crate) state: BatchState,
    pub(crate) file_created_at: Option<String>,
    pub(crate) unsigned_json: Option<String>,
    pub(crate) signed_accepted_at: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) created_at: String,
}

const BATCH_COLS: &str =
    "id, chain, state, file_created_at, unsigned_json, signed_accepted_at, message, created_at";
/// [`BATCH_COLS`] without the stored unsigned file.
const BATCH_HEAD_COLS: &str =
    "id, chain, state, file_created_at, NULL, signed_accepted_at, message, created_at";

impl Batch {
    fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            id: r.int(0)?,
            chain: r.int(1)?,
            state: r.text(2)?.parse()?,
            file_created_at: r.opt_text(3)?,
            unsigned_json: r.opt_text(4)?,
            signed_accepted_at: r.opt_text(5)?,
            message: r.opt_text(6)?,
            created_at: r.text(7)?,
        })
    }

    /// The batch `id`.
    pub(crate) fn get(db: &mut Db, id: i64) -> Result<Self> {
        let row = db
            .query_opt(
                &format!("SELECT {BATCH_COLS} FROM batches WHERE id = ?"),
                params![id],
            )?
            .ok_or_else(|| {
                HubError::NotFound(format!("no batch {id}: see `hub-cli batch list`"))
            })?;
        Self::from_row(&row)
    }

    /// The batch `id` without its stored unsigned file (`unsigned_json` is
    /// `None`): what send and sync need, without reading the megabytes of
    /// a large batch's file at every call.
    pub(crate) fn head(db: &mut Db, id: i64) -> Result<Self> {
        let row = db
            .query_opt(
                &format!("SELECT {BATCH_HEAD_COLS} FROM batches WHERE id = ?"),
                params![id],
            )?
            .ok_or_else(|| {
                HubError::NotFound(format!("no batch {id}: see `hub-cli batch list`"))
            })?;
        Self::from_row(&row)
    }

    /// Every batch, newest first.
    pub(crate) fn all(db: &mut Db) -> Result<Vec<Self>> {
        db.query(
            &format!("SELECT {BATCH_COLS} FROM batches ORDER BY id DESC"),
            params![],
        )?
        .iter()
        .map(Self::from_row)
        .collect()
    }

    /// The unfinished batch of `tenant` (`None`: the desk's own) on
    /// `chain`, if any.
    pub(crate) fn unfinished_on(
        db: &mut Db,
        chain: i64,
        tenant: Option<&str>,
    ) -> Result<Option<Self>> {
        db.query_opt(
            &format!(
                "SELECT {BATCH_COLS} FROM batches WHERE chain = ? AND COALESCE(tenant, '') = ? \
                 AND state NOT IN ('CLOSED', 'CANCELLED')"
            ),
            params![chain, tenant.unwrap_or_default()],
        )?
        .as_ref()
        .map(Self::from_row)
        .transpose()
    }
}

/// An order in a batch, with the order's fields.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) id: i64,
    pub(crate) batch: i64,
    pub(crate) position: i64,
    pub(crate) state: ItemState,
    pub(crate) message: Option<String>,
    pub(crate) sender: Address,
    pub(crate) nonce: Option<u64>,
    pub(crate) gas_limit: Option<u64>,
    pub(crate) max_fee_per_gas: Option<U256>,
    pub(crate) raw_tx: Option<Vec<u8>>,
    pub(crate) tx_hash: Option<B256>,
    pub(crate) block_number: Option<u64>,
    pub(crate) block_hash: Option<B256>,
    pub(crate) fee: Option<U256>,
    /// The signing hash of the built transaction.
    pub(crate) signing_hash: Option<B256>,
    /// A payment, or the void of its order.
    pub(crate) kind: coldsign_core::batch::ItemKind,
    pub(crate) order: Order,
}

const ITEM_COLS: &str =
    "i.id, i.batch, i.position, i.state, i.message, i.sender, i.nonce, i.gas_limit, \
     i.max_fee_per_gas, i.raw_tx, i.tx_hash, i.block_number, i.block_hash, i.fee, \
     i.signing_hash, i.kind";

impl Item {
    fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            id: r.int(0)?,
            batch: r.int(1)?,
            position: r.int(2)?,
            state: r.text(3)?.parse()?,
            message: r.opt_text(4)?,
            sender: stored_address(&r.text(5)?)?,
            nonce: r.opt_int(6)?.map(to_u64),
            gas_limit: r.opt_int(7)?.map(to_u64),
            max_fee_per_gas: r.opt_text(8)?.map(|s| parse_u256(&s)).transpose()?,
            raw_tx: r
                .opt_text(9)?
                .map(|s| hex_data::decode(&s).map_err(|e| HubError::Internal(e.to_string())))
                .transpose()?,
            tx_hash: r.opt_text(10)?.map(|s| parse_b256(&s)).transpose()?,
            block_number: r.opt_int(11)?.map(to_u64),
            block_hash: r.opt_text(12)?.map(|s| parse_b256(&s)).transpose()?,
            fee: r.opt_text(13)?.map(|s| parse_u256(&s)).transpose()?,
            signing_hash: r.opt_text(14)?.map(|s| parse_b256(&s)).transpose()?,
            kind: crate::bindings::parse_kind(&r.text(15)?)?,
            order: Order::from_row_at(r, 16)?,
        })
    }

    /// The items of batch `batch`, in position order.
    pub(crate) fn of_batch(db: &mut Db, batch: i64) -> Result<Vec<Self>> {
        let rows = db.query(
            &format!(
                "SELECT {ITEM_COLS}, {ORDER_COLS} FROM batch_items i JOIN orders o ON o.id = i.order_ref \
                 WHERE i.batch = ? ORDER BY i.position"
            ),
            params![batch],
        )?;
        rows.iter().map(Self::from_row).collect()
    }

    /// The item of order `order_id` among `items` of batch `batch`, or a
    /// not-found error that names both.
    pub(crate) fn find(items: &[Self], batch: i64, order_id: &str) -> Result<Self> {
        items
            .iter()
            .find(|i| i.order.order_id == order_id)
            .cloned()
            .ok_or_else(|| HubError::NotFound(format!("order {order_id} is not in batch {batch}")))
    }

    /// Every item the order ever had, oldest first.
    pub(crate) fn of_order(db: &mut Db, order_ref: i64) -> Result<Vec<Self>> {
        db.query(
            &format!(
                "SELECT {ITEM_COLS}, {ORDER_COLS} FROM batch_items i JOIN orders o ON o.id = i.order_ref \
                 WHERE i.order_ref = ? ORDER BY i.id"
            ),
            params![order_ref],
        )?
        .iter()
        .map(Self::from_row)
        .collect()
    }
}

impl Row {
    /// The columns from `start` on, as a row of their own.
    pub(crate) fn slice(r: &Row, start: usize) -> Row {
        Row::from_values(r.values().iter().skip(start).cloned().collect())
    }
}

/// Who did it and why: written into every event.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    /// Operator name.
    pub(crate) operator: String,
}

/// What an event is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject {
    pub(crate) kind: &'static str,
    pub(crate) batch: Option<i64>,
    pub(crate) item: Option<i64>,
    pub(crate) order_ref: Option<i64>,
}

/// Parameters per multi-row statement of the bulk helpers, at most
/// (SQLite allows 32,766, PostgreSQL 65,535).
const BULK_PARAMS: usize = 20_000;

/// Rows per multi-row statement of `params` parameters each.
pub(crate) const fn bulk_rows(params: usize) -> usize {
    match BULK_PARAMS.checked_div(params) {
        Some(0) | None => 1,
        Some(rows) => rows,
    }
}

/// One event row for [`Actor::events`].
#[derive(Debug, Clone)]
pub(crate) struct Event<'a> {
    /// When (RFC 3339).
    pub(crate) at: String,
    pub(crate) subject: Subject,
    pub(crate) from: Option<&'a str>,
    pub(crate) to: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) message: &'a str,
}

/// One item's state change for [`Actor::move_items`].
#[derive(Debug, Clone)]
pub(crate) struct ItemMove<'a> {
    /// The item, in the state it is expected to be in.
    pub(crate) item: &'a Item,
    pub(crate) to: ItemState,
    pub(crate) reason: &'a str,
    /// The item's message (none if empty) and its events'.
    pub(crate) message: String,
    /// What else the transition writes.
    pub(crate) update: ItemUpdate,
    /// A second change right after the first, in the same transaction
    /// (state and reason), with its own event: the row is written once.
    pub(crate) then: Option<(ItemState, &'a str)>,
}

impl<'a> ItemMove<'a> {
    /// `item` to `to` for `reason`, no message, nothing else written.
    pub(crate) fn new(item: &'a Item, to: ItemState, reason: &'a str) -> Self {
        Self {
            item,
            to,
            reason,
            message: String::new(),
            update: ItemUpdate::None,
            then: None,
        }
    }

    /// With this message.
    pub(crate) fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Writing `update` too.
    pub(crate) fn update(mut self, update: ItemUpdate) -> Self {
        self.update = update;
        self
    }

    /// Then on to `to` for `reason`.
    pub(crate) fn then(mut self, to: ItemState, reason: &'a str) -> Self {
        self.then = Some((to, reason));
        self
    }

    /// The state the item ends in.
    fn last(&self) -> ItemState {
        self.then.map_or(self.to, |(to, _)| to)
    }
}

/// One order's state change for [`Actor::move_orders`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrderMove<'a> {
    /// The order's database id.
    pub(crate) order_ref: i64,
    /// The batch the change is about, if any (for its event).
    pub(crate) batch: Option<i64>,
    /// The state the order is expected to be in.
    pub(crate) from: OrderState,
    pub(crate) to: OrderState,
    pub(crate) reason: &'a str,
    pub(crate) message: &'a str,
}

/// How an extra column is passed in the VALUES list of a bulk update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bind {
    /// Integers (or NULL): cast, so PostgreSQL types the column BIGINT.
    Int,
    /// Text (or NULL).
    Text,
    /// NULL for every row: a constant in the SET clause.
    Null,
}

/// One `UPDATE ... FROM (VALUES ...)` for the moves `chunk` (indexes into
/// `moves`), which all set the extra columns `cols`: each item from its own
/// state to its own, compare-and-set, the changed ids returned to find any
/// item another process moved. The VALUES are a common table expression
/// with named columns (SQLite names a bare VALUES' columns differently).
fn update_items(
    db: &mut Db,
    cols: &[&str],
    chunk: &[usize],
    moves: &[ItemMove<'_>],
    columns: &[Vec<(&'static str, Value)>],
    at: &[String],
) -> Result<()> {
    let mut binds = Vec::with_capacity(cols.len());
    for (c, col) in cols.iter().enumerate() {
        let (mut int, mut text) = (false, false);
        for &n in chunk {
            match &columns[n][c].1 {
                Value::Int(_) => int = true,
                Value::Text(_) => text = true,
                Value::Null => {}
            }
        }
        binds.push(match (int, text) {
            (true, true) => {
                return Err(HubError::Internal(format!(
                    "column {col} set to integers and text in one bulk update"
                )))
            }
            (true, false) => Bind::Int,
            (false, true) => Bind::Text,
            (false, false) => Bind::Null,
        });
    }
    let mut tuple = String::from("(CAST(? AS BIGINT), ?, ?, ?, ?");
    let mut names = String::from("id, from_state, to_state, message, updated_at");
    let mut sets =
        String::from("state = v.to_state, message = v.message, updated_at = v.updated_at");
    for (c, (col, bind)) in cols.iter().zip(&binds).enumerate() {
        match bind {
            Bind::Int => tuple.push_str(", CAST(? AS BIGINT)"),
            Bind::Text => tuple.push_str(", ?"),
            Bind::Null => {
                sets.push_str(&format!(", {col} = NULL"));
                continue;
            }
        }
        names.push_str(&format!(", c{c}"));
        sets.push_str(&format!(", {col} = v.c{c}"));
    }
    tuple.push(')');
    let mut sql = format!("WITH v ({names}) AS (VALUES ");
    let mut values = Vec::with_capacity(chunk.len() * (5 + cols.len()));
    for (k, &n) in chunk.iter().enumerate() {
        let m = &moves[n];
        sql.push_str(if k == 0 { "" } else { ", " });
        sql.push_str(&tuple);
        values.extend([
            Value::from(m.item.id),
            Value::from(m.item.state.as_str()),
            Value::from(m.last().as_str()),
            Value::from((!m.message.is_empty()).then_some(m.message.as_str())),
            Value::from(at[n].as_str()),
        ]);
        for ((_, v), bind) in columns[n].iter().zip(&binds) {
            if *bind != Bind::Null {
                values.push(v.clone());
            }
        }
    }
    sql.push_str(&format!(
        ") UPDATE batch_items SET {sets} FROM v \
         WHERE batch_items.id = v.id AND batch_items.state = v.from_state \
         RETURNING batch_items.id"
    ));
    let rows = db.query(&sql, &values)?;
    if rows.len() != chunk.len() {
        let changed = rows
            .iter()
            .map(|r| r.int(0))
            .collect::<std::result::Result<std::collections::HashSet<i64>, _>>()?;
        let missed = chunk
            .iter()
            .map(|&n| moves[n].item)
            .find(|i| !changed.contains(&i.id));
        return Err(HubError::Concurrent(format!(
            "order {} changed while this command ran (another process?): run the command again",
            missed.map_or("?", |i| i.order.order_id.as_str())
        )));
    }
    Ok(())
}

impl Actor {
    /// Writes one event row.
    pub(crate) fn event(
        &self,
        db: &mut Db,
        subject: Subject,
        from: Option<&str>,
        to: &str,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        self.events(
            db,
            &[Event {
                at: now_rfc3339(),
                subject,
                from,
                to,
                reason,
                message,
            }],
        )
    }

    /// Writes event rows, in order, with multi-row INSERTs of up to
    /// [`bulk_rows`] rows: a few statements (round trips, on PostgreSQL) for
    /// thousands of events; then, if any of them is an order's or a batch's,
    /// their outbox rows with one more statement.
    pub(crate) fn events(&self, db: &mut Db, events: &[Event<'_>]) -> Result<()> {
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for chunk in events.chunks(bulk_rows(10)) {
            let mut sql = String::from(
                "INSERT INTO events (at, kind, batch, item, order_ref, from_state, to_state, reason, message, operator) VALUES ",
            );
            let mut values = Vec::with_capacity(chunk.len() * 10);
            for (n, e) in chunk.iter().enumerate() {
                sql.push_str(if n == 0 { "" } else { ", " });
                sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
                values.extend([
                    Value::from(e.at.as_str()),
                    Value::from(e.subject.kind),
                    Value::from(e.subject.batch),
                    Value::from(e.subject.item),
                    Value::from(e.subject.order_ref),
                    Value::from(e.from),
                    Value::from(e.to),
                    Value::from(e.reason),
                    Value::from(e.message),
                    Value::from(self.operator.as_str()),
                ]);
            }
            sql.push_str(" RETURNING id");
            for r in db.query(&sql, &values)? {
                let id = r.int(0)?;
                first = first.min(id);
                last = last.max(id);
            }
        }
        // Only order and batch events are called back: item events alone
        // (most of send's and upload's) need no outbox statement.
        if first > last
            || !events
                .iter()
                .any(|e| matches!(e.subject.kind, "order" | "batch"))
        {
            return Ok(());
        }
        // The outbox rows of these events, in the same transaction: every
        // change of a tenant's order or batch is called back. (On
        // PostgreSQL another transaction's events may have ids in the same
        // range; those it committed meanwhile are seen too, and the unique
        // event column makes that harmless: it wrote their outbox rows.)
        db.execute(
            "INSERT INTO outbox (event, tenant, order_ref, batch, next_attempt_at) \
             SELECT e.id, COALESCE(o.tenant, b.tenant), e.order_ref, e.batch, '' FROM events e \
             LEFT JOIN orders o ON o.id = e.order_ref LEFT JOIN batches b ON b.id = e.batch \
             WHERE e.id BETWEEN ? AND ? AND e.kind IN ('order', 'batch') AND COALESCE(o.tenant, b.tenant) IS NOT NULL \
             ON CONFLICT (event) DO NOTHING",
            params![first, last],
        )?;
        Ok(())
    }

    /// Moves an item from `from` to `to` (checked against the tables),
    /// setting extra columns, and writes the event. Fails with a conflict if
    /// the item is no longer in `from` (another process moved it).
    pub(crate) fn move_item(
        &self,
        db: &mut Db,
        item: &Item,
        to: ItemState,
        reason: &str,
        message: &str,
        update: &ItemUpdate,
    ) -> Result<()> {
        let from = item.state;
        if from != to {
            from.check_move(to)?;
        }
        check_pairing(to, update)?;
        let mut sql = String::from("UPDATE batch_items SET state = ?, message = ?, updated_at = ?");
        let mut values = vec![
            Value::from(to.as_str()),
            Value::from(if message.is_empty() {
                None
            } else {
                Some(message)
            }),
            Value::from(now_rfc3339()),
        ];
        for (col, v) in update.columns()? {
            sql.push_str(&format!(", {col} = ?"));
            values.push(v);
        }
        sql.push_str(" WHERE id = ? AND state = ?");
        values.push(Value::from(item.id));
        values.push(Value::from(from.as_str()));
        if db.execute(&sql, &values)? != 1 {
            return Err(HubError::Concurrent(format!(
                "order {} changed while this command ran (another process?): run the command again",
                item.order.order_id
            )));
        }
        self.event(
            db,
            Subject {
                kind: "item",
                batch: Some(item.batch),
                item: Some(item.id),
                order_ref: Some(item.order.id),
            },
            Some(from.as_str()),
            to.as_str(),
            reason,
            message,
        )
    }

    /// Moves many items at once, each from its current state (`item.state`)
    /// to its own `to` (and on to its `then`, if any; checked against the
    /// tables), setting its own extra columns, and writes one event per
    /// change, in the order given.
    ///
    /// The same compare-and-set as [`Actor::move_item`], in bulk: items with
    /// the same extra columns are updated [`bulk_rows`] at a time by one
    /// `UPDATE ... FROM (VALUES ...)` statement, and the events inserted by
    /// multi-row INSERTs, so thousands of changes cost a few statements
    /// (round trips, on PostgreSQL) instead of two per change. Meant to run
    /// in the caller's transaction: a conflict (an item no longer in its
    /// state) is an error that rolls all of them back. Each item at most
    /// once per call.
    pub(crate) fn move_items(&self, db: &mut Db, moves: &[ItemMove<'_>]) -> Result<()> {
        for m in moves {
            if m.item.state != m.to {
                m.item.state.check_move(m.to)?;
            }
            check_pairing(m.to, &m.update)?;
            if let Some((then, _)) = m.then {
                m.to.check_move(then)?;
            }
        }
        let at: Vec<String> = moves.iter().map(|_| now_rfc3339()).collect();
        let sets = moves
            .iter()
            .map(|m| m.update.columns())
            .collect::<Result<Vec<_>>>()?;
        // Moves with the same extra columns share one statement shape.
        let mut groups: Vec<(Vec<&str>, Vec<usize>)> = Vec::new();
        for (n, set) in sets.iter().enumerate() {
            let cols: Vec<&str> = set.iter().map(|(c, _)| *c).collect();
            match groups.iter_mut().find(|(c, _)| *c == cols) {
                Some((_, members)) => members.push(n),
                None => groups.push((cols, vec![n])),
            }
        }
        for (cols, members) in &groups {
            for chunk in members.chunks(bulk_rows(5 + cols.len())) {
                update_items(db, cols, chunk, moves, &sets, &at)?;
            }
        }
        let mut events = Vec::with_capacity(moves.len());
        for (m, at) in moves.iter().zip(&at) {
            let subject = Subject {
                kind: "item",
                batch: Some(m.item.batch),
                item: Some(m.item.id),
                order_ref: Some(m.item.order.id),
            };
            events.push(Event {
                at: at.clone(),
                subject,
                from: Some(m.item.state.as_str()),
                to: m.to.as_str(),
                reason: m.reason,
                message: &m.message,
            });
            if let Some((then, reason)) = m.then {
                events.push(Event {
                    at: at.clone(),
                    subject,
                    from: Some(m.to.as_str()),
                    to: then.as_str(),
                    reason,
                    message: &m.message,
                });
            }
        }
        self.events(db, &events)
    }

    /// Moves an order to `to` with its event.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn move_order(
        &self,
        db: &mut Db,
        order_ref: i64,
        batch: Option<i64>,
        from: OrderState,
        to: OrderState,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        let n = db.execute(
            "UPDATE orders SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
            params![to.as_str(), now_rfc3339(), order_ref, from.as_str()],
        )?;
        if n != 1 {
            return Err(HubError::Concurrent(format!(
                "an order changed while this command ran (expected {from}): run the command again"
            )));
        }
        self.event(
            db,
            Subject {
                kind: "order",
                batch,
                item: None,
                order_ref: Some(order_ref),
            },
            Some(from.as_str()),
            to.as_str(),
            reason,
            message,
        )
    }

    /// Moves many orders at once, each from its `from` to its `to`, with one
    /// event per change in the order given: the compare-and-set of
    /// [`Actor::move_order`], in bulk (one `UPDATE ... FROM (VALUES ...)`
    /// per [`bulk_rows`] orders, then the events in multi-row INSERTs). An
    /// order no longer in its `from` is a conflict, meant to roll back the
    /// caller's transaction. Each order at most once per call.
    pub(crate) fn move_orders(&self, db: &mut Db, moves: &[OrderMove<'_>]) -> Result<()> {
        let at: Vec<String> = moves.iter().map(|_| now_rfc3339()).collect();
        for (chunk, at) in moves.chunks(bulk_rows(4)).zip(at.chunks(bulk_rows(4))) {
            let mut sql = String::from("WITH v (id, from_state, to_state, updated_at) AS (VALUES ");
            let mut values = Vec::with_capacity(chunk.len() * 4);
            for (k, (m, at)) in chunk.iter().zip(at).enumerate() {
                sql.push_str(if k == 0 { "" } else { ", " });
                sql.push_str("(CAST(? AS BIGINT), ?, ?, ?)");
                values.extend([
                    Value::from(m.order_ref),
                    Value::from(m.from.as_str()),
                    Value::from(m.to.as_str()),
                    Value::from(at.as_str()),
                ]);
            }
            sql.push_str(
                ") UPDATE orders SET state = v.to_state, updated_at = v.updated_at FROM v \
                 WHERE orders.id = v.id AND orders.state = v.from_state RETURNING orders.id",
            );
            let changed = db.query(&sql, &values)?;
            if changed.len() != chunk.len() {
                let changed = changed
                    .iter()
                    .map(|r| r.int(0))
                    .collect::<std::result::Result<std::collections::HashSet<i64>, _>>()?;
                let from = chunk
                    .iter()
                    .find(|m| !changed.contains(&m.order_ref))
                    .map_or("?", |m| m.from.as_str());
                return Err(HubError::Concurrent(format!(
                    "an order changed while this command ran (expected {from}): run the command again"
                )));
            }
        }
        let events: Vec<Event<'_>> = moves
            .iter()
            .zip(at)
            .map(|(m, at)| Event {
                at,
                subject: Subject {
                    kind: "order",
                    batch: m.batch,
                    item: None,
                    order_ref: Some(m.order_ref),
                },
                from: Some(m.from.as_str()),
                to: m.to.as_str(),
                reason: m.reason,
                message: m.message,
            })
            .collect();
        self.events(db, &events)
    }

    /// Sets a batch's state explicitly (BUILDING_TX, SIGNATURE_ERROR,
    /// CANCELLED), with its event.
    pub(crate) fn move_batch(
        &self,
        db: &mut Db,
        batch: &Batch,
        to: BatchState,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        self.move_batch_from(db, batch.id, batch.state, to, reason, message)
    }

    /// Moves batch `id` from state `from` to `to` (compare-and-set), with
    /// its event.
    fn move_batch_from(
        &self,
        db: &mut Db,
        id: i64,
        from: BatchState,
        to: BatchState,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        let n = db.execute(
            "UPDATE batches SET state = ?, message = ?, updated_at = ? WHERE id = ? AND state = ?",
            params![to.as_str(), message, now_rfc3339(), id, from.as_str()],
        )?;
        if n != 1 {
            return Err(HubError::Concurrent(format!(
                "batch {id} changed while this command ran (another process?): run the command again"
            )));
        }
        self.event(
            db,
            Subject {
                kind: "batch",
                batch: Some(id),
                item: None,
                order_ref: None,
            },
            Some(from.as_str()),
            to.as_str(),
            reason,
            message,
        )
    }

    /// Recomputes the batch's state from its items (the tables' rule) and
    /// records the change, if any. Returns the state.
    ///
    /// Reads only the batch's state and the distinct states of its items
    /// (the rule depends on which states occur, not how often): send calls
    /// this for every chunk of a large batch, so it must not load the stored
    /// unsigned file or every item.
    pub(crate) fn refresh_batch(
        &self,
        db: &mut Db,
        batch_id: i64,
        reason: &str,
    ) -> Result<BatchState> {
        let current: BatchState = db
            .query_opt("SELECT state FROM batches WHERE id = ?", params![batch_id])?
            .ok_or_else(|| {
                HubError::NotFound(format!("no batch {batch_id}: see `hub-cli batch list`"))
            })?
            .text(0)?
            .parse()?;
        // Which states occur, one index probe per state (`batch_items_state`)
        // rather than a DISTINCT over every item row: on PostgreSQL that
        // scan (with the dead row versions of a bulk change) took 5 to 8 ms
        // of each of send's 200 refreshes of a 10,000-item batch.
        let probes: Vec<String> = ItemState::ALL.iter().map(|s| format!("('{s}')")).collect();
        let states: Vec<ItemState> = db
            .query(
                &format!(
                    "WITH s (state) AS (VALUES {}) SELECT s.state FROM s WHERE EXISTS \
                     (SELECT 1 FROM batch_items i WHERE i.batch = ? AND i.state = s.state)",
                    probes.join(", ")
                ),
                params![batch_id],
            )?
            .iter()
            .map(|r| Ok(r.text(0)?.parse::<ItemState>()?))
            .collect::<Result<_>>()?;
        let to = derive_batch_state(current, &states);
        if to != current {
            let message = match to {
                BatchState::Closed => "every order is final",
                BatchState::ProcessException => {
                    "an order is BROADCAST_ERROR or LINGERING: resolve it (`hub-cli batch show`)"
                }
                BatchState::Blocked => {
                    "an order failed to build: fix it or drop it, then build again"
                }
                _ => "",
            };
            self.move_batch_from(db, batch_id, current, to, reason, message)?;
        }
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::db::migrate;
    use coldsign_e2e::{Backend, TestDb};

    /// Enough items for several statements of every shape below.
    const ORDERS: i64 = 3 * bulk_rows(6) as i64 + 3;

    /// A migrated hub with one batch of `ORDERS` SELECTED items.
    fn hub(db: &mut Db) -> Vec<Item> {
        migrate(db).unwrap();
        db.transaction(|db| {
            db.execute(
                "INSERT INTO chains (name, chain_id, rpc_url, confirmations, native_symbol, \
                 native_decimals, base_fee_multiplier_pct, priority_fee_multiplier_pct, \
                 gas_margin_pct, created_at) VALUES ('c', 1, 'u', 1, 'ETH', 18, 200, 100, 120, 'x')",
                params![],
            )?;
            db.execute(
                "INSERT INTO batches (chain, state, created_at, updated_at) VALUES (1, 'NEW', 'x', 'x')",
                params![],
            )?;
            let a = Address([0x11; 20]).to_checksum();
            db.execute(
                "WITH RECURSIVE g (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?) \
                 INSERT INTO orders (order_id, chain, asset, from_address, to_address, amount, \
                 state, created_at, updated_at) \
                 SELECT 'o' || n, 1, 'ETH', ?, ?, '1', 'IN_BATCH', 'x', 'x' FROM g ORDER BY n",
                params![ORDERS, a.as_str(), a.as_str()],
            )?;
            db.execute(
                "INSERT INTO batch_items (batch, order_ref, position, state, sender, created_at, \
                 updated_at) SELECT 1, id, id, 'SELECTED', from_address, 'x', 'x' FROM orders",
                params![],
            )?;
            Ok::<_, HubError>(())
        })
        .unwrap();
        Item::of_batch(db, 1).unwrap()
    }

    fn count(db: &mut Db, sql: &str) -> i64 {
        db.query_one(sql, params![]).unwrap().int(0).unwrap()
    }

    /// The item events from `first` on: (item, from, to, reason, message).
    fn events(db: &mut Db, first: usize) -> Vec<(i64, String, String, String, String)> {
        db.query(
            "SELECT item, from_state, to_state, reason, message, operator FROM events ORDER BY id",
            params![],
        )
        .unwrap()
        .iter()
        .skip(first)
        .map(|e| {
            assert_eq!(e.text(5).unwrap(), "op");
            (
                e.int(0).unwrap(),
                e.text(1).unwrap(),
                e.text(2).unwrap(),
                e.text(3).unwrap(),
                e.text(4).unwrap(),
            )
        })
        .collect()
    }

    fn moves_items_in_bulk(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let test = TestDb::new(backend, dir.path());
        let mut db = Db::open(&test.url, true).unwrap();
        let items = hub(&mut db);
        assert_eq!(items.len() as i64, ORDERS);
        let actor = Actor {
            operator: "op".into(),
        };

        // Built items set integers and text (the priority fee NULL for
        // some); failed ones set only NULL: two statement shapes, each over
        // more than one statement.
        let moves: Vec<ItemMove<'_>> = items
            .iter()
            .map(|i| {
                if i.position % 3 == 0 {
                    ItemMove::new(i, ItemState::BuildError, "build failed")
                        .message(format!("no funds {}", i.position))
                        .update(ItemUpdate::BuildFailed)
                } else {
                    let prio = (i.position % 2 == 0).then(|| U256::from(i.position as u64));
                    ItemMove::new(i, ItemState::TxBuilt, "built").update(ItemUpdate::Built {
                        kind: coldsign_core::batch::ItemKind::Payment,
                        nonce: i.position as u64,
                        gas_limit: 21_000,
                        max_fee_per_gas: U256::from(7u64),
                        max_priority_fee_per_gas: prio,
                        signing_hash: B256([i.position as u8; 32]),
                    })
                }
            })
            .collect();
        db.transaction(|db| actor.move_items(db, &moves)).unwrap();
        let built = Item::of_batch(&mut db, 1).unwrap();
        for i in &built {
            if i.position % 3 == 0 {
                assert_eq!(i.state, ItemState::BuildError);
                assert_eq!(i.nonce, None);
                assert_eq!(i.message, Some(format!("no funds {}", i.position)));
            } else {
                assert_eq!(i.state, ItemState::TxBuilt);
                assert_eq!(i.nonce, Some(i.position as u64));
                assert_eq!(i.signing_hash, Some(B256([i.position as u8; 32])));
                assert_eq!(i.message, None);
            }
        }
        assert_eq!(
            count(
                &mut db,
                "SELECT COUNT(*) FROM batch_items WHERE max_priority_fee_per_gas IS NOT NULL"
            ),
            (1..=ORDERS).filter(|p| p % 3 != 0 && p % 2 == 0).count() as i64
        );
        // One event per item, in the order given, with its own states.
        let seen = events(&mut db, 0);
        assert_eq!(seen.len(), items.len());
        for (e, m) in seen.iter().zip(&moves) {
            let want = (
                m.item.id,
                "SELECTED".to_owned(),
                m.to.as_str().to_owned(),
                m.reason.to_owned(),
                m.message.clone(),
            );
            assert_eq!(e, &want);
        }

        // Two changes per item, the row written once: two events each.
        let ready: Vec<ItemMove<'_>> = built
            .iter()
            .filter(|i| i.state == ItemState::TxBuilt)
            .map(|i| {
                ItemMove::new(i, ItemState::SignatureReady, "signature received")
                    .update(ItemUpdate::Signed {
                        raw_tx: (i.position as u16).to_be_bytes().to_vec(),
                        tx_hash: B256([i.position as u8; 32]),
                    })
                    .then(ItemState::ReadyToSend, "assembled")
            })
            .collect();
        db.transaction(|db| actor.move_items(db, &ready)).unwrap();
        let seen = events(&mut db, items.len());
        assert_eq!(seen.len(), 2 * ready.len());
        for (pair, m) in seen.chunks(2).zip(&ready) {
            assert_eq!(
                (pair[0].0, &*pair[0].1, &*pair[0].2, &*pair[0].3),
                (
                    m.item.id,
                    "TX_BUILT",
                    "SIGNATURE_READY",
                    "signature received"
                )
            );
            assert_eq!(
                (pair[1].0, &*pair[1].1, &*pair[1].2, &*pair[1].3),
                (m.item.id, "SIGNATURE_READY", "READY_TO_SEND", "assembled")
            );
        }
        for i in Item::of_batch(&mut db, 1).unwrap() {
            if i.position % 3 != 0 {
                assert_eq!(i.state, ItemState::ReadyToSend);
                assert_eq!(i.raw_tx, Some(i.position.to_be_bytes()[6..].to_vec()));
            }
        }

        // Another process moved one item: the whole change is refused and
        // rolled back, naming that order.
        let events_before = count(&mut db, "SELECT COUNT(*) FROM events");
        let moved = ORDERS - ORDERS % 3;
        db.execute(
            "UPDATE batch_items SET state = 'TX_BUILT' WHERE position = ?",
            params![moved],
        )
        .unwrap();
        let again: Vec<ItemMove<'_>> = built
            .iter()
            .filter(|i| i.state == ItemState::BuildError)
            .map(|i| ItemMove::new(i, ItemState::Selected, "drop"))
            .collect();
        let err = db
            .transaction(|db| actor.move_items(db, &again))
            .unwrap_err();
        assert!(matches!(err, HubError::Concurrent(_)), "{err}");
        assert!(
            err.to_string().contains(&format!("order o{moved} changed")),
            "{err}"
        );
        assert_eq!(
            count(
                &mut db,
                "SELECT COUNT(*) FROM batch_items WHERE state = 'SELECTED'"
            ),
            0
        );
        assert_eq!(count(&mut db, "SELECT COUNT(*) FROM events"), events_before);

        // A transition the tables refuse is refused before any statement.
        let bad = [ItemMove::new(&built[1], ItemState::Sending, "send")];
        assert!(db.transaction(|db| actor.move_items(db, &bad)).is_err());
        let bad = [
            ItemMove::new(&built[1], ItemState::SignatureReady, "signed")
                .then(ItemState::Confirming, "sent"),
        ];
        assert!(db.transaction(|db| actor.move_items(db, &bad)).is_err());
    }

    #[test]
    fn moves_items_in_bulk_on_sqlite() {
        moves_items_in_bulk(Backend::Sqlite);
    }

    #[test]
    fn moves_items_in_bulk_on_postgres() {
        moves_items_in_bulk(Backend::Postgres);
    }
}
