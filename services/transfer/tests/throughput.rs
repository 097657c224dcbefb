//! Throughput of the two hot paths, on the real broker and PostgreSQL: approved lines to
//! instructions published on the banks' topics, and bank results to outcomes published.
//! Ignored by default; run with
//! `cargo nextest run --release -p transfer --run-ignored only throughput --no-capture` and
//! read the figures on stderr. `TRANSFER_BENCH_LINES` sets the number of lines (20,000 by
//! default).

mod support;

use std::time::{Duration, Instant};

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

#[tokio::test]
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

    let started = Instant::now();
    rig.publish_list(&chunks).await?;
    let published = testkit::eventually(Duration::from_secs(600), || async {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE topic LIKE 'bank.%' AND published_at IS NOT NULL",
        )
        .fetch_one(&rig.pool)
        .await?;
        Ok(count as usize >= LINES)
    })
    .await?;
    assert!(published);
    let lists_elapsed = started.elapsed();
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

    let ids: Vec<(String, String)> = sqlx::query_as("SELECT end_to_end_id, bank_id FROM transfers")
        .fetch_all(&rig.pool)
        .await?;
    let results_topic = rig.topics.name(topics::BANK_RESULTS);
    let started = Instant::now();
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
        started.elapsed().as_secs_f64()
    );
    let outcomes = testkit::eventually(Duration::from_secs(600), || async {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE topic = $1 AND published_at IS NOT NULL",
        )
        .bind(topics::TRANSFER_OUTCOMES)
        .fetch_one(&rig.pool)
        .await?;
        Ok(count as usize >= LINES)
    })
    .await?;
    assert!(outcomes);
    let results_elapsed = started.elapsed();
    let (written, relayed): (f64, f64) = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM max(created_at) - min(created_at))::FLOAT8, \
                EXTRACT(EPOCH FROM max(published_at) - max(created_at))::FLOAT8 \
         FROM outbox WHERE topic = $1",
    )
    .bind(topics::TRANSFER_OUTCOMES)
    .fetch_one(&rig.pool)
    .await?;
    eprintln!("outcomes written over {written:.1} s; relay finished {relayed:.1} s after the last");

    eprintln!(
        "lists → instructions: {LINES} lines in {:.1} s ({:.0}/s); results → outcomes: {LINES} in {:.1} s ({:.0}/s)",
        lists_elapsed.as_secs_f64(),
        LINES as f64 / lists_elapsed.as_secs_f64(),
        results_elapsed.as_secs_f64(),
        LINES as f64 / results_elapsed.as_secs_f64(),
    );
    Ok(())
}
