-- What payroll knows of each benefit decision, from `benefit.decisions.v1`.
CREATE TABLE decisions (
    decision_id             TEXT        PRIMARY KEY,
    -- Highest decision_version applied; older or repeated versions change nothing.
    version                 BIGINT      NOT NULL,
    person_id               TEXT        NOT NULL,
    amount_dong             BIGINT      NOT NULL CHECK (amount_dong >= 0),
    months                  INTEGER     NOT NULL CHECK (months > 0),
    start_date              DATE        NOT NULL,
    province                TEXT        NOT NULL,
    bank_id                 TEXT        NOT NULL,
    destination_kind        SMALLINT    NOT NULL CHECK (destination_kind IN (1, 2)),
    destination_number      TEXT        NOT NULL,
    holder_name             TEXT        NOT NULL,
    -- Officers who proposed and confirmed the last destination change (maker-checker).
    destination_changed_by  TEXT[]      NOT NULL DEFAULT '{}',
    -- Day social security received the decision; the first month's deadline counts from it.
    received_on             DATE        NOT NULL,
    termination_reason      INTEGER,
    termination_effective   DATE,
    termination_received_at TIMESTAMPTZ
);

-- First day of each benefit month, from the decision's check-in windows.
CREATE TABLE decision_months (
    decision_id   TEXT    NOT NULL REFERENCES decisions,
    benefit_month INTEGER NOT NULL CHECK (benefit_month > 0),
    month_start   DATE    NOT NULL,
    PRIMARY KEY (decision_id, benefit_month)
);

-- Months suspended for a missed check-in: never paid.
CREATE TABLE suspended_months (
    decision_id   TEXT    NOT NULL REFERENCES decisions,
    benefit_month INTEGER NOT NULL,
    PRIMARY KEY (decision_id, benefit_month)
);

-- Check-ins that arrived before their decision; the decision's arrival turns them into
-- entitlements.
CREATE TABLE waiting_checkins (
    decision_id   TEXT        NOT NULL,
    benefit_month INTEGER     NOT NULL CHECK (benefit_month > 0),
    scanned_at    TIMESTAMPTZ NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (decision_id, benefit_month)
);

-- Signed payment lists, published on `payroll.lists.v1` in the transaction that wrote them.
CREATE TABLE payment_lists (
    list_id      UUID        PRIMARY KEY,
    province     TEXT        NOT NULL,
    line_count   BIGINT      NOT NULL CHECK (line_count > 0),
    sum_dong     BIGINT      NOT NULL CHECK (sum_dong >= 0),
    content_hash BYTEA       NOT NULL CHECK (length(content_hash) = 32),
    key_id       TEXT        NOT NULL,
    signature    BYTEA       NOT NULL CHECK (length(signature) = 64),
    chunk_count  INTEGER     NOT NULL CHECK (chunk_count > 0),
    created_at   TIMESTAMPTZ NOT NULL
);

-- How each list was created and approved.
CREATE TABLE list_approvals (
    list_id        UUID        NOT NULL REFERENCES payment_lists,
    step           INTEGER     NOT NULL,
    action         SMALLINT    NOT NULL,
    at             TIMESTAMPTZ NOT NULL,
    officer_id     TEXT,
    officer_agency SMALLINT,
    note           TEXT        NOT NULL DEFAULT '',
    PRIMARY KEY (list_id, step)
);

-- One entitlement per decision and benefit month: the database makes paying a month twice
-- impossible, whatever the redeliveries.
CREATE TABLE entitlements (
    entitlement_id     UUID        PRIMARY KEY,
    decision_id        TEXT        NOT NULL REFERENCES decisions,
    benefit_month      INTEGER     NOT NULL CHECK (benefit_month > 0),
    amount_dong        BIGINT      NOT NULL CHECK (amount_dong >= 0),
    province           TEXT        NOT NULL,
    bank_id            TEXT        NOT NULL,
    destination_kind   SMALLINT    NOT NULL CHECK (destination_kind IN (1, 2)),
    destination_number TEXT        NOT NULL,
    holder_name        TEXT        NOT NULL,
    payment_by         DATE        NOT NULL,
    -- First day of the calendar month the entitlement was earned in; "shared account" looks
    -- within it.
    earned_month       DATE        NOT NULL,
    scanned_at         TIMESTAMPTZ NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    state              TEXT        NOT NULL CHECK (state IN
                           ('pending', 'held', 'listed', 'paid', 'parked', 'failed', 'cancelled')),
    hold_reasons       SMALLINT[]  NOT NULL DEFAULT '{}',
    hold_explanation   TEXT        NOT NULL DEFAULT '',
    held_at            TIMESTAMPTZ,
    list_id            UUID        REFERENCES payment_lists,
    list_position      INTEGER,
    -- A termination arrived after the check-in for a month it still pays: an officer looks
    -- before the money goes.
    terminated_after_checkin BOOLEAN NOT NULL DEFAULT false,
    -- Transfer attempts parked or failed; a later credit counts as a re-payment.
    failed_attempts    INTEGER     NOT NULL DEFAULT 0,
    decided_by         TEXT,
    decision_note      TEXT,
    -- Set when a termination cancelled the month, also after it was listed; a payment that
    -- still arrives becomes a debt.
    termination_reason INTEGER,
    UNIQUE (decision_id, benefit_month),
    UNIQUE (list_id, list_position)
);

CREATE INDEX entitlements_pending ON entitlements (created_at, entitlement_id) WHERE state = 'pending';
CREATE INDEX entitlements_held ON entitlements (held_at, entitlement_id) WHERE state = 'held';
CREATE INDEX entitlements_destination ON entitlements (destination_number, bank_id, earned_month);

-- Money paid for a month a termination cancelled, to be recovered.
CREATE TABLE debts (
    debt_id            UUID        PRIMARY KEY,
    entitlement_id     UUID        NOT NULL UNIQUE REFERENCES entitlements,
    decision_id        TEXT        NOT NULL,
    benefit_month      INTEGER     NOT NULL,
    amount_dong        BIGINT      NOT NULL CHECK (amount_dong >= 0),
    termination_reason INTEGER     NOT NULL,
    effective_date     DATE        NOT NULL,
    state              TEXT        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'recovered', 'waived')),
    created_at         TIMESTAMPTZ NOT NULL
);

-- Check-in windows that closed without a check-in, for the monthly statistics.
CREATE TABLE missed_checkins (
    decision_id   TEXT    NOT NULL,
    benefit_month INTEGER NOT NULL,
    -- First day of the calendar month the window closed in.
    missed_month  DATE    NOT NULL,
    PRIMARY KEY (decision_id, benefit_month)
);
