-- When an attempt still in flight passed its answer deadline with no final status from its
-- bank. Set once by the background worker, so each overdue attempt raises one alert and the
-- attempt never stays in flight unnoticed.
ALTER TABLE transfers ADD COLUMN overdue_at TIMESTAMPTZ;

CREATE INDEX transfers_awaiting_answer ON transfers (created_at)
    WHERE state = 'in_flight' AND overdue_at IS NULL;
CREATE INDEX transfers_overdue ON transfers (bank_id)
    WHERE state = 'in_flight' AND overdue_at IS NOT NULL;
