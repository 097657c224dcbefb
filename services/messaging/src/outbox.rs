//! The transactional outbox: [`enqueue`] writes an event in the caller's transaction, and the
//! [`Relay`] publishes committed events in order and marks them.

use std::time::Duration;

use futures::future::join_all;
use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    message::OwnedHeaders,
    producer::{DeliveryFuture, FutureProducer, FutureRecord},
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
    /// The W3C `traceparent` of the trace this event belongs to, when that is not the
    /// current span's: one batch step raising events for many payments, each of which keeps
    /// its own trace. `None` takes the current span's context.
    pub traceparent: Option<String>,
}

impl OutboxEvent {
    /// An event carrying the encoding of `message`.
    pub fn new(event_id: Uuid, topic: &str, key: &str, message: &impl prost::Message) -> Self {
        Self {
            event_id,
            topic: topic.to_owned(),
            key: key.to_owned(),
            payload: message.encode_to_vec(),
            traceparent: None,
        }
    }

    /// The same event, continuing the trace `traceparent` names rather than the current
    /// span's; an empty value changes nothing.
    pub fn continuing(mut self, traceparent: &str) -> Self {
        if !traceparent.is_empty() {
            self.traceparent = Some(traceparent.to_owned());
        }
        self
    }

    /// The `traceparent` and `tracestate` stored with the event: its own trace when it names
    /// one, else the current span's. For a service that writes its outbox row in its own SQL.
    pub fn trace_context(&self) -> (Option<String>, Option<String>) {
        match &self.traceparent {
            Some(traceparent) => (Some(traceparent.clone()), None),
            None => current_trace_context(),
        }
    }
}

/// The current span's `traceparent` and `tracestate`.
fn current_trace_context() -> (Option<String>, Option<String>) {
    let headers = telemetry::headers_for_span(&tracing::Span::current());
    let find = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    (find("traceparent"), find("tracestate"))
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
    let (current_parent, current_state) = current_trace_context();
    let ids: Vec<Uuid> = events.iter().map(|event| event.event_id).collect();
    let topics: Vec<&str> = events.iter().map(|event| event.topic.as_str()).collect();
    let keys: Vec<&str> = events.iter().map(|event| event.key.as_str()).collect();
    let payloads: Vec<&[u8]> = events
        .iter()
        .map(|event| event.payload.as_slice())
        .collect();
    // An event that names its own trace takes none of the current span's state with it.
    let parents: Vec<Option<&str>> = events
        .iter()
        .map(|event| event.traceparent.as_deref().or(current_parent.as_deref()))
        .collect();
    let states: Vec<Option<&str>> = events
        .iter()
        .map(|event| match event.traceparent {
            Some(_) => None,
            None => current_state.as_deref(),
        })
        .collect();
    // WITH ORDINALITY keeps the caller's order in the identity column the relay orders by.
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, message_key, payload, traceparent, tracestate) \
         SELECT e.event_id, e.topic, e.message_key, e.payload, e.traceparent, e.tracestate \
         FROM UNNEST($1::UUID[], $2::TEXT[], $3::TEXT[], $4::BYTEA[], $5::TEXT[], $6::TEXT[]) \
              WITH ORDINALITY \
              AS e (event_id, topic, message_key, payload, traceparent, tracestate, position) \
         ORDER BY e.position",
    )
    .bind(&ids)
    .bind(&topics)
    .bind(&keys)
    .bind(&payloads)
    .bind(&parents)
    .bind(&states)
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

/// How often a busy relay counts its backlog for the `outbox_backlog` gauge; an idle one
/// knows it is empty.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// Batches one pass publishes at most before it lets go of the leadership and starts over
/// from the lowest unpublished id, where rows committed late by long transactions wait.
const BATCHES_PER_PASS: usize = 50;

/// How long to wait before enqueueing again when the producer's queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(5);

/// What one relay pass did.
struct Pass {
    published: usize,
    /// The last batch was not full: nothing was waiting when it was read.
    drained: bool,
}

/// The broker's acknowledgements of one batch, still to come.
struct Acks {
    ids: Vec<i64>,
    deliveries: Vec<tracing::instrument::Instrumented<DeliveryFuture>>,
}

impl Acks {
    /// Waits for every acknowledgement; the first refusal fails the batch.
    async fn all(self) -> Result<Vec<i64>, RelayError> {
        for delivery in join_all(self.deliveries).await {
            match delivery {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(error.into()),
                Err(_) => return Err(KafkaError::Canceled.into()),
            }
        }
        Ok(self.ids)
    }
}

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
        let mut last_backlog: Option<tokio::time::Instant> = None;
        loop {
            let stopping = stop.is_cancelled();
            match self.publish_pass().await {
                Ok(pass) => {
                    failures = 0;
                    if !pass.drained {
                        if last_backlog.is_none_or(|at| at.elapsed() >= BACKLOG_EVERY) {
                            last_backlog = Some(tokio::time::Instant::now());
                            self.report_backlog().await;
                        }
                        continue;
                    }
                    metrics::gauge!("outbox_backlog").set(0.0);
                    last_backlog = None;
                    if last_cleanup.elapsed() >= CLEANUP_EVERY {
                        last_cleanup = tokio::time::Instant::now();
                        if let Err(error) = self.delete_published().await {
                            tracing::warn!(%error, "published outbox rows not cleaned up");
                        }
                    }
                    if stopping {
                        if pass.published == 0 {
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

    /// Sets the `outbox_backlog` gauge to the rows still unpublished.
    async fn report_backlog(&self) {
        match sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&self.pool)
            .await
        {
            Ok(backlog) => metrics::gauge!("outbox_backlog").set(backlog as f64),
            Err(error) => tracing::debug!(%error, "outbox backlog not counted"),
        }
    }

    /// Publishes one batch of unpublished rows and marks them; returns how many.
    ///
    /// Rows are marked only after the broker acknowledged every record, so a relay killed
    /// in the middle publishes the batch again on restart; consumers deduplicate on the
    /// event id.
    pub async fn publish_batch(&self) -> Result<usize, RelayError> {
        let mut lock = self.pool.begin().await?;
        if !Self::lead(&mut lock).await? {
            return Ok(0);
        }
        let rows = self.unpublished(&mut lock, None).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let ids = self.produce(&rows).await?.all().await?;
        self.mark(&mut lock, &ids).await?;
        lock.commit().await?;
        Ok(ids.len())
    }

    /// Publishes batch after batch while full ones come, each produced while the
    /// acknowledgements of the one before are still on their way.
    ///
    /// Records are handed to the producer strictly in id order, and the idempotent producer
    /// keeps that order within a partition; a batch is marked only after its own
    /// acknowledgements and those of every batch before it, each in its own transaction, so
    /// a pass that fails or is killed leaves unmarked only a suffix of what it read, which
    /// the next pass publishes again.
    async fn publish_pass(&self) -> Result<Pass, RelayError> {
        // The transaction holds the leadership for the pass and nothing else.
        let mut lock = self.pool.begin().await?;
        if !Self::lead(&mut lock).await? {
            return Ok(Pass {
                published: 0,
                drained: true,
            });
        }
        let full = |rows: &[Row]| rows.len() as i64 >= self.settings.batch_size;
        let mut published = 0;
        let mut rows = self.unpublished(&mut lock, None).await?;
        let mut drained = !full(&rows);
        let mut previous: Option<Acks> = None;
        for batch in 1..=BATCHES_PER_PASS {
            let last_id = rows.last().map(|row| row.id);
            let acks = if rows.is_empty() {
                None
            } else {
                Some(self.produce(&rows).await?)
            };
            if let Some(previous) = previous.take() {
                let ids = previous.all().await?;
                self.mark_committed(&ids).await?;
                published += ids.len();
            }
            previous = acks;
            if drained || batch == BATCHES_PER_PASS {
                break;
            }
            rows = self.unpublished(&mut lock, last_id).await?;
            drained = !full(&rows);
        }
        if let Some(last) = previous {
            let ids = last.all().await?;
            self.mark_committed(&ids).await?;
            published += ids.len();
        }
        lock.commit().await?;
        Ok(Pass { published, drained })
    }

    /// Whether this relay is the one that publishes this schema for the transaction's life.
    async fn lead(lock: &mut PgConnection) -> Result<bool, sqlx::Error> {
        // One relay per schema publishes at a time, so events on one key keep their order
        // even when several instances of a service run.
        sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.outbox-relay'))",
        )
        .fetch_one(lock)
        .await
    }

    /// The next batch of unpublished rows in id order, after `after` when given.
    async fn unpublished(
        &self,
        conn: &mut PgConnection,
        after: Option<i64>,
    ) -> Result<Vec<Row>, sqlx::Error> {
        // Within a pass the rows before `after` are in flight; starting after them also
        // spares the index scan the entries of rows just published.
        sqlx::query_as(
            "SELECT id, event_id, topic, message_key, payload, traceparent, tracestate \
             FROM outbox WHERE published_at IS NULL AND ($2::BIGINT IS NULL OR id > $2) \
             ORDER BY id LIMIT $1",
        )
        .bind(self.settings.batch_size)
        .bind(after)
        .fetch_all(conn)
        .await
    }

    /// Marks `ids` as published.
    async fn mark(&self, conn: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
            .bind(ids)
            .execute(conn)
            .await?;
        metrics::counter!("outbox_published_total").increment(ids.len() as u64);
        Ok(())
    }

    /// Marks `ids` as published in a transaction of its own, so they stay marked whatever
    /// happens to the rest of the pass.
    async fn mark_committed(&self, ids: &[i64]) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        self.mark(&mut conn, ids).await
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

    /// Hands every record of `rows` to the producer, in order, and returns the
    /// acknowledgements to wait for.
    async fn produce(&self, rows: &[Row]) -> Result<Acks, KafkaError> {
        let mut deliveries = Vec::with_capacity(rows.len());
        for row in rows {
            let topic = format!("{}{}", self.topic_prefix, row.topic);
            let stored = [
                row.traceparent
                    .as_deref()
                    .map(|value| ("traceparent", value)),
                row.tracestate.as_deref().map(|value| ("tracestate", value)),
            ];
            let span = crate::spans::send(
                &topic,
                &row.event_id.to_string(),
                Some(stored.into_iter().flatten()),
            );
            let event_id = row.event_id.to_string();
            let trace = telemetry::headers_for_span(&span);
            let record_headers = headers::with_pairs(
                OwnedHeaders::new_with_capacity(3),
                std::iter::once((headers::EVENT_ID, event_id.as_str()))
                    .chain(trace.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            );
            let mut record = FutureRecord::to(&topic)
                .key(&row.message_key)
                .payload(&row.payload)
                .headers(record_headers);
            // Enqueued one after the other, never reordered: a full queue is waited out.
            let delivery = loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => break delivery,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                    }
                    Err((error, _)) => return Err(error),
                }
            };
            deliveries.push(delivery.instrument(span));
        }
        Ok(Acks {
            ids: rows.iter().map(|row| row.id).collect(),
            deliveries,
        })
    }
}
