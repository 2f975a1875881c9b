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
//!   shown block by block. On a chain with a witness node, only once the
//!   witness, read the same way, shows the same deposit in a block of the
//!   same hash: one node's word never confirms a deposit.
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
    db::Db,
    error::{HubError, Result},
    model::{Chain, Token},
    rpc::{Rpc, RpcError},
    store::follower::{
        self, last_stored, move_deposits, store, stored_hash, unwind, watched, Found, Move,
        SeenBlock, SeenDeposit, Watched,
    },
};
use coldsign_core::{Address, U256};
use std::collections::{HashMap, HashSet};

/// Blocks read per round at most.
const BLOCKS_PER_ROUND: u64 = 200;
/// Whether the node offers `trace_block`, asked once and recorded.
fn internal_transfers(db: &mut Db, rpc: &Rpc, chain: &Chain) -> Result<bool> {
    let known = crate::store::chains::internal_transfers(db, chain.id)?;
    if let Some(k) = known {
        return Ok(k == "trace_block");
    }
    let offered = rpc.offers_trace_block()?;
    follower::set_internal_transfers(db, chain.id, offered)?;
    Ok(offered)
}

/// One round of the follower of `chain`: up to [`BLOCKS_PER_ROUND`] new
/// blocks, reorganisations, confirmations. Returns the blocks read.
pub(crate) fn round(db: &mut Db, chain: &Chain) -> Result<u64> {
    let started = std::time::Instant::now();
    let waited = crate::rpc::stats::thread_wait();
    let rpc = crate::commands::connect(chain)?;
    let head = rpc.block_number()?;
    let start = match follower::scan_from_block(db, chain.id)? {
        Some(n) => n,
        None => {
            follower::set_scan_from_block(db, chain.id, head)?;
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
        let theirs = rpc.block_hash(tip.min(head))?.map(|h| h.to_string());
        let ours = stored_hash(db, chain.id, tip.min(head))?;
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
    confirm(db, chain, head, scope)?;
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
    let shown = rpc.followed_blocks(from, to)?;
    let all_shown = shown.len() as u64 == to - from + 1;
    let mut blocks: Vec<SeenBlock> = Vec::with_capacity(shown.len());
    for (n, b) in (from..=to).zip(shown) {
        if b.number != n {
            return Err(RpcError::BadResponse {
                method: "eth_getBlockByNumber".to_owned(),
                message: format!("asked for block {n}, got block {}", b.number),
            }
            .into());
        }
        let expected = blocks.last().map(|p| p.hash.as_str()).or(parent);
        if expected.is_some_and(|h| h != b.parent) {
            return Ok((blocks, false));
        }
        blocks.push(b);
    }
    Ok((blocks, all_shown))
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
    let contracts: Vec<Address> = tokens.iter().map(|t| t.contract).collect();
    let recipients: Vec<Address> = watched.keys().copied().collect();
    let mut logs = scope
        .rpc
        .transfer_logs(first.number, last.number, &contracts, &recipients)?;
    let hashes: HashSet<&str> = blocks.iter().map(|b| b.hash.as_str()).collect();
    // A log's position is its rank among the transaction's matching logs,
    // not its index in the block: a transaction re-mined in another block
    // keeps it, so it stays one deposit.
    logs.sort_by(|a, b| (&a.tx_hash, a.log_index).cmp(&(&b.tx_hash, b.log_index)));
    let mut rank: HashMap<String, u64> = HashMap::new();
    for l in logs {
        if !hashes.contains(l.block_hash.as_str()) {
            return Ok(false);
        }
        let Some((from, to)) = l.parties else {
            continue;
        };
        let Some(token) = tokens.iter().find(|t| Some(t.contract) == l.contract) else {
            continue;
        };
        if !watched.contains_key(&to) {
            continue;
        }
        let Some(amount) = l.amount.filter(|_| !l.removed) else {
            continue;
        };
        let r = rank.entry(l.tx_hash.clone()).or_default();
        let position = format!("log:{r}");
        *r += 1;
        found.entry(l.block_hash).or_default().push(Found {
            tx_hash: l.tx_hash,
            position,
            address: to,
            asset: token.symbol.clone(),
            token: Some(token.id),
            from,
            amount,
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
    // One call: the client sends the receipts in batch requests of 100.
    let hashes: Vec<&str> = native.iter().map(|(_, h, ..)| *h).collect();
    let outcomes = scope.rpc.receipt_outcomes(&hashes)?;
    for ((bh, h, from, to, value), r) in native.iter().zip(outcomes) {
        if r.succeeded && r.block_hash.as_deref() == Some(*bh) {
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
        let Ok(calls) = scope.rpc.internal_calls(b.number) else {
            continue;
        };
        for c in calls {
            if c.trace_address.is_empty() || c.failed {
                continue; // the top-level call is the transaction itself
            }
            let (Some(to), Some(from)) = (c.to, c.from) else {
                continue;
            };
            if scope.watched.contains_key(&to) && !c.value.is_zero() {
                let path: Vec<String> = c.trace_address.iter().map(u64::to_string).collect();
                found.entry(b.hash.clone()).or_default().push(Found {
                    tx_hash: c.tx_hash,
                    position: format!("trace:{}", path.join(",")),
                    address: to,
                    asset: scope.native.to_owned(),
                    token: None,
                    from,
                    amount: c.value,
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
        let theirs = rpc.block_hash(n)?.map(|h| h.to_string());
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

/// SEEN deposits `confirmations` deep on the stored chain become CONFIRMED;
/// on a chain with a witness node, only those the witness shows too.
fn confirm(db: &mut Db, chain: &Chain, head: u64, scope: Scope<'_>) -> Result<()> {
    let Some(tip) = last_stored(db, chain.id)? else {
        return Ok(());
    };
    let depth = tip.min(head) + 1;
    let deep_enough = i64::try_from(depth.saturating_sub(chain.confirmations)).unwrap_or(i64::MAX);
    let mut seen = follower::seen_below(db, chain.id, deep_enough)?;
    if seen.is_empty() {
        return Ok(());
    }
    if chain.witness_rpc_url.is_some() {
        // A witness that cannot be asked leaves them SEEN: the next round
        // asks again.
        seen = match witnessed(chain, scope, seen) {
            Ok(shown) => shown,
            Err(e) => {
                tracing::warn!(chain = %chain.name, "follower: deposits wait for the witness: {e}");
                return Ok(());
            }
        };
    }
    let rows: Vec<Move> = seen
        .into_iter()
        .map(|d| Move {
            id: d.id,
            tenant: d.tenant,
            message: format!(
                "block {} is {} confirmation(s) deep",
                d.block_number, chain.confirmations
            ),
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    db.transaction(|db| move_deposits(db, &rows, "SEEN", "CONFIRMED", "confirmed"))
}

/// The deposits of `seen` that the chain's witness node shows the same: in
/// a block of the same hash at the same height, found there the way the
/// follower finds deposits (the same transaction, position, address,
/// asset, sender and amount). A deposit by an internal call needs a
/// witness that offers `trace_block`. The blocks are read in runs of at
/// most [`BLOCKS_PER_RUN`].
fn witnessed(chain: &Chain, scope: Scope<'_>, seen: Vec<SeenDeposit>) -> Result<Vec<SeenDeposit>> {
    let Some(witness) = crate::commands::connect_witness(chain)? else {
        return Ok(seen);
    };
    let traces =
        seen.iter().any(|d| d.position.starts_with("trace:")) && witness.offers_trace_block()?;
    let scope = Scope {
        rpc: &witness,
        traces,
        ..scope
    };
    let numbers: std::collections::BTreeSet<u64> = seen
        .iter()
        .filter_map(|d| u64::try_from(d.block_number).ok())
        .collect();
    let mut shown: HashMap<(u64, String), Vec<Found>> = HashMap::new();
    let mut numbers = numbers.into_iter().peekable();
    while let Some(first) = numbers.next() {
        let mut last = first;
        while let Some(&n) = numbers.peek() {
            if n - first >= BLOCKS_PER_RUN {
                break;
            }
            last = n;
            numbers.next();
        }
        let Some(mut run) = read_run(scope, first, last, None)? else {
            continue;
        };
        for b in &run.blocks {
            let found = run.found.remove(&b.hash).unwrap_or_default();
            shown.insert((b.number, b.hash.clone()), found);
        }
    }
    Ok(seen
        .into_iter()
        .filter(|d| {
            let at = (
                u64::try_from(d.block_number).unwrap_or(u64::MAX),
                d.block_hash.clone(),
            );
            shown
                .get(&at)
                .is_some_and(|found| found.iter().any(|f| d.is(f)))
        })
        .collect())
}

/// Holds the follower lock of `chain` on PostgreSQL (tried, never waited
/// for); always `true` on SQLite (one process).
pub(crate) fn try_lock(db: &mut Db, chain: i64) -> Result<bool> {
    crate::store::service::try_advisory_lock(db, 0x7363_616e_0000_0000_i64 ^ chain)
}
