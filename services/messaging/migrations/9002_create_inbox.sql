-- Messages a consumer group has handled, written in the same transaction as their effect:
-- a redelivered message finds its row and changes nothing.
CREATE TABLE inbox (
    consumer_group TEXT        NOT NULL,
    -- The producer's event id header, or topic/partition/offset when a foreign producer
    -- sent none.
    message_id     TEXT        NOT NULL,
    topic          TEXT        NOT NULL,
    outcome        TEXT        NOT NULL CHECK (outcome IN ('processed', 'dead_lettered')),
    processed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, message_id)
);
