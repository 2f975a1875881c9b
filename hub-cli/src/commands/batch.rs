//! `batch create`, `drop`, `cancel`, `export`, `show`, `list`.

use super::{build, orders::asset_of, Ctx};
use crate::{
    bindings,
    clock::now_rfc3339,
    db::DbError,
    error::{ErrorKind, HubError, OperationError, Result},
    model::{Batch, Chain, Item, Order, Subject},
    output::{Output, Table},
    state::{BatchState, ItemState, OrderState},
    store::batches,
    updates::ItemUpdate,
};
use coldsign_core::{batch::BatchError, Address};
use serde_json::{json, Value};
use std::{
    io::Write,
    path::{Path, PathBuf},
};

/// Why `batch create`, `drop`, `cancel`, `export` or `show` refused. Each
/// says what to do next; its [`OperationError::kind`] gives its exit code
/// and HTTP status. Nothing was changed in any of them.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchCommandError {
    /// `create --orders` through the service: the order is another tenant's.
    #[error("no order {order:?}")]
    NoSuchOrder { order: String },
    /// `create --orders` at the desk: the order belongs to a tenant.
    #[error(
        "order {order} belongs to tenant {tenant}: batch it with `hub-cli batch create --tenant {tenant}`, \
         or through the service with that tenant's key"
    )]
    TenantsOrder { order: String, tenant: String },
    /// `create --tenant T --orders` at the desk: the order is not `tenant`'s
    /// (`owner` is another tenant or the desk). The desk sees every order,
    /// so it is told whose it is; the service says [`Self::NoSuchOrder`].
    #[error(
        "order {order} belongs to {owner}, not tenant {tenant}: a batch holds one owner's orders; leave it out \
         of this batch, or batch it for its owner"
    )]
    NotTheTenants {
        order: String,
        tenant: String,
        owner: String,
    },
    /// `create --orders`: the order is on another chain.
    #[error("order {order} is not on chain {chain}: batch it with the `--chain` of its own chain (`hub-cli order show {order}`)")]
    OtherChain { order: String, chain: String },
    /// `create --orders`: the order is not PENDING.
    #[error("order {order} is {state}, only PENDING orders can go in a batch")]
    NotPending { order: String, state: OrderState },
    /// `create --orders`: the order is held.
    #[error(
        "order {order} is held (since {since}): it goes in no batch until released; \
         release it with `hub-cli order release {order}`, or leave it out of --orders"
    )]
    Held { order: String, since: String },
    /// `create --orders`: the order's sender is not a cold address.
    #[error(
        "order {order} sends from {from}, which is not a cold address: import it from the signer \
         (`hub-cli address import FILE --chain NAME`), or leave the order out"
    )]
    NotCold { order: String, from: Address },
    /// `create --orders`: the order is named twice.
    #[error("order {order} is listed twice")]
    ListedTwice { order: String },
    /// `create`: another unfinished batch took the pending orders.
    #[error(
        "no pending orders left on {chain}: batch {batch} ({state}) has them; finish or cancel it first"
    )]
    TakenByBatch {
        chain: String,
        batch: i64,
        state: BatchState,
    },
    /// `create`: every pending order on the chain is held.
    #[error(
        "every pending order on {chain} is held ({held}): release the ones to pay with \
         `hub-cli order release ID` (see `hub-cli order list --state HELD`)"
    )]
    AllHeld { chain: String, held: i64 },
    /// `create`: no pending order from a cold address on the chain.
    #[error("no pending orders from cold addresses on {chain}: import orders first")]
    NoPendingOrders { chain: String },
    /// `create` at the desk: the pending orders are all tenants'.
    #[error(
        "no pending orders of the desk's own on {chain}; tenants have pending orders: {tenants}: \
         batch them with `hub-cli batch create --chain {chain} --tenant NAME --all-pending`"
    )]
    OnlyTenantsPending { chain: String, tenants: String },
    /// `create`: the chain has an unfinished batch already.
    #[error(
        "chain {chain} already has an unfinished batch {batch} ({state}): finish or cancel it before creating another"
    )]
    Unfinished {
        chain: String,
        batch: i64,
        state: BatchState,
    },
    /// `create`: the chain had an unfinished batch, gone by the time it was read.
    #[error(
        "chain {chain} already has an unfinished batch: finish or cancel it before creating another"
    )]
    UnfinishedMeanwhile { chain: String },
    /// `create`: the order's sender is not a cold address on the chain.
    #[error("order {order} sends from {from}, which is not a cold address on {chain}")]
    NotColdOn {
        order: String,
        from: Address,
        chain: String,
    },
    /// `create`: the sender's wallet was never recorded (imported before proofs).
    #[error(
        "order {order} sends from {from}, whose wallet is not recorded (it was imported before addresses \
         carried proofs of possession): export the signer's addresses again (`signer addresses \
         --json`) and import them (`hub-cli address import`); no batch was created"
    )]
    WalletUnknown { order: String, from: Address },
    /// `create`: the orders come from more than one wallet.
    #[error(
        "these orders come from {} wallets ({}): a batch is signed by one signer and never mixes \
         wallets; create one batch per wallet with --orders; no batch was created",
        .wallets.len(),
        wallet_list(.wallets)
    )]
    MixedWallets { wallets: Vec<WalletOrders> },
    /// `drop`: the batch is past NEW and BLOCKED.
    #[error(
        "batch {batch} is {state}: orders can be dropped only from a NEW or BLOCKED batch{}",
        if .state.can_cancel() { " (cancel the batch instead)" } else { "" }
    )]
    NotDroppable { batch: i64, state: BatchState },
    /// `drop --build-errors`: no order is BUILD_ERROR.
    #[error("batch {batch} has no BUILD_ERROR order to drop")]
    NothingToDrop { batch: i64 },
    /// `cancel`: a signed file was accepted already.
    #[error(
        "batch {batch} is {state}: a batch can be cancelled only before a signed file was accepted; \
         resolve its orders instead (`hub-cli batch show {batch}`)"
    )]
    NotCancellable { batch: i64, state: BatchState },
    /// A file cannot be written.
    #[error("cannot write {}: {source}", .path.display())]
    CannotWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `export`: the batch has no unsigned file yet (or any more).
    #[error(
        "batch {batch} is {state}: there is no unsigned file to export; it is written once every order is built (READY_FOR_SIGNATURE)"
    )]
    NothingToExport { batch: i64, state: BatchState },
    /// `export`: the stored unsigned file does not parse.
    #[error("stored unsigned batch {batch} does not parse: {error}")]
    StoredFileBroken { batch: i64, error: BatchError },
    /// `export --out`: not a directory.
    #[error(
        "{} is not a directory: is the USB stick mounted? Give the directory to write into with --out",
        .dir.display()
    )]
    NotADirectory { dir: PathBuf },
    /// `show --state`: not an order-in-batch state.
    #[error(
        "--state {given:?} is not an order-in-batch state; one of: {}",
        ItemState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    )]
    UnknownState { given: String },
}

crate::error::operation_error!(BatchCommandError);

impl OperationError for BatchCommandError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NoSuchOrder { .. } => ErrorKind::NotFound,
            Self::TenantsOrder { .. }
            | Self::NotTheTenants { .. }
            | Self::OtherChain { .. }
            | Self::NotCold { .. }
            | Self::ListedTwice { .. }
            | Self::NoPendingOrders { .. }
            | Self::OnlyTenantsPending { .. }
            | Self::NotColdOn { .. }
            | Self::WalletUnknown { .. }
            | Self::MixedWallets { .. }
            | Self::CannotWrite { .. }
            | Self::NotADirectory { .. } => ErrorKind::Input,
            Self::NotPending { .. }
            | Self::Held { .. }
            | Self::TakenByBatch { .. }
            | Self::AllHeld { .. }
            | Self::Unfinished { .. }
            | Self::UnfinishedMeanwhile { .. }
            | Self::NotDroppable { .. }
            | Self::NothingToDrop { .. }
            | Self::NotCancellable { .. }
            | Self::NothingToExport { .. } => ErrorKind::Conflict,
            Self::StoredFileBroken { .. } => ErrorKind::Internal,
            Self::UnknownState { .. } => ErrorKind::Usage,
        }
    }
}

/// One wallet's share of a `batch create` that mixes wallets.
#[derive(Debug)]
pub(crate) struct WalletOrders {
    /// The wallet's fingerprint.
    wallet: String,
    /// How many of the orders it signs.
    orders: usize,
    /// The first of them.
    example: String,
    /// That order's sender.
    from: Address,
}

impl std::fmt::Display for WalletOrders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wallet {}: {} order(s), e.g. {} from {}",
            self.wallet, self.orders, self.example, self.from
        )
    }
}

/// The wallets' shares, as `wallet W: N order(s), e.g. ...; ...`.
fn wallet_list(wallets: &[WalletOrders]) -> String {
    wallets
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `batch create`. `desk` is true when the desk (the CLI) asks, for itself
/// or for a tenant (`--tenant`): it sees every order, so it is told whose an
/// order is. A tenant through the service is told only that it has no such
/// order, in the same words whether the order is another tenant's or does
/// not exist.
pub(crate) fn create(
    ctx: &mut Ctx,
    chain: &str,
    order_ids: &[String],
    all_pending: bool,
    auto_build: bool,
    desk: bool,
) -> Result<()> {
    let chain = Chain::by_name(&mut ctx.db, chain)?;
    // A batch holds one tenant's orders (the desk's own: no tenant).
    let tenant = ctx.tenant.clone();
    let orders: Vec<Order> = if all_pending {
        batches::pending_cold_orders(&mut ctx.db, chain.id, tenant.as_deref())?
    } else {
        let mut v = Vec::new();
        for id in order_ids {
            let no_such_order = || BatchCommandError::NoSuchOrder { order: id.clone() };
            let o = match Order::by_order_id(&mut ctx.db, id) {
                Err(e) if !desk && e.error_kind() == ErrorKind::NotFound => {
                    return Err(no_such_order().into())
                }
                found => found?,
            };
            if o.tenant != tenant {
                let refusal = match (&tenant, desk) {
                    (None, _) => BatchCommandError::TenantsOrder {
                        order: id.clone(),
                        tenant: o.tenant.clone().unwrap_or_default(),
                    },
                    (Some(t), true) => BatchCommandError::NotTheTenants {
                        order: id.clone(),
                        tenant: t.clone(),
                        owner: o
                            .tenant
                            .as_ref()
                            .map_or_else(|| "the desk".to_owned(), |t| format!("tenant {t}")),
                    },
                    (Some(_), false) => no_such_order(),
                };
                return Err(refusal.into());
            }
            if o.chain != chain.id {
                return Err(BatchCommandError::OtherChain {
                    order: id.clone(),
                    chain: chain.name.clone(),
                }
                .into());
            }
            if o.state != OrderState::Pending {
                return Err(BatchCommandError::NotPending {
                    order: id.clone(),
                    state: o.state,
                }
                .into());
            }
            if let Some(since) = &o.held_at {
                return Err(BatchCommandError::Held {
                    order: id.clone(),
                    since: since.clone(),
                }
                .into());
            }
            let cold = crate::model::AddressRow::find(&mut ctx.db, chain.id, o.from)?
                .is_some_and(|a| a.role == "cold");
            if !cold {
                return Err(BatchCommandError::NotCold {
                    order: id.clone(),
                    from: o.from,
                }
                .into());
            }
            if v.iter().any(|x: &Order| x.id == o.id) {
                return Err(BatchCommandError::ListedTwice { order: id.clone() }.into());
            }
            v.push(o);
        }
        v
    };
    if orders.is_empty() {
        // Racing another `batch create`: the winner took the orders.
        if let Some(b) = Batch::unfinished_on(&mut ctx.db, chain.id, tenant.as_deref())? {
            return Err(BatchCommandError::TakenByBatch {
                chain: chain.name.clone(),
                batch: b.id,
                state: b.state,
            }
            .into());
        }
        let held = batches::held_pending_count(&mut ctx.db, chain.id, tenant.as_deref())?;
        if held > 0 {
            return Err(BatchCommandError::AllHeld {
                chain: chain.name.clone(),
                held,
            }
            .into());
        }
        if tenant.is_none() {
            let tenants = batches::tenants_with_pending(&mut ctx.db, chain.id)?;
            if !tenants.is_empty() {
                return Err(BatchCommandError::OnlyTenantsPending {
                    chain: chain.name.clone(),
                    tenants: tenants
                        .iter()
                        .map(|(t, n)| format!("{t} ({n})"))
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into());
            }
        }
        return Err(BatchCommandError::NoPendingOrders {
            chain: chain.name.clone(),
        }
        .into());
    }
    one_wallet(&mut ctx.db, &chain, &orders)?;
    let actor = ctx.actor.clone();
    let chain_id = chain.id;
    let res = ctx.db.transaction(|db| {
        let now = now_rfc3339();
        let batch = batches::insert_new_batch(db, chain_id, tenant.as_deref(), &now)?;
        actor.event(
            db,
            Subject {
                kind: "batch",
                batch: Some(batch),
                item: None,
                order_ref: None,
            },
            None,
            BatchState::New.as_str(),
            "created",
            &format!("{} order(s)", orders.len()),
        )?;
        for (pos, o) in orders.iter().enumerate() {
            actor.move_order(
                db,
                o.id,
                Some(batch),
                OrderState::Pending,
                OrderState::InBatch,
                "selected",
                &format!("taken into batch {batch}"),
            )?;
            let item = batches::insert_selected_item(db, batch, o.id, pos as i64, o.from, &now)?;
            actor.event(
                db,
                Subject {
                    kind: "item",
                    batch: Some(batch),
                    item: Some(item),
                    order_ref: Some(o.id),
                },
                None,
                ItemState::Selected.as_str(),
                "selected",
                "",
            )?;
        }
        Ok::<_, HubError>(batch)
    });
    let batch = match res {
        Ok(b) => b,
        Err(HubError::Db(DbError::Unique(_)) | HubError::Concurrent(_)) => {
            let existing = Batch::unfinished_on(&mut ctx.db, chain.id, tenant.as_deref())?;
            return Err(match existing {
                Some(b) => BatchCommandError::Unfinished {
                    chain: chain.name.clone(),
                    batch: b.id,
                    state: b.state,
                },
                None => BatchCommandError::UnfinishedMeanwhile {
                    chain: chain.name.clone(),
                },
            }
            .into());
        }
        Err(e) => return Err(e),
    };
    let mut data = json!({"id": batch, "chain": chain.name, "orders": orders.len()});
    ctx.out.note(&format!(
        "batch {batch} created on {} with {} order(s)",
        chain.name,
        orders.len()
    ));
    let mut blocked = false;
    if auto_build {
        let report = build::run_build(ctx, batch, false).map_err(|e| {
            e.with_hint(&format!(
                "batch {batch} was created but not built: build it with `hub-cli batch build {batch}`"
            ))
        })?;
        ctx.out.note(&report.human);
        data["build"] = report.json;
        blocked = report.blocked;
    }
    let outcome = if blocked {
        Err(build::blocked_error(batch))
    } else {
        Ok(())
    };
    ctx.out.finish(data, &batch.to_string(), outcome)
}

/// A batch is signed by one signer, so it never mixes two wallets: every
/// order's sender must be an address whose wallet (the fingerprint its
/// proof of possession named at import) is the same. An address imported
/// before proofs has no recorded wallet and is refused until its file is
/// imported again. One query for the chain's cold addresses, whatever the
/// number of orders.
fn one_wallet(db: &mut crate::db::Db, chain: &Chain, orders: &[Order]) -> Result<()> {
    use std::collections::{BTreeMap, HashMap};
    let wallets: HashMap<String, Option<String>> = batches::cold_wallets(db, chain.id)?;
    let mut by_wallet: BTreeMap<&str, (usize, &Order)> = BTreeMap::new();
    for o in orders {
        let Some(wallet) = wallets.get(&o.from.to_checksum()) else {
            return Err(BatchCommandError::NotColdOn {
                order: o.order_id.clone(),
                from: o.from,
                chain: chain.name.clone(),
            }
            .into());
        };
        let Some(wallet) = wallet.as_deref() else {
            return Err(BatchCommandError::WalletUnknown {
                order: o.order_id.clone(),
                from: o.from,
            }
            .into());
        };
        by_wallet.entry(wallet).or_insert((0, o)).0 += 1;
    }
    if by_wallet.len() > 1 {
        let wallets: Vec<WalletOrders> = by_wallet
            .iter()
            .map(|(w, (n, first))| WalletOrders {
                wallet: (*w).to_owned(),
                orders: *n,
                example: first.order_id.clone(),
                from: first.from,
            })
            .collect();
        return Err(BatchCommandError::MixedWallets { wallets }.into());
    }
    Ok(())
}

/// `batch drop`: orders out of a NEW or BLOCKED batch, back to pending:
/// the ones named, or with `build_errors` every BUILD_ERROR one, in one
/// database transaction.
pub(crate) fn drop_orders(
    ctx: &mut Ctx,
    id: i64,
    order_ids: &[String],
    build_errors: bool,
) -> Result<()> {
    let batch = Batch::get(&mut ctx.db, id)?;
    if !matches!(batch.state, BatchState::New | BatchState::Blocked) {
        return Err(BatchCommandError::NotDroppable {
            batch: id,
            state: batch.state,
        }
        .into());
    }
    let items = Item::of_batch(&mut ctx.db, id)?;
    let dropped: Vec<Item> = if build_errors {
        items
            .iter()
            .filter(|i| i.state == ItemState::BuildError)
            .cloned()
            .collect()
    } else {
        let mut v: Vec<Item> = Vec::with_capacity(order_ids.len());
        for o in order_ids {
            let item = Item::find(&items, id, o)?;
            if !v.iter().any(|x| x.id == item.id) {
                v.push(item);
            }
        }
        v
    };
    if dropped.is_empty() {
        return Err(BatchCommandError::NothingToDrop { batch: id }.into());
    }
    let actor = ctx.actor.clone();
    ctx.db.transaction(|db| {
        for item in &dropped {
            batches::delete_item(db, item.id)?;
            actor.move_order(
                db,
                item.order.id,
                Some(id),
                OrderState::InBatch,
                OrderState::Pending,
                "dropped",
                &format!("dropped from batch {id} (was {})", item.state),
            )?;
        }
        // The others must be built again: their nonces may change.
        let names: Vec<&str> = dropped.iter().map(|i| i.order.order_id.as_str()).collect();
        for other in items
            .iter()
            .filter(|i| !dropped.iter().any(|d| d.id == i.id) && i.state != ItemState::Selected)
        {
            actor.move_item(
                db,
                other,
                ItemState::Selected,
                "batch changed",
                &format!("{} dropped: build again", names.join(", ")),
                &ItemUpdate::Unbuilt,
            )?;
        }
        batches::clear_unsigned_file(db, id)?;
        actor.refresh_batch(db, id, "order dropped")?;
        Ok::<_, HubError>(())
    })?;
    let names: Vec<String> = dropped.iter().map(|i| i.order.order_id.clone()).collect();
    ctx.out.result(
        json!({"batch": id, "dropped": names}),
        &format!(
            "{} dropped from batch {id} and back to pending; build the batch again: `hub-cli batch build {id}`",
            names.join(", ")
        ),
    );
    Ok(())
}

/// `batch cancel`: only before a signed file was accepted.
pub(crate) fn cancel(ctx: &mut Ctx, id: i64) -> Result<()> {
    let batch = Batch::get(&mut ctx.db, id)?;
    if batch.state == BatchState::Cancelled {
        ctx.out.result(
            json!({"batch": id, "state": "CANCELLED"}),
            &format!("batch {id} is already cancelled"),
        );
        return Ok(());
    }
    if !batch.state.can_cancel() {
        return Err(BatchCommandError::NotCancellable {
            batch: id,
            state: batch.state,
        }
        .into());
    }
    let items = Item::of_batch(&mut ctx.db, id)?;
    let actor = ctx.actor.clone();
    let chain = batch.chain;
    // Orders whose transactions left the hub stay bound to their nonces:
    // the next batch that takes them reuses those nonces, so a copy of this
    // batch's signed file and the next batch can never both pay.
    let bound = ctx.db.transaction(|db| {
        let live = bindings::live(db, chain)?;
        let mut bound = 0usize;
        for i in &items {
            let binding = live.get(&i.order.id);
            bound += usize::from(binding.is_some());
            let message = match binding {
                Some(b) => format!(
                    "batch {id} was cancelled; the order stays bound to nonce {} of {}",
                    b.nonce, b.sender
                ),
                None => format!("batch {id} was cancelled"),
            };
            actor.move_order(
                db,
                i.order.id,
                Some(id),
                OrderState::InBatch,
                OrderState::Pending,
                "batch cancelled",
                &message,
            )?;
        }
        actor.move_batch(
            db,
            &batch,
            BatchState::Cancelled,
            "cancelled",
            "cancelled by the operator",
        )?;
        Ok::<_, HubError>(bound)
    })?;
    let note = if bound > 0 {
        format!(
            "; {bound} of them left the hub in an exported file and stay bound to their nonces: \
             the next batch reuses those nonces, and `hub-cli order cancel ORDER` abandons one by voiding its nonce"
        )
    } else {
        String::new()
    };
    ctx.out.result(
        json!({"batch": id, "state": "CANCELLED", "orders_returned": items.len(), "orders_bound": bound}),
        &format!(
            "batch {id} cancelled; {} order(s) back to pending{note}",
            items.len()
        ),
    );
    Ok(())
}

/// Writes `text` to `path` atomically: temp file, fsync, rename, fsync dir.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        BatchCommandError::CannotWrite {
            path: path.to_owned(),
            source,
        }
        .into()
    })
}

/// `batch export`: the unsigned file leaves the hub, so its orders are
/// bound to their nonces first (in the database, before the file exists:
/// a crash in between leaves a binding without a file, which is harmless).
pub(crate) fn export(ctx: &mut Ctx, id: i64, out: &Path) -> Result<()> {
    let batch = Batch::get(&mut ctx.db, id)?;
    let json_text = match (&batch.unsigned_json, batch.state) {
        (Some(j), s)
            if !matches!(
                s,
                BatchState::New
                    | BatchState::BuildingTx
                    | BatchState::Blocked
                    | BatchState::Cancelled
            ) =>
        {
            j.clone()
        }
        _ => {
            return Err(BatchCommandError::NothingToExport {
                batch: id,
                state: batch.state,
            }
            .into())
        }
    };
    let unsigned = coldsign_core::batch::UnsignedBatch::parse(&json_text)
        .map_err(|error| BatchCommandError::StoredFileBroken { batch: id, error })?;
    if !out.is_dir() {
        return Err(BatchCommandError::NotADirectory {
            dir: out.to_owned(),
        }
        .into());
    }
    let items = Item::of_batch(&mut ctx.db, id)?;
    let digest = unsigned.digest();
    ctx.db
        .transaction(|db| bindings::record_export(db, batch.chain, id, digest, &items))?;
    let path = out.join(unsigned.file_name());
    write_atomic(&path, &json_text)?;
    ctx.out.result(
        json!({"batch": id, "file": path.display().to_string(), "items": unsigned.items().len(), "digest": digest}),
        &format!("{}\n", path.display()),
    );
    Ok(())
}

fn item_json(db: &mut crate::db::Db, i: &Item) -> Result<(Value, Vec<String>)> {
    let asset = asset_of(db, &i.order)?;
    let human = asset.human(i.order.amount);
    let row = vec![
        i.order.order_id.clone(),
        i.state.to_string(),
        i.nonce.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
        human.clone(),
        i.order.asset.clone(),
        i.order.from.to_string(),
        i.order.to.to_string(),
        i.tx_hash
            .map(|h| h.to_string())
            .unwrap_or_else(|| "-".into()),
        i.message.clone().unwrap_or_default(),
    ];
    let data = json!({"position": i.position, "order_id": i.order.order_id, "state": i.state.as_str(), "nonce": i.nonce,
        "asset": i.order.asset, "amount": human, "amount_base_units": i.order.amount.to_string(),
        "from": i.order.from, "to": i.order.to, "tx_hash": i.tx_hash, "block_number": i.block_number,
        "gas_limit": i.gas_limit, "max_fee_per_gas": i.max_fee_per_gas.map(|v| v.to_string()),
        "fee": i.fee.map(|v| v.to_string()), "message": i.message});
    Ok((data, row))
}

/// `batch show [--state S]`.
pub(crate) fn show(ctx: &mut Ctx, id: i64, state: Option<&str>) -> Result<()> {
    let batch = Batch::get(&mut ctx.db, id)?;
    let chain = Chain::by_id(&mut ctx.db, batch.chain)?;
    let mut items = Item::of_batch(&mut ctx.db, id)?;
    if let Some(s) = state {
        let wanted: ItemState = s.parse().map_err(|_| BatchCommandError::UnknownState {
            given: s.to_owned(),
        })?;
        items.retain(|i| i.state == wanted);
    }
    let ledger_head =
        batches::ledger_head_of(&mut ctx.db, id)?.map(|(seq, mac)| json!({"seq": seq, "mac": mac}));
    let mut t = Table::new(&[
        "ORDER", "STATE", "NONCE", "AMOUNT", "ASSET", "FROM", "TO", "TX", "MESSAGE",
    ]);
    let mut data = Vec::new();
    for i in &items {
        let (j, row) = item_json(&mut ctx.db, i)?;
        t.row(row);
        data.push(j);
    }
    let human = format!(
        "batch {id} on {}: {}{}\ncreated {}{}\n\n{}",
        chain.name,
        batch.state,
        batch
            .message
            .as_ref()
            .filter(|m| !m.is_empty())
            .map(|m| format!(" ({m})"))
            .unwrap_or_default(),
        batch.created_at,
        ledger_head
            .as_ref()
            .map(|h| format!(
                "\nsigner ledger head {} {}",
                h["seq"],
                h["mac"].as_str().unwrap_or_default()
            ))
            .unwrap_or_default(),
        Output::table(&t)
    );
    ctx.out.result(
        json!({"id": id, "chain": chain.name, "state": batch.state.as_str(), "message": batch.message,
            "created_at": batch.created_at, "file_created_at": batch.file_created_at,
            "signed_accepted_at": batch.signed_accepted_at, "ledger_head": ledger_head, "items": data}),
        &human,
    );
    Ok(())
}

/// `batch list`: one query for every batch with its chain and item count.
pub(crate) fn list(ctx: &mut Ctx) -> Result<()> {
    let rows = batches::listed(&mut ctx.db, None)?;
    let mut t = Table::new(&["ID", "CHAIN", "STATE", "ORDERS", "CREATED"]);
    let mut data = Vec::new();
    for r in rows {
        let (id, chain, state, created, n) = (r.id, r.chain, r.state, r.created_at, r.orders);
        t.row(vec![
            id.to_string(),
            chain.clone(),
            state.clone(),
            n.to_string(),
            created.clone(),
        ]);
        data.push(
            json!({"id": id, "chain": chain, "state": state, "orders": n, "created_at": created}),
        );
    }
    ctx.out.result(json!(data), &Output::table(&t));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_batch_command_error_has_its_kind_and_says_what_to_do() {
        let order = || "W-1".to_owned();
        let chain = || "sepolia".to_owned();
        let from = Address([1; 20]);
        let cases = [
            (
                BatchCommandError::NoSuchOrder { order: order() },
                ErrorKind::NotFound,
                "no order \"W-1\"",
            ),
            (
                BatchCommandError::NotTheTenants {
                    order: order(),
                    tenant: "acme".to_owned(),
                    owner: "the desk".to_owned(),
                },
                ErrorKind::Input,
                "order W-1 belongs to the desk, not tenant acme",
            ),
            (
                BatchCommandError::TenantsOrder {
                    order: order(),
                    tenant: "acme".to_owned(),
                },
                ErrorKind::Input,
                "through the service with that tenant's key",
            ),
            (
                BatchCommandError::OtherChain {
                    order: order(),
                    chain: chain(),
                },
                ErrorKind::Input,
                "order W-1 is not on chain sepolia: batch it with the `--chain` of its own chain",
            ),
            (
                BatchCommandError::NotPending {
                    order: order(),
                    state: OrderState::InBatch,
                },
                ErrorKind::Conflict,
                "order W-1 is IN_BATCH, only PENDING orders",
            ),
            (
                BatchCommandError::Held {
                    order: order(),
                    since: "2024-01-01T00:00:00Z".to_owned(),
                },
                ErrorKind::Conflict,
                "until released; release it with `hub-cli order release W-1`",
            ),
            (
                BatchCommandError::NotCold {
                    order: order(),
                    from,
                },
                ErrorKind::Input,
                "which is not a cold address: import it from the signer",
            ),
            (
                BatchCommandError::ListedTwice { order: order() },
                ErrorKind::Input,
                "order W-1 is listed twice",
            ),
            (
                BatchCommandError::TakenByBatch {
                    chain: chain(),
                    batch: 3,
                    state: BatchState::Blocked,
                },
                ErrorKind::Conflict,
                "batch 3 (BLOCKED) has them; finish or cancel it first",
            ),
            (
                BatchCommandError::AllHeld {
                    chain: chain(),
                    held: 2,
                },
                ErrorKind::Conflict,
                "is held (2): release the ones to pay with `hub-cli order release ID`",
            ),
            (
                BatchCommandError::NoPendingOrders { chain: chain() },
                ErrorKind::Input,
                "import orders first",
            ),
            (
                BatchCommandError::OnlyTenantsPending {
                    chain: chain(),
                    tenants: "acme (2)".to_owned(),
                },
                ErrorKind::Input,
                "--tenant NAME --all-pending",
            ),
            (
                BatchCommandError::Unfinished {
                    chain: chain(),
                    batch: 3,
                    state: BatchState::New,
                },
                ErrorKind::Conflict,
                "unfinished batch 3 (NEW): finish or cancel it before creating another",
            ),
            (
                BatchCommandError::UnfinishedMeanwhile { chain: chain() },
                ErrorKind::Conflict,
                "chain sepolia already has an unfinished batch: finish or cancel it",
            ),
            (
                BatchCommandError::NotColdOn {
                    order: order(),
                    from,
                    chain: chain(),
                },
                ErrorKind::Input,
                "which is not a cold address on sepolia",
            ),
            (
                BatchCommandError::WalletUnknown {
                    order: order(),
                    from,
                },
                ErrorKind::Input,
                "export the signer's addresses again (`signer addresses --json`) and import them",
            ),
            (
                BatchCommandError::MixedWallets {
                    wallets: vec![
                        WalletOrders {
                            wallet: "aa".to_owned(),
                            orders: 2,
                            example: order(),
                            from,
                        },
                        WalletOrders {
                            wallet: "bb".to_owned(),
                            orders: 1,
                            example: "W-2".to_owned(),
                            from,
                        },
                    ],
                },
                ErrorKind::Input,
                "these orders come from 2 wallets (wallet aa: 2 order(s), e.g. W-1 from ",
            ),
            (
                BatchCommandError::NotDroppable {
                    batch: 3,
                    state: BatchState::ReadyForSignature,
                },
                ErrorKind::Conflict,
                "only from a NEW or BLOCKED batch (cancel the batch instead)",
            ),
            (
                BatchCommandError::NothingToDrop { batch: 3 },
                ErrorKind::Conflict,
                "batch 3 has no BUILD_ERROR order to drop",
            ),
            (
                BatchCommandError::NotCancellable {
                    batch: 3,
                    state: BatchState::InProcess,
                },
                ErrorKind::Conflict,
                "resolve its orders instead (`hub-cli batch show 3`)",
            ),
            (
                BatchCommandError::CannotWrite {
                    path: PathBuf::from("/mnt/usb/x.json"),
                    source: std::io::Error::other("disk full"),
                },
                ErrorKind::Input,
                "cannot write /mnt/usb/x.json: disk full",
            ),
            (
                BatchCommandError::NothingToExport {
                    batch: 3,
                    state: BatchState::Blocked,
                },
                ErrorKind::Conflict,
                "it is written once every order is built (READY_FOR_SIGNATURE)",
            ),
            (
                BatchCommandError::StoredFileBroken {
                    batch: 3,
                    error: BatchError::Json("eof".to_owned()),
                },
                ErrorKind::Internal,
                "stored unsigned batch 3 does not parse: ",
            ),
            (
                BatchCommandError::NotADirectory {
                    dir: PathBuf::from("/mnt/usb"),
                },
                ErrorKind::Input,
                "/mnt/usb is not a directory: is the USB stick mounted? Give the directory",
            ),
            (
                BatchCommandError::UnknownState {
                    given: "DONE".to_owned(),
                },
                ErrorKind::Usage,
                "--state \"DONE\" is not an order-in-batch state; one of: SELECTED, ",
            ),
        ];
        crate::error::testing::check_errors(cases);
        // A batch that can no longer be cancelled is not pointed to `cancel`.
        let text = BatchCommandError::NotDroppable {
            batch: 3,
            state: BatchState::InProcess,
        }
        .to_string();
        assert_eq!(
            text,
            "batch 3 is IN_PROCESS: orders can be dropped only from a NEW or BLOCKED batch"
        );
    }
}
