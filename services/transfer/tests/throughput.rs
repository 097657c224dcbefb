//! Throughput of the two hot paths, on the real broker and PostgreSQL: approved lines to
//! instructions published on the banks' topics, and bank results to outcomes published.
//! Ignored by default; run with
//! `cargo nextest run --release -p transfer --run-ignored only throughput --no-capture` and
//! read the figures on stderr. `TRANSFER_BENCH_LINES` sets the number of lines (20,000 by
//! default).
//!
//! Each path is timed on the database's clock, from just before its first message is sent to
//! the last outbox row the relay marked published, so how often the test looks does not
//! change the figure; it looks every [`POLL`], since each look counts the whole outbox and
//! would otherwise take PostgreSQL time from the service it measures. The service runs on a
//! multi-threaded runtime, as its binary does.

mod support;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use contracts::bank::v1::{BankResult, TransactionStatus};
use contracts::topics;
use futures::future::join_all;
use messaging::headers;
use prost::Message as _;
use rdkafka::{
    message::{Header, OwnedHeaders},
    producer::FutureRecord,
    util::Timeout,
};
use support::{BANK_A, BANK_B, line, start, unique};

const DEFAULT_LINES: usize = 20_000;
const PER_CHUNK: usize = 1_000;
/// How often the test looks whether a path has finished.
const POLL: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a check; takes tens of seconds"]
async fn throughput_of_lists_to_instructions_and_results_to_outcomes() -> anyhow::Result<()> {
    let lines_wanted = std::env::var("TRANSFER_BENCH_LINES")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(DEFAULT_LINES);
    #[allow(non_snake_case, reason = "reads like the constant it replaces")]
    let LINES = lines_wanted;
    let rig = start().await?;
    let lines: Vec<_> = (0..LINES)
        .map(|index| {
            let bank = if index % 2 == 0 { BANK_A } else { BANK_B };
            line(&format!("bench-{index}-{}", unique("e")), bank, 6_000_000)
        })
        .collect();
    let chunks = rig.signed_list(&unique("list"), lines, PER_CHUNK);

    let started = database_now(&rig.pool).await?;
    rig.publish_list(&chunks).await?;
    let lists_elapsed = wait_published(&rig.pool, "bank.%", LINES, started).await?;
    let (written, relayed): (f64, f64) = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM max(created_at) - min(created_at))::FLOAT8, \
                EXTRACT(EPOCH FROM max(published_at) - max(created_at))::FLOAT8 \
         FROM outbox WHERE topic LIKE 'bank.%'",
    )
    .fetch_one(&rig.pool)
    .await?;
    eprintln!(
        "instructions written over {written:.1} s; relay finished {relayed:.1} s after the last"
    );
    report_batches(&rig.pool, topics::PAYMENT_LISTS, "bank.%").await?;

    let ids: Vec<(String, String)> = sqlx::query_as("SELECT end_to_end_id, bank_id FROM transfers")
        .fetch_all(&rig.pool)
        .await?;
    let results_topic = rig.topics.name(topics::BANK_RESULTS);
    let started = database_now(&rig.pool).await?;
    let sending = Instant::now();
    for batch in ids.chunks(2_000) {
        let sends = batch.iter().map(|(end_to_end_id, bank_id)| {
            let payload = BankResult {
                end_to_end_id: end_to_end_id.clone(),
                status: TransactionStatus::Accc as i32,
                bank_id: bank_id.clone(),
                ..BankResult::default()
            }
            .encode_to_vec();
            let event_id = uuid::Uuid::new_v4().to_string();
            let producer = rig.producer.clone();
            let topic = results_topic.clone();
            let key = end_to_end_id.clone();
            async move {
                let record = FutureRecord::to(&topic)
                    .key(&key)
                    .payload(&payload)
                    .headers(OwnedHeaders::new().insert(Header {
                        key: headers::EVENT_ID,
                        value: Some(event_id.as_str()),
                    }));
                producer
                    .send(record, Timeout::After(Duration::from_secs(30)))
                    .await
                    .map(|_| ())
                    .map_err(|(error, _)| error)
            }
        });
        for sent in join_all(sends).await {
            sent?;
        }
    }
    // Tells a consumer that keeps pace (it finishes soon after) from one that lags.
    eprintln!(
        "results all on the broker {:.1} s after the first was sent",
        sending.elapsed().as_secs_f64()
    );
    let results_elapsed =
        wait_published(&rig.pool, topics::TRANSFER_OUTCOMES, LINES, started).await?;
    let (written, relayed): (f64, f64) = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM max(created_at) - min(created_at))::FLOAT8, \
                EXTRACT(EPOCH FROM max(published_at) - max(created_at))::FLOAT8 \
         FROM outbox WHERE topic = $1",
    )
    .bind(topics::TRANSFER_OUTCOMES)
    .fetch_one(&rig.pool)
    .await?;
    eprintln!("outcomes written over {written:.1} s; relay finished {relayed:.1} s after the last");
    report_batches(&rig.pool, topics::BANK_RESULTS, topics::TRANSFER_OUTCOMES).await?;

    eprintln!(
        "lists → instructions: {LINES} lines in {:.1} s ({:.0}/s); results → outcomes: {LINES} in {:.1} s ({:.0}/s)",
        lists_elapsed.as_secs_f64(),
        LINES as f64 / lists_elapsed.as_secs_f64(),
        results_elapsed.as_secs_f64(),
        LINES as f64 / results_elapsed.as_secs_f64(),
    );
    Ok(())
}

/// The database's clock now: the relay stamps `published_at` with it.
async fn database_now(pool: &sqlx::PgPool) -> anyhow::Result<DateTime<Utc>> {
    Ok(sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(pool)
        .await?)
}

/// Waits until `count` outbox rows on the topics like `topic` are published, and returns the
/// time from `started` to the last of them, on the database's clock.
async fn wait_published(
    pool: &sqlx::PgPool,
    topic: &str,
    count: usize,
    started: DateTime<Utc>,
) -> anyhow::Result<Duration> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (published, last): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT count(*), max(published_at) FROM outbox \
             WHERE topic LIKE $1 AND published_at IS NOT NULL",
        )
        .bind(topic)
        .fetch_one(pool)
        .await?;
        if let Some(last) = last.filter(|_| published as usize >= count) {
            return Ok((last - started).to_std()?);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {published} of {count} rows on {topic} published in time"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Prints how the consumer and the relay batched one path: the consumer's transactions on
/// `consumed` (inbox rows share their transaction's start time) and the relay's marking
/// statements on the topics like `published` (outbox rows share the time they were marked).
async fn report_batches(
    pool: &sqlx::PgPool,
    consumed: &str,
    published: &str,
) -> anyhow::Result<()> {
    let (transactions, mean, largest): (i64, f64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(avg(n), 0)::FLOAT8, COALESCE(max(n), 0) FROM ( \
             SELECT count(*) AS n FROM inbox WHERE topic = $1 GROUP BY processed_at) AS batch",
    )
    .bind(consumed)
    .fetch_one(pool)
    .await?;
    let (marks, mark_mean): (i64, f64) = sqlx::query_as(
        "SELECT count(*), COALESCE(avg(n), 0)::FLOAT8 FROM ( \
             SELECT count(*) AS n FROM outbox WHERE topic LIKE $1 AND published_at IS NOT NULL \
             GROUP BY published_at) AS mark",
    )
    .bind(published)
    .fetch_one(pool)
    .await?;
    eprintln!(
        "  {consumed}: {transactions} consumer transactions, {mean:.1} messages each on \
         average, {largest} at most; relay: {marks} marks of {mark_mean:.0} records on average"
    );
    // Per second from the first message consumed: a stall or a slow start shows here.
    let consumed_per_second = per_second(
        pool,
        "SELECT processed_at AS at FROM inbox WHERE topic = $1 AND $2 <> ''",
        consumed,
        published,
    )
    .await?;
    let published_per_second = per_second(
        pool,
        "SELECT published_at AS at FROM outbox WHERE topic LIKE $2 AND published_at IS NOT NULL \
         AND $1 <> ''",
        consumed,
        published,
    )
    .await?;
    eprintln!("  consumed per second: {consumed_per_second:?}");
    eprintln!("  published per second: {published_per_second:?}");
    Ok(())
}

/// How many of the instants `instants` selects fall in each second after the first message
/// consumed on `consumed`.
async fn per_second(
    pool: &sqlx::PgPool,
    instants: &str,
    consumed: &str,
    published: &str,
) -> anyhow::Result<Vec<i64>> {
    // Read first, on its own: as a subquery the planner may run it again for every instant.
    let start: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT min(processed_at) FROM inbox WHERE topic = $1")
            .bind(consumed)
            .fetch_one(pool)
            .await?;
    let Some(start) = start else {
        return Ok(Vec::new());
    };
    let buckets: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT floor(EXTRACT(EPOCH FROM m.at - $3))::BIGINT AS second, count(*) \
         FROM ({instants}) AS m GROUP BY 1 ORDER BY 1"
    ))
    .bind(consumed)
    .bind(published)
    .bind(start)
    .fetch_all(pool)
    .await?;
    let mut counts = Vec::new();
    for (second, count) in buckets {
        let second = usize::try_from(second).unwrap_or(0);
        if counts.len() <= second {
            counts.resize(second + 1, 0);
        }
        counts[second] += count;
    }
    Ok(counts)
}
