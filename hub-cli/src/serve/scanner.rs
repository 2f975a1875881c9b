//! The chain follower: reads blocks in order, keeps the canonical chain it
//! has seen, finds deposits to the tenants' deposit addresses, and follows
//! them through reorganisations.
//!
//! - Blocks are read in order from the chain's `scan_from_block` (or the
//!   head at the first start). Each block's parent hash must be the stored
//!   previous block's hash; on a mismatch the follower walks back to the
//!   common ancestor, marks every deposit of the orphaned blocks REORGED
//!   (with an event), and continues on the new branch.
//! - Native deposits: transactions of the block whose `to` is a deposit
//!   address, with receipt status 1. ERC-20 deposits: `Transfer` logs of the
//!   registered tokens to deposit addresses, fetched with one `eth_getLogs`
//!   per range of blocks, filtered by topic. ETH moved by internal calls:
//!   `trace_block`, when the node offers it (recorded per chain and shown by
//!   `chain list`).
//! - A deposit is (transaction hash, position) tied to its block hash: one
//!   re-mined in another block is the same deposit, moved (REORGED, then
//!   SEEN again), never two.
//! - SEEN → CONFIRMED once its block is `confirmations` deep on the chain the
//!   follower has seen; the follower never trusts a head the node has not
//!   shown block by block.
//! - Throughput: a round reads up to [`BLOCKS_PER_ROUND`] blocks in runs of
//!   [`BLOCKS_PER_RUN`]. A thread reads the next run from the node (its
//!   blocks in one JSON-RPC batch request, one `eth_getLogs`, the native
//!   deposits' receipts in batch requests) while the round stores the last
//!   one, in one transaction of multi-row statements.
//! - A restart resumes from the last stored block. With several `serve`
//!   processes on PostgreSQL each chain has one follower, holding an
//!   advisory lock; when its process dies the lock goes with its connection
//!   and another process takes over.

use crate::{
    clock::now_rfc3339,
    db::{params, Backend, Db, Value},
    error::{HubError, Result},
    model::{Chain, Token},
    rpc::{Rpc, RpcError},
};
use coldsign_core::{hex_data, Address, U256};
use serde_json::{json, Value as Json};
use std::collections::{HashMap, HashSet};

/// Blocks read per round at most.
const BLOCKS_PER_ROUND: u64 = 200;
/// Receipts asked for in one JSON-RPC batch request.
const RECEIPTS_PER_REQUEST: usize = 100;
/// The most rows in one multi-row statement. Statements come in
/// power-of-two sizes up to this ([`chunks`]): a few distinct texts, each
/// prepared once per connection (PostgreSQL keeps every statement its
/// connection prepared).
const ROWS_PER_STATEMENT: usize = 256;
/// keccak256("Transfer(address,address,uint256)").
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

/// A deposit address of a tenant.
#[derive(Debug, Clone)]
struct Watched {
    tenant: Option<String>,
    reference: Option<String>,
}

/// A block as the node shows it, reduced to what the follower uses.
#[derive(Debug, Clone)]
struct SeenBlock {
    number: u64,
    hash: String,
    parent: String,
    timestamp: u64,
    /// (hash, from, to, value) of each transaction.
    txs: Vec<(String, Address, Option<Address>, U256)>,
}

fn bad(method: &str, what: &str) -> HubError {
    HubError::from(RpcError::BadResponse {
        method: method.to_owned(),
        message: what.to_owned(),
    })
}

fn text<'a>(v: &'a Json, field: &str, method: &str) -> Result<&'a str> {
    v.get(field)
        .and_then(Json::as_str)
        .ok_or_else(|| bad(method, &format!("missing field {field}")))
}

fn hash_of(v: &Json, field: &str, method: &str) -> Result<String> {
    let h = text(v, field, method)?;
    hex_data::decode_fixed::<32>(h).map_err(|e| bad(method, &format!("{field}: {e}")))?;
    Ok(h.to_ascii_lowercase())
}

fn number(v: &Json, field: &str, method: &str) -> Result<u64> {
    Ok(crate::rpc::quantity(method, v.get(field).unwrap_or(&Json::Null))?.low_u64())
}

fn address(s: &str) -> Option<Address> {
    s.parse().ok()
}

fn parse_block(v: &Json) -> Result<Option<SeenBlock>> {
    const M: &str = "eth_getBlockByNumber";
    if v.is_null() {
        return Ok(None);
    }
    let mut txs = Vec::new();
    for t in v
        .get("transactions")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let to = t.get("to").and_then(Json::as_str).and_then(address);
        let from = address(text(t, "from", M)?).ok_or_else(|| bad(M, "bad from"))?;
        let value = crate::rpc::quantity(M, t.get("value").unwrap_or(&Json::Null))?;
        txs.push((hash_of(t, "hash", M)?, from, to, value));
    }
    Ok(Some(SeenBlock {
        number: number(v, "number", M)?,
        hash: hash_of(v, "hash", M)?,
        parent: hash_of(v, "parentHash", M)?,
        timestamp: number(v, "timestamp", M)?,
        txs,
    }))
}

/// The stored hash of block `n`.
fn stored_hash(db: &mut Db, chain: i64, n: u64) -> Result<Option<String>> {
    Ok(db
        .query_opt(
            "SELECT hash FROM blocks WHERE chain = ? AND number = ?",
            params![chain, i64::try_from(n).unwrap_or(i64::MAX)],
        )?
        .map(|r| r.text(0))
        .transpose()?)
}

fn last_stored(db: &mut Db, chain: i64) -> Result<Option<u64>> {
    Ok(db
        .query_one(
            "SELECT MAX(number) FROM blocks WHERE chain = ?",
            params![chain],
        )?
        .opt_int(0)?
        .map(|n| u64::try_from(n).unwrap_or_default()))
}

/// `items` in chunks of power-of-two lengths, at most
/// [`ROWS_PER_STATEMENT`] each.
fn chunks<T>(items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let n = ROWS_PER_STATEMENT.min(1 << rest.len().ilog2());
        let (chunk, tail) = rest.split_at(n);
        out.push(chunk);
        rest = tail;
    }
    out
}

/// `n` copies of the placeholder group `group`, comma-separated: the
/// `VALUES` of a multi-row statement, or the list of an `IN`.
fn groups(group: &str, n: usize) -> String {
    vec![group; n].join(", ")
}

/// A change of a deposit's state: the deposit, its tenant (who is called
/// back) and its event's message.
struct Move {
    id: i64,
    tenant: Option<String>,
    message: String,
}

/// State changes of deposits from `from` to `to`, each with its event and,
/// for a tenant's deposit, its outbox row, in the caller's transaction:
/// with the insertion of new deposits in [`store`], the only code that
/// writes a deposit's state. Multi-row statements, [`chunks`] at a time.
fn move_deposits(db: &mut Db, moves: &[Move], from: &str, to: &str, reason: &str) -> Result<()> {
    let now = now_rfc3339();
    for chunk in chunks(moves) {
        let mut values = vec![
            Value::from(to),
            Value::from(now.as_str()),
            Value::from(from),
        ];
        values.extend(chunk.iter().map(|m| Value::from(m.id)));
        // The guard on the old state is written so that no planner reads
        // it with the state index: on a table whose statistics lag behind
        // a catch-up, PostgreSQL did, and then scanned every SEEN deposit
        // for each statement instead of probing the ids.
        let n = db.execute(
            &format!(
                "UPDATE deposits SET state = ?, updated_at = ? WHERE state || '' = ? AND id IN ({})",
                groups("?", chunk.len())
            ),
            &values,
        )?;
        if n != chunk.len() as u64 {
            return Err(HubError::Concurrent(format!(
                "{} of deposits {} changed while the follower ran (another process?)",
                chunk.len() as u64 - n,
                chunk
                    .iter()
                    .map(|m| m.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        record_events(db, chunk, Some(from), to, reason)?;
    }
    Ok(())
}

/// The events of deposits' state changes from `from` (`None`: a new
/// deposit) to `to`, already written, and an outbox row for each tenant's
/// deposit, in event order. Multi-row statements, none that reads the
/// tables it writes.
fn record_events(
    db: &mut Db,
    moves: &[Move],
    from: Option<&str>,
    to: &str,
    reason: &str,
) -> Result<()> {
    let now = now_rfc3339();
    for chunk in chunks(moves) {
        let mut values = Vec::with_capacity(chunk.len() * 6);
        for m in chunk {
            values.extend([
                Value::from(now.as_str()),
                Value::from(m.id),
                Value::from(from),
                Value::from(to),
                Value::from(reason),
                Value::from(m.message.as_str()),
            ]);
        }
        let rows = db.query(
            &format!(
                "INSERT INTO events (at, kind, deposit, from_state, to_state, reason, message, operator) \
                 VALUES {} RETURNING id, deposit",
                groups("(?, 'deposit', ?, ?, ?, ?, ?, 'scanner')", chunk.len())
            ),
            &values,
        )?;
        let mut event_of = HashMap::with_capacity(rows.len());
        for r in &rows {
            event_of.insert(r.int(1)?, r.int(0)?);
        }
        // In event order, so that the dispatcher calls back in that order.
        let mut outbox: Vec<(i64, &str, i64)> = Vec::with_capacity(chunk.len());
        for m in chunk {
            if let Some(t) = &m.tenant {
                let event = event_of.get(&m.id).copied().ok_or_else(|| {
                    HubError::Internal(format!("no event inserted for deposit {}", m.id))
                })?;
                outbox.push((event, t, m.id));
            }
        }
        outbox.sort_unstable();
        for part in chunks(&outbox) {
            let mut values = Vec::with_capacity(part.len() * 3);
            for (event, tenant, deposit) in part {
                values.extend([
                    Value::from(*event),
                    Value::from(*tenant),
                    Value::from(*deposit),
                ]);
            }
            db.execute(
                &format!(
                    "INSERT INTO outbox (event, tenant, deposit, next_attempt_at) VALUES {}",
                    groups("(?, ?, ?, '')", part.len())
                ),
                &values,
            )?;
        }
    }
    Ok(())
}

/// A deposit found in a block.
struct Found {
    tx_hash: String,
    position: String,
    address: Address,
    asset: String,
    token: Option<i64>,
    from: Address,
    amount: U256,
}

/// A deposit the hub already has.
struct Known {
    id: i64,
    state: String,
    block_hash: String,
    tenant: Option<String>,
}

/// Stores `blocks` and the deposits `found` in them (by block hash), in the
/// caller's transaction: new deposits SEEN (and CONFIRMED at once, with
/// both events, when already deep enough); a known one re-mined in another
/// block moves (REORGED → SEEN, or its block updated). A block another
/// process stored meanwhile is left as it is (it is this follower's too),
/// and so are its deposits. Multi-row statements throughout: new deposits
/// go in with `ON CONFLICT DO NOTHING`, and only those it refuses (known
/// already) are read back.
fn store(
    db: &mut Db,
    chain: &Chain,
    blocks: &[SeenBlock],
    found: &HashMap<String, Vec<Found>>,
    watched: &HashMap<Address, Watched>,
) -> Result<()> {
    let (confirmations, chain) = (chain.confirmations, chain.id);
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let (Some(lowest), Some(highest)) = (blocks.first(), blocks.last()) else {
        return Ok(());
    };
    let stored: HashSet<i64> = db
        .query(
            "SELECT number FROM blocks WHERE chain = ? AND number >= ? AND number <= ?",
            params![chain, int(lowest.number), int(highest.number)],
        )?
        .iter()
        .map(|r| r.int(0))
        .collect::<std::result::Result<_, _>>()?;
    let fresh: Vec<&SeenBlock> = blocks
        .iter()
        .filter(|b| !stored.contains(&int(b.number)))
        .collect();
    // The deposits of those blocks in block order, each identity once.
    let mut identities = HashSet::new();
    let items: Vec<(&SeenBlock, &Found)> = fresh
        .iter()
        .flat_map(|b| {
            found
                .get(&b.hash)
                .into_iter()
                .flatten()
                .map(move |f| (*b, f))
        })
        .filter(|(_, f)| identities.insert((f.tx_hash.as_str(), f.position.as_str())))
        .collect();
    // A deposit already `confirmations` deep on the chain as stored at the
    // end of this transaction (its tip is the highest of `blocks`, read up
    // to the node's head) goes in CONFIRMED, with both its events, SEEN
    // then CONFIRMED, as [`confirm`] would have made it right after.
    let deep = |b: &SeenBlock| b.number.saturating_add(confirmations) <= highest.number;
    let now = now_rfc3339();
    let mut refused: Vec<(&SeenBlock, &Found)> = Vec::new();
    for chunk in chunks(&items) {
        let mut values = Vec::with_capacity(chunk.len() * 15);
        for (b, f) in chunk {
            let w = watched.get(&f.address);
            values.extend([
                Value::from(chain),
                Value::from(f.tx_hash.as_str()),
                Value::from(f.position.as_str()),
                Value::from(int(b.number)),
                Value::from(b.hash.as_str()),
                Value::from(f.address.to_checksum()),
                Value::from(w.and_then(|w| w.tenant.as_deref())),
                Value::from(w.and_then(|w| w.reference.as_deref())),
                Value::from(f.asset.as_str()),
                Value::from(f.token),
                Value::from(f.from.to_checksum()),
                Value::from(f.amount.to_string()),
                Value::from(if deep(b) { "CONFIRMED" } else { "SEEN" }),
                Value::from(now.as_str()),
                Value::from(now.as_str()),
            ]);
        }
        let rows = db.query(
            &format!(
                "INSERT INTO deposits (chain, tx_hash, position, block_number, block_hash, address, tenant, reference, \
                 asset, token, from_address, amount, state, created_at, updated_at) VALUES {} \
                 ON CONFLICT (chain, tx_hash, position) DO NOTHING RETURNING id, tx_hash, position",
                groups("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", chunk.len())
            ),
            &values,
        )?;
        let mut ids = HashMap::with_capacity(rows.len());
        for r in &rows {
            ids.insert((r.text(1)?, r.text(2)?), r.int(0)?);
        }
        let (mut seen, mut confirmed) = (Vec::with_capacity(chunk.len()), Vec::new());
        for (b, f) in chunk {
            let Some(id) = ids.get(&(f.tx_hash.clone(), f.position.clone())) else {
                refused.push((b, f));
                continue;
            };
            let tenant = watched.get(&f.address).and_then(|w| w.tenant.clone());
            if deep(b) {
                confirmed.push(Move {
                    id: *id,
                    tenant: tenant.clone(),
                    message: format!("block {} is {confirmations} confirmation(s) deep", b.number),
                });
            }
            seen.push(Move {
                id: *id,
                tenant,
                message: format!("in block {} ({})", b.number, b.hash),
            });
        }
        record_events(db, &seen, None, "SEEN", "seen")?;
        record_events(db, &confirmed, Some("SEEN"), "CONFIRMED", "confirmed")?;
    }
    // Those the hub had already: re-mined after a reorganisation.
    for (b, f) in refused {
        let r = db.query_one(
            "SELECT id, state, block_hash, tenant FROM deposits WHERE chain = ? AND tx_hash = ? AND position = ?",
            params![chain, f.tx_hash.as_str(), f.position.as_str()],
        )?;
        let known = Known {
            id: r.int(0)?,
            state: r.text(1)?,
            block_hash: r.text(2)?,
            tenant: r.opt_text(3)?,
        };
        remined(db, &known, b)?;
    }
    for chunk in chunks(&fresh) {
        let mut values = Vec::with_capacity(chunk.len() * 5);
        for b in chunk {
            values.extend([
                Value::from(chain),
                Value::from(int(b.number)),
                Value::from(b.hash.as_str()),
                Value::from(b.parent.as_str()),
                Value::from(int(b.timestamp)),
            ]);
        }
        db.execute(
            &format!(
                "INSERT INTO blocks (chain, number, hash, parent_hash, timestamp) VALUES {}",
                groups("(?, ?, ?, ?, ?)", chunk.len())
            ),
            &values,
        )?;
    }
    Ok(())
}

/// A known deposit found again in `block`: its block is updated; REORGED
/// becomes SEEN, and one that moved without the follower seeing it leave
/// (the orphaned block was replaced before it was read) goes REORGED, then
/// SEEN.
fn remined(db: &mut Db, known: &Known, block: &SeenBlock) -> Result<()> {
    let n = i64::try_from(block.number).unwrap_or(i64::MAX);
    db.execute(
        "UPDATE deposits SET block_number = ?, block_hash = ?, updated_at = ? WHERE id = ?",
        params![n, block.hash.as_str(), now_rfc3339().as_str(), known.id],
    )?;
    let one = |message: String| {
        [Move {
            id: known.id,
            tenant: known.tenant.clone(),
            message,
        }]
    };
    if known.state == "REORGED" {
        move_deposits(
            db,
            &one(format!(
                "re-mined in block {} ({}) after a reorganisation",
                block.number, block.hash
            )),
            "REORGED",
            "SEEN",
            "re-mined",
        )?;
    } else if known.block_hash != block.hash {
        move_deposits(
            db,
            &one(format!(
                "its block {} left the canonical chain",
                known.block_hash
            )),
            &known.state,
            "REORGED",
            "reorg",
        )?;
        move_deposits(
            db,
            &one(format!(
                "re-mined in block {} ({})",
                block.number, block.hash
            )),
            "REORGED",
            "SEEN",
            "re-mined",
        )?;
    }
    Ok(())
}

/// Removes the stored blocks above `keep` and marks their deposits REORGED.
fn unwind(db: &mut Db, chain: i64, keep: u64) -> Result<u64> {
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    let mut orphaned: HashMap<String, Vec<Move>> = HashMap::new();
    for r in &db.query(
        "SELECT id, state, tenant FROM deposits WHERE chain = ? AND block_number > ? AND state <> 'REORGED' ORDER BY id",
        params![chain, keep],
    )? {
        orphaned.entry(r.text(1)?).or_default().push(Move {
            id: r.int(0)?,
            tenant: r.opt_text(2)?,
            message: "its block left the canonical chain".to_owned(),
        });
    }
    for (state, moves) in &orphaned {
        move_deposits(db, moves, state, "REORGED", "reorg")?;
    }
    Ok(db.execute(
        "DELETE FROM blocks WHERE chain = ? AND number > ?",
        params![chain, keep],
    )?)
}

/// The deposit addresses of a chain.
fn watched(db: &mut Db, chain: i64) -> Result<HashMap<Address, Watched>> {
    let rows = db.query(
        "SELECT address, tenant, reference FROM addresses WHERE chain = ? AND role = 'deposit'",
        params![chain],
    )?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        if let Some(a) = address(&r.text(0)?) {
            out.insert(
                a,
                Watched {
                    tenant: r.opt_text(1)?,
                    reference: r.opt_text(2)?,
                },
            );
        }
    }
    Ok(out)
}

/// Whether the node offers `trace_block`, asked once and recorded.
fn internal_transfers(db: &mut Db, rpc: &Rpc, chain: &Chain) -> Result<bool> {
    let known = db
        .query_one(
            "SELECT internal_transfers FROM chains WHERE id = ?",
            params![chain.id],
        )?
        .opt_text(0)?;
    if let Some(k) = known {
        return Ok(k == "trace_block");
    }
    let offered = match rpc.call("trace_block", json!(["latest"])) {
        Ok(_) => true,
        Err(RpcError::Node { .. } | RpcError::BadResponse { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    db.execute(
        "UPDATE chains SET internal_transfers = ? WHERE id = ?",
        params![if offered { "trace_block" } else { "none" }, chain.id],
    )?;
    Ok(offered)
}

fn topic_of(a: Address) -> String {
    format!(
        "0x000000000000000000000000{}",
        hex_data::encode(a.0).trim_start_matches("0x")
    )
}

/// One round of the follower of `chain`: up to [`BLOCKS_PER_ROUND`] new
/// blocks, reorganisations, confirmations. Returns the blocks read.
pub(crate) fn round(db: &mut Db, chain: &Chain) -> Result<u64> {
    let started = std::time::Instant::now();
    let waited = crate::rpc::stats::thread_wait();
    let rpc = crate::commands::connect(chain)?;
    let head = rpc.block_number()?;
    let start = match db
        .query_one(
            "SELECT scan_from_block FROM chains WHERE id = ?",
            params![chain.id],
        )?
        .opt_int(0)?
    {
        Some(n) => u64::try_from(n).unwrap_or_default(),
        None => {
            db.execute(
                "UPDATE chains SET scan_from_block = ? WHERE id = ?",
                params![i64::try_from(head).unwrap_or(i64::MAX), chain.id],
            )?;
            head
        }
    };
    let watched = watched(db, chain.id)?;
    let tokens: Vec<Token> = Token::all(db)?
        .into_iter()
        .filter(|t| t.chain == chain.id)
        .collect();
    let traces = internal_transfers(db, &rpc, chain)?;
    let mut next = last_stored(db, chain.id)?.map_or(start, |n| n + 1);
    // The node rewound below what we stored, or replaced our tip: check the
    // tip and walk back to the common ancestor.
    if let Some(tip) = next.checked_sub(1).filter(|t| *t >= start) {
        let shown = rpc.call(
            "eth_getBlockByNumber",
            json!([hex_data::quantity_u64(tip.min(head)), false]),
        )?;
        let ours = stored_hash(db, chain.id, tip.min(head))?;
        let theirs = shown
            .get("hash")
            .and_then(Json::as_str)
            .map(str::to_ascii_lowercase);
        if ours.is_some() && theirs.is_some() && ours != theirs {
            next = common_ancestor(db, &rpc, chain.id, tip.min(head), start)? + 1;
        }
    }
    let last = head.min(next.saturating_add(BLOCKS_PER_ROUND - 1));
    // The stored block below the first one to read: its parent.
    let parent = match next.checked_sub(1).filter(|p| *p >= start) {
        Some(p) => stored_hash(db, chain.id, p)?,
        None => None,
    };
    let scope = Scope {
        rpc: &rpc,
        watched: &watched,
        tokens: &tokens,
        native: &chain.native_symbol,
        traces,
    };
    // The node is read one run ahead of the database: a thread reads the
    // next run of blocks and their deposits while this one stores the last,
    // each run in its own transaction, in order.
    let mut done = Progress::default();
    let outcome = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        s.spawn(move || read_runs(scope, next, last, parent, &tx));
        for run in rx {
            let run: Run = run?;
            db.transaction(|db| store(db, chain, &run.blocks, &run.found, &watched))?;
            done.add(&run);
        }
        Ok::<_, HubError>(())
    });
    if let Some((first, last)) = done.range {
        // One line per round that stored blocks: the follower's progress,
        // its time and how much of it was spent waiting on the node (the
        // scanning benchmark reads it).
        let node = crate::rpc::stats::thread_wait().saturating_sub(waited) + done.node;
        tracing::info!(
            chain = %chain.name,
            first,
            last,
            blocks = done.blocks,
            deposits = done.deposits,
            ms = started.elapsed().as_millis() as u64,
            node_ms = node.as_millis() as u64,
            "follower: stored blocks"
        );
    }
    outcome?;
    confirm(db, chain, head)?;
    Ok(done.blocks)
}

/// Blocks per run: a run is read with one JSON-RPC batch request, one
/// `eth_getLogs` and its native deposits' receipts, and stored in one
/// transaction.
const BLOCKS_PER_RUN: u64 = 50;

/// What a round reads from the node besides blocks, shared with its
/// reading thread.
#[derive(Clone, Copy)]
struct Scope<'a> {
    rpc: &'a Rpc,
    watched: &'a HashMap<Address, Watched>,
    tokens: &'a [Token],
    /// The chain's native asset.
    native: &'a str,
    /// Whether the node offers `trace_block`.
    traces: bool,
}

/// A run of consecutive blocks as the node showed them, and the deposits
/// in them by block hash.
struct Run {
    blocks: Vec<SeenBlock>,
    found: HashMap<String, Vec<Found>>,
    /// Whether the run holds every block asked for. If not, the node has
    /// not shown the next one, or its parent is not the run's last block (a
    /// reorganisation under us: the next round walks back from the stored
    /// tip), and the round ends with this run.
    whole: bool,
    /// The time its reading thread waited on the node for it.
    node: std::time::Duration,
}

/// What a round stored.
#[derive(Default)]
struct Progress {
    /// The first and last block stored.
    range: Option<(u64, u64)>,
    blocks: u64,
    deposits: usize,
    /// The reading thread's time waiting on the node.
    node: std::time::Duration,
}

impl Progress {
    fn add(&mut self, run: &Run) {
        let (Some(first), Some(last)) = (run.blocks.first(), run.blocks.last()) else {
            return;
        };
        self.range = Some(
            self.range
                .map_or((first.number, last.number), |(f, _)| (f, last.number)),
        );
        self.blocks += run.blocks.len() as u64;
        self.deposits += run.found.values().map(Vec::len).sum::<usize>();
        self.node += run.node;
    }
}

/// Reads blocks `from..=to` run after run, the first one's parent being
/// `parent` (when stored), and hands each run to `tx`. Stops after a run
/// that is not whole, when the node shows nothing more, when the chain
/// moved under a run (it is dropped; the next round reads it again), on an
/// error (handed on), or when the receiver is gone.
fn read_runs(
    scope: Scope<'_>,
    from: u64,
    to: u64,
    mut parent: Option<String>,
    tx: &std::sync::mpsc::SyncSender<Result<Run>>,
) {
    let mut n = from;
    while n <= to {
        let upto = to.min(n.saturating_add(BLOCKS_PER_RUN - 1));
        let run = match read_run(scope, n, upto, parent.as_deref()) {
            Ok(Some(run)) => run,
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let whole = run.whole;
        parent = run.blocks.last().map(|b| b.hash.clone());
        if tx.send(Ok(run)).is_err() || !whole {
            return;
        }
        n = upto + 1;
    }
}

/// One run: blocks `from..=to` (the first one's parent must be `parent`,
/// when given) and the deposits in them; `None` if the node shows none of
/// them, or a log of a block not among them (the chain moved meanwhile).
fn read_run(scope: Scope<'_>, from: u64, to: u64, parent: Option<&str>) -> Result<Option<Run>> {
    let waited = crate::rpc::stats::thread_wait();
    let (blocks, whole) = read_blocks(scope.rpc, from, to, parent)?;
    if blocks.is_empty() {
        return Ok(None);
    }
    let mut found: HashMap<String, Vec<Found>> = HashMap::new();
    if !token_deposits(scope, &blocks, &mut found)? {
        return Ok(None);
    }
    native_deposits(scope, &blocks, &mut found)?;
    internal_deposits(scope, &blocks, &mut found)?;
    Ok(Some(Run {
        blocks,
        found,
        whole,
        node: crate::rpc::stats::thread_wait().saturating_sub(waited),
    }))
}

/// Blocks `from..=to` as the node shows them, in order, with one JSON-RPC
/// batch request, and whether that is all of them. Stops before the first
/// block the node has not shown (its head is never trusted beyond that),
/// and before one whose parent is not the block before it (for the first,
/// `parent`, when given).
fn read_blocks(
    rpc: &Rpc,
    from: u64,
    to: u64,
    parent: Option<&str>,
) -> Result<(Vec<SeenBlock>, bool)> {
    let calls: Vec<crate::rpc::Call> = (from..=to)
        .map(|k| {
            (
                "eth_getBlockByNumber",
                json!([hex_data::quantity_u64(k), true]),
            )
        })
        .collect();
    let mut blocks: Vec<SeenBlock> = Vec::with_capacity(calls.len());
    for (n, answer) in (from..=to).zip(rpc.batch(&calls)?) {
        let Some(b) = parse_block(&answer?)? else {
            return Ok((blocks, false)); // not shown (yet)
        };
        if b.number != n {
            return Err(bad(
                "eth_getBlockByNumber",
                &format!("asked for block {n}, got block {}", b.number),
            ));
        }
        let expected = blocks.last().map(|p| p.hash.as_str()).or(parent);
        if expected.is_some_and(|h| h != b.parent) {
            return Ok((blocks, false));
        }
        blocks.push(b);
    }
    Ok((blocks, true))
}

/// Token transfers to deposit addresses in `blocks`, with one filtered
/// `eth_getLogs` over their range (or a few, for many addresses), added to
/// `found`. `false` if a log is of a block not among them: the chain moved
/// meanwhile.
fn token_deposits(
    scope: Scope<'_>,
    blocks: &[SeenBlock],
    found: &mut HashMap<String, Vec<Found>>,
) -> Result<bool> {
    let (tokens, watched) = (scope.tokens, scope.watched);
    let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
        return Ok(true);
    };
    if tokens.is_empty() || watched.is_empty() {
        return Ok(true);
    }
    let mut logs: Vec<Json> = Vec::new();
    let addrs: Vec<String> = watched.keys().map(|a| topic_of(*a)).collect();
    for chunk in addrs.chunks(500) {
        let filter = json!({
            "fromBlock": hex_data::quantity_u64(first.number),
            "toBlock": hex_data::quantity_u64(last.number),
            "address": tokens.iter().map(|t| hex_data::encode(t.contract.0)).collect::<Vec<_>>(),
            "topics": [TRANSFER_TOPIC, Json::Null, chunk],
        });
        if let Json::Array(got) = scope.rpc.call("eth_getLogs", json!([filter]))? {
            logs.extend(got);
        }
    }
    let hashes: HashSet<&str> = blocks.iter().map(|b| b.hash.as_str()).collect();
    // A log's position is its rank among the transaction's matching logs,
    // not its index in the block: a transaction re-mined in another block
    // keeps it, so it stays one deposit.
    logs.sort_by_cached_key(|l| {
        (
            l.get("transactionHash")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_ascii_lowercase(),
            number(l, "logIndex", "eth_getLogs").unwrap_or(u64::MAX),
        )
    });
    let mut rank: HashMap<String, u64> = HashMap::new();
    for l in &logs {
        const M: &str = "eth_getLogs";
        let bh = hash_of(l, "blockHash", M)?;
        if !hashes.contains(bh.as_str()) {
            return Ok(false);
        }
        let topics: Vec<&str> = l
            .get("topics")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .collect();
        if topics.len() != 3 {
            continue;
        }
        let word = |t: &str| {
            hex_data::decode_fixed::<32>(t)
                .ok()
                .map(|w| Address(w[12..].try_into().unwrap_or([0; 20])))
        };
        let (Some(from), Some(to)) = (word(topics[1]), word(topics[2])) else {
            continue;
        };
        let contract = address(text(l, "address", M)?);
        let Some(token) = tokens.iter().find(|t| Some(t.contract) == contract) else {
            continue;
        };
        if !watched.contains_key(&to) {
            continue;
        }
        let data = hex_data::decode(text(l, "data", M)?).unwrap_or_default();
        if data.len() != 32 || l.get("removed").and_then(Json::as_bool) == Some(true) {
            continue;
        }
        let tx_hash = hash_of(l, "transactionHash", M)?;
        let r = rank.entry(tx_hash.clone()).or_default();
        let position = format!("log:{r}");
        *r += 1;
        found.entry(bh).or_default().push(Found {
            tx_hash,
            position,
            address: to,
            asset: token.symbol.clone(),
            token: Some(token.id),
            from,
            amount: U256::from_big_endian(&data),
        });
    }
    Ok(true)
}

/// Native deposits in `blocks`: their transactions to deposit addresses,
/// with receipt status 1 in the same block, added to `found`. Receipts are
/// asked for with batch requests, one at a time, each answer dropped once
/// read.
fn native_deposits(
    scope: Scope<'_>,
    blocks: &[SeenBlock],
    found: &mut HashMap<String, Vec<Found>>,
) -> Result<()> {
    let mut native: Vec<(&str, &str, Address, Address, U256)> = Vec::new();
    for b in blocks {
        for (h, from, to, value) in &b.txs {
            if let Some(to) = to.filter(|t| scope.watched.contains_key(t)) {
                if !value.is_zero() {
                    native.push((&b.hash, h, *from, to, *value));
                }
            }
        }
    }
    for part in native.chunks(RECEIPTS_PER_REQUEST) {
        let calls: Vec<crate::rpc::Call> = part
            .iter()
            .map(|(_, h, ..)| ("eth_getTransactionReceipt", json!([h])))
            .collect();
        for ((bh, h, from, to, value), r) in part.iter().zip(scope.rpc.batch(&calls)?) {
            let r = r?;
            let ok = r.get("status").and_then(Json::as_str) == Some("0x1")
                && r.get("blockHash")
                    .and_then(Json::as_str)
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                    == Some(*bh);
            if ok {
                found.entry((*bh).to_owned()).or_default().push(Found {
                    tx_hash: (*h).to_owned(),
                    position: "tx".to_owned(),
                    address: *to,
                    asset: scope.native.to_owned(),
                    token: None,
                    from: *from,
                    amount: *value,
                });
            }
        }
    }
    Ok(())
}

/// ETH moved to deposit addresses by internal calls in `blocks`, from
/// `trace_block` when the node offers it, added to `found`.
fn internal_deposits(
    scope: Scope<'_>,
    blocks: &[SeenBlock],
    found: &mut HashMap<String, Vec<Found>>,
) -> Result<()> {
    if !scope.traces || scope.watched.is_empty() {
        return Ok(());
    }
    for b in blocks {
        let Ok(t) = scope
            .rpc
            .call("trace_block", json!([hex_data::quantity_u64(b.number)]))
        else {
            continue;
        };
        for tr in t.as_array().into_iter().flatten() {
            let path: Vec<String> = tr
                .get("traceAddress")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(Json::as_u64)
                .map(|n| n.to_string())
                .collect();
            if path.is_empty() || tr.get("error").is_some() {
                continue; // the top-level call is the transaction itself
            }
            let action = tr.get("action").cloned().unwrap_or(Json::Null);
            let to = action.get("to").and_then(Json::as_str).and_then(address);
            let value =
                crate::rpc::quantity("trace_block", action.get("value").unwrap_or(&json!("0x0")))
                    .unwrap_or_default();
            let (Some(to), Some(from)) = (
                to,
                action.get("from").and_then(Json::as_str).and_then(address),
            ) else {
                continue;
            };
            if scope.watched.contains_key(&to) && !value.is_zero() {
                found.entry(b.hash.clone()).or_default().push(Found {
                    tx_hash: tr
                        .get("transactionHash")
                        .and_then(Json::as_str)
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                    position: format!("trace:{}", path.join(",")),
                    address: to,
                    asset: scope.native.to_owned(),
                    token: None,
                    from,
                    amount: value,
                });
            }
        }
    }
    Ok(())
}

/// Walks back from `from` until the stored block equals the node's; unwinds
/// what is above. Returns the common ancestor's number.
fn common_ancestor(db: &mut Db, rpc: &Rpc, chain: i64, from: u64, start: u64) -> Result<u64> {
    let mut n = from;
    loop {
        let theirs = rpc
            .call(
                "eth_getBlockByNumber",
                json!([hex_data::quantity_u64(n), false]),
            )?
            .get("hash")
            .and_then(Json::as_str)
            .map(str::to_ascii_lowercase);
        let ours = stored_hash(db, chain, n)?;
        if ours.is_none() || ours == theirs || n <= start {
            let keep = if ours == theirs {
                n
            } else {
                n.saturating_sub(1)
            };
            db.transaction(|db| unwind(db, chain, keep))?;
            tracing::warn!(
                chain,
                "reorganisation: blocks above {keep} left the canonical chain"
            );
            return Ok(keep);
        }
        n -= 1;
    }
}

/// SEEN deposits `confirmations` deep on the stored chain become CONFIRMED.
fn confirm(db: &mut Db, chain: &Chain, head: u64) -> Result<()> {
    let Some(tip) = last_stored(db, chain.id)? else {
        return Ok(());
    };
    let depth = tip.min(head) + 1;
    let deep_enough = i64::try_from(depth.saturating_sub(chain.confirmations)).unwrap_or(i64::MAX);
    let rows: Vec<Move> = db
        .query(
            "SELECT d.id, d.block_number, d.tenant FROM deposits d JOIN blocks b ON b.chain = d.chain AND b.number = d.block_number \
             AND b.hash = d.block_hash WHERE d.chain = ? AND d.state = 'SEEN' AND d.block_number < ? ORDER BY d.id",
            params![chain.id, deep_enough],
        )?
        .iter()
        .map(|r| {
            Ok(Move {
                id: r.int(0)?,
                tenant: r.opt_text(2)?,
                message: format!(
                    "block {} is {} confirmation(s) deep",
                    r.int(1)?,
                    chain.confirmations
                ),
            })
        })
        .collect::<Result<_>>()?;
    if rows.is_empty() {
        return Ok(());
    }
    db.transaction(|db| move_deposits(db, &rows, "SEEN", "CONFIRMED", "confirmed"))
}

/// Holds the follower lock of `chain` on PostgreSQL (tried, never waited
/// for); always `true` on SQLite (one process).
pub(crate) fn try_lock(db: &mut Db, chain: i64) -> Result<bool> {
    match db.backend() {
        Backend::Sqlite => Ok(true),
        Backend::Postgres => Ok(db
            .query_one(
                "SELECT pg_try_advisory_lock(?)",
                params![0x7363_616e_0000_0000_i64 ^ chain],
            )?
            .int(0)?
            == 1),
    }
}
