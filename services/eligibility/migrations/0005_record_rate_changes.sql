-- Who changed the rate data, when and what: operators change the law's figures through the
-- API, and every change is kept for audit.
CREATE TABLE rate_changes (
    change_id      BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    what           TEXT        NOT NULL CHECK (what IN (
        'regional_minimum_wage', 'base_salary', 'rate', 'holiday_added', 'holiday_removed')),
    effective_from DATE        NOT NULL,
    detail         TEXT        NOT NULL,
    officer_id     TEXT        NOT NULL CHECK (officer_id <> ''),
    changed_at     TIMESTAMPTZ NOT NULL
);

-- The health-insurance contribution the fund pays for a beneficiary, in basis points of the
-- benefit (4.5%; the rate under newer decrees is unconfirmed, so it is data like the rest).
ALTER TABLE regime_rules
    ADD COLUMN health_insurance_basis_points INTEGER NOT NULL DEFAULT 450
        CHECK (health_insurance_basis_points BETWEEN 0 AND 10000);
