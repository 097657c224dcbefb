//! What payroll consumes. Every message is decoded into its contract type — a payload that does
//! not decode is dead-lettered — and recorded as processed in the inbox; the effects of each
//! event arrive with the service's own issue.

use contracts::topics;
use contracts::{
    checkin::v1::CheckinEvent, eligibility::v1::DecisionEvent, transfer::v1::TransferOutcome,
};
use messaging::{Handler, HandlerError, Inbound, decode};
use sqlx::PgConnection;

/// The topics payroll consumes, as one consumer group.
pub const TOPICS: [&str; 3] = [
    topics::CHECKIN_SCANS,
    topics::DECISIONS,
    topics::TRANSFER_OUTCOMES,
];

/// The handler of every topic payroll consumes.
#[derive(Debug, Default)]
pub struct Events;

impl Handler for Events {
    async fn handle(
        &self,
        _tx: &mut PgConnection,
        message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        match message.topic {
            topics::CHECKIN_SCANS => {
                let event: CheckinEvent = decode(message)?;
                tracing::debug!(event_id = ?event.meta.map(|meta| meta.event_id), "check-in event received");
            }
            topics::DECISIONS => {
                let event: DecisionEvent = decode(message)?;
                tracing::debug!(event_id = ?event.meta.map(|meta| meta.event_id), "decision event received");
            }
            topics::TRANSFER_OUTCOMES => {
                let event: TransferOutcome = decode(message)?;
                tracing::debug!(event_id = ?event.meta.map(|meta| meta.event_id), "transfer outcome received");
            }
            other => {
                return Err(HandlerError::Permanent(format!(
                    "payroll does not consume {other}"
                )));
            }
        }
        Ok(())
    }
}
