-- Decisions as checkin knows them from benefit.decisions.v1: enough to print a notice and
-- judge a scan without calling eligibility.
CREATE TABLE decisions (
    decision_id        TEXT        PRIMARY KEY,
    decision_number    TEXT        NOT NULL,
    beneficiary_name   TEXT        NOT NULL,
    centre_id          TEXT        NOT NULL,
    province           TEXT        NOT NULL,
    -- decision_version of the last event applied; older replays change nothing.
    version            BIGINT      NOT NULL,
    state              TEXT        NOT NULL CHECK (state IN ('active', 'suspended', 'terminated')),
    termination_reason INTEGER,
    terminated_on      DATE,
    activated_at       TIMESTAMPTZ NOT NULL
);

-- One row per benefit month. outcome is set once, when the month is settled: by a check-in
-- (scan or excuse), by the missed check-in published after its window closed, or by the
-- decision's termination. Scans and the missed check-in worker lock the row, so a month is
-- never both checked in and missed.
CREATE TABLE windows (
    decision_id   TEXT    NOT NULL REFERENCES decisions (decision_id),
    benefit_month INTEGER NOT NULL CHECK (benefit_month > 0),
    month_start   DATE    NOT NULL,
    month_end     DATE    NOT NULL CHECK (month_end >= month_start),
    opens_on      DATE    NOT NULL,
    closes_on     DATE    NOT NULL CHECK (closes_on >= opens_on),
    suspended     BOOLEAN NOT NULL DEFAULT false,
    outcome       TEXT CHECK (outcome IN ('checked_in', 'excused', 'missed', 'cancelled')),
    PRIMARY KEY (decision_id, benefit_month)
);

-- The missed check-in worker's scan: open months by closing day.
CREATE INDEX windows_unsettled ON windows (closes_on) WHERE outcome IS NULL;

-- One notice per decision; the token is what its QR code holds, the short code what an officer
-- types when the scanner fails.
CREATE TABLE notices (
    notice_id   UUID        PRIMARY KEY,
    decision_id TEXT        NOT NULL UNIQUE REFERENCES decisions (decision_id),
    key_id      TEXT        NOT NULL,
    token       TEXT        NOT NULL,
    short_code  TEXT        NOT NULL UNIQUE,
    expires_at  TIMESTAMPTZ NOT NULL,
    issued_at   TIMESTAMPTZ NOT NULL
);

-- Kiosks at job centres. Only a hash of each credential is kept.
CREATE TABLE kiosks (
    kiosk_id        UUID        PRIMARY KEY,
    centre_id       TEXT        NOT NULL,
    province        TEXT        NOT NULL,
    label           TEXT        NOT NULL,
    credential_hash BYTEA       NOT NULL UNIQUE,
    registered_by   TEXT        NOT NULL,
    registered_at   TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ,
    revoked_by      TEXT,
    revoke_reason   TEXT
);

-- Check-ins that count: one per decision and benefit month, whatever races.
CREATE TABLE checkins (
    decision_id        TEXT        NOT NULL,
    benefit_month      INTEGER     NOT NULL,
    recorded_at        TIMESTAMPTZ NOT NULL,
    payment_by         DATE        NOT NULL,
    centre_id          TEXT        NOT NULL,
    province           TEXT        NOT NULL,
    -- Set for a scan.
    notice_id          UUID REFERENCES notices (notice_id),
    kiosk_id           UUID REFERENCES kiosks (kiosk_id),
    -- Set for an excused check-in.
    excused            BOOLEAN     NOT NULL DEFAULT false,
    excuse_reason      INTEGER,
    document_reference TEXT,
    note               TEXT,
    excused_by         TEXT,
    event_id           UUID        NOT NULL UNIQUE,
    PRIMARY KEY (decision_id, benefit_month),
    FOREIGN KEY (decision_id, benefit_month) REFERENCES windows (decision_id, benefit_month),
    CHECK (excused OR (notice_id IS NOT NULL AND kiosk_id IS NOT NULL))
);

-- Months whose window closed without a check-in; one row, one published event, per month.
CREATE TABLE missed_checkins (
    decision_id   TEXT        NOT NULL,
    benefit_month INTEGER     NOT NULL,
    recorded_at   TIMESTAMPTZ NOT NULL,
    event_id      UUID        NOT NULL UNIQUE,
    PRIMARY KEY (decision_id, benefit_month),
    FOREIGN KEY (decision_id, benefit_month) REFERENCES windows (decision_id, benefit_month)
);
