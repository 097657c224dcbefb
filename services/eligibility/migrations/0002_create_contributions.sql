-- Unemployment-insurance contributions as the collection system records them: one row per
-- person (social insurance number), month and employer. The natural key makes a record
-- delivered twice, or imported twice, land once.
CREATE TABLE contributions (
    social_insurance_number TEXT        NOT NULL CHECK (social_insurance_number ~ '^[0-9]{10}$'),
    month                   DATE        NOT NULL CHECK (extract(day FROM month) = 1),
    employer_id             TEXT        NOT NULL CHECK (employer_id <> ''),
    salary_dong             BIGINT      NOT NULL CHECK (salary_dong >= 0),
    contract_type           TEXT        NOT NULL
        CHECK (contract_type IN ('indefinite', 'fixed_term', 'short_term', 'seasonal')),
    region                  SMALLINT    NOT NULL CHECK (region BETWEEN 1 AND 4),
    state_salary_scale      BOOLEAN     NOT NULL DEFAULT false,
    -- Citizen or legacy id as the collection system sent it; may be empty.
    citizen_id              TEXT        NOT NULL DEFAULT '',
    -- 'topic' for contributions.v1, or the import id of a bulk load.
    source                  TEXT        NOT NULL,
    recorded_at             TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (social_insurance_number, month, employer_id)
);

-- One row per import, for audit.
CREATE TABLE contribution_imports (
    import_id     UUID        PRIMARY KEY,
    source_name   TEXT        NOT NULL,
    officer_id    TEXT        NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    rows_read     BIGINT      NOT NULL DEFAULT 0,
    rows_loaded   BIGINT      NOT NULL DEFAULT 0,
    rows_rejected BIGINT      NOT NULL DEFAULT 0
);
