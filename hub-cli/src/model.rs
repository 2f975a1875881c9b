//! The hub's records as loaded from the database, and the helpers that change
//! a state: each change is written together with its event row, inside the
//! caller's database transaction.

use crate::{
    clock::now_rfc3339,
    db::{params, Db, Row, Value},
    error::{HubError, Result},
    fees::FeePolicy,
    state::{derive_batch_state, BatchState, ItemState, OrderState},
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
}

const CHAIN_COLS: &str = "id, name, chain_id, rpc_url, confirmations, native_symbol, native_decimals, \
     base_fee_multiplier_pct, priority_fee_multiplier_pct, max_fee_cap, priority_fee_cap, gas_margin_pct";

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
}

impl AddressRow {
    fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            chain: r.int(0)?,
            address: parse_address(&r.text(1)?)?,
            role: r.text(2)?,
            derivation_path: r.opt_text(3)?,
            public_key: r.opt_text(4)?,
        })
    }

    /// The address on `chain`, if registered.
    pub(crate) fn find(db: &mut Db, chain: i64, address: Address) -> Result<Option<Self>> {
        db.query_opt(
            "SELECT chain, address, role, derivation_path, public_key FROM addresses WHERE chain = ? AND address = ?",
            params![chain, address.to_checksum()],
        )?
        .as_ref()
        .map(Self::from_row)
        .transpose()
    }

    /// Every address (of one chain).
    pub(crate) fn all(db: &mut Db, chain: Option<i64>) -> Result<Vec<Self>> {
        let rows = match chain {
            Some(c) => db.query(
                "SELECT chain, address, role, derivation_path, public_key FROM addresses WHERE chain = ? ORDER BY id",
                params![c],
            )?,
            None => db.query(
                "SELECT chain, address, role, derivation_path, public_key FROM addresses ORDER BY chain, id",
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
}

pub(crate) const ORDER_COLS: &str =
    "o.id, o.order_id, o.chain, o.asset, o.token, o.from_address, o.to_address, o.amount, o.state, o.created_at";

impl Order {
    pub(crate) fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            id: r.int(0)?,
            order_id: r.text(1)?,
            chain: r.int(2)?,
            asset: r.text(3)?,
            token: r.opt_int(4)?,
            from: parse_address(&r.text(5)?)?,
            to: parse_address(&r.text(6)?)?,
            amount: parse_u256(&r.text(7)?)?,
            state: r.text(8)?.parse()?,
            created_at: r.text(9)?,
        })
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

    /// The unfinished batch of `chain`, if any.
    pub(crate) fn unfinished_on(db: &mut Db, chain: i64) -> Result<Option<Self>> {
        db.query_opt(
            &format!(
                "SELECT {BATCH_COLS} FROM batches WHERE chain = ? AND state NOT IN ('CLOSED', 'CANCELLED')"
            ),
            params![chain],
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
    pub(crate) order: Order,
}

const ITEM_COLS: &str =
    "i.id, i.batch, i.position, i.state, i.message, i.sender, i.nonce, i.gas_limit, \
     i.max_fee_per_gas, i.raw_tx, i.tx_hash, i.block_number, i.block_hash, i.fee";

impl Item {
    fn from_row(r: &Row) -> Result<Self> {
        let order_row = Row::slice(r, 14);
        Ok(Self {
            id: r.int(0)?,
            batch: r.int(1)?,
            position: r.int(2)?,
            state: r.text(3)?.parse()?,
            message: r.opt_text(4)?,
            sender: parse_address(&r.text(5)?)?,
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
            order: Order::from_row(&order_row)?,
        })
    }

    /// The items of batch `batch`, in position order.
    pub(crate) fn of_batch(db: &mut Db, batch: i64) -> Result<Vec<Self>> {
        db.query(
            &format!(
                "SELECT {ITEM_COLS}, {ORDER_COLS} FROM batch_items i JOIN orders o ON o.id = i.order_ref \
                 WHERE i.batch = ? ORDER BY i.position"
            ),
            params![batch],
        )?
        .iter()
        .map(Self::from_row)
        .collect()
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
        db.execute(
            "INSERT INTO events (at, kind, batch, item, order_ref, from_state, to_state, reason, message, operator) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                now_rfc3339(),
                subject.kind,
                subject.batch,
                subject.item,
                subject.order_ref,
                from,
                to,
                reason,
                message,
                self.operator.as_str()
            ],
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
        set: &[(&str, Value)],
    ) -> Result<()> {
        let from = item.state;
        if from != to {
            from.check_move(to)?;
        }
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
        for (col, v) in set {
            sql.push_str(&format!(", {col} = ?"));
            values.push(v.clone());
        }
        sql.push_str(" WHERE id = ? AND state = ?");
        values.push(Value::from(item.id));
        values.push(Value::from(from.as_str()));
        if db.execute(&sql, &values)? != 1 {
            return Err(HubError::Conflict(format!(
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
            return Err(HubError::Conflict(format!(
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
            return Err(HubError::Conflict(format!(
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
        let states: Vec<ItemState> = db
            .query(
                "SELECT DISTINCT state FROM batch_items WHERE batch = ?",
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
