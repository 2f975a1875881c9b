//! `batch build`: nonces, fees, gas limits and funds checks against the
//! node, then the unsigned batch file's content.

use super::{connect, orders::asset_of, Ctx};
use crate::{
    clock::now_batch_timestamp,
    db::{params, Value},
    error::{HubError, Result},
    fees::{Fees, NATIVE_TRANSFER_GAS},
    model::{db_int, AddressRow, Asset, Batch, Chain, Item, ItemMove, Order},
    output::{Output, Table},
    rpc::{Call, Rpc, RpcError},
    state::{BatchState, ItemState},
};
use coldsign_core::{
    batch::{Summary, UnsignedBatch, UnsignedItemDraft},
    erc20::Transfer,
    Address, Transaction, TxEip1559, TxLegacy, U256,
};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a build did, for printing.
#[derive(Debug)]
pub(crate) struct Report {
    /// For `--json`.
    pub(crate) json: Json,
    /// For people.
    pub(crate) human: String,
    /// Some order could not be built.
    pub(crate) blocked: bool,
}

/// The outcome for one item.
enum Outcome {
    Built {
        nonce: u64,
        gas_limit: u64,
        fees: Fees,
        draft: Box<UnsignedItemDraft>,
    },
    Failed(String),
}

/// `batch build`.
pub(crate) fn build(ctx: &mut Ctx, id: i64) -> Result<()> {
    let report = run_build(ctx, id)?;
    let outcome = if report.blocked {
        Err(blocked_error(id))
    } else {
        Ok(())
    };
    ctx.out.finish(report.json, &report.human, outcome)
}

/// Wei per gas as gwei, for people.
fn gwei(wei: U256) -> String {
    format!(
        "{} gwei",
        coldsign_core::amount::format_units(wei, 9).unwrap_or_else(|_| wei.to_string())
    )
}

/// The error for a build that left the batch BLOCKED.
pub(crate) fn blocked_error(id: i64) -> HubError {
    HubError::NeedsOperator(format!(
        "batch {id} is BLOCKED: fix the orders marked BUILD_ERROR (fund the sender, register the \
         address...) and run `hub-cli batch build {id}` again, or take them out with `hub-cli batch drop {id} ORDER`"
    ))
}

fn node_msg(e: RpcError) -> Result<String> {
    match e {
        RpcError::Node { message, .. } => Ok(message),
        other => Err(other.into()),
    }
}

/// What build needs from the node, fetched up front with JSON-RPC batch
/// requests: nonces and balances per sender, code of native recipients,
/// token balances per sender and token, and gas estimates.
struct Prefetch {
    nonces: HashMap<Address, u64>,
    balances: HashMap<Address, U256>,
    token_balances: HashMap<(Address, Address), U256>,
    /// Per item id; no entry for a plain native transfer (21,000 gas).
    estimates: HashMap<i64, std::result::Result<u64, String>>,
}

fn addr_hex(a: Address) -> String {
    coldsign_core::hex_data::encode(a.0)
}

fn answers(rpc: &Rpc, calls: &[Call]) -> Result<Vec<std::result::Result<Json, RpcError>>> {
    Ok(rpc.batch(calls)?)
}

fn quantity(method: &str, r: std::result::Result<Json, RpcError>) -> Result<U256> {
    Ok(crate::rpc::quantity(method, &r?)?)
}

impl Prefetch {
    fn load(db: &mut crate::db::Db, rpc: &Rpc, chain: &Chain, items: &[Item]) -> Result<Self> {
        let senders: Vec<Address> = items
            .iter()
            .map(|i| i.sender)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut calls: Vec<Call> = Vec::new();
        for s in &senders {
            calls.push(("eth_getTransactionCount", json!([addr_hex(*s), "pending"])));
            calls.push(("eth_getBalance", json!([addr_hex(*s), "latest"])));
        }
        let mut nonces = HashMap::new();
        let mut balances = HashMap::new();
        let mut got = answers(rpc, &calls)?.into_iter();
        for s in &senders {
            let n = quantity(
                "eth_getTransactionCount",
                got.next().unwrap_or(Ok(Json::Null)),
            )?;
            nonces.insert(*s, n.low_u64());
            balances.insert(
                *s,
                quantity("eth_getBalance", got.next().unwrap_or(Ok(Json::Null)))?,
            );
        }

        // Assets, native recipients' code, token balances.
        let mut cache = Assets::default();
        let mut assets = HashMap::new();
        for i in items {
            assets.insert(i.id, cache.of(db, &i.order)?);
        }
        let recipients: Vec<Address> = items
            .iter()
            .filter(|i| assets.get(&i.id).is_some_and(|a| a.token.is_none()))
            .map(|i| i.order.to)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let pairs: Vec<(Address, Address)> = items
            .iter()
            .filter_map(|i| {
                assets
                    .get(&i.id)
                    .and_then(|a| a.token.as_ref())
                    .map(|t| (i.sender, t.contract))
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut calls: Vec<Call> = recipients
            .iter()
            .map(|r| ("eth_getCode", json!([addr_hex(*r), "latest"])))
            .collect();
        for (sender, token) in &pairs {
            let mut data = vec![0x70, 0xa0, 0x82, 0x31];
            data.extend_from_slice(&[0u8; 12]);
            data.extend_from_slice(&sender.0);
            calls.push((
                "eth_call",
                json!([{"to": addr_hex(*token), "data": coldsign_core::hex_data::encode(data)}, "latest"]),
            ));
        }
        let mut got = answers(rpc, &calls)?.into_iter();
        let mut has_code = HashMap::new();
        for r in &recipients {
            let code = got.next().unwrap_or(Ok(Json::Null))?;
            has_code.insert(*r, code.as_str().is_some_and(|c| c.len() > 2));
        }
        let mut token_balances = HashMap::new();
        for (sender, token) in &pairs {
            let out = got.next().unwrap_or(Ok(Json::Null))?;
            let bytes = coldsign_core::hex_data::decode(out.as_str().unwrap_or_default())
                .unwrap_or_default();
            if bytes.len() != 32 {
                return Err(HubError::Node(format!(
                    "balanceOf on {token} returned {} bytes: is it an ERC-20 contract on {}?",
                    bytes.len(),
                    chain.name
                )));
            }
            token_balances.insert((*sender, *token), U256::from_big_endian(&bytes));
        }

        // Gas estimates for token transfers and payments to contracts.
        let mut ids = Vec::new();
        let mut calls: Vec<Call> = Vec::new();
        for i in items {
            let Some(asset) = assets.get(&i.id) else {
                continue;
            };
            let call = match &asset.token {
                Some(t) => json!({"from": addr_hex(i.sender), "to": addr_hex(t.contract),
                    "data": coldsign_core::hex_data::encode(Transfer { to: i.order.to, amount: i.order.amount }.encode())}),
                None if has_code.get(&i.order.to).copied().unwrap_or(false) => {
                    json!({"from": addr_hex(i.sender), "to": addr_hex(i.order.to),
                        "value": coldsign_core::hex_data::quantity_u256(i.order.amount)})
                }
                None => continue,
            };
            ids.push(i.id);
            calls.push(("eth_estimateGas", json!([call])));
        }
        let mut estimates = HashMap::new();
        for (id, r) in ids.into_iter().zip(answers(rpc, &calls)?) {
            let e = match r {
                Ok(v) => Ok(crate::rpc::quantity("eth_estimateGas", &v)?.low_u64()),
                Err(e) => Err(node_msg(e)?),
            };
            estimates.insert(id, e);
        }
        Ok(Self {
            nonces,
            balances,
            token_balances,
            estimates,
        })
    }

    fn nonce(&self, sender: Address) -> Result<u64> {
        self.nonces
            .get(&sender)
            .copied()
            .ok_or_else(|| HubError::Internal(format!("no nonce fetched for {sender}")))
    }

    fn balance(&self, sender: Address) -> Result<U256> {
        self.balances
            .get(&sender)
            .copied()
            .ok_or_else(|| HubError::Internal(format!("no balance fetched for {sender}")))
    }

    fn token_balance(&self, sender: Address, token: Address) -> Result<U256> {
        self.token_balances
            .get(&(sender, token))
            .copied()
            .ok_or_else(|| HubError::Internal(format!("no token balance fetched for {sender}")))
    }

    /// `None` for a plain native transfer (21,000 gas).
    fn estimate(&self, item: i64) -> Option<std::result::Result<u64, String>> {
        self.estimates.get(&item).cloned()
    }
}

/// Outstanding nonces held by the hub's signed, unfinished transactions in
/// other batches of the chain, per sender (one query for every sender).
fn held_nonces(
    db: &mut crate::db::Db,
    chain: i64,
    batch: i64,
) -> Result<HashMap<Address, BTreeSet<u64>>> {
    let rows = db.query(
        "SELECT i.sender, i.nonce FROM batch_items i JOIN batches b ON b.id = i.batch \
         WHERE b.chain = ? AND i.batch <> ? AND i.nonce IS NOT NULL AND i.state IN \
         ('SIGNATURE_READY', 'READY_TO_SEND', 'SENDING', 'CONFIRMING', 'BROADCAST_ERROR', 'LINGERING', 'READY_TO_RESEND')",
        params![chain, batch],
    )?;
    let mut held: HashMap<Address, BTreeSet<u64>> = HashMap::new();
    for r in &rows {
        let sender = crate::model::parse_address(&r.text(0)?)?;
        held.entry(sender)
            .or_default()
            .insert(u64::try_from(r.int(1)?).unwrap_or_default());
    }
    Ok(held)
}

/// The assets of a batch's orders, read once per asset rather than once per
/// order.
#[derive(Default)]
struct Assets(HashMap<Option<i64>, Asset>);

impl Assets {
    fn of(&mut self, db: &mut crate::db::Db, order: &Order) -> Result<Asset> {
        if let Some(a) = self.0.get(&order.token) {
            if a.symbol == order.asset {
                return Ok(a.clone());
            }
        }
        let a = asset_of(db, order)?;
        self.0.insert(order.token, a.clone());
        Ok(a)
    }
}

/// Builds the batch and stores the result; returns the report.
pub(crate) fn run_build(ctx: &mut Ctx, id: i64) -> Result<Report> {
    let batch = Batch::get(&mut ctx.db, id)?;
    let allowed = matches!(
        batch.state,
        BatchState::New
            | BatchState::BuildingTx
            | BatchState::Blocked
            | BatchState::ReadyForSignature
            | BatchState::SignatureError
    );
    if !allowed {
        return Err(HubError::Conflict(format!(
            "batch {id} is {}: it can be built only before a signed file was accepted",
            batch.state
        )));
    }
    let chain = Chain::by_id(&mut ctx.db, batch.chain)?;
    let rpc = connect(&chain)?;
    let items = Item::of_batch(&mut ctx.db, id)?;
    if items.is_empty() {
        return Err(HubError::Conflict(format!(
            "batch {id} has no orders left: cancel it with `hub-cli batch cancel {id}`"
        )));
    }
    let actor = ctx.actor.clone();
    if batch.state != BatchState::BuildingTx {
        ctx.db.transaction(|db| {
            actor.move_batch(
                db,
                &batch,
                BatchState::BuildingTx,
                "build",
                "building unsigned transactions",
            )
        })?;
    }

    let fees = match rpc.base_fee()? {
        Some(base) => chain.fees.eip1559(base, rpc.priority_fee()?),
        None => chain.fees.legacy(rpc.gas_price()?),
    };

    let pre = Prefetch::load(&mut ctx.db, &rpc, &chain, &items)?;
    let bar = ctx.out.progress("build", items.len() as u64);
    let mut by_sender: BTreeMap<Address, Vec<&Item>> = BTreeMap::new();
    for i in &items {
        by_sender.entry(i.sender).or_default().push(i);
    }
    let mut outcomes: HashMap<i64, Outcome> = HashMap::new();
    let held = held_nonces(&mut ctx.db, chain.id, id)?;
    let mut assets = Assets::default();
    for (sender, sender_items) in by_sender {
        let reg = AddressRow::find(&mut ctx.db, chain.id, sender)?;
        let path = match reg {
            Some(a) if a.role == "cold" => a.derivation_path,
            _ => None,
        };
        let Some(path) = path else {
            for i in sender_items {
                outcomes.insert(
                    i.id,
                    Outcome::Failed(format!(
                        "{sender} is not a registered cold address with a derivation path"
                    )),
                );
                bar.inc(1);
            }
            continue;
        };
        let held = held.get(&sender).cloned().unwrap_or_default();
        let mut next_nonce = pre.nonce(sender)?;
        let native_balance = pre.balance(sender)?;
        let mut native_needed = U256::zero();
        let mut token_needed: HashMap<Address, U256> = HashMap::new();
        for item in sender_items {
            bar.inc(1);
            let asset = assets.of(&mut ctx.db, &item.order)?;
            let amount = item.order.amount;
            let (to, value, input, gas_limit) = match &asset.token {
                None => {
                    let gas = match pre.estimate(item.id) {
                        None => NATIVE_TRANSFER_GAS,
                        Some(Ok(g)) => chain.fees.gas_limit(g),
                        Some(Err(e)) => {
                            outcomes.insert(
                                item.id,
                                Outcome::Failed(format!("gas estimation failed: {e}")),
                            );
                            continue;
                        }
                    };
                    (item.order.to, amount, Vec::new(), gas)
                }
                Some(token) => {
                    let balance = pre.token_balance(sender, token.contract)?;
                    let needed = token_needed
                        .get(&token.contract)
                        .copied()
                        .unwrap_or_default()
                        + amount;
                    if needed > balance {
                        outcomes.insert(
                            item.id,
                            Outcome::Failed(format!(
                                "insufficient {} balance: {sender} holds {} {}, needs {} {} with its earlier orders in this batch",
                                asset.symbol,
                                asset.human(balance),
                                asset.symbol,
                                asset.human(needed),
                                asset.symbol
                            )),
                        );
                        continue;
                    }
                    let data = Transfer {
                        to: item.order.to,
                        amount,
                    }
                    .encode();
                    match pre.estimate(item.id) {
                        Some(Ok(g)) => {
                            token_needed.insert(token.contract, needed);
                            (token.contract, U256::zero(), data, chain.fees.gas_limit(g))
                        }
                        Some(Err(e)) => {
                            outcomes.insert(
                                item.id,
                                Outcome::Failed(format!("gas estimation failed: {e}")),
                            );
                            continue;
                        }
                        None => {
                            return Err(HubError::Internal(format!(
                                "no gas estimate for order {}",
                                item.order.order_id
                            )))
                        }
                    }
                }
            };
            let cost = U256::from(gas_limit)
                .saturating_mul(fees.max_per_gas())
                .saturating_add(value);
            let needed = native_needed.saturating_add(cost);
            if needed > native_balance {
                let native = crate::model::Asset {
                    symbol: chain.native_symbol.clone(),
                    decimals: chain.native_decimals,
                    token: None,
                };
                outcomes.insert(
                    item.id,
                    Outcome::Failed(format!(
                        "insufficient funds: {sender} holds {} {}, needs {} {} for this and its earlier orders \
                         (value plus worst-case fees)",
                        native.human(native_balance),
                        chain.native_symbol,
                        native.human(needed),
                        chain.native_symbol
                    )),
                );
                continue;
            }
            native_needed = needed;
            while held.contains(&next_nonce) {
                next_nonce += 1;
            }
            let nonce = next_nonce;
            next_nonce += 1;
            let tx = match fees {
                Fees::Eip1559 {
                    max_fee_per_gas,
                    max_priority_fee_per_gas,
                } => Transaction::Eip1559(TxEip1559 {
                    chain_id: chain.chain_id,
                    nonce,
                    max_priority_fee_per_gas,
                    max_fee_per_gas,
                    gas_limit,
                    to: Some(to),
                    value,
                    input,
                    access_list: Vec::new(),
                }),
                Fees::Legacy { gas_price } => Transaction::Legacy(TxLegacy {
                    chain_id: chain.chain_id,
                    nonce,
                    gas_price,
                    gas_limit,
                    to: Some(to),
                    value,
                    input,
                }),
            };
            let draft = UnsignedItemDraft {
                order_id: item.order.order_id.clone(),
                from: sender,
                derivation_path: path.clone(),
                tx,
                summary: Summary {
                    asset: asset.symbol.clone(),
                    decimals: asset.decimals,
                    token: asset.token.as_ref().map(|t| t.contract),
                    recipient: item.order.to,
                    amount: asset.human(amount),
                },
                kind: coldsign_core::batch::ItemKind::Payment,
            };
            outcomes.insert(
                item.id,
                Outcome::Built {
                    nonce,
                    gas_limit,
                    fees,
                    draft: Box::new(draft),
                },
            );
        }
    }
    bar.finish_and_clear();

    // Items in file order.
    let mut drafts = Vec::new();
    let mut errors = Vec::new();
    for i in &items {
        match outcomes.get(&i.id) {
            Some(Outcome::Built { draft, .. }) => drafts.push((**draft).clone()),
            Some(Outcome::Failed(m)) => errors.push((i.order.order_id.clone(), m.clone())),
            None => errors.push((i.order.order_id.clone(), "not built".to_owned())),
        }
    }
    let created_at = now_batch_timestamp();
    let unsigned = if errors.is_empty() {
        let batch_id = u64::try_from(id).unwrap_or_default();
        Some(
            UnsignedBatch::new(batch_id, chain.chain_id, &created_at, drafts)
                .map_err(|e| HubError::Internal(format!("the built batch is not valid: {e}")))?,
        )
    } else {
        None
    };

    let mut t = Table::new(&["ORDER", "STATE", "NONCE", "GAS", "MAX FEE/GAS", "MESSAGE"]);
    let mut rows = Vec::new();
    // Every item's change and event in bulk, in one transaction.
    let mut moves = Vec::with_capacity(items.len());
    for i in &items {
        match outcomes.get(&i.id) {
            Some(Outcome::Built {
                nonce,
                gas_limit,
                fees,
                draft,
            }) => {
                let (max_fee, prio) = match fees {
                    Fees::Eip1559 {
                        max_fee_per_gas,
                        max_priority_fee_per_gas,
                    } => (*max_fee_per_gas, Some(*max_priority_fee_per_gas)),
                    Fees::Legacy { gas_price } => (*gas_price, None),
                };
                moves.push(ItemMove::new(i, ItemState::TxBuilt, "built").set(vec![
                    ("nonce", Value::from(db_int(*nonce)?)),
                    ("gas_limit", Value::from(db_int(*gas_limit)?)),
                    ("max_fee_per_gas", Value::from(max_fee.to_string())),
                    (
                        "max_priority_fee_per_gas",
                        Value::from(prio.map(|p| p.to_string())),
                    ),
                    (
                        "signing_hash",
                        Value::from(draft.tx.signing_hash().to_string()),
                    ),
                ]));
                t.row(vec![
                    i.order.order_id.clone(),
                    ItemState::TxBuilt.to_string(),
                    nonce.to_string(),
                    gas_limit.to_string(),
                    gwei(max_fee),
                    String::new(),
                ]);
                rows.push(
                    json!({"order_id": i.order.order_id, "state": "TX_BUILT", "nonce": nonce,
                    "gas_limit": gas_limit, "max_fee_per_gas": max_fee.to_string()}),
                );
            }
            other => {
                let m = match other {
                    Some(Outcome::Failed(m)) => m.clone(),
                    _ => "not built".to_owned(),
                };
                t.row(vec![
                    i.order.order_id.clone(),
                    ItemState::BuildError.to_string(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    m.clone(),
                ]);
                rows.push(
                    json!({"order_id": i.order.order_id, "state": "BUILD_ERROR", "message": m}),
                );
                moves.push(
                    ItemMove::new(i, ItemState::BuildError, "build failed")
                        .message(m)
                        .set(vec![("nonce", Value::Null)]),
                );
            }
        }
    }
    let to_state = ctx.db.transaction(|db| {
        actor.move_items(db, &moves)?;
        let current = Batch::get(db, id)?;
        let (to, message) = match &unsigned {
            Some(u) => {
                db.execute(
                    "UPDATE batches SET unsigned_json = ?, file_created_at = ? WHERE id = ?",
                    params![u.to_json(), created_at.as_str(), id],
                )?;
                (
                    BatchState::ReadyForSignature,
                    format!("export it: `hub-cli batch export {id}`"),
                )
            }
            None => {
                db.execute(
                    "UPDATE batches SET unsigned_json = NULL, file_created_at = NULL WHERE id = ?",
                    params![id],
                )?;
                (
                    BatchState::Blocked,
                    format!(
                        "{} order(s) failed to build: fix them or drop them, then build again",
                        errors.len()
                    ),
                )
            }
        };
        actor.move_batch(db, &current, to, "build finished", &message)?;
        Ok::<_, HubError>(to)
    })?;
    let human = format!("batch {id}: {to_state}\n{}", Output::table(&t));
    Ok(Report {
        json: json!({"batch": id, "state": to_state.as_str(), "items": rows}),
        human,
        blocked: to_state == BatchState::Blocked,
    })
}
