//! What checkin consumes. Every message is decoded into its contract type — a payload that does
//! not decode is dead-lettered — and recorded as processed in the inbox; the effects of each
//! event arrive with the service's own issue.

use contracts::eligibility::v1::DecisionEvent;
use contracts::topics;
use messaging::{Handler, HandlerError, Inbound, decode};
use sqlx::PgConnection;

/// The topics checkin consumes, as one consumer group.
pub const TOPICS: [&str; 1] = [topics::DECISIONS];

/// The handler of every topic checkin consumes.
#[derive(Debug, Default)]
pub struct Events;

impl Handler for Events {
    async fn handle(
        &self,
        _tx: &mut PgConnection,
        message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        match message.topic {
            topics::DECISIONS => {
                let event: DecisionEvent = decode(message)?;
                tracing::debug!(event_id = ?event.meta.map(|meta| meta.event_id), "decision event received");
            }
            other => {
                return Err(HandlerError::Permanent(format!(
                    "checkin does not consume {other}"
                )));
            }
        }
        Ok(())
    }
}
