-- List signing keys: the service's policy keys and each officer's approval keys. The private
-- half is sealed with the vault key and never leaves the service.
CREATE TABLE signing_keys (
    key_id         TEXT        PRIMARY KEY,
    -- The officer whose approvals the key signs; unset for the service's policy keys.
    officer_id     TEXT        CHECK (officer_id <> ''),
    public_key     BYTEA       NOT NULL CHECK (length(public_key) = 32),
    seed_sealed    BYTEA       NOT NULL,
    state          TEXT        NOT NULL CHECK (state IN ('active', 'verify_only', 'retired')),
    created_at     TIMESTAMPTZ NOT NULL,
    created_by     TEXT,
    retired_at     TIMESTAMPTZ,
    retired_by     TEXT,
    retired_reason TEXT
);

-- One signing key per signer: rotation demotes the old key in the transaction that adds the
-- new one.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (coalesce(officer_id, ''))
    WHERE state = 'active';

-- The officer whose key signed the list; unset when the policy key signed it.
ALTER TABLE payment_lists
    ADD COLUMN signed_by_officer_id TEXT,
    ADD COLUMN signed_by_agency     SMALLINT;
