-- A decision whose last benefit month has passed ends as completed; the change is kept in its
-- history like every other.
ALTER TABLE decision_history DROP CONSTRAINT decision_history_kind_check;
ALTER TABLE decision_history ADD CONSTRAINT decision_history_kind_check CHECK (kind IN (
    'activated', 'month_suspended', 'resumed', 'terminated', 'bank_destination_changed',
    'completed'));

-- The completion worker looks for live decisions past their end date.
CREATE INDEX decisions_live_end_date ON decisions (end_date) WHERE state IN ('active', 'suspended');
