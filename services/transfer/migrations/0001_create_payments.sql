-- Approved lists as they arrive in chunks, and what became of each: accepted (paid line by
-- line) or refused whole. A refused list is an alert an operator must see.
CREATE TABLE payment_lists (
    list_id        TEXT        PRIMARY KEY,
    province       TEXT        NOT NULL,
    chunk_count    INTEGER     NOT NULL CHECK (chunk_count > 0),
    state          TEXT        NOT NULL CHECK (state IN ('receiving', 'accepted', 'refused')),
    first_chunk_at TIMESTAMPTZ NOT NULL,
    decided_at     TIMESTAMPTZ,
    -- First day of the calendar month (Vietnam time) the list was accepted in, for
    -- reconciliation by month.
    month          DATE,
    refusal_reason TEXT,
    refusal_detail TEXT,
    CHECK ((state = 'refused') = (refusal_reason IS NOT NULL))
);

CREATE INDEX payment_lists_receiving ON payment_lists (first_chunk_at) WHERE state = 'receiving';
CREATE INDEX payment_lists_refused ON payment_lists (decided_at DESC, list_id) WHERE state = 'refused';

-- The encoded chunks of lists not yet decided; verification needs them all.
CREATE TABLE list_chunks (
    list_id     TEXT        NOT NULL REFERENCES payment_lists (list_id),
    chunk_index INTEGER     NOT NULL CHECK (chunk_index >= 0),
    payload     BYTEA       NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (list_id, chunk_index)
);

-- What each accepted list approved per bank: the left side of reconciliation, fixed at
-- acceptance so that nothing later can change it.
CREATE TABLE list_approvals (
    list_id        TEXT   NOT NULL REFERENCES payment_lists (list_id),
    bank_id        TEXT   NOT NULL,
    approved_count BIGINT NOT NULL CHECK (approved_count > 0),
    approved_dong  BIGINT NOT NULL CHECK (approved_dong > 0),
    PRIMARY KEY (list_id, bank_id)
);

-- One payment per entitlement, ever: a second list carrying the same entitlement pays
-- nothing for it.
CREATE TABLE payments (
    entitlement_id   TEXT        PRIMARY KEY,
    list_id          TEXT        NOT NULL REFERENCES payment_lists (list_id),
    decision_id      TEXT        NOT NULL,
    benefit_month    INTEGER     NOT NULL,
    amount_dong      BIGINT      NOT NULL CHECK (amount_dong > 0),
    -- The bank of the approved line; reconciliation counts the payment there even when a
    -- correction moved it to another bank.
    approved_bank_id TEXT        NOT NULL,
    state            TEXT        NOT NULL
        CHECK (state IN ('in_flight', 'paid', 'parked', 'failed', 'retrying')),
    current_attempt  INTEGER     NOT NULL CHECK (current_attempt BETWEEN 1 AND 999),
    reason_code      TEXT        NOT NULL DEFAULT '',
    retry_at         TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX payments_retry_due ON payments (retry_at) WHERE state = 'retrying';
CREATE INDEX payments_parked ON payments (decision_id) WHERE state = 'parked';
CREATE INDEX payments_list ON payments (list_id);

-- One row per attempt at paying an entitlement, each under its own end-to-end id.
CREATE TABLE transfers (
    end_to_end_id      TEXT        PRIMARY KEY CHECK (length(end_to_end_id) BETWEEN 1 AND 35),
    entitlement_id     TEXT        NOT NULL REFERENCES payments (entitlement_id),
    attempt            INTEGER     NOT NULL CHECK (attempt BETWEEN 1 AND 999),
    bank_id            TEXT        NOT NULL,
    destination_kind   TEXT        NOT NULL CHECK (destination_kind IN ('card', 'account')),
    -- The card or account number sealed with AES-256-GCM (PCI DSS); only its last 4 digits
    -- are kept in clear, for officers.
    destination_sealed BYTEA       NOT NULL,
    destination_last4  TEXT        NOT NULL,
    holder_name        TEXT        NOT NULL,
    amount_dong        BIGINT      NOT NULL CHECK (amount_dong > 0),
    state              TEXT        NOT NULL
        CHECK (state IN ('in_flight', 'paid', 'parked', 'failed', 'retrying')),
    reason_code        TEXT        NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (entitlement_id, attempt)
);

-- The database, not the code, makes a second credited payment of one entitlement impossible,
-- and keeps at most one attempt at the bank at a time.
CREATE UNIQUE INDEX transfers_one_paid_per_entitlement ON transfers (entitlement_id)
    WHERE state = 'paid';
CREATE UNIQUE INDEX transfers_one_in_flight_per_entitlement ON transfers (entitlement_id)
    WHERE state = 'in_flight';

-- Every status a transfer went through, for audit and GetTransfer.
CREATE TABLE transfer_history (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    end_to_end_id TEXT        NOT NULL REFERENCES transfers (end_to_end_id),
    state         TEXT        NOT NULL,
    reason_code   TEXT        NOT NULL DEFAULT '',
    at            TIMESTAMPTZ NOT NULL
);

CREATE INDEX transfer_history_transfer ON transfer_history (end_to_end_id, id);
