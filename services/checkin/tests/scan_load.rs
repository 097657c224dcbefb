//! Load generator for Scan: starts its own checkin service on a fresh database, issues notices
//! for many decisions, then scans them over gRPC from many kiosks with a realistic mix (95%
//! first scans of distinct valid notices inside the current window, 3% repeats of notices
//! already scanned, 2% invalid codes). It runs two phases and reports each:
//!
//! - **capacity**: a fixed number of scans always in flight, each sent as the previous one
//!   is answered: the most scans per second the service answers;
//! - **latency at a rate**: scans sent on a fixed schedule whatever the answers do, as kiosks
//!   of a whole country would send them, each timed from the moment it was due, not the moment
//!   it went out, so a service falling behind shows in the figures instead of slowing the
//!   generator down.
//!
//! Ignored by default; run it with
//! `cargo nextest run --release -p checkin --test scan_load --run-ignored only --no-capture`.
//! `SCAN_LOAD_SCANS` (default 30000) and `SCAN_LOAD_CONCURRENCY` (default 64) tune the first
//! phase, `SCAN_LOAD_RATE` (scans/s, default 3000) and `SCAN_LOAD_SECONDS` (default 10) the
//! second.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use checkin::domain::token::short_code;
use chrono::{DateTime, Utc};
use contracts::checkin::v1::ScanOutcome;
use contracts::checkin::v1::checkin_service_client::CheckinServiceClient;
use support::{Harness, SIGNING_KEY_ID, SIGNING_SEED, morning_of, scan_with, signer, token};
use tonic::transport::Channel;
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

type Kiosk = (CheckinServiceClient<Channel>, String);

/// One scan's answer: what it was meant to be, what came back and how long it took.
type Answered = (Kind, ScanOutcome, Duration);

/// What a phase measured.
struct Phase {
    results: Vec<Answered>,
    elapsed: Duration,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.results.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn latencies(&self) -> String {
        let mut latencies: Vec<Duration> = self
            .results
            .iter()
            .map(|(_, _, latency)| *latency)
            .collect();
        latencies.sort();
        format!(
            "latency p50 {:.2?}, p90 {:.2?}, p99 {:.2?}, max {:.2?}",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.90),
            percentile(&latencies, 0.99),
            latencies.last().copied().unwrap_or_default(),
        )
    }
}

/// Keeps `concurrency` scans in flight until `scans` are answered.
async fn at_capacity(
    kiosks: &[Kiosk],
    scans: Arc<Vec<(Kind, String)>>,
    concurrency: usize,
) -> anyhow::Result<Phase> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let scans = scans.clone();
        let next = next.clone();
        // Each kiosk keeps its own HTTP/2 connection, which its scans share: a single
        // connection for all of them would make one connection task, not the service, the
        // limit of the run.
        let (client, credential) = kiosks[worker % kiosks.len()].clone();
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
    let mut results = Vec::with_capacity(scans.len());
    for worker in workers {
        results.extend(worker.await??);
    }
    Ok(Phase {
        results,
        elapsed: started.elapsed(),
    })
}

/// Sends `scans` at `rate` per second on a fixed schedule, each timed from when it was due.
async fn at_rate(
    kiosks: &[Kiosk],
    scans: Vec<(Kind, String)>,
    rate: usize,
) -> anyhow::Result<Phase> {
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = tokio::time::Instant::now();
    let mut sent = Vec::with_capacity(scans.len());
    for (index, (kind, text)) in scans.into_iter().enumerate() {
        let due = started + interval.mul_f64(index as f64);
        tokio::time::sleep_until(due).await;
        let (client, credential) = kiosks[index % kiosks.len()].clone();
        sent.push(tokio::spawn(async move {
            let answer = scan_with(client, &credential, &text).await?;
            Ok::<_, anyhow::Error>((kind, answer.outcome(), due.elapsed()))
        }));
    }
    let mut results = Vec::with_capacity(sent.len());
    for scan in sent {
        results.push(scan.await??);
    }
    Ok(Phase {
        results,
        elapsed: started.elapsed(),
    })
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "load benchmark; run explicitly with --ignored --nocapture"]
async fn scan_throughput_and_latency_under_a_realistic_mix() -> anyhow::Result<()> {
    let capacity_scans = setting("SCAN_LOAD_SCANS", 30_000);
    let concurrency = setting("SCAN_LOAD_CONCURRENCY", 64);
    let rate = setting("SCAN_LOAD_RATE", 3_000);
    let rate_scans = rate * setting("SCAN_LOAD_SECONDS", 10);
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    // The service's own pool size, not the smaller one the other tests use.
    harness.config.base.database.max_connections = 16;
    harness.restart().await?;

    // One sequence for both phases, so the second one's repeats find notices the first scanned.
    let kinds = kinds(capacity_scans + rate_scans);
    let firsts = kinds.iter().filter(|kind| **kind == Kind::First).count();
    let setup = Instant::now();
    let tokens = issue_notices(
        &harness,
        firsts,
        morning_of(2026, 3, 16) + chrono::Duration::days(200),
    )
    .await?;
    let mut credentials = Vec::with_capacity(KIOSKS);
    for _ in 0..KIOSKS {
        credentials.push(harness.register_kiosk().await?.1);
    }
    let mut scans = plan(&kinds, &tokens);
    let mut rate_phase = scans.split_off(capacity_scans);
    // Scans sent on a schedule may overtake each other, so the second phase repeats notices
    // the first phase already recorded.
    let recorded: Vec<&String> = scans
        .iter()
        .filter(|(kind, _)| *kind == Kind::First)
        .map(|(_, text)| text)
        .collect();
    for (index, (kind, text)) in rate_phase.iter_mut().enumerate() {
        if *kind == Kind::Repeat {
            *text = recorded[index * 7 % recorded.len()].clone();
        }
    }
    println!(
        "scan_load: {} notices issued and {} kiosks registered in {:.1?}",
        tokens.len(),
        KIOSKS,
        setup.elapsed()
    );

    // Kiosks are other machines: the generator and its connections run on a runtime of their
    // own, on a thread of their own, so a scan goes out when it is due however busy the
    // service's workers are, and the service's workers serve only the service.
    let generator = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kiosks")
        .enable_all()
        .build()?;
    let address = harness.grpc;
    let phases = generator.spawn(async move {
        let mut kiosks: Vec<Kiosk> = Vec::with_capacity(KIOSKS);
        for credential in credentials {
            let client = CheckinServiceClient::connect(format!("http://{address}")).await?;
            kiosks.push((client, credential));
        }
        // Warm the key ring and the connection pool so the run measures steady state.
        futures::future::try_join_all(
            kiosks
                .iter()
                .map(|(client, credential)| scan_with(client.clone(), credential, "warm-up")),
        )
        .await?;

        let capacity = at_capacity(&kiosks, Arc::new(scans), concurrency).await?;
        println!(
            "scan_load: capacity: {} scans with {} in flight in {:.2?}: {:.0} scans/s; {}",
            capacity.results.len(),
            concurrency,
            capacity.elapsed,
            capacity.per_second(),
            capacity.latencies(),
        );
        let paced = at_rate(&kiosks, rate_phase, rate).await?;
        println!(
            "scan_load: at {} scans/s offered: {} scans answered in {:.2?}: {:.0} scans/s; {} \
             (each from when it was due)",
            rate,
            paced.results.len(),
            paced.elapsed,
            paced.per_second(),
            paced.latencies(),
        );
        Ok::<_, anyhow::Error>((capacity, paced))
    });
    let phases = phases.await;
    // A runtime may not be dropped where blocking is not allowed, as in this test's own.
    generator.shutdown_background();
    let (capacity, paced) = phases??;

    // The run only counts if every scan got the answer it should have.
    let results: Vec<&Answered> = capacity.results.iter().chain(&paced.results).collect();
    let count = |kind: Kind, outcome: ScanOutcome| {
        results
            .iter()
            .filter(|(k, o, _)| *k == kind && *o == outcome)
            .count()
    };
    let of_kind = |kind: Kind| results.iter().filter(|(k, _, _)| *k == kind).count();
    println!(
        "scan_load: {} first scans, {} repeats, {} invalid",
        of_kind(Kind::First),
        of_kind(Kind::Repeat),
        of_kind(Kind::Invalid)
    );
    assert_eq!(results.len(), capacity_scans + rate_scans);
    assert_eq!(
        count(Kind::First, ScanOutcome::Accepted),
        of_kind(Kind::First)
    );
    assert_eq!(
        count(Kind::Repeat, ScanOutcome::AlreadyRecorded),
        of_kind(Kind::Repeat)
    );
    assert_eq!(
        count(Kind::Invalid, ScanOutcome::Invalid),
        of_kind(Kind::Invalid)
    );
    assert_eq!(harness.checkin_count().await?, of_kind(Kind::First) as i64);
    harness.stop().await
}
