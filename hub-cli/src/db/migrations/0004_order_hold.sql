-- coldsign hub schema, version 4: holding orders.
--
-- `order hold` keeps a PENDING order out of new batches until
-- `order release`: the time it was held, NULL when it is not. Who held it
-- and why is in its events.
ALTER TABLE orders ADD COLUMN held_at TEXT;
