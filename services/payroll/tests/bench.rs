//! Throughput of the payroll stage. Ignored by default; run in release with
//! `BENCH_ENTITLEMENTS=1000000 cargo nextest run --release -p payroll --run-ignored only bench
//! --no-capture`:
//! - cutting, signing and publishing entitlements already created;
//! - creating entitlements from check-ins arriving on `checkin.scans.v1`;
//! - marking entitlements paid from outcomes arriving on `transfer.outcomes.v1`.
//!
//! `BENCH_BATCH_SIZE` sets how many messages the consumer applies per transaction (1 measures
//! one transaction per message).

mod support;

use std::time::{Duration, Instant};

use contracts::{
    topics,
    transfer::v1::{TransferOutcome, TransferStatus},
};
use messaging::headers;
use prost::Message as _;
use rdkafka::{message::OwnedHeaders, producer::FutureRecord, util::Timeout};
use support::{Payroll, checked_in, start_with};
use uuid::Uuid;

/// Rows inserted per statement while seeding.
const SEED_BATCH: usize = 20_000;

fn bench_size() -> usize {
    std::env::var("BENCH_ENTITLEMENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(100_000)
}

/// Starts payroll for a benchmark: a daily cut keeps the cutter still (the cut benchmark moves
/// the clock to it), and `BENCH_BATCH_SIZE`, when set, bounds the consumer's batches.
async fn start_for_bench() -> anyhow::Result<Payroll> {
    let batch_size: Option<usize> = std::env::var("BENCH_BATCH_SIZE")
        .ok()
        .and_then(|value| value.parse().ok());
    start_with(|config| {
        config.lists.daily_cut_at = "16:00".into();
        if let Some(batch_size) = batch_size {
            config.base.kafka.batch_size = batch_size;
        }
    })
    .await
}

/// Publishes `records` (key, payload) on the test's copy of `topic`, each with its own event
/// id, `SEED_BATCH` in flight at a time.
async fn produce(
    payroll: &Payroll,
    topic: &str,
    records: impl Iterator<Item = (String, Vec<u8>)>,
) -> anyhow::Result<()> {
    let producer = messaging::idempotent_producer(&testkit::kafka_settings("bench-feeder"))?;
    let topic = payroll.topics.name(topic);
    let mut records = records.peekable();
    while records.peek().is_some() {
        let batch: Vec<(String, Vec<u8>, String)> = records
            .by_ref()
            .take(SEED_BATCH)
            .map(|(key, payload)| (key, payload, Uuid::new_v4().to_string()))
            .collect();
        let deliveries =
            batch.iter().map(|(key, payload, event_id)| {
                let record = FutureRecord::to(&topic).key(key).payload(payload).headers(
                    headers::with_pairs(
                        OwnedHeaders::new(),
                        [(headers::EVENT_ID, event_id.as_str())],
                    ),
                );
                producer.send(record, Timeout::After(Duration::from_secs(60)))
            });
        for delivery in futures::future::join_all(deliveries).await {
            delivery.map_err(|(error, _)| error)?;
        }
    }
    Ok(())
}

/// Stores `count` active decisions `d-1` … `d-<count>` spread over the 63 provinces, each paid
/// to an account of its own, sealed as the service seals them.
async fn seed_decisions(payroll: &Payroll, count: usize) -> anyhow::Result<()> {
    let sealer = payroll::VaultSettings::default().sealer()?;
    let mut db = payroll.db().await?;
    for start in (1..=count).step_by(SEED_BATCH) {
        let end = (start + SEED_BATCH - 1).min(count);
        let mut ids = Vec::with_capacity(SEED_BATCH);
        let mut provinces = Vec::with_capacity(SEED_BATCH);
        let mut sealed = Vec::with_capacity(SEED_BATCH);
        let mut digests = Vec::with_capacity(SEED_BATCH);
        for n in start..=end {
            let number = sealer.seal_number(&format!("{n:013}"))?;
            ids.push(format!("d-{n}"));
            provinces.push(format!("{:02}", n % 63 + 1));
            sealed.push(number.sealed);
            digests.push(number.digest);
        }
        sqlx::query(
            "INSERT INTO payroll.decisions (decision_id, version, person_id, amount_dong, months, \
             start_date, province, bank_id, destination_kind, destination_sealed, \
             destination_digest, holder_name, received_on) \
             SELECT id, 1, 'p-' || id, 6000000, 3, '2026-03-16', province, '970436', 2, sealed, \
                    digest, 'NGUYEN VAN A', '2026-03-19' \
             FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::bytea[]) \
               AS u(id, province, sealed, digest)",
        )
        .bind(&ids)
        .bind(&provinces)
        .bind(&sealed)
        .bind(&digests)
        .execute(&mut db)
        .await?;
    }
    sqlx::query(
        "INSERT INTO payroll.decision_months (decision_id, benefit_month, month_start) \
         SELECT decision_id, 1, '2026-03-16' FROM payroll.decisions",
    )
    .execute(&mut db)
    .await?;
    sqlx::query("ANALYZE payroll.decisions")
        .execute(&mut db)
        .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "benchmark; run on demand"]
async fn bench_cut_sign_and_publish_pending_entitlements() -> anyhow::Result<()> {
    let count = bench_size();
    // A daily cut at 16:00 keeps the cutter still while the entitlements are seeded; once due,
    // it cuts full batches back to back until none is left.
    let payroll = start_for_bench().await?;
    let seeding = Instant::now();
    seed_decisions(&payroll, count).await?;
    let mut db = payroll.db().await?;
    sqlx::query(
        "INSERT INTO payroll.entitlements (entitlement_id, decision_id, benefit_month, \
         amount_dong, province, bank_id, destination_kind, destination_sealed, \
         destination_digest, holder_name, payment_by, earned_month, scanned_at, created_at, \
         state) \
         SELECT gen_random_uuid(), decision_id, 1, amount_dong, province, bank_id, \
                destination_kind, destination_sealed, destination_digest, holder_name, \
                '2026-03-26', '2026-03-01', now(), now(), 'pending' \
         FROM payroll.decisions",
    )
    .execute(&mut db)
    .await?;
    sqlx::query("ANALYZE payroll.entitlements")
        .execute(&mut db)
        .await?;
    println!(
        "{count} decisions and entitlements seeded in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    // 16:00 in Hà Nội.
    payroll.clock.advance(chrono::Duration::hours(7));
    // A cheap probe: counting the pending rows would itself load the database.
    loop {
        let pending = payroll
            .count(
                "SELECT count(*) FROM (SELECT 1 FROM payroll.entitlements \
                 WHERE state = 'pending' LIMIT 1) p",
            )
            .await?;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let cut = started.elapsed();
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.outbox WHERE published_at IS NULL",
            0,
        )
        .await?;
    let published = started.elapsed();
    let lists = payroll
        .count("SELECT count(*) FROM payroll.payment_lists")
        .await?;
    let chunks = payroll.count("SELECT count(*) FROM payroll.outbox").await?;
    println!(
        "{count} entitlements: cut and signed into {lists} lists in {:.1} s ({:.0} lines/s), \
         {chunks} chunks published after {:.1} s",
        cut.as_secs_f64(),
        count as f64 / cut.as_secs_f64(),
        published.as_secs_f64()
    );
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.entitlements WHERE state = 'listed'")
            .await?,
        i64::try_from(count)?
    );
    payroll.stop().await
}

#[tokio::test]
#[ignore = "benchmark; run on demand"]
async fn bench_entitlements_created_from_checkin_scans() -> anyhow::Result<()> {
    let count = bench_size();
    let payroll = start_for_bench().await?;
    seed_decisions(&payroll, count).await?;

    let started = Instant::now();
    let checkins = (1..=count).map(|n| {
        let event = checked_in(&format!("d-{n}"), 1);
        let payload = event.encode_to_vec();
        (event.decision_id, payload)
    });
    produce(&payroll, topics::CHECKIN_SCANS, checkins).await?;
    let produced = started.elapsed();

    let total = i64::try_from(count)?;
    loop {
        // Probes the last decision's entitlement first; counting every row would itself load
        // the database. Check-ins are consumed in order on the one partition.
        let last = payroll
            .count(&format!(
                "SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-{count}'"
            ))
            .await?;
        let created = if last == 1 {
            payroll
                .count("SELECT count(*) FROM payroll.entitlements")
                .await?
        } else {
            0
        };
        if created == total {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(3_600),
            "only {created} of {total} entitlements after an hour"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let created = started.elapsed();
    println!(
        "{count} check-ins: produced in {:.1} s; entitlements created {:.1} s after the first \
         was sent ({:.0} entitlements/s)",
        produced.as_secs_f64(),
        created.as_secs_f64(),
        count as f64 / created.as_secs_f64()
    );
    payroll.stop().await
}

#[tokio::test]
#[ignore = "benchmark; run on demand"]
async fn bench_outcomes_mark_listed_entitlements_paid() -> anyhow::Result<()> {
    let count = bench_size();
    let payroll = start_for_bench().await?;
    seed_decisions(&payroll, count).await?;
    let mut db = payroll.db().await?;
    sqlx::query(
        "INSERT INTO payroll.entitlements (entitlement_id, decision_id, benefit_month, \
         amount_dong, province, bank_id, destination_kind, destination_sealed, \
         destination_digest, holder_name, payment_by, earned_month, scanned_at, created_at, \
         state) \
         SELECT gen_random_uuid(), decision_id, 1, amount_dong, province, bank_id, \
                destination_kind, destination_sealed, destination_digest, holder_name, \
                '2026-03-26', '2026-03-01', now(), now(), 'listed' \
         FROM payroll.decisions",
    )
    .execute(&mut db)
    .await?;
    sqlx::query("ANALYZE payroll.entitlements")
        .execute(&mut db)
        .await?;
    let listed: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT entitlement_id, decision_id FROM payroll.entitlements")
            .fetch_all(&mut db)
            .await?;
    let Some((last, _)) = listed.last().cloned() else {
        anyhow::bail!("nothing seeded");
    };

    let started = Instant::now();
    let outcomes = listed.into_iter().map(|(entitlement_id, decision_id)| {
        let outcome = TransferOutcome {
            entitlement_id: entitlement_id.to_string(),
            decision_id,
            benefit_month: 1,
            amount_dong: 6_000_000,
            attempt: 1,
            status: TransferStatus::Paid as i32,
            ..Default::default()
        };
        (outcome.entitlement_id.clone(), outcome.encode_to_vec())
    });
    produce(&payroll, topics::TRANSFER_OUTCOMES, outcomes).await?;
    let produced = started.elapsed();

    let total = i64::try_from(count)?;
    loop {
        // Outcomes are consumed in order on the one partition: the last one sent comes last.
        let last_paid = payroll
            .count(&format!(
                "SELECT count(*) FROM payroll.entitlements \
                 WHERE entitlement_id = '{last}' AND state = 'paid'"
            ))
            .await?;
        let paid = if last_paid == 1 {
            payroll
                .count("SELECT count(*) FROM payroll.entitlements WHERE state = 'paid'")
                .await?
        } else {
            0
        };
        if paid == total {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(3_600),
            "only {paid} of {total} entitlements paid after an hour"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let applied = started.elapsed();
    println!(
        "{count} outcomes: produced in {:.1} s; entitlements paid {:.1} s after the first was \
         sent ({:.0} outcomes/s)",
        produced.as_secs_f64(),
        applied.as_secs_f64(),
        count as f64 / applied.as_secs_f64()
    );
    payroll.stop().await
}
