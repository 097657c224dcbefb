//! Names of the Kafka record headers the services write and read.

use rdkafka::message::{BorrowedHeaders, Header, Headers, OwnedHeaders};

/// The producer's event id; consumers deduplicate on it.
pub const EVENT_ID: &str = "event-id";
/// Why a message was dead-lettered.
pub const DLQ_REASON: &str = "dlq-reason";
/// The topic a dead-lettered message came from.
pub const DLQ_ORIGINAL_TOPIC: &str = "dlq-original-topic";
/// The partition a dead-lettered message came from.
pub const DLQ_ORIGINAL_PARTITION: &str = "dlq-original-partition";
/// The offset a dead-lettered message had.
pub const DLQ_ORIGINAL_OFFSET: &str = "dlq-original-offset";
/// The consumer group that gave up on the message.
pub const DLQ_CONSUMER_GROUP: &str = "dlq-consumer-group";

/// The UTF-8 value of header `key`, if present and valid.
pub fn get<'a>(headers: Option<&'a BorrowedHeaders>, key: &str) -> Option<&'a str> {
    headers?
        .iter()
        .find(|header| header.key == key)
        .and_then(|header| std::str::from_utf8(header.value?).ok())
}

/// All headers with UTF-8 values, as pairs.
pub fn text_pairs(headers: Option<&BorrowedHeaders>) -> Vec<(&str, &str)> {
    let Some(headers) = headers else {
        return Vec::new();
    };
    headers
        .iter()
        .filter_map(|header| Some((header.key, std::str::from_utf8(header.value?).ok()?)))
        .collect()
}

/// Appends text headers to `headers`.
pub fn with_pairs<'a>(
    mut headers: OwnedHeaders,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> OwnedHeaders {
    for (key, value) in pairs {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    headers
}
