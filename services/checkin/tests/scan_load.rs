//! Load generator for Scan: starts its own checkin service on a fresh database, issues notices
//! for many decisions, then scans them over gRPC from many concurrent kiosks with a realistic
//! mix (95% first scans of distinct valid notices inside the current window, 3% repeats of
//! notices already scanned, 2% invalid codes) and reports scans per second and latency.
//!
//! Ignored by default; run it with
//! `cargo test --release -p checkin --test scan_load -- --ignored --nocapture`.
//! `SCAN_LOAD_SCANS` (default 30000) and `SCAN_LOAD_CONCURRENCY` (default 64) tune it.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use checkin::domain::token::short_code;
use chrono::{DateTime, Utc};
use contracts::checkin::v1::ScanOutcome;
use support::{Harness, SIGNING_KEY_ID, SIGNING_SEED, morning_of, scan_with, signer, token};
use uuid::Uuid;

/// Kiosks scanning at once, each with its own credential.
const KIOSKS: usize = 16;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Issues `count` notices straight into the service's tables, as the decision consumer would,
/// signed with the service's key: going through the topic would make the setup, not the scans,
/// the slow part of the run.
async fn issue_notices(
    harness: &Harness,
    count: usize,
    expires_at: DateTime<Utc>,
) -> anyhow::Result<Vec<String>> {
    let key = signer(SIGNING_KEY_ID, &SIGNING_SEED)?;
    let mut conn = harness.admin().await?;
    let mut tokens = Vec::with_capacity(count);
    for chunk_start in (0..count).step_by(5_000) {
        let chunk = chunk_start..(chunk_start + 5_000).min(count);
        let decisions: Vec<String> = chunk.clone().map(|i| format!("load-{i}")).collect();
        let notices: Vec<Uuid> = chunk.map(|_| Uuid::now_v7()).collect();
        let mut chunk_tokens = Vec::with_capacity(decisions.len());
        let mut codes = Vec::with_capacity(decisions.len());
        for (decision, notice) in decisions.iter().zip(&notices) {
            chunk_tokens.push(token(&key, *notice, decision, expires_at)?);
            codes.push(short_code(*notice));
        }
        sqlx::query(
            "INSERT INTO checkin.decisions (decision_id, decision_number, beneficiary_name, \
             centre_id, province, version, state, activated_at) \
             SELECT d, '123/QĐ-SLĐTBXH', 'Nguyễn Thị Lan', 'centre-kg', '91', 1, 'active', now() \
             FROM UNNEST($1::text[]) AS d",
        )
        .bind(&decisions)
        .execute(&mut conn)
        .await?;
        sqlx::query(
            "INSERT INTO checkin.windows (decision_id, benefit_month, month_start, month_end, \
             opens_on, closes_on) \
             SELECT d, w.m, w.s, w.e, w.o, w.c FROM UNNEST($1::text[]) AS d CROSS JOIN (VALUES \
             (1, DATE '2026-03-16', DATE '2026-04-15', DATE '2026-03-13', DATE '2026-03-18'), \
             (2, DATE '2026-04-16', DATE '2026-05-15', DATE '2026-04-16', DATE '2026-04-20'), \
             (3, DATE '2026-05-16', DATE '2026-06-15', DATE '2026-05-18', DATE '2026-05-20')) \
             AS w (m, s, e, o, c)",
        )
        .bind(&decisions)
        .execute(&mut conn)
        .await?;
        sqlx::query(
            "INSERT INTO checkin.notices (notice_id, decision_id, key_id, token, short_code, \
             expires_at, issued_at) \
             SELECT n, d, $3, t, c, $6, now() \
             FROM UNNEST($1::uuid[], $2::text[], $4::text[], $5::text[]) AS x (n, d, t, c)",
        )
        .bind(&notices)
        .bind(&decisions)
        .bind(SIGNING_KEY_ID)
        .bind(&chunk_tokens)
        .bind(&codes)
        .bind(expires_at)
        .execute(&mut conn)
        .await?;
        sqlx::query("ANALYZE checkin.decisions, checkin.windows, checkin.notices")
            .execute(&mut conn)
            .await?;
        tokens.extend(chunk_tokens);
    }
    Ok(tokens)
}

/// What a scan should come back as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    First,
    Repeat,
    Invalid,
}

/// Repeats look this many first scans back, past every scan still in flight, so the notice
/// is recorded by then.
const REPEAT_DISTANCE: usize = 500;

/// The kinds of `total` scans in order: every 100 hold 95 first scans, 3 repeats and 2 invalid
/// codes (until enough first scans happened to repeat, a repeat slot is a first scan).
fn kinds(total: usize) -> Vec<Kind> {
    let mut firsts = 0;
    (0..total)
        .map(|index| match index % 100 {
            10 | 45 | 80 if firsts > REPEAT_DISTANCE => Kind::Repeat,
            30 | 70 => Kind::Invalid,
            _ => {
                firsts += 1;
                Kind::First
            }
        })
        .collect()
}

/// The scanned texts: each first scan a notice of its own, each repeat a notice scanned well
/// before, each invalid code a forged signature or text that is no notice at all.
fn plan(kinds: &[Kind], tokens: &[String]) -> Vec<(Kind, String)> {
    let mut next_first = 0;
    let mut scans = Vec::with_capacity(kinds.len());
    for (index, kind) in kinds.iter().enumerate() {
        let text = match kind {
            Kind::First => {
                next_first += 1;
                tokens[next_first - 1].clone()
            }
            Kind::Repeat => tokens[next_first - REPEAT_DISTANCE + index % 100].clone(),
            Kind::Invalid if index % 100 == 30 => {
                let mut forged = tokens[index % tokens.len()].clone();
                let last = forged.pop().unwrap_or('A');
                forged.push(if last == 'A' { 'B' } else { 'A' });
                forged
            }
            Kind::Invalid => format!("NOT-A-NOTICE-{index}"),
        };
        scans.push((*kind, text));
    }
    scans
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "load benchmark; run explicitly with --ignored --nocapture"]
async fn scan_throughput_and_latency_under_a_realistic_mix() -> anyhow::Result<()> {
    let total = setting("SCAN_LOAD_SCANS", 30_000);
    let concurrency = setting("SCAN_LOAD_CONCURRENCY", 64);
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    // The service's own pool size, not the smaller one the other tests use.
    harness.config.base.database.max_connections = 16;
    harness.restart().await?;

    let kinds = kinds(total);
    let firsts = kinds.iter().filter(|kind| **kind == Kind::First).count();
    let setup = Instant::now();
    let tokens = issue_notices(
        &harness,
        firsts,
        morning_of(2026, 3, 16) + chrono::Duration::days(200),
    )
    .await?;
    let mut kiosks = Vec::with_capacity(KIOSKS);
    for _ in 0..KIOSKS {
        let credential = harness.register_kiosk().await?.1;
        kiosks.push((harness.connect().await?, credential));
    }
    let scans = Arc::new(plan(&kinds, &tokens));
    println!(
        "scan_load: {} notices issued and {} kiosks registered in {:.1?}",
        tokens.len(),
        KIOSKS,
        setup.elapsed()
    );

    // Warm the key ring and the connection pool so the run measures steady state.
    futures::future::try_join_all(
        kiosks
            .iter()
            .map(|(client, credential)| scan_with(client.clone(), credential, "warm-up")),
    )
    .await?;

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let scans = scans.clone();
        let next = next.clone();
        // Each kiosk keeps its own HTTP/2 connection, which its scans share: a single
        // connection for all of them would make one connection task, not the service, the
        // limit of the run.
        let (client, credential) = kiosks[worker % KIOSKS].clone();
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((kind, text)) = scans.get(index) else {
                    return Ok::<_, anyhow::Error>(results);
                };
                let sent = Instant::now();
                let answer = scan_with(client.clone(), &credential, text).await?;
                results.push((*kind, answer.outcome(), sent.elapsed()));
            }
        }));
    }
    let mut results = Vec::with_capacity(total);
    for worker in workers {
        results.extend(worker.await??);
    }
    let elapsed = started.elapsed();

    let mut latencies: Vec<Duration> = results.iter().map(|(_, _, latency)| *latency).collect();
    latencies.sort();
    let count = |kind: Kind, outcome: ScanOutcome| {
        results
            .iter()
            .filter(|(k, o, _)| *k == kind && *o == outcome)
            .count()
    };
    let firsts_done = results.iter().filter(|(k, _, _)| *k == Kind::First).count();
    let repeats = results
        .iter()
        .filter(|(k, _, _)| *k == Kind::Repeat)
        .count();
    let invalid = results
        .iter()
        .filter(|(k, _, _)| *k == Kind::Invalid)
        .count();
    println!(
        "scan_load: {} scans ({} first, {} repeats, {} invalid) with {} in flight in {:.2?}: \
         {:.0} scans/s; latency p50 {:.2?}, p90 {:.2?}, p99 {:.2?}, max {:.2?}",
        results.len(),
        firsts_done,
        repeats,
        invalid,
        concurrency,
        elapsed,
        results.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );

    // The run only counts if every scan got the answer it should have.
    assert_eq!(results.len(), total);
    assert_eq!(count(Kind::First, ScanOutcome::Accepted), firsts_done);
    assert_eq!(count(Kind::Repeat, ScanOutcome::AlreadyRecorded), repeats);
    assert_eq!(count(Kind::Invalid, ScanOutcome::Invalid), invalid);
    assert_eq!(harness.checkin_count().await?, firsts_done as i64);
    harness.stop().await
}
