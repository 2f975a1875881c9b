-- The dispatcher's claim keeps each deposit's callbacks in order by checking,
-- for every candidate row, that no earlier row of the same deposit is still
-- pending. Without an index on (deposit, id) that check scans the outbox, so
-- a backlog of deposit events made each claim quadratic in the backlog.
CREATE INDEX outbox_deposit ON outbox (deposit, id);

-- The claim only ever reads pending rows, in id order per tenant; delivered
-- and dead rows (most of the table on a hub that has run a while) stay out of
-- this index, so a claim never walks them.
CREATE INDEX outbox_pending ON outbox (tenant, id) WHERE status = 'pending';
