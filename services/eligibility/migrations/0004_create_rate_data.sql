-- The law's rates and thresholds as dated data that operators change; the service reads them
-- into its rate book at start. Seeded with the values published for Vietnam (the same as
-- RateBook::vietnam_defaults, which a test checks).

-- Every threshold of one regime, in force from effective_from until the next row.
CREATE TABLE regime_rules (
    effective_from                                DATE     PRIMARY KEY,
    regime                                        TEXT     NOT NULL CHECK (regime IN ('2013', '2025')),
    benefit_basis_points                          INTEGER  NOT NULL CHECK (benefit_basis_points BETWEEN 0 AND 10000),
    salary_months_averaged                        INTEGER  NOT NULL CHECK (salary_months_averaged > 0),
    averaging                                     TEXT     NOT NULL
        CHECK (averaging IN ('last_months_with_contributions', 'consecutive_months_before_termination')),
    regional_cap_multiplier                       INTEGER  NOT NULL CHECK (regional_cap_multiplier > 0),
    state_scale_cap_multiplier                    INTEGER  CHECK (state_scale_cap_multiplier > 0),
    cap_read_at                                   TEXT     NOT NULL
        CHECK (cap_read_at IN ('last_contribution_month', 'termination_date')),
    minimum_contribution_months                   INTEGER  NOT NULL CHECK (minimum_contribution_months > 0),
    standard_window_months                        INTEGER  NOT NULL CHECK (standard_window_months > 0),
    short_contract_window_months                  INTEGER  NOT NULL CHECK (short_contract_window_months > 0),
    short_contract_months_from                    INTEGER  NOT NULL CHECK (short_contract_months_from >= 0),
    short_contract_months_until                   INTEGER  NOT NULL CHECK (short_contract_months_until >= short_contract_months_from),
    filing_limit_months                           INTEGER  NOT NULL CHECK (filing_limit_months >= 0),
    start_working_day                             INTEGER  NOT NULL CHECK (start_working_day >= 0),
    disqualifying_window_working_days             INTEGER  NOT NULL CHECK (disqualifying_window_working_days >= 0),
    pension_bar                                   TEXT     NOT NULL
        CHECK (pension_bar IN ('when_entitled_to_pension', 'when_receiving_pension_or_incapacity_allowance')),
    base_benefit_months                           INTEGER  NOT NULL CHECK (base_benefit_months >= 0),
    base_contribution_months                      INTEGER  NOT NULL CHECK (base_contribution_months >= 0),
    contribution_months_per_extra_benefit_month   INTEGER  NOT NULL CHECK (contribution_months_per_extra_benefit_month > 0),
    max_benefit_months                            INTEGER  NOT NULL CHECK (max_benefit_months >= 0),
    contribution_months_per_unused_benefit_month  INTEGER  NOT NULL CHECK (contribution_months_per_unused_benefit_month >= 0),
    check_in_working_days                         INTEGER  NOT NULL CHECK (check_in_working_days >= 0),
    first_payment_working_days                    INTEGER  NOT NULL CHECK (first_payment_working_days >= 0),
    later_payment_working_days                    INTEGER  NOT NULL CHECK (later_payment_working_days >= 0),
    later_payment_from_day_of_benefit_month       INTEGER  NOT NULL CHECK (later_payment_from_day_of_benefit_month > 0),
    consecutive_missed_months_to_terminate        INTEGER  NOT NULL CHECK (consecutive_missed_months_to_terminate > 0),
    source                                        TEXT     NOT NULL
);

CREATE TABLE regional_minimum_wages (
    effective_from DATE     NOT NULL,
    region         SMALLINT NOT NULL CHECK (region BETWEEN 1 AND 4),
    amount_dong    BIGINT   NOT NULL CHECK (amount_dong > 0),
    source         TEXT     NOT NULL,
    PRIMARY KEY (effective_from, region)
);

CREATE TABLE base_salaries (
    effective_from DATE   PRIMARY KEY,
    amount_dong    BIGINT NOT NULL CHECK (amount_dong > 0),
    source         TEXT   NOT NULL
);

-- Public holidays (days off even on a weekday) and weekend days worked to make up a bridge.
CREATE TABLE holidays (
    day  DATE PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE make_up_working_days (
    day  DATE PRIMARY KEY,
    name TEXT NOT NULL
);

INSERT INTO regime_rules VALUES
    -- Law 38/2013 (unemployment-insurance chapter in force 2015-01-01), Decree 28/2015 as
    -- amended by Decree 61/2020.
    ('2015-01-01', '2013', 6000, 6, 'consecutive_months_before_termination', 5, 5,
     'last_contribution_month', 12, 24, 36, 3, 12, 3, 16, 15,
     'when_receiving_pension_or_incapacity_allowance', 3, 36, 12, 12, 12, 3, 5, 5, 7, 3,
     'Law 38/2013/QH13; Decree 28/2015/ND-CP; Decree 61/2020/ND-CP'),
    -- Law 74/2025 with Decree 374/2025.
    ('2026-01-01', '2025', 6000, 6, 'last_months_with_contributions', 5, NULL,
     'last_contribution_month', 12, 24, 36, 1, 12, 3, 11, 10,
     'when_entitled_to_pension', 3, 36, 12, 12, 12, 3, 5, 5, 7, 3,
     'Law 74/2025/QH15; Decree 374/2025/ND-CP');

INSERT INTO regional_minimum_wages VALUES
    ('2024-07-01', 1, 4960000, 'Decree 74/2024/ND-CP'),
    ('2024-07-01', 2, 4410000, 'Decree 74/2024/ND-CP'),
    ('2024-07-01', 3, 3860000, 'Decree 74/2024/ND-CP'),
    ('2024-07-01', 4, 3450000, 'Decree 74/2024/ND-CP'),
    ('2026-01-01', 1, 5310000, 'Decree 293/2025/ND-CP'),
    ('2026-01-01', 2, 4730000, 'Decree 293/2025/ND-CP'),
    ('2026-01-01', 3, 4140000, 'Decree 293/2025/ND-CP'),
    ('2026-01-01', 4, 3700000, 'Decree 293/2025/ND-CP');

INSERT INTO base_salaries VALUES
    ('2024-07-01', 2340000, 'Decree 73/2024/ND-CP'),
    ('2026-07-01', 2530000, 'published base salary from 2026-07-01');

INSERT INTO holidays VALUES
    ('2024-01-01', 'New Year'),
    ('2024-02-08', 'Tết Nguyên Đán'),
    ('2024-02-09', 'Tết Nguyên Đán'),
    ('2024-02-12', 'Tết Nguyên Đán'),
    ('2024-02-13', 'Tết Nguyên Đán'),
    ('2024-02-14', 'Tết Nguyên Đán'),
    ('2024-04-18', 'Hùng Kings Commemoration'),
    ('2024-04-29', 'bridge day'),
    ('2024-04-30', 'Reunification Day'),
    ('2024-05-01', 'Labour Day'),
    ('2024-09-02', 'National Day'),
    ('2024-09-03', 'National Day'),
    ('2025-01-01', 'New Year'),
    ('2025-01-27', 'Tết Nguyên Đán'),
    ('2025-01-28', 'Tết Nguyên Đán'),
    ('2025-01-29', 'Tết Nguyên Đán'),
    ('2025-01-30', 'Tết Nguyên Đán'),
    ('2025-01-31', 'Tết Nguyên Đán'),
    ('2025-04-07', 'Hùng Kings Commemoration'),
    ('2025-04-30', 'Reunification Day'),
    ('2025-05-01', 'Labour Day'),
    ('2025-05-02', 'bridge day'),
    ('2025-09-01', 'National Day'),
    ('2025-09-02', 'National Day'),
    ('2026-01-01', 'New Year'),
    ('2026-02-16', 'Tết Nguyên Đán'),
    ('2026-02-17', 'Tết Nguyên Đán'),
    ('2026-02-18', 'Tết Nguyên Đán'),
    ('2026-02-19', 'Tết Nguyên Đán'),
    ('2026-02-20', 'Tết Nguyên Đán'),
    ('2026-04-27', 'Hùng Kings Commemoration (in lieu of Sunday 26 April)'),
    ('2026-04-30', 'Reunification Day'),
    ('2026-05-01', 'Labour Day'),
    ('2026-09-01', 'National Day'),
    ('2026-09-02', 'National Day');

INSERT INTO make_up_working_days VALUES
    ('2024-05-04', 'worked to make up the 29 April 2024 bridge day'),
    ('2025-04-26', 'worked to make up the 2 May 2025 bridge day');
