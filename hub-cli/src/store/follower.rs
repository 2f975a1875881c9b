//! The store's statements for the chain follower: the blocks it stored,
//! the deposits it found in them and their state changes (each with its
//! event and, for a tenant's deposit, its outbox row), the chains' scan
//! settings and the deposit addresses it watches.

use crate::{
    clock::now_rfc3339,
    db::{params, Db, Value},
    error::{HubError, Result},
    model::Chain,
};
use coldsign_core::{Address, U256};
use std::collections::{HashMap, HashSet};

/// The most rows in one multi-row statement. Statements come in
/// power-of-two sizes up to this ([`chunks`]): a few distinct texts, each
/// prepared once per connection (PostgreSQL keeps every statement its
/// connection prepared).
pub(crate) const ROWS_PER_STATEMENT: usize = 256;
/// A deposit address of a tenant.
#[derive(Debug, Clone)]
pub(crate) struct Watched {
    pub(crate) tenant: Option<String>,
    pub(crate) reference: Option<String>,
}

/// A block as the node shows it, reduced to what the follower uses.
pub(crate) use crate::rpc::FollowedBlock as SeenBlock;

/// The stored hash of block `n`.
pub(crate) fn stored_hash(db: &mut Db, chain: i64, n: u64) -> Result<Option<String>> {
    Ok(db
        .query_opt(
            "SELECT hash FROM blocks WHERE chain = ? AND number = ?",
            params![chain, i64::try_from(n).unwrap_or(i64::MAX)],
        )?
        .map(|r| r.text(0))
        .transpose()?)
}

pub(crate) fn last_stored(db: &mut Db, chain: i64) -> Result<Option<u64>> {
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
pub(crate) fn chunks<T>(items: &[T]) -> Vec<&[T]> {
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
pub(crate) fn groups(group: &str, n: usize) -> String {
    vec![group; n].join(", ")
}

/// A change of a deposit's state: the deposit, its tenant (who is called
/// back) and its event's message.
pub(crate) struct Move {
    pub(crate) id: i64,
    pub(crate) tenant: Option<String>,
    pub(crate) message: String,
}

/// State changes of deposits from `from` to `to`, each with its event and,
/// for a tenant's deposit, its outbox row, in the caller's transaction:
/// with the insertion of new deposits in [`store`], the only code that
/// writes a deposit's state. Multi-row statements, [`chunks`] at a time.
pub(crate) fn move_deposits(
    db: &mut Db,
    moves: &[Move],
    from: &str,
    to: &str,
    reason: &str,
) -> Result<()> {
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
pub(crate) fn record_events(
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
pub(crate) struct Found {
    pub(crate) tx_hash: String,
    pub(crate) position: String,
    pub(crate) address: Address,
    pub(crate) asset: String,
    pub(crate) token: Option<i64>,
    pub(crate) from: Address,
    pub(crate) amount: U256,
}

/// A deposit the hub already has.
pub(crate) struct Known {
    pub(crate) id: i64,
    pub(crate) state: String,
    pub(crate) block_hash: String,
    pub(crate) tenant: Option<String>,
}

/// Stores `blocks` and the deposits `found` in them (by block hash), in the
/// caller's transaction: new deposits SEEN (and CONFIRMED at once, with
/// both events, when already deep enough and the chain has no witness); a known one re-mined in another
/// block moves (REORGED → SEEN, or its block updated). A block another
/// process stored meanwhile is left as it is (it is this follower's too),
/// and so are its deposits. Multi-row statements throughout: new deposits
/// go in with `ON CONFLICT DO NOTHING`, and only those it refuses (known
/// already) are read back.
pub(crate) fn store(
    db: &mut Db,
    chain: &Chain,
    blocks: &[SeenBlock],
    found: &HashMap<String, Vec<Found>>,
    watched: &HashMap<Address, Watched>,
) -> Result<()> {
    // With a witness, a deposit is CONFIRMED only once the witness shows it
    // too (the follower's `confirm`), never on this node's word alone.
    let witnessed = chain.witness_rpc_url.is_some();
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
    let deep =
        |b: &SeenBlock| !witnessed && b.number.saturating_add(confirmations) <= highest.number;
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
pub(crate) fn remined(db: &mut Db, known: &Known, block: &SeenBlock) -> Result<()> {
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
pub(crate) fn unwind(db: &mut Db, chain: i64, keep: u64) -> Result<u64> {
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
pub(crate) fn watched(db: &mut Db, chain: i64) -> Result<HashMap<Address, Watched>> {
    let rows = db.query(
        "SELECT address, tenant, reference FROM addresses WHERE chain = ? AND role = 'deposit'",
        params![chain],
    )?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        if let Ok(a) = r.text(0)?.parse::<Address>() {
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

/// Records whether the chain's node offers `trace_block`.
pub(crate) fn set_internal_transfers(db: &mut Db, chain: i64, offered: bool) -> Result<()> {
    db.execute(
        "UPDATE chains SET internal_transfers = ? WHERE id = ?",
        params![if offered { "trace_block" } else { "none" }, chain],
    )?;
    Ok(())
}

/// The block the follower of the chain starts from, once set.
pub(crate) fn scan_from_block(db: &mut Db, chain: i64) -> Result<Option<u64>> {
    Ok(db
        .query_one(
            "SELECT scan_from_block FROM chains WHERE id = ?",
            params![chain],
        )?
        .opt_int(0)?
        .map(|n| u64::try_from(n).unwrap_or_default()))
}

/// Sets the block the follower of the chain starts from.
pub(crate) fn set_scan_from_block(db: &mut Db, chain: i64, block: u64) -> Result<()> {
    db.execute(
        "UPDATE chains SET scan_from_block = ? WHERE id = ?",
        params![i64::try_from(block).unwrap_or(i64::MAX), chain],
    )?;
    Ok(())
}

/// A SEEN deposit on the stored chain, as stored: what a witness node must
/// show the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeenDeposit {
    pub(crate) id: i64,
    pub(crate) block_number: i64,
    pub(crate) block_hash: String,
    pub(crate) tenant: Option<String>,
    pub(crate) tx_hash: String,
    pub(crate) position: String,
    /// The deposit address, checksummed.
    pub(crate) address: String,
    pub(crate) token: Option<i64>,
    /// The sender, checksummed.
    pub(crate) from: String,
    /// Base units, in decimal.
    pub(crate) amount: String,
}

impl SeenDeposit {
    /// Whether `found` (read from a node in the deposit's block) is this
    /// deposit: the same transaction, position, address, asset, sender and
    /// amount.
    pub(crate) fn is(&self, found: &Found) -> bool {
        self.tx_hash == found.tx_hash
            && self.position == found.position
            && self.address == found.address.to_checksum()
            && self.token == found.token
            && self.from == found.from.to_checksum()
            && self.amount == found.amount.to_string()
    }
}

/// The SEEN deposits of `chain` in stored (canonical) blocks below
/// `below`, by id.
pub(crate) fn seen_below(db: &mut Db, chain: i64, below: i64) -> Result<Vec<SeenDeposit>> {
    db.query(
        "SELECT d.id, d.block_number, d.block_hash, d.tenant, d.tx_hash, d.position, d.address, d.token, \
         d.from_address, d.amount FROM deposits d JOIN blocks b ON b.chain = d.chain AND b.number = d.block_number \
         AND b.hash = d.block_hash WHERE d.chain = ? AND d.state = 'SEEN' AND d.block_number < ? ORDER BY d.id",
        params![chain, below],
    )?
    .iter()
    .map(|r| {
        Ok(SeenDeposit {
            id: r.int(0)?,
            block_number: r.int(1)?,
            block_hash: r.text(2)?,
            tenant: r.opt_text(3)?,
            tx_hash: r.text(4)?,
            position: r.text(5)?,
            address: r.text(6)?,
            token: r.opt_int(7)?,
            from: r.text(8)?,
            amount: r.text(9)?,
        })
    })
    .collect()
}
