-- Events waiting to be published. A state change and its event are written in one
-- transaction; the relay publishes rows in id order and marks them, so an event is never
-- lost and never published before the change it announces is committed.
CREATE TABLE outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     UUID        NOT NULL UNIQUE,
    topic        TEXT        NOT NULL,
    message_key  TEXT        NOT NULL,
    payload      BYTEA       NOT NULL,
    -- W3C trace context of the span that wrote the event, so the trace continues on Kafka.
    traceparent  TEXT,
    tracestate   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);

CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
