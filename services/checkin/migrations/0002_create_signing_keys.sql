-- Notice signing keys by id: several verify at once, so keys rotate without invalidating
-- notices already printed. Only public halves are stored. A key that signs is either the
-- configured key itself (master_key_id = key_id) or derived from the configured key's secret
-- under its own id (master_key_id names that configured key); keys known only by their public
-- half have no master and never sign.
CREATE TABLE signing_keys (
    key_id        TEXT        PRIMARY KEY,
    public_key    BYTEA       NOT NULL CHECK (length(public_key) = 32),
    master_key_id TEXT,
    -- Creation order; the newest active key with the running master signs new notices.
    position      BIGINT      GENERATED ALWAYS AS IDENTITY UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT        NOT NULL,
    -- Retirement is final: tokens the key signed are refused from then on.
    retired_at    TIMESTAMPTZ,
    retired_by    TEXT,
    retire_reason TEXT,
    CHECK ((retired_at IS NULL) = (retired_by IS NULL))
);
