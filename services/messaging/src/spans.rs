//! The spans of Kafka records, named and attributed as the OpenTelemetry messaging
//! conventions ask, so every producer and consumer of the system (the outbox relay, the
//! consumer loop, and clients such as the bank simulator) draws the same trace.

use rdkafka::{Message, message::BorrowedMessage};

use crate::headers;

/// The `send <topic>` PRODUCER span of one record.
///
/// With `parent` (stored trace-context headers, as the outbox keeps them) the span continues
/// that trace; without, it is a child of the current span. Put
/// [`telemetry::headers_for_span`] of it into the record so the consumer continues from it.
pub fn send<'a>(
    topic: &str,
    message_id: &str,
    parent: Option<impl IntoIterator<Item = (&'a str, &'a str)>>,
) -> tracing::Span {
    let span = tracing::info_span!(
        "kafka.send",
        otel.name = %format!("send {topic}"),
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.operation.type = "send",
        messaging.destination.name = %topic,
        messaging.message.id = %message_id,
        trace_id = tracing::field::Empty,
    );
    if let Some(parent) = parent {
        // The span is fresh, so only a filter that disables it can refuse the parent.
        let _ = telemetry::OpenTelemetrySpanExt::set_parent(
            &span,
            telemetry::context_from_headers(parent),
        );
    }
    telemetry::record_trace_id(&span);
    span
}

/// The `process <topic>` CONSUMER span of one record read by consumer group `group`,
/// continuing the trace of the record's `traceparent` header.
pub fn process(message: &BorrowedMessage<'_>, group: &str, message_id: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "kafka.process",
        otel.name = %format!("process {}", message.topic()),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.destination.name = %message.topic(),
        messaging.consumer.group.name = %group,
        messaging.destination.partition.id = message.partition(),
        messaging.kafka.offset = message.offset(),
        messaging.message.id = %message_id,
        trace_id = tracing::field::Empty,
    );
    let parent = telemetry::context_from_headers(headers::text_pairs(message.headers()));
    // The span is fresh, so only a filter that disables it can refuse the parent.
    let _ = telemetry::OpenTelemetrySpanExt::set_parent(&span, parent);
    telemetry::record_trace_id(&span);
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORED: [(&str, &str); 1] = [(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )];

    #[test]
    fn a_send_span_without_stored_context_is_a_child_of_the_current_span() {
        telemetry::init_for_tests();
        let answer = tracing::info_span!("bank answers");

        let span =
            answer.in_scope(|| send("bank.results.v1", "event-1", None::<[(&str, &str); 0]>));

        assert!(telemetry::trace_id(&answer).is_some());
        assert_eq!(telemetry::trace_id(&span), telemetry::trace_id(&answer));
    }

    #[test]
    fn a_send_span_continues_the_stored_trace_rather_than_the_current_one() {
        telemetry::init_for_tests();
        let relay = tracing::info_span!("relay pass");

        let continued = relay.in_scope(|| send("checkin.scans.v1", "event-1", Some(STORED)));

        assert_eq!(
            telemetry::trace_id(&continued).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_ne!(telemetry::trace_id(&continued), telemetry::trace_id(&relay));
    }
}
