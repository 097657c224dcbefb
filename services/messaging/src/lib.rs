//! Kafka for the services, written once: an idempotent producer, the transactional outbox
//! and its relay, and a consumer loop that makes at-least-once delivery have an
//! exactly-once effect.
//!
//! The contract every service follows: a state change and the event announcing it are one
//! transaction ([`outbox::enqueue`]); a consumer's effect and the record of having processed
//! the message are one transaction ([`consumer::ConsumerLoop`]); the Kafka offset is stored
//! only after that transaction commits; a message that can never be processed goes to
//! `<topic>.dlq` with the reason in a header.

pub mod admin;
pub mod consumer;
pub mod headers;
mod lag;
pub mod outbox;
mod producer;
mod settings;
pub mod spans;
mod tally;

pub use consumer::{ConsumerLoop, Handler, HandlerError, Inbound, decode};
pub use outbox::{OutboxEvent, Relay, RelaySettings, enqueue, enqueue_all};
pub use producer::idempotent_producer;
pub use settings::KafkaSettings;
pub use tally::Tally;

/// The shared tables every service's schema holds (outbox, inbox). Their versions start at
/// 9001 so they never collide with a service's own migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The dead-letter topic of `topic`.
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}
