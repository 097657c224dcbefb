//! The consumer loop against the real broker and the real PostgreSQL.

mod support;

use std::{sync::atomic::Ordering, time::Duration};

use messaging::{ConsumerLoop, headers};
use prost::Message as _;
use rdkafka::{
    Message as _,
    message::{Header, Headers, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use sqlx::{Executor, PgPool};
use support::{RecordEffect, Widget, create_effects_table, effects_named};
use testkit::{TestDatabase, TestTopics, eventually, kafka_settings, read_topic};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

struct Rig {
    database: TestDatabase,
    pool: PgPool,
    topic: String,
    producer: FutureProducer,
    handler: RecordEffect,
    stop: CancellationToken,
}

async fn rig() -> anyhow::Result<Rig> {
    let rig = idle_rig().await?;
    rig.start()?;
    Ok(rig)
}

/// A rig whose consumer is not running yet, so messages sent now arrive as one batch.
async fn idle_rig() -> anyhow::Result<Rig> {
    let database = TestDatabase::create().await?;
    let pool = database.pool("payroll").await?;
    create_effects_table(&pool).await?;
    let topics = TestTopics::create(&["events"], 1).await?;
    let settings = kafka_settings("payroll");
    let producer = messaging::idempotent_producer(&settings)?;
    let handler = RecordEffect::default();
    let topic = topics.name("events");
    Ok(Rig {
        database,
        pool,
        topic,
        producer,
        handler,
        stop: CancellationToken::new(),
    })
}

impl Rig {
    fn start(&self) -> anyhow::Result<()> {
        self.start_with(&kafka_settings("payroll"))
    }

    fn start_with(&self, settings: &messaging::KafkaSettings) -> anyhow::Result<()> {
        let consumer = ConsumerLoop::new(
            settings,
            &[self.topic.as_str()],
            self.pool.clone(),
            self.producer.clone(),
            self.handler.clone(),
        )?;
        tokio::spawn(consumer.run(self.stop.clone()));
        Ok(())
    }
}

async fn send(rig: &Rig, event_id: &str, payload: &[u8]) -> anyhow::Result<()> {
    let record = FutureRecord::to(&rig.topic)
        .key("k")
        .payload(payload)
        .headers(OwnedHeaders::new().insert(Header {
            key: headers::EVENT_ID,
            value: Some(event_id),
        }));
    rig.producer
        .send(record, Timeout::After(Duration::from_secs(10)))
        .await
        .map_err(|(error, _)| error)?;
    Ok(())
}

fn widget(name: &str) -> Vec<u8> {
    Widget { name: name.into() }.encode_to_vec()
}

#[tokio::test]
async fn the_same_record_delivered_twice_has_one_effect() -> anyhow::Result<()> {
    let rig = rig().await?;

    send(&rig, "event-1", &widget("twice")).await?;
    send(&rig, "event-1", &widget("twice")).await?;
    // One partition, so once the sentinel took effect both copies have been seen.
    send(&rig, "event-2", &widget("sentinel")).await?;

    let pool = rig.pool.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(effects_named(&pool, "sentinel").await? == 1)
        })
        .await?
    );
    assert_eq!(effects_named(&rig.pool, "twice").await?, 1);
    assert_eq!(rig.handler.attempts.load(Ordering::SeqCst), 2);
    rig.stop.cancel();
    Ok(())
}

#[tokio::test]
async fn a_malformed_payload_goes_to_the_dlq_with_a_reason_and_the_consumer_goes_on()
-> anyhow::Result<()> {
    let rig = rig().await?;

    send(&rig, "bad-1", &[0xff, 0xff, 0xff, 0xff]).await?;
    send(&rig, "good-1", &widget("after the bad one")).await?;

    let pool = rig.pool.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(effects_named(&pool, "after the bad one").await? == 1)
        })
        .await?
    );
    let dead = read_topic(&messaging::dead_letter_topic(&rig.topic), 1, WAIT).await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload(), Some(&[0xff, 0xff, 0xff, 0xff][..]));
    let dead_headers = dead[0].headers().expect("dead letter has headers");
    let reason = dead_headers
        .iter()
        .find(|header| header.key == headers::DLQ_REASON)
        .and_then(|header| header.value)
        .map(|value| String::from_utf8_lossy(value).into_owned());
    assert!(reason.is_some_and(|reason| reason.starts_with("malformed payload")));
    let outcome: String =
        sqlx::query_scalar("SELECT outcome FROM inbox WHERE message_id = 'bad-1'")
            .fetch_one(&rig.pool)
            .await?;
    assert_eq!(outcome, "dead_lettered");
    rig.stop.cancel();
    Ok(())
}

#[tokio::test]
async fn a_transient_database_error_is_retried_not_skipped() -> anyhow::Result<()> {
    let rig = rig().await?;
    // An officer's long report holds the table: every attempt runs into the lock timeout.
    let mut blocker = rig.database.admin_connection().await?;
    blocker
        .execute("BEGIN; LOCK TABLE payroll.effects IN ACCESS EXCLUSIVE MODE")
        .await?;

    send(&rig, "event-1", &widget("held up")).await?;
    let handler = rig.handler.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(handler.attempts.load(Ordering::SeqCst) >= 3)
        })
        .await?
    );
    // The effects table is locked, so the inbox shows that nothing was recorded as done.
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(&rig.pool)
        .await?;
    assert_eq!(recorded, 0, "a failed attempt leaves no inbox row");
    blocker.execute("ROLLBACK").await?;

    let pool = rig.pool.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(effects_named(&pool, "held up").await? == 1)
        })
        .await?
    );
    let dead = read_topic(
        &messaging::dead_letter_topic(&rig.topic),
        1,
        Duration::from_secs(2),
    )
    .await?;
    assert!(
        dead.is_empty(),
        "a transient failure must not be dead-lettered"
    );
    rig.stop.cancel();
    Ok(())
}

#[tokio::test]
async fn a_bad_message_inside_a_batch_is_dead_lettered_alone_and_the_rest_take_effect_once()
-> anyhow::Result<()> {
    let rig = idle_rig().await?;
    for number in 0..20 {
        let event_id = format!("event-{number}");
        if number == 10 {
            send(&rig, &event_id, &[0xff, 0xff, 0xff, 0xff]).await?;
        } else {
            send(&rig, &event_id, &widget(&format!("widget-{number}"))).await?;
        }
    }

    rig.start()?;

    let pool = rig.pool.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inbox")
                .fetch_one(&pool)
                .await?
                == 20)
        })
        .await?
    );
    let effects: i64 = sqlx::query_scalar("SELECT count(*) FROM effects")
        .fetch_one(&rig.pool)
        .await?;
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT name) FROM effects")
        .fetch_one(&rig.pool)
        .await?;
    assert_eq!((effects, distinct), (19, 19));
    let dead = read_topic(
        &messaging::dead_letter_topic(&rig.topic),
        2,
        Duration::from_secs(3),
    )
    .await?;
    assert_eq!(dead.len(), 1);
    rig.stop.cancel();
    Ok(())
}

#[tokio::test]
async fn a_record_repeated_within_one_batch_has_one_effect() -> anyhow::Result<()> {
    let rig = idle_rig().await?;
    for _ in 0..3 {
        send(&rig, "event-1", &widget("thrice")).await?;
    }
    send(&rig, "event-2", &widget("sentinel")).await?;

    rig.start()?;

    let pool = rig.pool.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(effects_named(&pool, "sentinel").await? == 1)
        })
        .await?
    );
    assert_eq!(effects_named(&rig.pool, "thrice").await?, 1);
    rig.stop.cancel();
    Ok(())
}

/// The process's metrics as Prometheus renders them; the recorder is installed once, and
/// nothing renders if another recorder was installed first.
fn rendered_metrics() -> String {
    static HANDLE: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .ok()
        })
        .as_ref()
        .map(metrics_exporter_prometheus::PrometheusHandle::render)
        .unwrap_or_default()
}

/// The `consumer_lag` of `topic`'s partition 0 for `group`, once reported.
fn lag_of(topic: &str, group: &str) -> Option<f64> {
    let labels = [
        format!("topic=\"{topic}\""),
        "partition=\"0\"".to_owned(),
        format!("group=\"{group}\""),
    ];
    rendered_metrics()
        .lines()
        .filter(|line| line.starts_with("consumer_lag{"))
        .find(|line| labels.iter().all(|label| line.contains(label.as_str())))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn consumer_lag_counts_the_unfinished_messages_and_returns_to_zero() -> anyhow::Result<()> {
    let rig = idle_rig().await?;
    rendered_metrics();
    // The effects table is locked, so whatever the consumer fetches it cannot finish.
    let mut blocker = rig.database.admin_connection().await?;
    blocker
        .execute("BEGIN; LOCK TABLE payroll.effects IN ACCESS EXCLUSIVE MODE")
        .await?;
    let settings = messaging::KafkaSettings {
        lag_interval_ms: 100,
        ..kafka_settings("payroll")
    };
    rig.start_with(&settings)?;

    for number in 0..5 {
        send(&rig, &format!("event-{number}"), &widget("waiting")).await?;
    }

    let group = settings.group_id.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(lag_of(&rig.topic, &group) == Some(5.0))
        })
        .await?,
        "five unfinished messages show as a lag of 5: {:?}",
        lag_of(&rig.topic, &group)
    );
    blocker.execute("ROLLBACK").await?;

    let pool = rig.pool.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(effects_named(&pool, "waiting").await? == 5)
        })
        .await?
    );
    assert!(
        eventually(WAIT, || async {
            Ok(lag_of(&rig.topic, &group) == Some(0.0))
        })
        .await?,
        "the lag returns to 0 once the messages are done: {:?}",
        lag_of(&rig.topic, &group)
    );
    rig.stop.cancel();
    Ok(())
}

/// Records, for each message, the trace id of the span its handler runs in.
#[derive(Clone)]
struct RecordTraceIds;

impl messaging::Handler for RecordTraceIds {
    async fn handle(
        &self,
        tx: &mut sqlx::PgConnection,
        message: &messaging::Inbound<'_>,
    ) -> Result<(), messaging::HandlerError> {
        let trace_id = telemetry::trace_id(&tracing::Span::current());
        sqlx::query("INSERT INTO seen_traces (message_id, trace_id) VALUES ($1, $2)")
            .bind(&message.message_id)
            .bind(trace_id)
            .execute(tx)
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn each_message_of_a_batch_is_processed_in_its_own_producer_s_trace() -> anyhow::Result<()> {
    telemetry::init_for_tests();
    let rig = idle_rig().await?;
    sqlx::query("CREATE TABLE seen_traces (message_id TEXT, trace_id TEXT)")
        .execute(&rig.pool)
        .await?;
    // Three producers in three traces; the consumer is idle, so the three arrive as a batch.
    let mut expected = Vec::new();
    for number in 0..3u8 {
        let trace_id = format!("{:032x}", 0x4bf9_2f35_77b3_4da6_u128 + u128::from(number));
        let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
        let event_id = format!("event-{number}");
        let record = FutureRecord::to(&rig.topic)
            .key("k")
            .payload(&[][..])
            .headers(
                OwnedHeaders::new()
                    .insert(Header {
                        key: headers::EVENT_ID,
                        value: Some(event_id.as_str()),
                    })
                    .insert(Header {
                        key: "traceparent",
                        value: Some(traceparent.as_str()),
                    }),
            );
        rig.producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map_err(|(error, _)| error)?;
        expected.push((event_id, Some(trace_id)));
    }
    let consumer = ConsumerLoop::new(
        &kafka_settings("payroll"),
        &[rig.topic.as_str()],
        rig.pool.clone(),
        rig.producer.clone(),
        RecordTraceIds,
    )?;
    tokio::spawn(consumer.run(rig.stop.clone()));

    let pool = rig.pool.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM seen_traces")
                    .fetch_one(&pool)
                    .await?
                    == 3,
            )
        })
        .await?
    );
    let seen: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT message_id, trace_id FROM seen_traces ORDER BY message_id")
            .fetch_all(&rig.pool)
            .await?;
    assert_eq!(seen, expected);
    rig.stop.cancel();
    Ok(())
}

/// Writes a whole batch in one statement and records which messages each call got.
#[derive(Clone, Default)]
struct RecordBatches {
    batches: std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>,
    one_by_one: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl messaging::Handler for RecordBatches {
    async fn handle(
        &self,
        tx: &mut sqlx::PgConnection,
        message: &messaging::Inbound<'_>,
    ) -> Result<(), messaging::HandlerError> {
        self.one_by_one.fetch_add(1, Ordering::SeqCst);
        let widget: Widget = messaging::decode(message)?;
        sqlx::query("INSERT INTO effects (message_id, name) VALUES ($1, $2)")
            .bind(&message.message_id)
            .bind(&widget.name)
            .execute(tx)
            .await?;
        Ok(())
    }

    async fn handle_batch(
        &self,
        tx: &mut sqlx::PgConnection,
        messages: &[&messaging::Inbound<'_>],
    ) -> Result<(), messaging::HandlerError> {
        let ids: Vec<String> = messages
            .iter()
            .map(|message| message.message_id.clone())
            .collect();
        if let Ok(mut batches) = self.batches.lock() {
            batches.push(ids.clone());
        }
        let mut names = Vec::with_capacity(messages.len());
        for message in messages {
            names.push(messaging::decode::<Widget>(message)?.name);
        }
        sqlx::query(
            "INSERT INTO effects (message_id, name) SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[])",
        )
        .bind(&ids)
        .bind(&names)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// Starts a consumer with `handler` on an idle rig's topic.
fn start_batches(rig: &Rig, handler: &RecordBatches) -> anyhow::Result<()> {
    let consumer = ConsumerLoop::new(
        &kafka_settings("payroll"),
        &[rig.topic.as_str()],
        rig.pool.clone(),
        rig.producer.clone(),
        handler.clone(),
    )?;
    tokio::spawn(consumer.run(rig.stop.clone()));
    Ok(())
}

/// Waits until the rig's inbox holds `expected` messages.
async fn inbox_reaches(rig: &Rig, expected: i64) -> anyhow::Result<bool> {
    let pool = rig.pool.clone();
    eventually(WAIT, || async {
        Ok(sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inbox")
            .fetch_one(&pool)
            .await?
            == expected)
    })
    .await
}

fn recorded_batches(handler: &RecordBatches) -> Vec<Vec<String>> {
    handler
        .batches
        .lock()
        .map(|batches| batches.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_batch_goes_to_the_handler_s_batch_method_whole_and_in_order() -> anyhow::Result<()> {
    let rig = idle_rig().await?;
    let handler = RecordBatches::default();
    let good: Vec<String> = (0..10).map(|number| format!("good-{number}")).collect();
    for event_id in &good {
        send(&rig, event_id, &widget(event_id)).await?;
    }

    start_batches(&rig, &handler)?;

    assert!(inbox_reaches(&rig, 10).await?);
    let effects: i64 = sqlx::query_scalar("SELECT count(*) FROM effects")
        .fetch_one(&rig.pool)
        .await?;
    assert_eq!(effects, 10);
    assert_eq!(
        recorded_batches(&handler),
        vec![good],
        "the ten waiting messages reach the batch method in one call, in order"
    );
    assert_eq!(handler.one_by_one.load(Ordering::SeqCst), 0);
    rig.stop.cancel();
    Ok(())
}

#[tokio::test]
async fn a_batch_that_fails_for_good_is_applied_one_by_one_and_only_the_bad_message_is_dead_lettered()
-> anyhow::Result<()> {
    let rig = idle_rig().await?;
    let handler = RecordBatches::default();
    let mixed: Vec<String> = (0..10).map(|number| format!("mixed-{number}")).collect();
    for (number, event_id) in mixed.iter().enumerate() {
        if number == 4 {
            send(&rig, event_id, &[0xff, 0xff, 0xff, 0xff]).await?;
        } else {
            send(&rig, event_id, &widget(event_id)).await?;
        }
    }

    start_batches(&rig, &handler)?;

    assert!(inbox_reaches(&rig, 10).await?);
    let effects: Vec<String> =
        sqlx::query_scalar("SELECT message_id FROM effects ORDER BY message_id")
            .fetch_all(&rig.pool)
            .await?;
    let expected: Vec<String> = mixed
        .iter()
        .filter(|id| id.as_str() != "mixed-4")
        .cloned()
        .collect();
    assert_eq!(effects, expected, "every good message took effect once");
    let outcome: String =
        sqlx::query_scalar("SELECT outcome FROM inbox WHERE message_id = 'mixed-4'")
            .fetch_one(&rig.pool)
            .await?;
    assert_eq!(outcome, "dead_lettered");
    let dead = read_topic(
        &messaging::dead_letter_topic(&rig.topic),
        2,
        Duration::from_secs(3),
    )
    .await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        recorded_batches(&handler),
        vec![mixed],
        "the batch with the bad message reached the batch method whole, once"
    );
    // It failed there, so each of its messages was then applied on its own.
    assert_eq!(handler.one_by_one.load(Ordering::SeqCst), 10);
    rig.stop.cancel();
    Ok(())
}
