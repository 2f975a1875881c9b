-- coldsign hub schema, version 1.
-- {ID} is the auto-increment primary key of the backend, {INT} a 64-bit
-- integer. Amounts are decimal TEXT in base units; times are UTC RFC 3339 TEXT.

CREATE TABLE chains (
    id {ID},
    name TEXT NOT NULL UNIQUE,
    chain_id {INT} NOT NULL UNIQUE,
    rpc_url TEXT NOT NULL,
    confirmations {INT} NOT NULL,
    native_symbol TEXT NOT NULL,
    native_decimals {INT} NOT NULL,
    base_fee_multiplier_pct {INT} NOT NULL,
    priority_fee_multiplier_pct {INT} NOT NULL,
    max_fee_cap TEXT,
    priority_fee_cap TEXT,
    gas_margin_pct {INT} NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE tokens (
    id {ID},
    chain {INT} NOT NULL REFERENCES chains(id),
    symbol TEXT NOT NULL,
    contract TEXT NOT NULL,
    decimals {INT} NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (chain, symbol),
    UNIQUE (chain, contract)
);

CREATE TABLE addresses (
    id {ID},
    chain {INT} NOT NULL REFERENCES chains(id),
    address TEXT NOT NULL,
    role TEXT NOT NULL,
    derivation_path TEXT,
    public_key TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (chain, address)
);

CREATE TABLE orders (
    id {ID},
    order_id TEXT NOT NULL UNIQUE,
    chain {INT} NOT NULL REFERENCES chains(id),
    asset TEXT NOT NULL,
    token {INT} REFERENCES tokens(id),
    from_address TEXT NOT NULL,
    to_address TEXT NOT NULL,
    amount TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX orders_state ON orders (chain, state);

CREATE TABLE batches (
    id {ID},
    chain {INT} NOT NULL REFERENCES chains(id),
    state TEXT NOT NULL,
    file_created_at TEXT,
    unsigned_json TEXT,
    signed_accepted_at TEXT,
    message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- One unfinished batch per chain, enforced by the database itself.
CREATE UNIQUE INDEX batches_one_unfinished_per_chain
    ON batches (chain) WHERE state NOT IN ('CLOSED', 'CANCELLED');

CREATE TABLE batch_items (
    id {ID},
    batch {INT} NOT NULL REFERENCES batches(id),
    order_ref {INT} NOT NULL REFERENCES orders(id),
    position {INT} NOT NULL,
    state TEXT NOT NULL,
    message TEXT,
    sender TEXT NOT NULL,
    nonce {INT},
    gas_limit {INT},
    max_fee_per_gas TEXT,
    max_priority_fee_per_gas TEXT,
    signing_hash TEXT,
    raw_tx TEXT,
    tx_hash TEXT,
    block_number {INT},
    block_hash TEXT,
    gas_used TEXT,
    fee TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (batch, order_ref)
);
CREATE INDEX batch_items_batch ON batch_items (batch, position);
CREATE INDEX batch_items_order ON batch_items (order_ref);

CREATE TABLE events (
    id {ID},
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    batch {INT},
    item {INT},
    order_ref {INT},
    from_state TEXT,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    operator TEXT NOT NULL
);
CREATE INDEX events_order ON events (order_ref, id);
CREATE INDEX events_batch ON events (batch, id);
