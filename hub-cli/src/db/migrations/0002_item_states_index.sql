-- coldsign hub schema, version 2: the states of a batch's items straight
-- from an index. Every state change of an item recomputes its batch's state
-- from the distinct states of the batch's items; without this index that
-- reads every item row (with its raw transaction), which made sending a
-- 10,000-item batch spend most of its own time re-reading the table.
CREATE INDEX batch_items_state ON batch_items (batch, state);
