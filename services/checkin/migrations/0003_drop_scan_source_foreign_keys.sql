-- A check-in is written by one statement that settles its month's window row and inserts the
-- check-in from the row that update returns, naming the notice and the kiosk the scan read in
-- the same request; no window, notice or kiosk row is ever deleted (kiosks are revoked,
-- notices re-signed in place). These references can therefore never dangle, and checking them
-- cost every accepted scan three more lookups and three row locks; the lock on the kiosk row,
-- which every scan at that kiosk takes, made concurrent scans share multixacts.
ALTER TABLE checkins DROP CONSTRAINT checkins_notice_id_fkey;
ALTER TABLE checkins DROP CONSTRAINT checkins_kiosk_id_fkey;
ALTER TABLE checkins DROP CONSTRAINT checkins_decision_id_benefit_month_fkey;
