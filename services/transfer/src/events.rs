//! What transfer consumes. Every message is decoded into its contract type — a payload that does
//! not decode is dead-lettered — and recorded as processed in the inbox; the effects of each
//! event arrive with the service's own issue.

use contracts::topics;
use contracts::{
    bank::v1::BankResult, eligibility::v1::DecisionEvent, payroll::v1::PaymentListChunk,
};
use messaging::{Handler, HandlerError, Inbound, decode};
use sqlx::PgConnection;

/// The topics transfer consumes, as one consumer group.
pub const TOPICS: [&str; 3] = [
    topics::PAYMENT_LISTS,
    topics::DECISIONS,
    topics::BANK_RESULTS,
];

/// The handler of every topic transfer consumes.
#[derive(Debug, Default)]
pub struct Events;

impl Handler for Events {
    async fn handle(
        &self,
        _tx: &mut PgConnection,
        message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        match message.topic {
            topics::PAYMENT_LISTS => {
                let event: PaymentListChunk = decode(message)?;
                tracing::debug!(event_id = ?event.meta.map(|meta| meta.event_id), "payment list chunk received");
            }
            topics::DECISIONS => {
                let event: DecisionEvent = decode(message)?;
                tracing::debug!(event_id = ?event.meta.map(|meta| meta.event_id), "decision event received");
            }
            topics::BANK_RESULTS => {
                let event: BankResult = decode(message)?;
                tracing::debug!(event_id = ?event.meta.map(|meta| meta.event_id), "bank result received");
            }
            other => {
                return Err(HandlerError::Permanent(format!(
                    "transfer does not consume {other}"
                )));
            }
        }
        Ok(())
    }
}
