//! The transactional outbox: [`enqueue`] writes an event in the caller's transaction, and the
//! [`Relay`] publishes committed events in order and marks them.

use std::time::Duration;

use futures::future::join_all;
use rdkafka::{
    message::OwnedHeaders,
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::headers;

/// An event to publish once the surrounding transaction commits.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// Unique per event; consumers deduplicate on it.
    pub event_id: Uuid,
    /// Destination topic.
    pub topic: String,
    /// Partition key; events with one key keep their order.
    pub key: String,
    /// Encoded protobuf message.
    pub payload: Vec<u8>,
}

impl OutboxEvent {
    /// An event carrying the encoding of `message`.
    pub fn new(event_id: Uuid, topic: &str, key: &str, message: &impl prost::Message) -> Self {
        Self {
            event_id,
            topic: topic.to_owned(),
            key: key.to_owned(),
            payload: message.encode_to_vec(),
        }
    }
}

/// Writes `event` in the caller's transaction, with the current span's trace context.
///
/// Call it after the state change it announces, in the same transaction: rows on one key
/// then get ids in commit order, which is the order the relay publishes them in.
pub async fn enqueue(conn: &mut PgConnection, event: &OutboxEvent) -> Result<(), sqlx::Error> {
    enqueue_all(conn, std::slice::from_ref(event)).await
}

/// Writes `events` in the caller's transaction in one statement, in the given order, each
/// with the current span's trace context; for the thousands of events one change can raise.
pub async fn enqueue_all(
    conn: &mut PgConnection,
    events: &[OutboxEvent],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let trace = telemetry::headers_for_span(&tracing::Span::current());
    let find = |name: &str| {
        trace
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let ids: Vec<Uuid> = events.iter().map(|event| event.event_id).collect();
    let topics: Vec<&str> = events.iter().map(|event| event.topic.as_str()).collect();
    let keys: Vec<&str> = events.iter().map(|event| event.key.as_str()).collect();
    let payloads: Vec<&[u8]> = events
        .iter()
        .map(|event| event.payload.as_slice())
        .collect();
    // WITH ORDINALITY keeps the caller's order in the identity column the relay orders by.
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, message_key, payload, traceparent, tracestate) \
         SELECT e.event_id, e.topic, e.message_key, e.payload, $5, $6 \
         FROM UNNEST($1::UUID[], $2::TEXT[], $3::TEXT[], $4::BYTEA[]) WITH ORDINALITY \
              AS e (event_id, topic, message_key, payload, position) \
         ORDER BY e.position",
    )
    .bind(&ids)
    .bind(&topics)
    .bind(&keys)
    .bind(&payloads)
    .bind(find("traceparent"))
    .bind(find("tracestate"))
    .execute(conn)
    .await?;
    Ok(())
}

/// How the relay batches and waits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RelaySettings {
    /// Rows published per transaction.
    pub batch_size: i64,
    /// How long to sleep when the outbox is empty.
    pub poll_interval_ms: u64,
    /// How long published rows are kept for audit before the relay deletes them.
    pub retention_hours: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch_size: 1_000,
            poll_interval_ms: 20,
            retention_hours: 24 * 7,
        }
    }
}

/// Why a relay pass failed; the rows stay unpublished and the next pass tries again.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The outbox could not be read or marked.
    #[error("outbox database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The broker did not acknowledge every record of the batch.
    #[error("broker did not acknowledge the batch: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    event_id: Uuid,
    topic: String,
    message_key: String,
    payload: Vec<u8>,
    traceparent: Option<String>,
    tracestate: Option<String>,
}

/// Publishes the outbox of one schema.
pub struct Relay {
    pool: PgPool,
    producer: FutureProducer,
    settings: RelaySettings,
    topic_prefix: String,
}

/// Failed passes in a row after which a stopping relay leaves the rest for the next start.
const ATTEMPTS_WHEN_STOPPING: u32 = 3;

/// How often an idle relay deletes rows past their retention.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);

impl Relay {
    /// A relay over `pool`'s outbox table.
    pub fn new(pool: PgPool, producer: FutureProducer, settings: RelaySettings) -> Self {
        Self {
            pool,
            producer,
            settings,
            topic_prefix: String::new(),
        }
    }

    /// Publishes to `<prefix><topic>` (see `KafkaSettings::topic_prefix`).
    pub fn with_topic_prefix(mut self, prefix: &str) -> Self {
        self.topic_prefix = prefix.to_owned();
        self
    }

    /// Publishes until `stop` is cancelled, then flushes what is left and returns.
    pub async fn run(self, stop: CancellationToken) {
        let mut failures = 0u32;
        let mut last_cleanup = tokio::time::Instant::now();
        loop {
            let stopping = stop.is_cancelled();
            match self.publish_batch().await {
                Ok(published) => {
                    failures = 0;
                    if published as i64 >= self.settings.batch_size {
                        continue;
                    }
                    metrics::gauge!("outbox_backlog").set(0.0);
                    if last_cleanup.elapsed() >= CLEANUP_EVERY {
                        last_cleanup = tokio::time::Instant::now();
                        if let Err(error) = self.delete_published().await {
                            tracing::warn!(%error, "published outbox rows not cleaned up");
                        }
                    }
                    if stopping {
                        if published == 0 {
                            tracing::info!("outbox flushed");
                            return;
                        }
                        continue;
                    }
                    let idle = Duration::from_millis(self.settings.poll_interval_ms);
                    tokio::select! {
                        () = tokio::time::sleep(idle) => {}
                        () = stop.cancelled() => {}
                    }
                }
                Err(error) => {
                    failures += 1;
                    metrics::counter!("outbox_relay_failures_total").increment(1);
                    tracing::warn!(%error, failures, "outbox relay pass failed");
                    if stopping && failures >= ATTEMPTS_WHEN_STOPPING {
                        tracing::warn!("outbox not flushed; the next start publishes the rest");
                        return;
                    }
                    let backoff = Duration::from_millis(100 * u64::from(failures.min(50)));
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = stop.cancelled(), if !stopping => {}
                    }
                }
            }
        }
    }

    /// Publishes one batch of unpublished rows and marks them; returns how many.
    ///
    /// Rows are marked only after the broker acknowledged every record, so a relay killed
    /// in the middle publishes the batch again on restart; consumers deduplicate on the
    /// event id.
    pub async fn publish_batch(&self) -> Result<usize, RelayError> {
        let mut tx = self.pool.begin().await?;
        // One relay per schema publishes at a time, so events on one key keep their order
        // even when several instances of a service run.
        let leader: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.outbox-relay'))",
        )
        .fetch_one(&mut *tx)
        .await?;
        if !leader {
            return Ok(0);
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, event_id, topic, message_key, payload, traceparent, tracestate \
             FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(self.settings.batch_size)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }

        let deliveries = rows.iter().map(|row| self.send(row));
        for delivery in join_all(deliveries).await {
            delivery?;
        }

        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        metrics::counter!("outbox_published_total").increment(rows.len() as u64);
        if rows.len() as i64 >= self.settings.batch_size {
            // Only a full batch can leave a backlog; counting it then is worth the query.
            let backlog: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    .fetch_one(&self.pool)
                    .await?;
            metrics::gauge!("outbox_backlog").set(backlog as f64);
        }
        Ok(rows.len())
    }

    /// Deletes rows published longer ago than the retention; returns how many.
    pub async fn delete_published(&self) -> Result<u64, sqlx::Error> {
        let retention = i64::try_from(self.settings.retention_hours).unwrap_or(i64::MAX);
        let deleted = sqlx::query(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(hours => $1::int)",
        )
        .bind(retention.min(i64::from(i32::MAX)))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if deleted > 0 {
            tracing::info!(deleted, "published outbox rows past retention deleted");
        }
        Ok(deleted)
    }

    async fn send(&self, row: &Row) -> Result<(), rdkafka::error::KafkaError> {
        let topic = format!("{}{}", self.topic_prefix, row.topic);
        let span = tracing::info_span!(
            "kafka.send",
            otel.name = %format!("send {topic}"),
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.operation.type = "send",
            messaging.destination.name = %topic,
            messaging.message.id = %row.event_id,
            trace_id = tracing::field::Empty,
        );
        let stored = [
            row.traceparent
                .as_deref()
                .map(|value| ("traceparent", value)),
            row.tracestate.as_deref().map(|value| ("tracestate", value)),
        ];
        let parent = telemetry::context_from_headers(stored.into_iter().flatten());
        // The span is fresh, so only a filter that disables it can refuse the parent.
        let _ = telemetry::OpenTelemetrySpanExt::set_parent(&span, parent);
        telemetry::record_trace_id(&span);

        let event_id = row.event_id.to_string();
        let trace = telemetry::headers_for_span(&span);
        let record_headers = headers::with_pairs(
            OwnedHeaders::new_with_capacity(3),
            std::iter::once((headers::EVENT_ID, event_id.as_str()))
                .chain(trace.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        let record = FutureRecord::to(&topic)
            .key(&row.message_key)
            .payload(&row.payload)
            .headers(record_headers);
        self.producer
            .send(record, Timeout::After(Duration::from_secs(30)))
            .instrument(span)
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}
