//! `order import`, `add`, `list`, `show`, `hold`, `release`, `cancel`.

use super::Ctx;
use crate::{
    cli::OrderCmd,
    clock::now_rfc3339,
    db::Db,
    error::{ErrorKind, HubError, OperationError, Result},
    model::{parse_address, AddressRow, Asset, Chain, Event, Item, Order, Token},
    output::{Output, Table},
    rpc::Balance,
    state::OrderState,
    store::orders::{self as store, NewOrderRow, OrderQuery, StateFilter},
};
use coldsign_core::{amount::parse_units, Address, U256};
use serde_json::json;
use std::collections::HashMap;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// Why an `order` command (`import`, `add`, `list`, `show`, `plan`, `hold`,
/// `release`, `cancel`) or the service's order intake refused or failed.
/// Its [`OperationError::kind`] gives its exit code and HTTP status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OrderError {
    /// The order id is empty, too long or has spaces or control characters.
    #[error("order id {order_id:?} must be 1-128 printable ASCII characters without spaces")]
    BadOrderId { order_id: String },
    /// The recipient is the zero address.
    #[error(
        "the recipient is the zero address: what is sent there is lost for good; \
         check the recipient"
    )]
    ZeroRecipient,
    /// The recipient is the sender itself.
    #[error(
        "the recipient is the sender itself ({from}): such a payment pays nobody; \
         check the recipient"
    )]
    RecipientIsSender { from: Address },
    /// The recipient is a registered token's contract.
    #[error(
        "the recipient {to} is the contract of token {symbol} on {chain}: what is sent to \
         it is lost for good; the recipient is the holder's own address"
    )]
    RecipientIsToken {
        to: Address,
        symbol: String,
        chain: String,
    },
    /// The recipient is one of the hub's own cold addresses.
    #[error(
        "the recipient {to} is a cold address of this hub (registered on {}): a payout \
         goes to a customer, not back to the hub's own wallets; check the recipient",
        .chains.join(", ")
    )]
    RecipientIsCold { to: Address, chains: Vec<String> },
    /// The amount has a comma (a thousands separator or a decimal comma).
    #[error(
        "amount {amount:?} has a comma: write it as a plain decimal with a '.' and no \
         thousands separators (1000.5, not 1,000.5 or 1000,5)"
    )]
    AmountWithComma { amount: String },
    /// The amount is not one in the asset's units.
    #[error("{error}")]
    BadAmount {
        error: coldsign_core::amount::AmountError,
    },
    /// The amount is zero.
    #[error("amount must be above zero")]
    ZeroAmount,
    /// The sending address is not registered on the chain.
    #[error(
        "sending address {from} is not registered on {chain}: import it with `hub-cli address import`"
    )]
    UnregisteredSender { from: Address, chain: String },
    /// The order id is taken by another tenant's order.
    #[error(
        "order id {order_id:?} is already used: order ids must be unique across the hub; give this order another id"
    )]
    OrderIdTaken { order_id: String },
    /// An order with this id exists with other details.
    #[error(
        "order {order_id:?} already exists with other details: order ids must be unique; see it with \
         `hub-cli order show {order_id}` (`GET /v1/orders/{order_id}` through the service), and give a new \
         order a new id"
    )]
    OtherDetails { order_id: String },
    /// An order meant to be inserted has no id from the database (a bug).
    #[error("order {order_id:?} was not inserted")]
    NotInserted { order_id: String },
    /// `order hold` of an order that is not PENDING.
    #[error(
        "order {order_id} is {state}: only a PENDING order can be held{}",
        hold_refusal_note(*.state, .order_id)
    )]
    HoldNotPending { order_id: String, state: OrderState },
    /// `order hold` of a cancelled order whose void is still to be sent.
    #[error(
        "order {order_id} is cancelled and its void goes in the next batch: there is nothing to \
         hold (the void pays nobody, it only retires the order's nonce)"
    )]
    HoldCancelled { order_id: String },
    /// Another process changed the order during `order hold` or `order
    /// release`: nothing was written.
    #[error("order {order_id} changed while this command ran (another process?): run it again")]
    ChangedMeanwhile { order_id: String },
    /// `order cancel` of an order that is not PENDING.
    #[error(
        "order {order_id} is {state}: only a PENDING order can be cancelled{}",
        if *.state == OrderState::InBatch {
            " (take it out of its batch first: `hub-cli batch drop`, or `hub-cli batch cancel` before a signed file was accepted)"
        } else {
            ""
        }
    )]
    CancelNotPending { order_id: String, state: OrderState },
    /// Another process changed the order during `order cancel`: nothing
    /// was written.
    #[error("order {order_id} changed while this command ran: run it again")]
    ChangedDuringCancel { order_id: String },
    /// The order file cannot be read.
    #[error("cannot read {file}: {source}")]
    Unreadable {
        file: String,
        source: std::io::Error,
    },
    /// The order file is UTF-16 text.
    #[error(
        "{file} is UTF-16 text: save it as UTF-8 (in a spreadsheet: \"CSV UTF-8\") and import it again"
    )]
    Utf16File { file: String },
    /// The order file is not UTF-8: `line` has the first bad `byte`;
    /// `bad_lines` are all the lines with such bytes.
    #[error(
        "{file}: line {line} has the byte 0x{byte:02X}, which is not UTF-8{}: the file \
         was saved in another encoding (Latin-1 or Windows-1252, perhaps); save it as \
         UTF-8 (in a spreadsheet: \"CSV UTF-8\") and import it again",
        other_bad_lines(.bad_lines, *.line)
    )]
    NotUtf8 {
        file: String,
        line: usize,
        byte: u8,
        bad_lines: Vec<usize>,
    },
    /// The order file is JSON, not CSV.
    #[error(
        "{file}: this looks like JSON, not CSV: `hub-cli order import` reads CSV whose first \
         line is the header `{}` (a JSON list of addresses goes to `hub-cli address import`)",
        header_line()
    )]
    LooksLikeJson { file: String },
    /// The order file's first line is not the header.
    #[error(
        "{file}: line {line} must be the header `{}`, found `{found}`",
        header_line()
    )]
    BadHeader {
        file: String,
        line: u64,
        found: String,
    },
    /// The order file has no lines, not even the header.
    #[error(
        "{file} has no lines: its first line must be the header `{}`",
        header_line()
    )]
    EmptyFile { file: String },
    /// Lines of the order file were refused (each message names its
    /// line): nothing was imported.
    #[error(
        "{} line(s) refused, nothing imported:\n  {}",
        .lines.len(),
        .lines.join("\n  ")
    )]
    LinesRefused { lines: Vec<String> },
    /// Orders given to the service were refused (each message names its
    /// item): none was taken.
    #[error("{} order(s) refused, none taken: {}", .errors.len(), .errors.join("; "))]
    OrdersRefused { errors: Vec<String> },
    /// The order is another tenant's: to this one it does not exist.
    #[error("no order {order_id:?}")]
    OfAnotherTenant { order_id: String },
    /// `order list --since` is not a time.
    #[error(
        "--since {since:?} is not an RFC 3339 time: write it like 2026-01-31T00:00:00Z or \
         2026-01-31T09:30:00+02:00 (a zone is needed), or a date like 2026-01-31 \
         (midnight UTC)"
    )]
    BadSince { since: String },
    /// `order list --state` is not a state.
    #[error("unknown order state {state:?}: use one of {}", LIST_STATES)]
    UnknownState { state: String },
    /// `order list --batch` names no batch.
    #[error("no batch {batch}: see `hub-cli batch list`")]
    NoBatch { batch: i64 },
    /// A stored order's creation time does not parse (a bug or a damaged
    /// row).
    #[error("order {order_id}: stored time {created_at:?}: {error}")]
    BadStoredTime {
        order_id: String,
        created_at: String,
        error: time::error::Parse,
    },
    /// A stored order's decimals do not fit (a bug or a damaged row).
    #[error("order {order_id}: decimals out of range")]
    BadDecimals { order_id: String },
    /// The node's answer to a `balanceOf` call is not a 32-byte word.
    #[error(
        "balanceOf of {symbol} answered {bytes} bytes, not a 32-byte word: check the token's contract with \
         `hub-cli token list`"
    )]
    BadBalanceAnswer { symbol: String, bytes: usize },
}

crate::error::operation_error!(OrderError);

impl OperationError for OrderError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::BadOrderId { .. }
            | Self::ZeroRecipient
            | Self::RecipientIsSender { .. }
            | Self::RecipientIsToken { .. }
            | Self::RecipientIsCold { .. }
            | Self::AmountWithComma { .. }
            | Self::BadAmount { .. }
            | Self::ZeroAmount
            | Self::UnregisteredSender { .. }
            | Self::Unreadable { .. }
            | Self::Utf16File { .. }
            | Self::NotUtf8 { .. }
            | Self::LooksLikeJson { .. }
            | Self::BadHeader { .. }
            | Self::EmptyFile { .. }
            | Self::LinesRefused { .. }
            | Self::OrdersRefused { .. } => ErrorKind::Input,
            Self::OrderIdTaken { .. }
            | Self::OtherDetails { .. }
            | Self::HoldNotPending { .. }
            | Self::HoldCancelled { .. }
            | Self::ChangedMeanwhile { .. }
            | Self::CancelNotPending { .. }
            | Self::ChangedDuringCancel { .. } => ErrorKind::Conflict,
            Self::OfAnotherTenant { .. } | Self::NoBatch { .. } => ErrorKind::NotFound,
            Self::BadSince { .. } | Self::UnknownState { .. } => ErrorKind::Usage,
            Self::BadBalanceAnswer { .. } => ErrorKind::Node,
            Self::NotInserted { .. } | Self::BadStoredTime { .. } | Self::BadDecimals { .. } => {
                ErrorKind::Internal
            }
        }
    }
}

/// What `order hold` adds when refusing an order in `state` (not PENDING):
/// what to do instead.
fn hold_refusal_note(state: OrderState, id: &str) -> String {
    match state {
        OrderState::InBatch => format!(
            " (it is in a batch already: take it out with `hub-cli batch drop BATCH {id}`, \
             or cancel the batch with `hub-cli batch cancel BATCH` before a signed file \
             was accepted; `hub-cli order show {id}` names the batch)"
        ),
        OrderState::Completed => " (it is paid: there is nothing left to hold)".to_owned(),
        _ => " (it is final: it will not be paid, there is nothing to hold)".to_owned(),
    }
}

/// The other lines of a file not in UTF-8, after the first (`line`), for
/// its refusal: `bad` are all the lines with a byte that is not UTF-8.
fn other_bad_lines(bad: &[usize], line: usize) -> String {
    match bad.len() {
        0 | 1 => String::new(),
        n if n <= 10 => format!(
            " (lines {} have such bytes)",
            bad.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        n => format!(" ({n} lines have such bytes, the first on line {line})"),
    }
}

/// An order checked and ready to insert.
struct NewOrder {
    order_id: String,
    chain: Chain,
    asset: Asset,
    from: Address,
    to: Address,
    amount: U256,
}

/// What the checks of new orders look up, read once per command, so that
/// an import of thousands of lines costs a few queries rather than several
/// per line.
struct Known {
    /// Chains by name.
    chains: HashMap<String, Chain>,
    /// Assets by chain and symbol, as resolved so far.
    assets: HashMap<(i64, String), Asset>,
    /// Every registered address by chain and address: its role.
    addresses: HashMap<(i64, Address), String>,
    /// The chains on which each cold address of the hub is registered.
    cold: HashMap<Address, Vec<String>>,
    /// Every registered token by chain and contract: its symbol.
    contracts: HashMap<(i64, Address), String>,
}

impl Known {
    /// Reads the chains, the tokens and every registered address.
    fn load(db: &mut Db) -> Result<Self> {
        let addresses = AddressRow::all(db, None)?;
        Self::with_addresses(db, addresses)
    }

    /// Reads the chains, the tokens and what is registered of the addresses
    /// that `orders` name (as senders or recipients): all that their checks
    /// look up, without reading every address of the hub for a few orders.
    fn load_for(db: &mut Db, orders: &[CsvOrder]) -> Result<Self> {
        let mut named: Vec<Address> = orders
            .iter()
            .flat_map(|o| [o.from.as_str(), o.to.as_str()])
            .filter_map(|a| parse_address(a).ok())
            .collect();
        named.sort_by_key(|a| a.0);
        named.dedup();
        let addresses = AddressRow::of_addresses(db, &named)?;
        Self::with_addresses(db, addresses)
    }

    /// Reads the chains and the tokens; `addresses` are the registered
    /// addresses the checks may ask about.
    fn with_addresses(db: &mut Db, addresses: Vec<AddressRow>) -> Result<Self> {
        let chains = Chain::all(db)?;
        let mut cold: HashMap<Address, Vec<String>> = HashMap::new();
        for a in addresses.iter().filter(|a| a.role == "cold") {
            if let Some(c) = chains.iter().find(|c| c.id == a.chain) {
                cold.entry(a.address).or_default().push(c.name.clone());
            }
        }
        Ok(Self {
            chains: chains.into_iter().map(|c| (c.name.clone(), c)).collect(),
            assets: HashMap::new(),
            addresses: addresses
                .into_iter()
                .map(|a| ((a.chain, a.address), a.role))
                .collect(),
            cold,
            contracts: Token::all(db)?
                .into_iter()
                .map(|t| ((t.chain, t.contract), t.symbol))
                .collect(),
        })
    }

    /// The chain named `name` (the lookup's own error if there is none).
    fn chain(&self, db: &mut Db, name: &str) -> Result<Chain> {
        match self.chains.get(name) {
            Some(c) => Ok(c.clone()),
            None => Chain::by_name(db, name),
        }
    }

    /// The asset `symbol` on `chain`.
    fn asset(&mut self, db: &mut Db, chain: &Chain, symbol: &str) -> Result<Asset> {
        let key = (chain.id, symbol.to_owned());
        if let Some(a) = self.assets.get(&key) {
            return Ok(a.clone());
        }
        let asset = Asset::resolve(db, chain, symbol)?;
        self.assets.insert(key, asset.clone());
        Ok(asset)
    }

    /// Why `to` is no recipient for a payment from `from` on `chain`, if it
    /// obviously is not: the zero address, the sender itself, a token's
    /// contract, or one of the hub's own cold addresses (on any chain: the
    /// same key holds it everywhere).
    fn refuse_recipient(&self, chain: &Chain, from: Address, to: Address) -> Option<OrderError> {
        if to == Address([0; 20]) {
            return Some(OrderError::ZeroRecipient);
        }
        if to == from {
            return Some(OrderError::RecipientIsSender { from });
        }
        if let Some(symbol) = self.contracts.get(&(chain.id, to)) {
            return Some(OrderError::RecipientIsToken {
                to,
                symbol: symbol.clone(),
                chain: chain.name.clone(),
            });
        }
        if let Some(chains) = self.cold.get(&to) {
            return Some(OrderError::RecipientIsCold {
                to,
                chains: chains.clone(),
            });
        }
        None
    }
}

/// Checks one order as given (a file's line or `order add`'s options).
fn check_order(db: &mut Db, known: &mut Known, o: &CsvOrder) -> Result<NewOrder> {
    let order_id = o.order_id.as_str();
    let ok_id = !order_id.is_empty()
        && order_id.len() <= 128
        && order_id.bytes().all(|b| b.is_ascii_graphic());
    if !ok_id {
        return Err(OrderError::BadOrderId {
            order_id: order_id.to_owned(),
        }
        .into());
    }
    let chain = known.chain(db, &o.chain)?;
    let asset = known.asset(db, &chain, &o.asset)?;
    let from = parse_address(&o.from)?;
    let to = parse_address(&o.to)?;
    if let Some(why) = known.refuse_recipient(&chain, from, to) {
        return Err(why.into());
    }
    let amount = o.amount.as_str();
    if amount.contains(',') {
        return Err(OrderError::AmountWithComma {
            amount: amount.to_owned(),
        }
        .into());
    }
    let amount =
        parse_units(amount, asset.decimals).map_err(|error| OrderError::BadAmount { error })?;
    if amount.is_zero() {
        return Err(OrderError::ZeroAmount.into());
    }
    if !known.addresses.contains_key(&(chain.id, from)) {
        return Err(OrderError::UnregisteredSender {
            from,
            chain: chain.name.clone(),
        }
        .into());
    }
    Ok(NewOrder {
        order_id: order_id.to_owned(),
        chain,
        asset,
        from,
        to,
        amount,
    })
}

/// Inserts the order; `Ok(false)` if the very same order already exists.
fn insert(db: &mut Db, actor: &crate::model::Actor, o: &NewOrder) -> Result<bool> {
    Ok(insert_many(db, actor, std::slice::from_ref(o), None)?
        .first()
        .is_some_and(|(_, created)| *created))
}

/// Inserts `orders` for `tenant` (`None`: the desk's own), each with its
/// `created` event, in the caller's transaction. An order that already
/// exists with the very same details for the same tenant is left as it is
/// (`false`); the same id with other details, or another tenant's, is a
/// conflict. Returns each order as stored, in the order given.
///
/// A few statements whatever the count (a round trip each on PostgreSQL):
/// the existing orders are looked up, the new ones inserted and their
/// events written by multi-row statements of up to [`bulk_rows`] rows,
/// instead of four or five statements per order.
fn insert_many(
    db: &mut Db,
    actor: &crate::model::Actor,
    orders: &[NewOrder],
    tenant: Option<&str>,
) -> Result<Vec<(Order, bool)>> {
    let order_ids: Vec<&str> = orders.iter().map(|o| o.order_id.as_str()).collect();
    let mut existing: HashMap<String, Order> = store::orders_with_ids(db, &order_ids)?
        .into_iter()
        .map(|o| (o.order_id.clone(), o))
        .collect();
    let mut fresh = Vec::new();
    for o in orders {
        let Some(e) = existing.get(&o.order_id) else {
            fresh.push(o);
            continue;
        };
        if e.tenant.as_deref() != tenant {
            return Err(OrderError::OrderIdTaken {
                order_id: o.order_id.clone(),
            }
            .into());
        }
        let same = e.chain == o.chain.id
            && e.asset == o.asset.symbol
            && e.from == o.from
            && e.to == o.to
            && e.amount == o.amount;
        if !same {
            return Err(OrderError::OtherDetails {
                order_id: o.order_id.clone(),
            }
            .into());
        }
    }
    let now = now_rfc3339();
    let rows: Vec<NewOrderRow<'_>> = fresh
        .iter()
        .map(|o| NewOrderRow {
            order_id: &o.order_id,
            chain: o.chain.id,
            asset: &o.asset.symbol,
            token: o.asset.token.as_ref().map(|t| t.id),
            from: o.from,
            to: o.to,
            amount: o.amount,
        })
        .collect();
    let ids = store::insert_pending_orders(db, &rows, &now, tenant)?;
    let id_of = |o: &NewOrder| {
        ids.get(&o.order_id)
            .copied()
            .ok_or_else(|| OrderError::NotInserted {
                order_id: o.order_id.clone(),
            })
    };
    let messages: Vec<String> = fresh
        .iter()
        .map(|o| {
            format!(
                "{} {} from {} to {}",
                o.asset.human(o.amount),
                o.asset.symbol,
                o.from,
                o.to
            )
        })
        .collect();
    let mut events = Vec::with_capacity(fresh.len());
    for (o, message) in fresh.iter().zip(&messages) {
        events.push(Event {
            at: now.clone(),
            subject: order_subject(id_of(o)?),
            from: None,
            to: OrderState::Pending.as_str(),
            reason: "created",
            message,
        });
    }
    actor.events(db, &events)?;
    orders
        .iter()
        .map(|o| match existing.remove(&o.order_id) {
            Some(e) => Ok((e, false)),
            None => Ok((
                Order {
                    id: id_of(o)?,
                    order_id: o.order_id.clone(),
                    chain: o.chain.id,
                    asset: o.asset.symbol.clone(),
                    token: o.asset.token.as_ref().map(|t| t.id),
                    from: o.from,
                    to: o.to,
                    amount: o.amount,
                    state: OrderState::Pending,
                    created_at: now.clone(),
                    cancel_requested_at: None,
                    held_at: None,
                    tenant: tenant.map(str::to_owned),
                },
                true,
            )),
        })
        .collect()
}

/// Runs an `order` subcommand.
pub(crate) fn run(ctx: &mut Ctx, cmd: OrderCmd) -> Result<()> {
    match cmd {
        OrderCmd::Import { file } => import(ctx, &file),
        OrderCmd::Add {
            id,
            chain,
            asset,
            from,
            to,
            amount,
        } => {
            let mut known = Known::load(&mut ctx.db)?;
            let given = CsvOrder {
                order_id: id.clone(),
                chain,
                asset,
                from,
                to,
                amount,
            };
            let o = check_order(&mut ctx.db, &mut known, &given)?;
            let actor = ctx.actor.clone();
            let added = ctx.db.transaction(|db| insert(db, &actor, &o))?;
            ctx.out.result(
                json!({"order_id": id, "added": added}),
                &if added {
                    format!("order {id} added")
                } else {
                    format!("order {id} already exists (unchanged)")
                },
            );
            Ok(())
        }
        OrderCmd::List {
            state,
            chain,
            since,
            batch,
        } => list(
            ctx,
            &ListFilter {
                state,
                chain,
                since,
                batch,
            },
        ),
        OrderCmd::Show { id } => show(ctx, &id),
        OrderCmd::Plan { chain } => plan(ctx, &chain),
        OrderCmd::Hold { id, reason } => hold(ctx, &id, reason.as_deref()),
        OrderCmd::Release { id } => release(ctx, &id),
        OrderCmd::Cancel { id } => cancel(ctx, &id),
    }
}

/// The event subject of an order.
fn order_subject(order_ref: i64) -> crate::model::Subject {
    crate::model::Subject {
        kind: "order",
        batch: None,
        item: None,
        order_ref: Some(order_ref),
    }
}

/// `order hold`: a PENDING order stays out of new batches until released.
fn hold(ctx: &mut Ctx, id: &str, reason: Option<&str>) -> Result<()> {
    let o = Order::by_order_id(&mut ctx.db, id)?;
    if o.state != OrderState::Pending {
        return Err(OrderError::HoldNotPending {
            order_id: id.to_owned(),
            state: o.state,
        }
        .into());
    }
    if o.cancel_requested_at.is_some() {
        return Err(OrderError::HoldCancelled {
            order_id: id.to_owned(),
        }
        .into());
    }
    if let Some(since) = &o.held_at {
        ctx.out.result(
            json!({"order_id": id, "held": true, "held_at": since, "changed": false}),
            &format!("order {id} is already held (since {since})"),
        );
        return Ok(());
    }
    let actor = ctx.actor.clone();
    let now = now_rfc3339();
    let message = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("held by the operator");
    ctx.db.transaction(|db| {
        if !store::hold_order(db, o.id, &now)? {
            return Err(OrderError::ChangedMeanwhile {
                order_id: id.to_owned(),
            }
            .into());
        }
        let state = OrderState::Pending.as_str();
        actor.event(db, order_subject(o.id), Some(state), state, "held", message)
    })?;
    // A bound order left out of batches keeps its nonce: the sender's later
    // payments cannot be built until it is released (or cancelled).
    let binding = crate::bindings::of_order(&mut ctx.db, o.id)?;
    let note = binding.as_ref().map_or(String::new(), |b| {
        format!(
            "; it is bound to nonce {} of {}, so the later payments of {} fail to build \
             until it is released or cancelled (`hub-cli order cancel {id}`)",
            b.nonce, b.sender, b.sender
        )
    });
    ctx.out.result(
        json!({"order_id": id, "held": true, "held_at": now, "changed": true,
            "bound_nonce": binding.map(|b| b.nonce)}),
        &format!(
            "order {id} held: `batch create` leaves it out until `hub-cli order release {id}`{note}"
        ),
    );
    Ok(())
}

/// `order release`: a held order may go in batches again.
fn release(ctx: &mut Ctx, id: &str) -> Result<()> {
    let o = Order::by_order_id(&mut ctx.db, id)?;
    let Some(since) = o.held_at else {
        ctx.out.result(
            json!({"order_id": id, "held": false, "changed": false}),
            &format!("order {id} is not held (unchanged)"),
        );
        return Ok(());
    };
    let actor = ctx.actor.clone();
    ctx.db.transaction(|db| {
        if !store::release_order(db, o.id, &since)? {
            return Err(OrderError::ChangedMeanwhile {
                order_id: id.to_owned(),
            }
            .into());
        }
        let state = o.state.as_str();
        actor.event(
            db,
            order_subject(o.id),
            Some(state),
            state,
            "released",
            &format!("held since {since}"),
        )
    })?;
    ctx.out.result(
        json!({"order_id": id, "held": false, "changed": true}),
        &if o.state == OrderState::Pending {
            format!("order {id} released: the next `batch create` takes it")
        } else {
            format!("order {id} released")
        },
    );
    Ok(())
}

/// An order's state for people: `PENDING (held)` for a held one.
fn state_label(o: &Order) -> String {
    match o.held_at {
        Some(_) => format!("{} (held)", o.state),
        None => o.state.to_string(),
    }
}

/// `order cancel`: an unbound PENDING order is FAILED at once; a bound one
/// is marked so that its next batch carries its void.
fn cancel(ctx: &mut Ctx, id: &str) -> Result<()> {
    let o = Order::by_order_id(&mut ctx.db, id)?;
    if o.state != OrderState::Pending {
        return Err(OrderError::CancelNotPending {
            order_id: id.to_owned(),
            state: o.state,
        }
        .into());
    }
    if o.cancel_requested_at.is_some() {
        ctx.out.result(
            json!({"order_id": id, "state": o.state.as_str(), "void_pending": true}),
            &format!("order {id} is already cancelled; its void goes in the next batch"),
        );
        return Ok(());
    }
    let actor = ctx.actor.clone();
    let binding = crate::bindings::of_order(&mut ctx.db, o.id)?;
    let human = ctx.db.transaction(|db| {
        // A cancel wins over a hold: the order is abandoned, and the void
        // of a bound one must go out with the next batch.
        if let Some(since) = &o.held_at {
            store::clear_hold(db, o.id)?;
            let state = o.state.as_str();
            actor.event(db, order_subject(o.id), Some(state), state, "released",
                &format!("held since {since}; the hold ends with the cancel"))?;
        }
        match binding {
        None => {
            actor.move_order(db, o.id, None, OrderState::Pending, OrderState::Failed, "cancelled",
                "cancelled by the operator before any transaction of it left the hub")?;
            Ok::<_, HubError>(format!("order {id} cancelled (FAILED): no transaction of it ever left the hub"))
        }
        Some(b) => {
            if !store::request_cancel(db, o.id)? {
                return Err(OrderError::ChangedDuringCancel { order_id: id.to_owned() }.into());
            }
            let message = format!(
                "cancel requested: nonce {} of {} is bound to it, so its next batch carries a void at that nonce",
                b.nonce, b.sender
            );
            actor.event(db, crate::model::Subject { kind: "order", batch: None, item: None, order_ref: Some(o.id) },
                Some(o.state.as_str()), o.state.as_str(), "cancel requested", &message)?;
            Ok(format!(
                "order {id}: {message}; create the batch (`hub-cli batch create --chain CHAIN --all-pending --auto-build`), \
                 export, sign and send it: once the void is mined the order is FAILED"
            ))
        }
        }
    })?;
    let void = binding.is_some();
    ctx.out.result(
        json!({"order_id": id, "state": if void { "PENDING" } else { "FAILED" }, "void_pending": void,
            "nonce": binding.map(|b| b.nonce)}),
        &human,
    );
    Ok(())
}

/// The columns of an order file, in their order: its first line.
const CSV_HEADER: [&str; 6] = ["order_id", "chain", "asset", "from", "to", "amount"];

/// One order as given: a line of an order file (its cells trimmed and
/// unquoted), or the options of `order add`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CsvOrder {
    /// The order's unique id.
    order_id: String,
    /// Chain name.
    chain: String,
    /// The chain's native symbol or a registered token.
    asset: String,
    /// Sending address.
    from: String,
    /// Recipient.
    to: String,
    /// Amount in the asset's units.
    amount: String,
}

/// The header as one line, for messages.
fn header_line() -> String {
    CSV_HEADER.join(",")
}

/// A cell as trimmed by the reader, unquoted once more if it was quoted
/// after a space (`a, "b"`): a quote counts as one only at the very start
/// of a cell, so the reader keeps those quotes.
fn unquote(cell: &str) -> String {
    match cell.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
        Some(inner) if cell.len() >= 2 => inner.replace("\"\"", "\"").trim().to_owned(),
        _ => cell.to_owned(),
    }
}

/// The file's text, refused with what to do when it is not UTF-8 (naming
/// the lines with a bad byte) or is JSON given by mistake. A UTF-8 byte
/// order mark is dropped.
fn order_file_text(file: &std::path::Path, bytes: &[u8]) -> Result<String> {
    let name = file.display().to_string();
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(OrderError::Utf16File { file: name }.into());
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
            let bad: Vec<usize> = bytes
                .split(|&b| b == b'\n')
                .enumerate()
                .filter(|(_, l)| std::str::from_utf8(l).is_err())
                .map(|(n, _)| n + 1)
                .collect();
            return Err(OrderError::NotUtf8 {
                file: name,
                line,
                byte: bytes.get(at).copied().unwrap_or_default(),
                bad_lines: bad,
            }
            .into());
        }
    };
    if text.trim_start().starts_with(['{', '[']) {
        return Err(OrderError::LooksLikeJson { file: name }.into());
    }
    Ok(text.to_owned())
}

/// The line numbers of a text, from byte offsets: the reader's own line
/// count leaves out the empty lines it skips.
struct LineNumbers<'a> {
    /// The text.
    text: &'a [u8],
    /// Where each of its line feeds is.
    feeds: Vec<usize>,
}

impl<'a> LineNumbers<'a> {
    /// The line numbers of `text`.
    fn new(text: &'a str) -> Self {
        let text = text.as_bytes();
        let feeds = text
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i)
            .collect();
        Self { text, feeds }
    }

    /// The line (from 1) of the first byte at or after `byte` that is not a
    /// line break: a record the reader found at `byte`, after the empty
    /// lines it skipped.
    fn at(&self, byte: u64) -> u64 {
        let mut b = usize::try_from(byte).unwrap_or(usize::MAX);
        while matches!(self.text.get(b), Some(b'\r' | b'\n')) {
            b += 1;
        }
        let before = self.feeds.partition_point(|&f| f < b);
        u64::try_from(before).map_or(u64::MAX, |n| n + 1)
    }
}

/// An order file as read: lines are numbered from 1 as in a text editor,
/// the header being line 1.
struct OrderFile {
    /// The good lines, each with its number.
    rows: Vec<(u64, CsvOrder)>,
    /// The bad lines: number and message.
    errors: Vec<(u64, String)>,
}

/// Reads an order file: every line with its order, or why it is bad.
fn read_order_file(file: &std::path::Path) -> Result<OrderFile> {
    let bytes = std::fs::read(file).map_err(|source| OrderError::Unreadable {
        file: file.display().to_string(),
        source,
    })?;
    let text = order_file_text(file, &bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let line_of = LineNumbers::new(&text);
    let header = csv::StringRecord::from(CSV_HEADER.to_vec());
    let mut seen_header = false;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut first_line: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_of.at(p.byte()));
                errors.push((line, format!("line {line}: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| line_of.at(p.byte()));
        let cells: Vec<String> = record.iter().map(unquote).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        if !seen_header {
            seen_header = true;
            if cells != CSV_HEADER {
                let mut found = cells.join(",");
                if found.chars().count() > 80 {
                    found = found.chars().take(80).chain("…".chars()).collect();
                }
                return Err(OrderError::BadHeader {
                    file: file.display().to_string(),
                    line,
                    found,
                }
                .into());
            }
            continue;
        }
        if cells.len() != CSV_HEADER.len() {
            errors.push((line, format!(
                "line {line}: expected {} columns, found {}{}",
                CSV_HEADER.len(),
                cells.len(),
                if cells.len() > CSV_HEADER.len() {
                    " (a cell with a comma must be quoted; amounts take no thousands separators)"
                } else {
                    ""
                }
            )));
            continue;
        }
        let row: CsvOrder = match csv::StringRecord::from(cells).deserialize(Some(&header)) {
            Ok(r) => r,
            Err(e) => {
                errors.push((line, format!("line {line}: {e}")));
                continue;
            }
        };
        if let Some(first) = first_line.get(&row.order_id) {
            errors.push((
                line,
                format!(
                    "line {line}: order id {:?} is also on line {first}: order ids must be unique \
                 (one line per payment)",
                    row.order_id
                ),
            ));
            continue;
        }
        first_line.insert(row.order_id.clone(), line);
        rows.push((line, row));
    }
    if !seen_header {
        return Err(OrderError::EmptyFile {
            file: file.display().to_string(),
        }
        .into());
    }
    Ok(OrderFile { rows, errors })
}

fn import(ctx: &mut Ctx, file: &std::path::Path) -> Result<()> {
    let OrderFile { rows, mut errors } = read_order_file(file)?;
    let mut known = Known::load(&mut ctx.db)?;
    let mut orders = Vec::new();
    for (line, r) in &rows {
        match check_order(&mut ctx.db, &mut known, r) {
            Ok(o) => orders.push(o),
            Err(e) => errors.push((*line, format!("line {line}: {e}"))),
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|(line, _)| *line);
        let lines: Vec<String> = errors.into_iter().map(|(_, e)| e).collect();
        return Err(OrderError::LinesRefused { lines }.into());
    }
    let actor = ctx.actor.clone();
    let stored = ctx
        .db
        .transaction(|db| insert_many(db, &actor, &orders, None))?;
    let added = stored.iter().filter(|(_, created)| *created).count() as u64;
    let unchanged = stored.len() as u64 - added;
    ctx.out.result(
        json!({"added": added, "already_present": unchanged}),
        &format!("{added} order(s) imported, {unchanged} already present"),
    );
    Ok(())
}

/// The asset of a stored order.
pub(crate) fn asset_of(db: &mut Db, o: &Order) -> Result<Asset> {
    let chain = Chain::by_id(db, o.chain)?;
    match o.token {
        None => Ok(Asset {
            symbol: o.asset.clone(),
            decimals: chain.native_decimals,
            token: None,
        }),
        Some(t) => {
            let token = Token::by_id(db, t)?;
            Ok(Asset {
                symbol: o.asset.clone(),
                decimals: token.decimals,
                token: Some(token),
            })
        }
    }
}

/// The filters of `order list`, as given.
struct ListFilter {
    /// A state name, or HELD.
    state: Option<String>,
    /// A chain name.
    chain: Option<String>,
    /// An RFC 3339 time or a date.
    since: Option<String>,
    /// A batch id.
    batch: Option<i64>,
}

/// The state names `order list --state` takes.
const LIST_STATES: &str = "PENDING, HELD, IN_BATCH, COMPLETED, FAILED";

/// `--since`: an RFC 3339 time, or a date meaning its midnight UTC.
fn parse_since(s: &str) -> Result<OffsetDateTime> {
    crate::clock::parse_since(s).ok_or_else(|| {
        OrderError::BadSince {
            since: s.to_owned(),
        }
        .into()
    })
}

/// `order list`: one query whatever the filters, each row with its chain's
/// name and its asset's decimals (nothing is looked up per row). Naming a
/// chain or a batch that does not exist is an error, not an empty list.
fn list(ctx: &mut Ctx, filter: &ListFilter) -> Result<()> {
    let mut query = OrderQuery::default();
    if let Some(s) = &filter.state {
        if s.trim().eq_ignore_ascii_case("HELD") {
            query.state = Some(StateFilter::Held);
        } else {
            let state: OrderState = s
                .trim()
                .to_ascii_uppercase()
                .parse()
                .map_err(|_| OrderError::UnknownState { state: s.clone() })?;
            query.state = Some(StateFilter::State(state));
        }
    }
    if let Some(name) = &filter.chain {
        query.chain = Some(Chain::by_name(&mut ctx.db, name)?.id);
    }
    let since = filter.since.as_deref().map(parse_since).transpose()?;
    // The store compares whole seconds: the exact instant is checked below.
    query.since = since;
    if let Some(b) = filter.batch {
        if !store::batch_exists(&mut ctx.db, b)? {
            return Err(OrderError::NoBatch { batch: b }.into());
        }
        query.batch = Some(b);
    }
    let rows = store::orders_page(&mut ctx.db, &query)?;
    let mut t = Table::new(&["ORDER", "CHAIN", "STATE", "AMOUNT", "ASSET", "FROM", "TO"]);
    let mut data = Vec::new();
    for r in rows {
        let o = r.order;
        if let Some(t) = since {
            let created = OffsetDateTime::parse(&o.created_at, &Rfc3339).map_err(|error| {
                OrderError::BadStoredTime {
                    order_id: o.order_id.clone(),
                    created_at: o.created_at.clone(),
                    error,
                }
            })?;
            if created < t {
                continue;
            }
        }
        let chain_name = r.chain_name;
        let asset = Asset {
            symbol: o.asset.clone(),
            decimals: u8::try_from(r.decimals).map_err(|_| OrderError::BadDecimals {
                order_id: o.order_id.clone(),
            })?,
            token: None,
        };
        t.row(vec![
            o.order_id.clone(),
            chain_name.clone(),
            state_label(&o),
            asset.human(o.amount),
            o.asset.clone(),
            o.from.to_string(),
            o.to.to_string(),
        ]);
        data.push(json!({"order_id": o.order_id, "chain": chain_name, "state": o.state.as_str(),
            "asset": o.asset, "amount": asset.human(o.amount), "amount_base_units": o.amount.to_string(),
            "from": o.from, "to": o.to, "created_at": o.created_at,
            "held": o.held_at.is_some(), "held_at": o.held_at}));
    }
    ctx.out.result(json!(data), &Output::table(&t));
    Ok(())
}

fn show(ctx: &mut Ctx, id: &str) -> Result<()> {
    let o = Order::by_order_id(&mut ctx.db, id)?;
    let asset = asset_of(&mut ctx.db, &o)?;
    let chain = Chain::by_id(&mut ctx.db, o.chain)?;
    let items = Item::of_order(&mut ctx.db, o.id)?;
    let events = store::order_events(&mut ctx.db, o.id)?;
    let state = match &o.held_at {
        Some(since) => format!(
            "{} (held since {since}: `hub-cli order release {}` lets it go in a batch)",
            o.state, o.order_id
        ),
        None => o.state.to_string(),
    };
    let mut human = format!(
        "order {}\n  chain   {}\n  state   {}\n  pays    {} {} ({} base units)\n  from    {}\n  to      {}\n",
        o.order_id, chain.name, state, asset.human(o.amount), o.asset, o.amount, o.from, o.to
    );
    let mut items_json = Vec::new();
    for i in &items {
        human.push_str(&format!(
            "  batch {}: {}{}{}\n",
            i.batch,
            i.state,
            i.tx_hash.map(|h| format!(" tx {h}")).unwrap_or_default(),
            i.message
                .as_ref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ));
        items_json.push(
            json!({"batch": i.batch, "state": i.state.as_str(), "nonce": i.nonce,
            "tx_hash": i.tx_hash, "block_number": i.block_number, "message": i.message,
            "fee": i.fee.map(|f| f.to_string())}),
        );
    }
    let mut t = Table::new(&[
        "TIME", "WHAT", "BATCH", "FROM", "TO", "BY", "REASON", "MESSAGE",
    ]);
    let mut ev_json = Vec::new();
    for e in &events {
        let batch = e.batch.map(|b| b.to_string()).unwrap_or_default();
        t.row(vec![
            e.at.clone(),
            e.kind.clone(),
            batch,
            e.from_state.clone().unwrap_or_default(),
            e.to_state.clone(),
            e.operator.clone(),
            e.reason.clone(),
            e.message.clone(),
        ]);
        ev_json.push(json!({"at": e.at, "kind": e.kind, "batch": e.batch,
            "from_state": e.from_state, "to_state": e.to_state, "reason": e.reason,
            "message": e.message, "operator": e.operator}));
    }
    human.push_str("\nhistory\n");
    human.push_str(&Output::table(&t));
    ctx.out.result(
        json!({"order_id": o.order_id, "chain": chain.name, "state": o.state.as_str(),
            "held": o.held_at.is_some(), "held_at": o.held_at, "asset": o.asset,
            "amount": asset.human(o.amount), "amount_base_units": o.amount.to_string(),
            "from": o.from, "to": o.to, "items": items_json, "events": ev_json}),
        &human,
    );
    Ok(())
}

/// An order as the front system submits it through the service: the
/// order file's fields.
pub(crate) type OrderInput = CsvOrder;

/// Submits `orders` for `tenant`, all or none, with the checks of `order
/// import`; idempotent on `order_id` (the same order again is no change;
/// the same id with other details is a conflict). Returns each order as
/// the API shows it, and whether it was created.
pub(crate) fn ingest(
    db: &mut Db,
    actor: &crate::model::Actor,
    tenant: &str,
    orders: &[OrderInput],
) -> Result<Vec<(serde_json::Value, bool)>> {
    let mut known = Known::load_for(db, orders)?;
    let mut checked = Vec::with_capacity(orders.len());
    let mut errors = Vec::new();
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (n, o) in orders.iter().enumerate() {
        if let Some(earlier) = first.insert(o.order_id.as_str(), n) {
            errors.push(format!(
                "item {n}: order {:?} is also item {earlier}",
                o.order_id
            ));
            continue;
        }
        match check_order(db, &mut known, o) {
            Ok(c) => checked.push(c),
            Err(e) => errors.push(format!("item {n} (order {:?}): {e}", o.order_id)),
        }
    }
    if !errors.is_empty() {
        return Err(OrderError::OrdersRefused { errors }.into());
    }
    let stored = db.transaction(|db| insert_many(db, actor, &checked, Some(tenant)))?;
    let mut shown = Shown::default();
    stored
        .iter()
        .map(|(o, created)| Ok((shown.value(db, o)?, *created)))
        .collect()
}

/// Shows stored orders as the API does, looking up each chain's name and
/// each asset's decimals once rather than for every order.
#[derive(Debug, Default)]
pub(crate) struct Shown {
    /// (chain name, decimals) by (chain, token).
    assets: HashMap<(i64, Option<i64>), (String, u8)>,
}

impl Shown {
    /// The order as the API shows it.
    pub(crate) fn value(&mut self, db: &mut Db, o: &Order) -> Result<serde_json::Value> {
        let (chain, decimals) = match self.assets.entry((o.chain, o.token)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let decimals = asset_of(db, o)?.decimals;
                e.insert((Chain::by_id(db, o.chain)?.name, decimals))
            }
        };
        let asset = Asset {
            symbol: o.asset.clone(),
            decimals: *decimals,
            token: None,
        };
        Ok(
            json!({"order_id": o.order_id, "chain": chain, "asset": o.asset,
            "from": o.from, "to": o.to, "amount": asset.human(o.amount),
            "amount_base_units": o.amount.to_string(), "state": o.state.as_str(),
            "held": o.held_at.is_some(), "cancel_requested": o.cancel_requested_at.is_some(),
            "created_at": o.created_at}),
        )
    }
}

/// An order as the API shows it.
pub(crate) fn order_value(db: &mut Db, o: &Order) -> Result<serde_json::Value> {
    Shown::default().value(db, o)
}

/// The order `order_id` of `tenant` with its history (events and batch
/// items), as the API shows it; another tenant's order is not found.
pub(crate) fn order_json(
    db: &mut Db,
    order_id: &str,
    tenant: Option<&str>,
    history: bool,
) -> Result<serde_json::Value> {
    let o = Order::by_order_id(db, order_id)?;
    if tenant.is_some() && o.tenant.as_deref() != tenant {
        return Err(OrderError::OfAnotherTenant {
            order_id: order_id.to_owned(),
        }
        .into());
    }
    let mut v = order_value(db, &o)?;
    if history {
        let items: Vec<serde_json::Value> = Item::of_order(db, o.id)?
            .iter()
            .map(|i| {
                json!({"batch": i.batch, "state": i.state.as_str(), "nonce": i.nonce,
                "tx_hash": i.tx_hash, "block_number": i.block_number, "message": i.message})
            })
            .collect();
        let events: Vec<serde_json::Value> = store::order_events_with_ids(db, o.id)?
            .into_iter()
            .map(|(id, e)| {
                json!({"event_id": id, "at": e.at, "kind": e.kind, "batch": e.batch,
                    "from_state": e.from_state, "to_state": e.to_state, "reason": e.reason,
                    "message": e.message, "operator": e.operator})
            })
            .collect();
        v["items"] = json!(items);
        v["history"] = json!(events);
    }
    Ok(v)
}

/// `order plan`: per cold sender, what its PENDING (not held) orders need
/// (their amounts, and fees at today's max fee per gas) against what the
/// node says it holds.
fn plan(ctx: &mut Ctx, chain: &str) -> Result<()> {
    let chain = Chain::by_name(&mut ctx.db, chain)?;
    let orders = store::pending_cold_orders_on(&mut ctx.db, chain.id)?;
    let rpc = super::connect(&chain)?;
    let fees = match rpc.base_fee()? {
        Some(base) => chain.fees.eip1559(base, rpc.priority_fee()?),
        None => chain.fees.legacy(rpc.gas_price()?),
    };
    let per_gas = fees.max_per_gas();
    // (sender, asset) -> (needed, token contract, decimals)
    let mut need: std::collections::BTreeMap<(Address, String), (U256, Option<Address>, u8)> =
        std::collections::BTreeMap::new();
    for o in &orders {
        let asset = asset_of(&mut ctx.db, o)?;
        let gas = match &asset.token {
            None => crate::fees::NATIVE_TRANSFER_GAS,
            Some(_) => chain.fees.gas_limit(65_000),
        };
        let fee = U256::from(gas).saturating_mul(per_gas);
        let native = need
            .entry((o.from, chain.native_symbol.clone()))
            .or_insert((U256::zero(), None, chain.native_decimals));
        native.0 = native.0.saturating_add(fee);
        if asset.token.is_none() {
            native.0 = native.0.saturating_add(o.amount);
        }
        if let Some(t) = &asset.token {
            let e = need.entry((o.from, asset.symbol.clone())).or_insert((
                U256::zero(),
                Some(t.contract),
                t.decimals,
            ));
            e.0 = e.0.saturating_add(o.amount);
        }
    }
    let queries: Vec<(Address, Option<Address>)> = need
        .iter()
        .map(|((sender, _), (_, token, _))| (*sender, *token))
        .collect();
    let answers = rpc.balances(&queries)?;
    let mut t = Table::new(&["SENDER", "ASSET", "NEEDS", "HOLDS", "SHORT BY"]);
    let mut data = Vec::new();
    let mut short_count = 0;
    for (((sender, symbol), (needed, _, decimals)), answer) in need.iter().zip(answers) {
        let held = match answer? {
            Balance::Units(units) => units,
            Balance::NotAWord { bytes } => {
                return Err(OrderError::BadBalanceAnswer {
                    symbol: symbol.clone(),
                    bytes,
                }
                .into())
            }
        };
        let short = needed.saturating_sub(held);
        short_count += usize::from(!short.is_zero());
        let human = |v: U256| {
            coldsign_core::amount::format_units(v, *decimals).unwrap_or_else(|_| v.to_string())
        };
        t.row(vec![
            sender.to_string(),
            symbol.clone(),
            human(*needed),
            human(held),
            if short.is_zero() {
                "-".to_owned()
            } else {
                human(short)
            },
        ]);
        data.push(
            json!({"sender": sender, "asset": symbol, "needs": human(*needed), "holds": human(held),
            "short": human(short), "short_base_units": short.to_string()}),
        );
    }
    let summary = if orders.is_empty() {
        format!("no pending orders from cold addresses on {}", chain.name)
    } else if short_count == 0 {
        format!(
            "{} pending order(s): every sender holds enough",
            orders.len()
        )
    } else {
        format!(
            "{} pending order(s): {short_count} sender balance(s) fall short: fund them before `hub-cli batch create`",
            orders.len()
        )
    };
    ctx.out.result(
        json!({"chain": chain.name, "orders": orders.len(), "max_fee_per_gas": per_gas.to_string(), "senders": data}),
        &format!("{}{summary}\n", Output::table(&t)),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every refusal of the order commands, with the kind it had as a
    /// generic `HubError` (so its exit code and HTTP status are unchanged).
    fn every_error() -> Vec<(OrderError, ErrorKind)> {
        let a = Address([1; 20]);
        let id = || "W-1".to_owned();
        vec![
            (OrderError::BadOrderId { order_id: id() }, ErrorKind::Input),
            (OrderError::ZeroRecipient, ErrorKind::Input),
            (OrderError::RecipientIsSender { from: a }, ErrorKind::Input),
            (
                OrderError::RecipientIsToken {
                    to: a,
                    symbol: "USDC".into(),
                    chain: "anvil".into(),
                },
                ErrorKind::Input,
            ),
            (
                OrderError::RecipientIsCold {
                    to: a,
                    chains: vec!["anvil".into(), "sepolia".into()],
                },
                ErrorKind::Input,
            ),
            (
                OrderError::AmountWithComma {
                    amount: "1,5".into(),
                },
                ErrorKind::Input,
            ),
            (
                OrderError::BadAmount {
                    error: parse_units("x", 18).unwrap_err(),
                },
                ErrorKind::Input,
            ),
            (OrderError::ZeroAmount, ErrorKind::Input),
            (
                OrderError::UnregisteredSender {
                    from: a,
                    chain: "anvil".into(),
                },
                ErrorKind::Input,
            ),
            (
                OrderError::OrderIdTaken { order_id: id() },
                ErrorKind::Conflict,
            ),
            (
                OrderError::OtherDetails { order_id: id() },
                ErrorKind::Conflict,
            ),
            (
                OrderError::NotInserted { order_id: id() },
                ErrorKind::Internal,
            ),
            (
                OrderError::HoldNotPending {
                    order_id: id(),
                    state: OrderState::InBatch,
                },
                ErrorKind::Conflict,
            ),
            (
                OrderError::HoldCancelled { order_id: id() },
                ErrorKind::Conflict,
            ),
            (
                OrderError::ChangedMeanwhile { order_id: id() },
                ErrorKind::Conflict,
            ),
            (
                OrderError::CancelNotPending {
                    order_id: id(),
                    state: OrderState::InBatch,
                },
                ErrorKind::Conflict,
            ),
            (
                OrderError::ChangedDuringCancel { order_id: id() },
                ErrorKind::Conflict,
            ),
            (
                OrderError::Unreadable {
                    file: "o.csv".into(),
                    source: std::io::Error::other("gone"),
                },
                ErrorKind::Input,
            ),
            (
                OrderError::Utf16File {
                    file: "o.csv".into(),
                },
                ErrorKind::Input,
            ),
            (
                OrderError::NotUtf8 {
                    file: "o.csv".into(),
                    line: 2,
                    byte: 0xE9,
                    bad_lines: vec![2, 5],
                },
                ErrorKind::Input,
            ),
            (
                OrderError::LooksLikeJson {
                    file: "o.csv".into(),
                },
                ErrorKind::Input,
            ),
            (
                OrderError::BadHeader {
                    file: "o.csv".into(),
                    line: 1,
                    found: "id,amount".into(),
                },
                ErrorKind::Input,
            ),
            (
                OrderError::EmptyFile {
                    file: "o.csv".into(),
                },
                ErrorKind::Input,
            ),
            (
                OrderError::LinesRefused {
                    lines: vec!["line 2: x".into(), "line 3: y".into()],
                },
                ErrorKind::Input,
            ),
            (
                OrderError::OrdersRefused {
                    errors: vec!["item 0: x".into()],
                },
                ErrorKind::Input,
            ),
            (
                OrderError::OfAnotherTenant { order_id: id() },
                ErrorKind::NotFound,
            ),
            (
                OrderError::BadSince {
                    since: "yesterday".into(),
                },
                ErrorKind::Usage,
            ),
            (
                OrderError::UnknownState {
                    state: "PAID".into(),
                },
                ErrorKind::Usage,
            ),
            (OrderError::NoBatch { batch: 9 }, ErrorKind::NotFound),
            (
                OrderError::BadStoredTime {
                    order_id: id(),
                    created_at: "noon".into(),
                    error: OffsetDateTime::parse("noon", &Rfc3339).unwrap_err(),
                },
                ErrorKind::Internal,
            ),
            (
                OrderError::BadDecimals { order_id: id() },
                ErrorKind::Internal,
            ),
            (
                OrderError::BadBalanceAnswer {
                    symbol: "USDC".into(),
                    bytes: 0,
                },
                ErrorKind::Node,
            ),
        ]
    }

    #[test]
    fn each_order_error_has_its_kind_through_the_hubs_error() {
        crate::error::testing::check_errors(every_error().into_iter().map(|(e, k)| (e, k, "")));
    }

    #[test]
    fn the_refusals_say_what_to_do_next() {
        let id = || "W-1".to_owned();
        let cases = [
            (
                OrderError::HoldNotPending {
                    order_id: id(),
                    state: OrderState::InBatch,
                },
                "`hub-cli batch drop BATCH W-1`",
            ),
            (
                OrderError::CancelNotPending {
                    order_id: id(),
                    state: OrderState::InBatch,
                },
                "take it out of its batch first",
            ),
            (
                OrderError::UnregisteredSender {
                    from: Address([1; 20]),
                    chain: "anvil".into(),
                },
                "`hub-cli address import`",
            ),
            (OrderError::NoBatch { batch: 9 }, "see `hub-cli batch list`"),
            (
                OrderError::NotUtf8 {
                    file: "o.csv".into(),
                    line: 2,
                    byte: 0xE9,
                    bad_lines: vec![2, 5],
                },
                "line 2 has the byte 0xE9, which is not UTF-8 (lines 2, 5 have such bytes): \
                 the file was saved in another encoding",
            ),
            (
                OrderError::LooksLikeJson {
                    file: "o.csv".into(),
                },
                "header `order_id,chain,asset,from,to,amount`",
            ),
            (
                OrderError::OrderIdTaken { order_id: id() },
                "give this order another id",
            ),
            (
                OrderError::OtherDetails { order_id: id() },
                "`hub-cli order show W-1` (`GET /v1/orders/W-1` through the service)",
            ),
            (
                OrderError::BadBalanceAnswer {
                    symbol: "USDT".into(),
                    bytes: 0,
                },
                "check the token's contract with `hub-cli token list`",
            ),
        ];
        for (error, says) in cases {
            let text = error.to_string();
            assert!(text.contains(says), "{text}");
        }
        // What is added for a state that is not PENDING.
        let completed = OrderError::HoldNotPending {
            order_id: id(),
            state: OrderState::Completed,
        };
        assert_eq!(
            completed.to_string(),
            "order W-1 is COMPLETED: only a PENDING order can be held \
             (it is paid: there is nothing left to hold)"
        );
        let failed = OrderError::CancelNotPending {
            order_id: id(),
            state: OrderState::Failed,
        };
        assert_eq!(
            failed.to_string(),
            "order W-1 is FAILED: only a PENDING order can be cancelled"
        );
        assert_eq!(
            OrderError::LinesRefused {
                lines: vec!["line 2: x".into(), "line 3: y".into()]
            }
            .to_string(),
            "2 line(s) refused, nothing imported:\n  line 2: x\n  line 3: y"
        );
        // More than ten bad lines: counted, the first named.
        let many = OrderError::NotUtf8 {
            file: "o.csv".into(),
            line: 3,
            byte: 0xFF,
            bad_lines: (3..15).collect(),
        };
        assert!(
            many.to_string()
                .contains("not UTF-8 (12 lines have such bytes, the first on line 3): "),
            "{many}"
        );
    }
}
