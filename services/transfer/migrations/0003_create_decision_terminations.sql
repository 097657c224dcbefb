-- What transfer keeps of `benefit.decisions.v1`: the first day of each benefit month (from
-- the activation's check-in windows) and the earliest termination of each decision, so that
-- a retry or a resend never pays a month the termination cancelled (Law 74 art. 41(4)).
CREATE TABLE decision_months (
    decision_id   TEXT    NOT NULL,
    benefit_month INTEGER NOT NULL CHECK (benefit_month > 0),
    month_start   DATE    NOT NULL,
    PRIMARY KEY (decision_id, benefit_month)
);

CREATE TABLE decision_terminations (
    decision_id    TEXT        PRIMARY KEY,
    -- The earliest effective date announced; a later, later-dated event does not move it.
    effective_date DATE        NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL
);
