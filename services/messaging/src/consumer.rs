//! The consumer loop: one transaction per message holding both its effect and its inbox row,
//! the offset stored only after that transaction commits, transient failures retried with
//! backoff, permanent ones dead-lettered.

use std::{collections::HashSet, future::Future, sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::FutureExt;
use rdkafka::{
    Message,
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::KafkaError,
    message::{BorrowedMessage, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    KafkaSettings, dead_letter_topic, headers,
    lag::{LagReporter, Progress},
};

/// One message as a handler sees it.
#[derive(Debug)]
pub struct Inbound<'a> {
    /// Topic it came from.
    pub topic: &'a str,
    /// Partition it came from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, if any.
    pub key: Option<&'a [u8]>,
    /// Its payload (empty when the record had none).
    pub payload: &'a [u8],
    /// The id the inbox deduplicates on: the producer's event id, or the record's position
    /// when a foreign producer sent none.
    pub message_id: String,
    /// The `process <topic>` span of this message, continuing its producer's trace. A batch
    /// handler runs once for many messages, so it writes each message's effect within this
    /// span, or continues its trace, to keep every message in its own trace.
    pub span: tracing::Span,
}

/// What the loop should do with a message that could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// It will never succeed (malformed, violates a rule): dead-letter it and go on.
    #[error("{0}")]
    Permanent(String),
    /// It may succeed later (database or broker unavailable, lock timeout): retry it.
    #[error("{0}")]
    Transient(String),
}

impl From<sqlx::Error> for HandlerError {
    fn from(error: sqlx::Error) -> Self {
        if database::is_transient(&error) {
            Self::Transient(format!("database unavailable: {error}"))
        } else {
            Self::Permanent(format!("database refused the change: {error}"))
        }
    }
}

/// Decodes a protobuf payload; a payload that does not decode is a permanent failure.
pub fn decode<M: prost::Message + Default>(message: &Inbound<'_>) -> Result<M, HandlerError> {
    M::decode(message.payload).map_err(|error| {
        HandlerError::Permanent(format!("malformed payload on {}: {error}", message.topic))
    })
}

/// A message handler. Its effect is written through `tx`, the transaction that also records
/// the message as processed, so running it twice for one message has the effect of once.
pub trait Handler: Send + Sync + 'static {
    /// Applies `message`.
    fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Inbound<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Applies `messages`, in order, all seen here for the first time, in one transaction.
    ///
    /// Override it to write a whole batch in a few statements. An error fails the whole
    /// batch: a transient one retries it, a permanent one makes the loop apply the messages
    /// one by one through [`Handler::handle`], so only the bad one is dead-lettered. The
    /// default applies each message through `handle`, within its own span.
    fn handle_batch(
        &self,
        tx: &mut PgConnection,
        messages: &[&Inbound<'_>],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async move {
            for message in messages {
                self.handle(&mut *tx, message)
                    .instrument(message.span.clone())
                    .await?;
            }
            Ok(())
        }
    }
}

/// Whether the loop goes on after a message or batch.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stopped,
}

fn count(topic: &str, outcome: Outcome) {
    metrics::counter!(
        "consumer_messages_total",
        "topic" => topic.to_owned(),
        "outcome" => outcome.label(),
    )
    .increment(1);
}

enum Outcome {
    Processed,
    Duplicate,
    DeadLettered,
    Stopped,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Duplicate => "duplicate",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Stopped => "stopped",
        }
    }
}

/// Consumes `topics` as one consumer group until stopped.
pub struct ConsumerLoop<H> {
    consumer: Arc<StreamConsumer>,
    progress: Progress,
    lag_interval: Duration,
    producer: FutureProducer,
    pool: PgPool,
    handler: H,
    group: String,
    topics: Vec<String>,
    topic_prefix: String,
    batch_size: usize,
    min_backoff: Duration,
}

impl<H: Handler> ConsumerLoop<H> {
    /// A loop for `settings.group_id` over the logical `topics` (the broker's names carry
    /// `settings.topic_prefix`); `producer` writes the dead letters.
    pub fn new(
        settings: &KafkaSettings,
        topics: &[&str],
        pool: PgPool,
        producer: FutureProducer,
        handler: H,
    ) -> Result<Self, KafkaError> {
        let mut config = settings.client_config();
        config
            .set("group.id", &settings.group_id)
            .set("enable.auto.commit", "true")
            // Offsets are stored by hand after the message's transaction commits; the
            // periodic commit then only ever commits finished work.
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        settings.apply_properties(&mut config);
        let consumer: StreamConsumer = config.create()?;
        let physical: Vec<String> = topics.iter().map(|topic| settings.topic(topic)).collect();
        let physical: Vec<&str> = physical.iter().map(String::as_str).collect();
        consumer.subscribe(&physical)?;
        Ok(Self {
            consumer: Arc::new(consumer),
            progress: Progress::default(),
            lag_interval: Duration::from_millis(settings.lag_interval_ms.max(1)),
            producer,
            pool,
            handler,
            group: settings.group_id.clone(),
            topics: topics.iter().map(|topic| (*topic).to_owned()).collect(),
            topic_prefix: settings.topic_prefix.clone(),
            batch_size: settings.batch_size.max(1),
            min_backoff: Duration::from_millis(100),
        })
    }

    /// Consumes until `stop` is cancelled; the messages in hand are finished first.
    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(group = %self.group, topics = ?self.topics, "consumer started");
        let lag = LagReporter {
            consumer: Arc::clone(&self.consumer),
            progress: self.progress.clone(),
            group: self.group.clone(),
            topic_prefix: self.topic_prefix.clone(),
            interval: self.lag_interval,
        };
        let lag_stop = stop.child_token();
        let lag_task = tokio::spawn(lag.run(lag_stop.clone()));
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => break,
                received = self.consumer.recv() => received,
            };
            let first = match received {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, group = %self.group, "kafka receive failed");
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(self.min_backoff) => continue,
                    }
                }
            };
            let mut batch = vec![first];
            // Take only what has already arrived: batching must never delay a message.
            while batch.len() < self.batch_size {
                match self.consumer.recv().now_or_never() {
                    Some(Ok(message)) => batch.push(message),
                    Some(Err(error)) => {
                        tracing::warn!(%error, group = %self.group, "kafka receive failed");
                        break;
                    }
                    None => break,
                }
            }
            if self.process_batch(&batch, &stop).await == Flow::Stopped {
                break;
            }
            for message in &batch {
                if let Err(error) = self.consumer.store_offset_from_message(message) {
                    tracing::warn!(%error, "offset not stored; the message may be seen again");
                }
                self.progress
                    .finished(message.topic(), message.partition(), message.offset());
            }
        }
        lag_stop.cancel();
        if let Err(error) = lag_task.await {
            tracing::debug!(%error, "consumer lag reporter ended abnormally");
        }
        if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing is lost: uncommitted messages come again and the inbox absorbs them.
            tracing::debug!(%error, "final offset commit skipped");
        }
        tracing::info!(group = %self.group, "consumer stopped");
    }

    /// Applies `batch` in one transaction; when one message in it fails for good, applies
    /// the messages one by one instead, so only that one is dead-lettered.
    async fn process_batch(&self, batch: &[BorrowedMessage<'_>], stop: &CancellationToken) -> Flow {
        if let [message] = batch {
            return self.process(message, stop).await;
        }
        let inbounds: Vec<Inbound<'_>> =
            batch.iter().map(|message| self.inbound(message)).collect();
        let mut delays = self.backoff();
        let mut attempt = 1u32;
        loop {
            let reason = match self.apply_all(&inbounds).await {
                Ok(outcomes) => {
                    for (inbound, outcome) in inbounds.iter().zip(outcomes) {
                        count(inbound.topic, outcome);
                    }
                    return Flow::Continue;
                }
                Err(HandlerError::Permanent(_)) => break,
                Err(HandlerError::Transient(reason)) => reason,
            };
            let delay = delays.next().unwrap_or(Duration::from_secs(10));
            tracing::warn!(
                attempt,
                messages = batch.len(),
                retry_in_ms = delay.as_millis() as u64,
                %reason,
                "batch not processed yet; retrying"
            );
            attempt += 1;
            tokio::select! {
                () = stop.cancelled() => return Flow::Stopped,
                () = tokio::time::sleep(delay) => {}
            }
        }
        for message in batch {
            if self.process(message, stop).await == Flow::Stopped {
                return Flow::Stopped;
            }
        }
        Flow::Continue
    }

    /// Every message's effect and inbox row, in one transaction: one statement records the
    /// whole batch in the inbox, and the handler's batch method runs once with the messages
    /// seen first here.
    async fn apply_all(&self, inbounds: &[Inbound<'_>]) -> Result<Vec<Outcome>, HandlerError> {
        let ids: Vec<&str> = inbounds
            .iter()
            .map(|inbound| inbound.message_id.as_str())
            .collect();
        let topics: Vec<&str> = inbounds.iter().map(|inbound| inbound.topic).collect();
        let mut tx = self.pool.begin().await?;
        let mut fresh: HashSet<String> = sqlx::query_scalar(
            "INSERT INTO inbox (consumer_group, message_id, topic, outcome) \
             SELECT $1, id, topic, 'processed' FROM UNNEST($2::text[], $3::text[]) AS m (id, topic) \
             ON CONFLICT DO NOTHING RETURNING message_id",
        )
        .bind(&self.group)
        .bind(&ids)
        .bind(&topics)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let mut outcomes = Vec::with_capacity(inbounds.len());
        let mut first_seen = Vec::with_capacity(inbounds.len());
        for inbound in inbounds {
            // Removing the id makes a second copy within the batch a duplicate too.
            if fresh.remove(&inbound.message_id) {
                first_seen.push(inbound);
                outcomes.push(Outcome::Processed);
            } else {
                outcomes.push(Outcome::Duplicate);
            }
        }
        if !first_seen.is_empty() {
            self.handler.handle_batch(&mut tx, &first_seen).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// One message's effect and inbox row, in the caller's transaction.
    async fn apply_one(
        &self,
        tx: &mut PgConnection,
        inbound: &Inbound<'_>,
    ) -> Result<Outcome, HandlerError> {
        let first_time = sqlx::query(
            "INSERT INTO inbox (consumer_group, message_id, topic, outcome) \
             VALUES ($1, $2, $3, 'processed') ON CONFLICT DO NOTHING",
        )
        .bind(&self.group)
        .bind(&inbound.message_id)
        .bind(inbound.topic)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !first_time {
            tracing::debug!("message already processed");
            return Ok(Outcome::Duplicate);
        }
        self.handler.handle(tx, inbound).await?;
        Ok(Outcome::Processed)
    }

    fn inbound<'m>(&self, message: &'m BorrowedMessage<'_>) -> Inbound<'m> {
        // Handlers see the logical name; only the broker knows the prefix.
        let topic = message
            .topic()
            .strip_prefix(self.topic_prefix.as_str())
            .unwrap_or(message.topic());
        let message_id = match headers::get(message.headers(), headers::EVENT_ID) {
            Some(event_id) => event_id.to_owned(),
            None => format!("{topic}/{}/{}", message.partition(), message.offset()),
        };
        let span = crate::spans::process(message, &self.group, &message_id);
        Inbound {
            topic,
            partition: message.partition(),
            offset: message.offset(),
            key: message.key(),
            payload: message.payload().unwrap_or_default(),
            message_id,
            span,
        }
    }

    /// One message in its own transaction, retried while it fails for a passing reason.
    async fn process(&self, message: &BorrowedMessage<'_>, stop: &CancellationToken) -> Flow {
        let inbound = self.inbound(message);
        let outcome = self
            .process_with_retries(message, &inbound, stop)
            .instrument(inbound.span.clone())
            .await;
        if matches!(outcome, Outcome::Stopped) {
            return Flow::Stopped;
        }
        count(inbound.topic, outcome);
        Flow::Continue
    }

    async fn process_with_retries(
        &self,
        message: &BorrowedMessage<'_>,
        inbound: &Inbound<'_>,
        stop: &CancellationToken,
    ) -> Outcome {
        let mut delays = self.backoff();
        let mut attempt = 1u32;
        loop {
            let failure = match self.apply(inbound).await {
                Ok(outcome) => return outcome,
                Err(HandlerError::Permanent(reason)) => {
                    match self.dead_letter(message, inbound, &reason).await {
                        Ok(()) => return Outcome::DeadLettered,
                        Err(error) => error,
                    }
                }
                Err(HandlerError::Transient(reason)) => reason,
            };
            let delay = delays.next().unwrap_or(Duration::from_secs(10));
            tracing::warn!(
                attempt,
                retry_in_ms = delay.as_millis() as u64,
                reason = %failure,
                "message not processed yet; retrying"
            );
            attempt += 1;
            tokio::select! {
                () = stop.cancelled() => return Outcome::Stopped,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.min_backoff)
            .with_max_delay(Duration::from_secs(10))
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// The message's effect and its inbox row, in one transaction.
    async fn apply(&self, inbound: &Inbound<'_>) -> Result<Outcome, HandlerError> {
        let mut tx = self.pool.begin().await?;
        let outcome = self.apply_one(&mut tx, inbound).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Sends the message to `<topic>.dlq` with the reason, then records it as handled.
    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        inbound: &Inbound<'_>,
        reason: &str,
    ) -> Result<(), String> {
        tracing::error!(reason, "message dead-lettered");
        let partition = inbound.partition.to_string();
        let offset = inbound.offset.to_string();
        let dlq_headers = headers::with_pairs(
            OwnedHeaders::new(),
            headers::text_pairs(message.headers()).into_iter().chain([
                (headers::DLQ_REASON, reason),
                (headers::DLQ_ORIGINAL_TOPIC, inbound.topic),
                (headers::DLQ_ORIGINAL_PARTITION, partition.as_str()),
                (headers::DLQ_ORIGINAL_OFFSET, offset.as_str()),
                (headers::DLQ_CONSUMER_GROUP, self.group.as_str()),
            ]),
        );
        let topic = dead_letter_topic(message.topic());
        let mut record = FutureRecord::to(&topic)
            .payload(inbound.payload)
            .headers(dlq_headers);
        if let Some(key) = inbound.key {
            record = record.key(key);
        }
        self.producer
            .send(record, Timeout::After(Duration::from_secs(30)))
            .await
            .map_err(|(error, _)| format!("dead-letter topic {topic} unavailable: {error}"))?;
        sqlx::query(
            "INSERT INTO inbox (consumer_group, message_id, topic, outcome) \
             VALUES ($1, $2, $3, 'dead_lettered') ON CONFLICT DO NOTHING",
        )
        .bind(&self.group)
        .bind(&inbound.message_id)
        .bind(inbound.topic)
        .execute(&self.pool)
        .await
        .map_err(|error| format!("dead letter not recorded: {error}"))?;
        Ok(())
    }
}
