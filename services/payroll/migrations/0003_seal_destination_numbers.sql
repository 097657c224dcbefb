-- Card and account numbers at rest are sealed with the vault key (AES-256-GCM), so a copy of
-- the database or a backup does not reveal them. A keyed digest (HMAC-SHA-256) stands for the
-- number where rows are compared: the "one account receives for several people" and "account
-- changed" checks. The service seals the numbers stored in clear before this migration at
-- start, then clears `destination_number`.
ALTER TABLE decisions
    ADD COLUMN destination_sealed BYTEA,
    ADD COLUMN destination_digest BYTEA CHECK (length(destination_digest) = 32),
    ALTER COLUMN destination_number DROP NOT NULL;

ALTER TABLE entitlements
    ADD COLUMN destination_sealed BYTEA,
    ADD COLUMN destination_digest BYTEA CHECK (length(destination_digest) = 32),
    ALTER COLUMN destination_number DROP NOT NULL;

DROP INDEX entitlements_destination;
CREATE INDEX entitlements_destination_digest ON entitlements (destination_digest, earned_month);
