//! The decision events eligibility publishes, written to the outbox in the caller's transaction.

use chrono::{DateTime, Utc};
use contracts::common::v1::EventMeta;
use contracts::eligibility::v1::{DecisionEvent, decision_event::Change};
use contracts::topics;
use messaging::OutboxEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::wire;

/// Version of the `DecisionEvent` shape this service writes.
const SCHEMA_VERSION: u32 = 1;

/// Enqueues one change of a decision on `benefit.decisions.v1`, keyed by the decision id.
pub async fn publish(
    conn: &mut PgConnection,
    decision_id: Uuid,
    version: i64,
    change: Change,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let event_id = Uuid::now_v7();
    let subject = decision_id.to_string();
    let event = DecisionEvent {
        meta: Some(EventMeta {
            event_id: event_id.to_string(),
            occurred_at: Some(wire::timestamp(at)),
            subject_id: subject.clone(),
            schema_version: SCHEMA_VERSION,
            producer: crate::SERVICE.to_owned(),
        }),
        decision_id: subject.clone(),
        decision_version: u64::try_from(version).unwrap_or_default(),
        change: Some(change),
    };
    messaging::enqueue(
        conn,
        &OutboxEvent::new(event_id, topics::DECISIONS, &subject, &event),
    )
    .await
}
