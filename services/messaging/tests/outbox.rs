//! The outbox and its relay against the real broker and the real PostgreSQL.

mod support;

use std::{collections::HashMap, time::Duration};

use messaging::{ConsumerLoop, OutboxEvent, Relay, RelaySettings, enqueue};
use prost::Message as _;
use rdkafka::Message as _;
use sqlx::{Executor, PgPool};
use support::{RecordEffect, Widget, create_effects_table};
use testkit::{TestDatabase, TestTopics, eventually, kafka_settings, key_of, read_topic};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

fn event(topic: &str, key: &str, name: &str) -> OutboxEvent {
    OutboxEvent::new(Uuid::new_v4(), topic, key, &Widget { name: name.into() })
}

async fn count(pool: &PgPool, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}

async fn create_widgets_table(pool: &PgPool) -> anyhow::Result<()> {
    pool.execute("CREATE TABLE widgets (name TEXT PRIMARY KEY)")
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_state_change_and_its_event_commit_together_or_not_at_all() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let pool = database.pool("checkin").await?;
    create_widgets_table(&pool).await?;

    let mut rolled_back = pool.begin().await?;
    sqlx::query("INSERT INTO widgets VALUES ('abandoned')")
        .execute(&mut *rolled_back)
        .await?;
    enqueue(
        &mut rolled_back,
        &event("widgets", "abandoned", "abandoned"),
    )
    .await?;
    rolled_back.rollback().await?;

    let mut committed = pool.begin().await?;
    sqlx::query("INSERT INTO widgets VALUES ('kept')")
        .execute(&mut *committed)
        .await?;
    enqueue(&mut committed, &event("widgets", "kept", "kept")).await?;
    committed.commit().await?;

    // A change that fails after its event was written takes the event down with it.
    let mut failed = pool.begin().await?;
    enqueue(&mut failed, &event("widgets", "kept", "duplicate")).await?;
    let duplicate = sqlx::query("INSERT INTO widgets VALUES ('kept')")
        .execute(&mut *failed)
        .await;
    assert!(duplicate.is_err());
    drop(failed);

    assert_eq!(count(&pool, "SELECT count(*) FROM widgets").await?, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM outbox").await?, 1);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE message_key = 'kept'"
        )
        .await?,
        1
    );
    Ok(())
}

#[tokio::test]
async fn events_of_one_key_are_published_in_the_order_they_were_written() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let pool = database.pool("checkin").await?;
    let topics = TestTopics::create(&["ordered"], 4).await?;
    let topic = topics.name("ordered");
    let mut tx = pool.begin().await?;
    for sequence in 0..300 {
        let key = format!("decision-{}", sequence % 3);
        enqueue(&mut tx, &event(&topic, &key, &sequence.to_string())).await?;
    }
    tx.commit().await?;
    let producer = messaging::idempotent_producer(&kafka_settings("checkin"))?;
    let settings = RelaySettings {
        batch_size: 64,
        poll_interval_ms: 10,
        ..RelaySettings::default()
    };

    let relay = Relay::new(pool.clone(), producer, settings);
    while relay.publish_batch().await? > 0 {}

    let messages = read_topic(&topic, 300, WAIT).await?;
    assert_eq!(messages.len(), 300);
    let mut last_seen: HashMap<String, i64> = HashMap::new();
    for message in &messages {
        let key = key_of(message).unwrap_or_default();
        let widget = Widget::decode(message.payload().unwrap_or_default())?;
        let sequence: i64 = widget.name.parse()?;
        let previous = last_seen.insert(key.clone(), sequence);
        assert!(
            previous.is_none_or(|previous| previous < sequence),
            "{key}: {sequence} arrived after {previous:?}"
        );
    }
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        )
        .await?,
        0
    );
    Ok(())
}

#[tokio::test]
async fn events_of_one_key_keep_their_order_when_the_relay_pipelines_its_batches()
-> anyhow::Result<()> {
    const EVENTS: usize = 3_000;
    let database = TestDatabase::create().await?;
    let pool = database.pool("checkin").await?;
    let topics = TestTopics::create(&["pipelined"], 4).await?;
    let topic = topics.name("pipelined");
    // Several transactions, as many writers would commit them.
    for start in (0..EVENTS).step_by(500) {
        let mut tx = pool.begin().await?;
        for sequence in start..start + 500 {
            let key = format!("decision-{}", sequence % 7);
            enqueue(&mut tx, &event(&topic, &key, &sequence.to_string())).await?;
        }
        tx.commit().await?;
    }
    let producer = messaging::idempotent_producer(&kafka_settings("checkin"))?;
    // Small batches, so one pass produces many of them back to back.
    let settings = RelaySettings {
        batch_size: 50,
        poll_interval_ms: 10,
        ..RelaySettings::default()
    };
    let stop = CancellationToken::new();
    tokio::spawn(Relay::new(pool.clone(), producer, settings).run(stop.clone()));

    let messages = read_topic(&topic, EVENTS, WAIT).await?;
    assert_eq!(messages.len(), EVENTS);
    let mut last_seen: HashMap<String, i64> = HashMap::new();
    for message in &messages {
        let key = key_of(message).unwrap_or_default();
        let widget = Widget::decode(message.payload().unwrap_or_default())?;
        let sequence: i64 = widget.name.parse()?;
        let previous = last_seen.insert(key.clone(), sequence);
        assert!(
            previous.is_none_or(|previous| previous < sequence),
            "{key}: {sequence} arrived after {previous:?}"
        );
    }
    let marked = eventually(WAIT, || async {
        Ok(count(
            &pool,
            "SELECT count(*) FROM outbox WHERE published_at IS NULL",
        )
        .await?
            == 0)
    })
    .await?;
    assert!(marked, "every published row is marked");
    stop.cancel();
    Ok(())
}

#[tokio::test]
async fn a_relay_killed_mid_batch_publishes_everything_on_restart_and_each_effect_happens_once()
-> anyhow::Result<()> {
    const EVENTS: i64 = 2_000;
    const BATCH: i64 = 500;
    let database = TestDatabase::create().await?;
    let producer_pool = database.pool("checkin").await?;
    let consumer_pool = database.pool("payroll").await?;
    create_effects_table(&consumer_pool).await?;
    let topics = TestTopics::create(&["events"], 4).await?;
    let topic = topics.name("events");
    let mut tx = producer_pool.begin().await?;
    for number in 0..EVENTS {
        let name = format!("event-{number}");
        enqueue(
            &mut tx,
            &event(&topic, &format!("key-{}", number % 17), &name),
        )
        .await?;
    }
    tx.commit().await?;

    let settings = kafka_settings("payroll");
    let producer = messaging::idempotent_producer(&settings)?;
    let consumer = ConsumerLoop::new(
        &settings,
        &[topic.as_str()],
        consumer_pool.clone(),
        producer.clone(),
        RecordEffect::default(),
    )?;
    let stop_consumer = CancellationToken::new();
    tokio::spawn(consumer.run(stop_consumer.clone()));

    // Hold the outbox so the first relay can publish its batch but never mark it sent.
    let mut blocker = database.admin_connection().await?;
    blocker
        .execute("BEGIN; LOCK TABLE checkin.outbox IN SHARE MODE")
        .await?;
    let relay_settings = RelaySettings {
        batch_size: BATCH,
        poll_interval_ms: 10,
        ..RelaySettings::default()
    };
    let first_pool = database.pool("checkin").await?;
    let first = Relay::new(first_pool.clone(), producer.clone(), relay_settings.clone());
    let first_run = tokio::spawn(first.run(CancellationToken::new()));
    let published = read_topic(&topic, BATCH as usize, WAIT).await?;
    assert_eq!(
        published.len(),
        BATCH as usize,
        "the first batch reached the broker"
    );

    // Killed after publishing, before marking.
    first_run.abort();
    let _ = first_run.await;
    // It may have produced the next batch while waiting for the first one's acks.
    let first_published = read_topic(&topic, EVENTS as usize, Duration::from_secs(3))
        .await?
        .len() as i64;
    assert!(
        first_published == BATCH || first_published == 2 * BATCH,
        "whole batches reached the broker: {first_published}"
    );
    // Its open transaction rolls back once the lock it waits on is gone.
    blocker.execute("ROLLBACK").await?;
    first_pool.close().await;
    assert_eq!(
        count(
            &producer_pool,
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        )
        .await?,
        EVENTS,
        "nothing was marked sent by the killed relay"
    );

    let restarted = Relay::new(producer_pool.clone(), producer, relay_settings);
    let stop_relay = CancellationToken::new();
    tokio::spawn(restarted.run(stop_relay.clone()));

    let pool = producer_pool.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(count(
                &pool,
                "SELECT count(*) FROM outbox WHERE published_at IS NULL",
            )
            .await?
                == 0)
        })
        .await?
    );
    let pool = consumer_pool.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(count(&pool, "SELECT count(DISTINCT name) FROM effects").await? == EVENTS)
        })
        .await?
    );
    let on_the_topic = read_topic(&topic, (EVENTS + first_published) as usize, WAIT).await?;
    assert_eq!(
        on_the_topic.len() as i64,
        EVENTS + first_published,
        "what the killed relay published was published again"
    );
    // Let the consumer reach the end of the topic, duplicates included, then count.
    let pool = consumer_pool.clone();
    assert!(
        eventually(WAIT, || async {
            Ok(count(&pool, "SELECT count(*) FROM inbox").await? == EVENTS)
        })
        .await?
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(&consumer_pool, "SELECT count(*) FROM effects").await?,
        EVENTS
    );
    stop_relay.cancel();
    stop_consumer.cancel();
    Ok(())
}

#[tokio::test]
async fn published_rows_past_retention_are_deleted_and_unpublished_ones_never_are()
-> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let pool = database.pool("checkin").await?;
    let mut tx = pool.begin().await?;
    for name in ["old", "recent", "waiting"] {
        enqueue(&mut tx, &event("widgets", name, name)).await?;
    }
    tx.commit().await?;
    pool.execute(
        "UPDATE outbox SET published_at = now() - interval '9 days' WHERE message_key = 'old'; \
         UPDATE outbox SET published_at = now() - interval '1 hour' WHERE message_key = 'recent'",
    )
    .await?;
    let producer = messaging::idempotent_producer(&kafka_settings("checkin"))?;
    let relay = Relay::new(pool.clone(), producer, RelaySettings::default());

    let deleted = relay.delete_published().await?;

    assert_eq!(deleted, 1);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT message_key FROM outbox ORDER BY message_key")
            .fetch_all(&pool)
            .await?;
    assert_eq!(left, ["recent", "waiting"]);
    Ok(())
}

/// The trace id a record's `traceparent` header names.
fn trace_of(message: &rdkafka::message::OwnedMessage) -> Option<String> {
    use rdkafka::message::Headers as _;
    let header = message
        .headers()?
        .iter()
        .find(|header| header.key == "traceparent")?;
    let value = std::str::from_utf8(header.value?).ok()?;
    value.split('-').nth(1).map(str::to_owned)
}

#[tokio::test]
async fn an_event_that_names_its_own_trace_is_published_in_it_and_the_others_in_the_span_s()
-> anyhow::Result<()> {
    telemetry::init_for_tests();
    let database = TestDatabase::create().await?;
    let pool = database.pool("transfer").await?;
    let topics = TestTopics::create(&["instructions"], 1).await?;
    let topic = topics.name("instructions");
    // One step (a whole payment list) raises events for two payments, one of which came
    // with the trace its check-in started.
    let payment_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let list_step = tracing::info_span!("accept list");
    let step_trace = telemetry::trace_id(&list_step).expect("the step span has a trace id");
    let mut tx = pool.begin().await?;
    messaging::enqueue_all(
        &mut tx,
        &[
            event(&topic, "payment-1", "traced")
                .continuing(&format!("00-{payment_trace}-00f067aa0ba902b7-01")),
            event(&topic, "payment-2", "untraced").continuing(""),
        ],
    )
    .instrument(list_step)
    .await?;
    tx.commit().await?;

    let relay = Relay::new(
        pool.clone(),
        messaging::idempotent_producer(&kafka_settings("transfer"))?,
        RelaySettings::default(),
    );
    while relay.publish_batch().await? > 0 {}

    let messages = read_topic(&topic, 2, WAIT).await?;
    let traces: Vec<(Option<String>, Option<String>)> = messages
        .iter()
        .map(|message| (key_of(message), trace_of(message)))
        .collect();
    assert_eq!(
        traces,
        [
            (Some("payment-1".to_owned()), Some(payment_trace.to_owned())),
            (Some("payment-2".to_owned()), Some(step_trace)),
        ]
    );
    Ok(())
}
