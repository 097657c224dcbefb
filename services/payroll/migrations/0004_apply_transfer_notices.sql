-- Transfer's notices on `transfer.outcomes.v1`: a payment list refused whole, and a
-- destination two officers corrected after a bank refused the account.

-- A refused list keeps its header, signature and trail for the audit; its entitlements go
-- back to be cut into a new list, and the ids it held are kept here.
ALTER TABLE payment_lists
    ADD COLUMN refused_at           TIMESTAMPTZ,
    ADD COLUMN refusal_reason       TEXT,
    ADD COLUMN refusal_detail       TEXT,
    ADD COLUMN refused_entitlements UUID[];

-- How many lists carrying the entitlement were refused; past a bound it waits for an officer
-- rather than being cut again and again.
ALTER TABLE entitlements
    ADD COLUMN list_refusals INTEGER NOT NULL DEFAULT 0,
    -- The W3C traceparent of the check-in that earned it, so the payment continues its trace.
    ADD COLUMN traceparent   TEXT    NOT NULL DEFAULT '';

ALTER TABLE waiting_checkins
    ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';

-- Destination corrections applied, one row per correction: a redelivered notice changes
-- nothing. The number is sealed like every other number payroll stores.
CREATE TABLE destination_corrections (
    correction_id      TEXT        PRIMARY KEY,
    decision_id        TEXT        NOT NULL REFERENCES decisions,
    bank_id            TEXT        NOT NULL,
    destination_kind   SMALLINT    NOT NULL CHECK (destination_kind IN (1, 2)),
    destination_sealed BYTEA       NOT NULL,
    destination_digest BYTEA       NOT NULL CHECK (length(destination_digest) = 32),
    proposed_by        TEXT,
    confirmed_by       TEXT,
    applied_at         TIMESTAMPTZ NOT NULL
);
