-- A list writes its payments, their first attempts and the attempts' first history rows in
-- one transaction, thousands at a time, and a bank result adds a history row per attempt.
-- PostgreSQL checks a foreign key row by row, which made these writes about three times
-- slower (20,000 payments: 460 ms with the key, 160 ms without, on the local stack) and
-- kept transfer below a month's pace. Each of these rows is written from its parent in the
-- same statement or transaction (payments with their list, attempts from the payments just
-- inserted or locked, history from the attempts just written or updated), and none of the
-- parents is ever deleted, so the keys checked what the writes already guarantee.
ALTER TABLE payments DROP CONSTRAINT payments_list_id_fkey;
ALTER TABLE transfers DROP CONSTRAINT transfers_entitlement_id_fkey;
ALTER TABLE transfer_history DROP CONSTRAINT transfer_history_end_to_end_id_fkey;
