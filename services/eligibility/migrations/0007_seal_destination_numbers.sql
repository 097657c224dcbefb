-- Card and account numbers are sealed at rest (AES-256-GCM under the service's vault key) so a
-- copy of the database or a backup does not reveal them. Only the last four digits stay in
-- clear, for officers.
--
-- SQL cannot seal under a key it does not hold: numbers stored before this migration move to
-- `destination_unsealed` and the service seals them when it starts, before it serves, leaving
-- that column empty. Exactly one of the two columns holds the number.
ALTER TABLE claims
    ADD COLUMN destination_sealed   BYTEA,
    ADD COLUMN destination_unsealed BYTEA,
    ADD COLUMN destination_last4    TEXT NOT NULL DEFAULT '';
UPDATE claims
   SET destination_unsealed = convert_to(destination_number, 'UTF8'),
       destination_last4 = right(destination_number, 4);
ALTER TABLE claims
    DROP COLUMN destination_number,
    ADD CONSTRAINT claims_destination_held_once
        CHECK ((destination_sealed IS NULL) <> (destination_unsealed IS NULL));

ALTER TABLE decisions
    ADD COLUMN destination_sealed   BYTEA,
    ADD COLUMN destination_unsealed BYTEA,
    ADD COLUMN destination_last4    TEXT NOT NULL DEFAULT '';
UPDATE decisions
   SET destination_unsealed = convert_to(destination_number, 'UTF8'),
       destination_last4 = right(destination_number, 4);
ALTER TABLE decisions
    DROP COLUMN destination_number,
    ADD CONSTRAINT decisions_destination_held_once
        CHECK ((destination_sealed IS NULL) <> (destination_unsealed IS NULL));

-- Rows still waiting to be sealed, found at start without a scan.
CREATE INDEX claims_destination_unsealed ON claims (claim_id) WHERE destination_unsealed IS NOT NULL;
CREATE INDEX decisions_destination_unsealed ON decisions (decision_id)
    WHERE destination_unsealed IS NOT NULL;
