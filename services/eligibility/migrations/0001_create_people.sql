-- People known to eligibility and every identifier they are known by. The citizen id is the
-- one identifier that names exactly one person; a legacy id or a social insurance number may
-- appear on two person rows (a mistyped citizen id creates a second row), which is exactly
-- what duplicate detection shows an officer, so those are unique per person only.
CREATE TABLE persons (
    person_id     UUID        PRIMARY KEY,
    full_name     TEXT        NOT NULL CHECK (btrim(full_name) <> ''),
    birth_date    DATE        NOT NULL,
    sex           TEXT        NOT NULL CHECK (sex IN ('male', 'female')),
    citizen_id    TEXT        NOT NULL UNIQUE CHECK (citizen_id ~ '^[0-9]{12}$'),
    province      TEXT        NOT NULL,
    registered_by TEXT        NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL
);

-- Near-duplicate search: same name and birth date, id one digit apart.
CREATE INDEX persons_name_birth ON persons (lower(full_name), birth_date);

CREATE TABLE person_identifiers (
    person_id UUID        NOT NULL REFERENCES persons,
    kind      TEXT        NOT NULL CHECK (kind IN ('legacy_id', 'social_insurance_number')),
    value     TEXT        NOT NULL,
    linked_by TEXT        NOT NULL,
    linked_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (person_id, kind, value),
    CHECK (
        (kind = 'legacy_id' AND value ~ '^[0-9]{9}$')
        OR (kind = 'social_insurance_number' AND value ~ '^[0-9]{10}$')
    )
);

CREATE INDEX person_identifiers_value ON person_identifiers (kind, value);
