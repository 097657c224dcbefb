#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

//! Throughput of the shared messaging path on the real PostgreSQL and broker: events written
//! to the outbox, published by the relay, and applied once each by a consumer loop.
//!
//! `cargo run --release -p messaging --example throughput -- [EVENTS]` (default 50,000), with
//! the local stack's PostgreSQL and Tansu running (`BENEFIT_SKIP_SERVICES=1 deploy/local/up.sh`).

use std::time::{Duration, Instant};

use messaging::{
    ConsumerLoop, Handler, HandlerError, Inbound, OutboxEvent, Relay, RelaySettings, enqueue,
};
use sqlx::{PgConnection, PgPool};
use testkit::{TestDatabase, TestTopics, kafka_settings};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The smallest real effect: one row per message.
struct InsertRow;

impl Handler for InsertRow {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        sqlx::query("INSERT INTO effects (message_id) VALUES ($1)")
            .bind(&message.message_id)
            .execute(tx)
            .await?;
        Ok(())
    }
}

async fn count(pool: &PgPool, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}

/// Time from `started` until `sql` counts `target`.
async fn wait_for(
    started: Instant,
    pool: &PgPool,
    sql: &str,
    target: i64,
) -> anyhow::Result<Duration> {
    while count(pool, sql).await? < target {
        if started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("gave up waiting for {sql} to reach {target}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(started.elapsed())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: i64 = std::env::args()
        .nth(1)
        .map(|arg| arg.parse())
        .transpose()?
        .unwrap_or(50_000);
    let database = TestDatabase::create().await?;
    let producer_pool = database.pool("checkin").await?;
    let consumer_pool = database.pool("payroll").await?;
    sqlx::query("CREATE TABLE effects (message_id TEXT NOT NULL)")
        .execute(&consumer_pool)
        .await?;
    let topics = TestTopics::create(&["events"], 4).await?;
    let topic = topics.name("events");

    let started = Instant::now();
    for chunk in 0..(events + 999) / 1_000 {
        let mut tx = producer_pool.begin().await?;
        for number in chunk * 1_000..((chunk + 1) * 1_000).min(events) {
            let event = OutboxEvent {
                event_id: Uuid::new_v4(),
                topic: topic.clone(),
                key: format!("key-{}", number % 1_000),
                payload: vec![0u8; 150],
                traceparent: None,
            };
            enqueue(&mut tx, &event).await?;
        }
        tx.commit().await?;
    }
    let written = started.elapsed();

    let settings = kafka_settings("payroll");
    let producer = messaging::idempotent_producer(&settings)?;
    let stop = CancellationToken::new();
    let consumer = ConsumerLoop::new(
        &settings,
        &[topic.as_str()],
        consumer_pool.clone(),
        producer.clone(),
        InsertRow,
    )?;
    tokio::spawn(consumer.run(stop.clone()));
    let relay = Relay::new(producer_pool.clone(), producer, RelaySettings::default());
    let started = Instant::now();
    tokio::spawn(relay.run(stop.clone()));
    let published = wait_for(
        started,
        &producer_pool,
        "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL",
        events,
    )
    .await?;
    let applied = wait_for(
        started,
        &consumer_pool,
        "SELECT count(*) FROM effects",
        events,
    )
    .await?;
    stop.cancel();

    let rate = |duration: Duration| events as f64 / duration.as_secs_f64();
    println!("events                       {events}");
    println!(
        "outbox writes (1,000 per tx) {:>9.0} /s  ({:.2} s)",
        rate(written),
        written.as_secs_f64()
    );
    println!(
        "relay published              {:>9.0} /s  ({:.2} s)",
        rate(published),
        published.as_secs_f64()
    );
    println!(
        "consumer applied, once each  {:>9.0} /s  ({:.2} s from relay start)",
        rate(applied),
        applied.as_secs_f64()
    );
    Ok(())
}
