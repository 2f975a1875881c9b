-- coldsign hub schema, version 3: exactly-once payouts.
--
-- Once an order's transaction has left the hub (written to an exported
-- unsigned file), the order is bound to (chain, sender, nonce) until the
-- chain shows that nonce consumed. Every later version of the order (a
-- rebuild, a re-batch after a cancel, its void) reuses the binding, so at
-- most one version can ever be mined.
CREATE TABLE nonce_bindings (
    id {ID},
    chain {INT} NOT NULL REFERENCES chains(id),
    sender TEXT NOT NULL,
    nonce {INT} NOT NULL,
    order_ref {INT} NOT NULL REFERENCES orders(id),
    bound_at TEXT NOT NULL,
    -- Set when the chain showed the nonce consumed by a transaction that is
    -- none of the order's own: the order may then take a new nonce.
    released_at TEXT,
    release_reason TEXT,
    UNIQUE (chain, sender, nonce)
);
CREATE UNIQUE INDEX nonce_bindings_one_live_per_order
    ON nonce_bindings (order_ref) WHERE released_at IS NULL;

-- Every unsigned transaction that left the hub, append-only: the versions
-- of each order. `tx_hash` is filled in when a signed file with it is
-- accepted. A transaction found on chain is the order's own when its
-- signing hash is one of these.
CREATE TABLE tx_versions (
    id {ID},
    order_ref {INT} NOT NULL REFERENCES orders(id),
    batch {INT} NOT NULL REFERENCES batches(id),
    chain {INT} NOT NULL REFERENCES chains(id),
    sender TEXT NOT NULL,
    nonce {INT} NOT NULL,
    kind TEXT NOT NULL,
    signing_hash TEXT NOT NULL,
    tx_hash TEXT,
    exported_at TEXT NOT NULL,
    UNIQUE (batch, signing_hash)
);
CREATE INDEX tx_versions_order ON tx_versions (order_ref);
CREATE INDEX tx_versions_signing_hash ON tx_versions (signing_hash);

-- The unsigned files that left the hub, by digest. A forced rebuild of an
-- exported batch voids its file: the signed answer to a void file is
-- refused at upload.
CREATE TABLE batch_files (
    id {ID},
    batch {INT} NOT NULL REFERENCES batches(id),
    digest TEXT NOT NULL,
    exported_at TEXT NOT NULL,
    voided_at TEXT,
    UNIQUE (batch, digest)
);

-- `order cancel` of a bound order: its next batch carries its void.
ALTER TABLE orders ADD COLUMN cancel_requested_at TEXT;
-- `payment`, or `void`: a 0-value self-transfer that consumes the nonce.
ALTER TABLE batch_items ADD COLUMN kind TEXT NOT NULL DEFAULT 'payment';
-- A second, independent node that must agree before an item is DISBURSED.
ALTER TABLE chains ADD COLUMN witness_rpc_url TEXT;
-- The signer's ledger head carried by the accepted signed file.
ALTER TABLE batches ADD COLUMN ledger_seq {INT};
ALTER TABLE batches ADD COLUMN ledger_mac TEXT;
