-- coldsign hub schema, version 7: deposits. A follower per chain reads
-- blocks in order, keeps the canonical chain it has seen (`blocks`),
-- records deposits to the tenants' deposit addresses, and follows them
-- through reorganisations.

-- Deposit addresses belong to a tenant and carry its user or account
-- reference (cold addresses have neither).
ALTER TABLE addresses ADD COLUMN tenant TEXT;
ALTER TABLE addresses ADD COLUMN reference TEXT;

-- Where the follower starts, and whether the node can show ETH moved by
-- internal calls (`trace_block`): 'trace_block', 'none', or NULL (not asked).
ALTER TABLE chains ADD COLUMN scan_from_block {INT};
ALTER TABLE chains ADD COLUMN internal_transfers TEXT;

-- The canonical blocks the follower has seen, by number.
CREATE TABLE blocks (
    chain {INT} NOT NULL REFERENCES chains(id),
    number {INT} NOT NULL,
    hash TEXT NOT NULL,
    parent_hash TEXT NOT NULL,
    timestamp {INT} NOT NULL,
    PRIMARY KEY (chain, number)
);

-- A deposit is identified by its transaction and its position in it
-- ('tx' for the transaction's own value, 'log:N' for its N-th matching
-- Transfer log (counted within the transaction), 'trace:A'
-- for an internal call at trace address A), and tied to the block it is in:
-- re-mined in another block after a reorg, it is the same deposit, moved.
CREATE TABLE deposits (
    id {ID},
    chain {INT} NOT NULL REFERENCES chains(id),
    tx_hash TEXT NOT NULL,
    position TEXT NOT NULL,
    block_number {INT} NOT NULL,
    block_hash TEXT NOT NULL,
    address TEXT NOT NULL,
    tenant TEXT,
    reference TEXT,
    asset TEXT NOT NULL,
    token {INT} REFERENCES tokens(id),
    from_address TEXT NOT NULL,
    amount TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (chain, tx_hash, position)
);
CREATE INDEX deposits_address ON deposits (chain, address, id);
CREATE INDEX deposits_state ON deposits (chain, state, block_number);

-- Deposit events go through the same events and outbox as everything else.
ALTER TABLE events ADD COLUMN deposit {INT};
ALTER TABLE outbox ADD COLUMN deposit {INT};
