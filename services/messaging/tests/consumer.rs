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
        let consumer = ConsumerLoop::new(
            &kafka_settings("payroll"),
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
