-- coldsign hub schema, version 6: the hub as a service (`hub-cli serve`).
--
-- Tenants: the front systems whose orders the hub pays. A row that belongs
-- to a front system carries its tenant; NULL is the desk's own (the CLI).
ALTER TABLE orders ADD COLUMN tenant TEXT;
ALTER TABLE batches ADD COLUMN tenant TEXT;
CREATE INDEX orders_tenant ON orders (tenant, id);

-- One unfinished batch per tenant and chain (the desk's own counting as
-- one tenant), enforced by the database itself.
DROP INDEX batches_one_unfinished_per_chain;
CREATE UNIQUE INDEX batches_one_unfinished_per_tenant_and_chain
    ON batches (chain, COALESCE(tenant, '')) WHERE state NOT IN ('CLOSED', 'CANCELLED');

-- API keys: only a hash is stored; the key is shown once at creation.
CREATE TABLE api_keys (
    id {ID},
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    tenant TEXT NOT NULL,
    scopes TEXT NOT NULL,
    operator TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Where each tenant's callbacks go, and the secret that signs them.
CREATE TABLE callbacks (
    tenant TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The outbox: one row per order or batch state change of a tenant, written
-- in the same database transaction as the change (and its event row), and
-- delivered at least once, in order for each order, by the dispatcher.
CREATE TABLE outbox (
    id {ID},
    event {INT} NOT NULL UNIQUE REFERENCES events(id),
    tenant TEXT NOT NULL,
    order_ref {INT},
    batch {INT},
    status TEXT NOT NULL DEFAULT 'pending',
    attempts {INT} NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until TEXT,
    last_status {INT},
    last_error TEXT,
    delivered_at TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id);
CREATE INDEX outbox_order ON outbox (order_ref, id);
