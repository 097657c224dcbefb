-- Corrected cards and accounts, proposed by one social-security officer and confirmed or
-- rejected by another (maker-checker).
CREATE TABLE account_corrections (
    correction_id      UUID        PRIMARY KEY,
    decision_id        TEXT        NOT NULL,
    bank_id            TEXT        NOT NULL,
    destination_kind   TEXT        NOT NULL CHECK (destination_kind IN ('card', 'account')),
    -- Sealed like transfers.destination_sealed.
    destination_sealed BYTEA       NOT NULL,
    destination_last4  TEXT        NOT NULL,
    holder_name        TEXT        NOT NULL,
    reason             TEXT        NOT NULL,
    proposed_by        TEXT        NOT NULL,
    proposed_at        TIMESTAMPTZ NOT NULL,
    state              TEXT        NOT NULL CHECK (state IN ('proposed', 'confirmed', 'rejected')),
    decided_by         TEXT,
    decided_at         TIMESTAMPTZ,
    decision_note      TEXT,
    CHECK (decided_by IS NULL OR decided_by <> proposed_by)
);

CREATE INDEX account_corrections_decision ON account_corrections (decision_id);
