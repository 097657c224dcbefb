-- Claims as registered by job-centre officers, each with the evaluation that was shown.
CREATE TABLE claims (
    claim_id              UUID        PRIMARY KEY,
    person_id             UUID        NOT NULL REFERENCES persons,
    status                TEXT        NOT NULL CHECK (status IN (
        'awaiting_approval', 'not_eligible', 'held_duplicate', 'approved', 'rejected')),
    termination_date      DATE        NOT NULL,
    end_reason            INTEGER     NOT NULL,
    last_contract_type    TEXT        NOT NULL
        CHECK (last_contract_type IN ('indefinite', 'fixed_term', 'short_term', 'seasonal')),
    filing_date           DATE        NOT NULL,
    qualifies_for_pension BOOLEAN     NOT NULL,
    bank_id               TEXT        NOT NULL,
    destination_kind      INTEGER     NOT NULL,
    destination_number    TEXT        NOT NULL,
    holder_name           TEXT        NOT NULL,
    province              TEXT        NOT NULL,
    centre_id             TEXT        NOT NULL,
    registered_by         TEXT        NOT NULL,
    registered_at         TIMESTAMPTZ NOT NULL,
    -- The evaluation: key figures as columns, the full reasoning as the encoded
    -- benefit.eligibility.v1.Assessment the officer saw.
    eligible              BOOLEAN     NOT NULL,
    monthly_amount_dong   BIGINT      NOT NULL CHECK (monthly_amount_dong >= 0),
    benefit_months        INTEGER     NOT NULL CHECK (benefit_months >= 0),
    reserved_months       INTEGER     NOT NULL CHECK (reserved_months >= 0),
    start_date            DATE        NOT NULL,
    assessment            BYTEA       NOT NULL,
    decided_by            TEXT,
    decided_at            TIMESTAMPTZ,
    rejection_reason      TEXT
);

CREATE INDEX claims_person ON claims (person_id);

-- Claims held because another person record, claim or decision may be the same person.
CREATE TABLE duplicate_holds (
    hold_id             UUID        PRIMARY KEY,
    claim_id            UUID        NOT NULL UNIQUE REFERENCES claims,
    matched_person_id   UUID        NOT NULL REFERENCES persons,
    matched_decision_id UUID,
    match_kind          TEXT        NOT NULL CHECK (match_kind IN (
        'exact_id', 'linked_legacy_id', 'same_social_insurance_number', 'near_id')),
    held_at             TIMESTAMPTZ NOT NULL,
    resolution          TEXT        CHECK (resolution IN ('same_person', 'different_person')),
    resolved_by         TEXT,
    resolved_at         TIMESTAMPTZ,
    note                TEXT
);

-- Benefit decisions and their state.
CREATE TABLE decisions (
    decision_id           UUID        PRIMARY KEY,
    decision_number       TEXT        NOT NULL UNIQUE,
    claim_id              UUID        NOT NULL UNIQUE REFERENCES claims,
    person_id             UUID        NOT NULL REFERENCES persons,
    state                 TEXT        NOT NULL
        CHECK (state IN ('active', 'suspended', 'terminated', 'completed')),
    -- Rises by one with every change; published as decision_version.
    version               BIGINT      NOT NULL,
    monthly_amount_dong   BIGINT      NOT NULL CHECK (monthly_amount_dong > 0),
    months                INTEGER     NOT NULL CHECK (months > 0),
    start_date            DATE        NOT NULL,
    end_date              DATE        NOT NULL,
    -- The day employment ended: it selects the regime the decision's life follows.
    employment_ended_on   DATE        NOT NULL,
    handover_date         DATE        NOT NULL,
    bank_id               TEXT        NOT NULL,
    destination_kind      INTEGER     NOT NULL,
    destination_number    TEXT        NOT NULL,
    holder_name           TEXT        NOT NULL,
    province              TEXT        NOT NULL,
    centre_id             TEXT        NOT NULL,
    approved_by           TEXT        NOT NULL,
    approved_at           TIMESTAMPTZ NOT NULL,
    termination_reason    INTEGER,
    terminated_effective  DATE
);

-- A person holds at most one live decision (Law 74/2025): the database refuses a second.
CREATE UNIQUE INDEX decisions_one_live_per_person
    ON decisions (person_id) WHERE state IN ('active', 'suspended');

CREATE TABLE decision_months (
    decision_id   UUID    NOT NULL REFERENCES decisions,
    benefit_month INTEGER NOT NULL CHECK (benefit_month > 0),
    first_day     DATE    NOT NULL,
    last_day      DATE    NOT NULL,
    opens_on      DATE    NOT NULL,
    closes_on     DATE    NOT NULL,
    status        TEXT    NOT NULL
        CHECK (status IN ('pending', 'checked_in', 'suspended', 'cancelled')),
    PRIMARY KEY (decision_id, benefit_month)
);

-- Every change of a decision, oldest first; version matches the published decision_version.
CREATE TABLE decision_history (
    decision_id        UUID        NOT NULL REFERENCES decisions,
    version            BIGINT      NOT NULL,
    kind               TEXT        NOT NULL CHECK (kind IN (
        'activated', 'month_suspended', 'resumed', 'terminated', 'bank_destination_changed')),
    at                 TIMESTAMPTZ NOT NULL,
    benefit_month      INTEGER,
    termination_reason INTEGER,
    effective_date     DATE,
    officer_id         TEXT,
    note               TEXT        NOT NULL DEFAULT '',
    PRIMARY KEY (decision_id, version)
);

-- Contribution months kept for a future claim, and where they came from.
CREATE TABLE reserved_months (
    person_id   UUID    NOT NULL REFERENCES persons,
    decision_id UUID    NOT NULL REFERENCES decisions,
    reason      TEXT    NOT NULL CHECK (reason IN ('above_converted', 'unused_benefit_months')),
    months      INTEGER NOT NULL CHECK (months >= 0),
    reserved_on DATE    NOT NULL,
    PRIMARY KEY (decision_id, reason)
);

CREATE INDEX reserved_months_person ON reserved_months (person_id);
