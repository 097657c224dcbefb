//! A national-scale benefit month through the local stack (`deploy/local/bench.sh`).
//!
//! The setup registers a synthetic population through the system's own paths until the asked
//! number of people hold a check-in notice. Then the month is timed: every beneficiary scans
//! at a kiosk of their province (kiosk gRPC API), and the run waits until each payment is
//! credited by the bank simulator and reconciliation at transfer is exact to the đồng. The
//! topics are read along the way, as a bank and an auditor see them, for the per-stage
//! throughput and the latencies.

pub mod memory;
pub mod observe;
pub mod options;
pub mod progress;
pub mod report;
pub mod setup;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use contracts::checkin::v1::checkin_service_client::CheckinServiceClient;
use contracts::checkin::v1::{ScanOutcome, ScanRequest};
use contracts::topics;
use contracts::transfer::v1::GetReconciliationRequest;
use contracts::transfer::v1::transfer_service_client::TransferServiceClient;
use futures::{StreamExt as _, TryStreamExt as _};
use tonic::transport::Channel;

pub use options::Options;
use progress::Progress;
use report::{Percentiles, Report};
use setup::{Holder, Kiosk};

/// The header carrying a kiosk's credential.
const KIOSK_CREDENTIAL_HEADER: &str = "x-kiosk-credential";
/// Connections the kiosks' calls are spread over.
const CONNECTIONS: usize = 4;

/// Runs the setup and the timed month; the report, also when the month did not complete.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let pool = sqlx::PgPool::connect(&options.database_url)
        .await
        .context("connecting to PostgreSQL to read the printed notices")?;

    let setup_started = Instant::now();
    let prepared = setup::prepare(options, &pool).await?;
    for group in ["payroll", "transfer"] {
        wait_until(
            "decisions reach payroll and transfer",
            Duration::from_secs(600),
            || {
                let brokers = options.brokers.clone();
                async move {
                    tokio::task::spawn_blocking(move || {
                        observe::caught_up(&brokers, group, topics::DECISIONS)
                    })
                    .await?
                }
            },
        )
        .await?;
    }
    let setup_seconds = setup_started.elapsed().as_secs_f64();
    eprintln!(
        "setup done in {setup_seconds:.0} s: {} beneficiaries hold notices; the month starts",
        prepared.holders.len()
    );

    setup::set_clock(options, setup::nine_am(setup::HANDOVER)?)?;
    // The services re-read the clock file within 100 ms.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let observer = observe::start(&options.brokers)?;
    let sampler = memory::Sampler::start(&options.run_dir);

    let payments = prepared.holders.len() as u64;
    let progress = Progress::many(&[
        ("scans", payments),
        ("listed", payments),
        ("instructed", payments),
        ("credited", payments),
    ]);
    let started = Instant::now();
    let started_ms = chrono::Utc::now().timestamp_millis();
    // The bars after the first follow what the topics show.
    let seen = observer.observed.clone();
    let bars = progress.clone();
    let feeding = tokio::spawn(async move {
        loop {
            let (listed, instructed, credited) = {
                let seen = seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (
                    seen.listed.len(),
                    seen.instructed.len(),
                    seen.credited.len(),
                )
            };
            bars.set_bar(1, listed as u64);
            bars.set_bar(2, instructed as u64);
            bars.set_bar(3, credited as u64);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let scans = scan_all(
        options,
        &prepared.holders,
        &prepared.kiosks,
        progress.clone(),
    )
    .await?;
    let scan_seconds = started.elapsed().as_secs_f64();
    let accepted = scans.accepted.len() as u64;

    // Every accepted scan credited, then reconciliation exact.
    let limit = Duration::from_secs(600).max(Duration::from_millis(accepted * 2));
    let credited = async {
        while observer.read(|seen| seen.credited.len() as u64) < accepted {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let all_credited = tokio::time::timeout(limit, credited).await.is_ok();
    let (reconciliation, exact) = if all_credited {
        reconcile(options, accepted).await?
    } else {
        (
            "not reached: not every payment was credited in time".to_owned(),
            false,
        )
    };
    let month_seconds = started.elapsed().as_secs_f64();
    feeding.abort();
    progress.finish();
    let memory = sampler.finish();
    // Let the observer see the last records produced before the end.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (stages, listed, instructed, credited, not_credited) = observer.read(|seen| {
        (
            seen.stages.clone(),
            seen.listed.clone(),
            seen.instructed.clone(),
            seen.credited.clone(),
            seen.not_credited,
        )
    });
    let latency = |arrived: &HashMap<String, i64>| {
        Percentiles::of(
            scans
                .accepted
                .iter()
                .filter_map(|(decision, scanned)| Some(arrived.get(decision)? - scanned))
                .collect(),
        )
    };
    Ok(Report {
        payments: options.payments,
        people: prepared.people,
        setup_seconds,
        accepted,
        other_answers: scans.others,
        scan_seconds,
        scan_latency: Percentiles::of(scans.latencies_ms),
        month_seconds,
        complete: all_credited && exact,
        reconciliation,
        stages,
        started_ms,
        scan_to_list: latency(&listed),
        scan_to_instruction: latency(&instructed),
        scan_to_credit: latency(&credited),
        not_credited,
        memory,
    })
}

/// What the kiosks saw.
#[derive(Debug, Default)]
struct Scans {
    /// Decision → when its accepted answer arrived, in milliseconds since the epoch.
    accepted: HashMap<String, i64>,
    /// Other answers by outcome.
    others: BTreeMap<String, u64>,
    /// Each call's latency.
    latencies_ms: Vec<i64>,
}

async fn scan_all(
    options: &Options,
    holders: &[Holder],
    kiosks: &BTreeMap<String, Kiosk>,
    progress: Progress,
) -> anyhow::Result<Scans> {
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(CheckinServiceClient::new(
            Channel::from_shared(options.checkin.clone())?
                .tcp_nodelay(true)
                .connect()
                .await
                .context("connecting to checkin")?,
        ));
    }
    let done = Arc::new(AtomicU64::new(0));
    let answers: Vec<(String, ScanOutcome, i64, i64)> =
        futures::stream::iter(holders.iter().enumerate())
            .map(|(at, holder)| {
                let mut checkin = clients[at % CONNECTIONS].clone();
                let kiosk = kiosks.get(&holder.province).cloned();
                let (done, progress) = (done.clone(), progress.clone());
                async move {
                    let kiosk = kiosk.context("no kiosk in the holder's province")?;
                    let mut request = tonic::Request::new(ScanRequest {
                        scanned_text: holder.token.clone(),
                        kiosk_id: kiosk.kiosk_id.clone(),
                    });
                    request
                        .metadata_mut()
                        .insert(KIOSK_CREDENTIAL_HEADER, kiosk.credential.parse()?);
                    let sent = Instant::now();
                    let answer = checkin.scan(request).await?.into_inner();
                    let latency = i64::try_from(sent.elapsed().as_millis())?;
                    progress.set_bar(0, done.fetch_add(1, Ordering::Relaxed) + 1);
                    anyhow::Ok((
                        holder.decision_id.to_lowercase(),
                        answer.outcome(),
                        chrono::Utc::now().timestamp_millis(),
                        latency,
                    ))
                }
            })
            .buffer_unordered(options.concurrency)
            .try_collect()
            .await?;
    let mut scans = Scans::default();
    for (decision, outcome, at, latency) in answers {
        scans.latencies_ms.push(latency);
        if outcome == ScanOutcome::Accepted {
            scans.accepted.insert(decision, at);
        } else {
            *scans
                .others
                .entry(outcome.as_str_name().to_lowercase())
                .or_default() += 1;
        }
    }
    Ok(scans)
}

/// Waits until transfer's reconciliation holds every payment credited, nothing in flight,
/// parked or failed, and no difference; what it said at the end.
async fn reconcile(options: &Options, payments: u64) -> anyhow::Result<(String, bool)> {
    let mut transfer = TransferServiceClient::new(
        Channel::from_shared(options.transfer.clone())?
            .connect()
            .await
            .context("connecting to transfer")?,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = transfer
            .get_reconciliation(GetReconciliationRequest::default())
            .await?
            .into_inner()
            .rows;
        let sum = |figure: fn(&contracts::transfer::v1::ReconciliationRow) -> i64| {
            rows.iter().map(figure).sum::<i64>()
        };
        let count = |figure: fn(&contracts::transfer::v1::ReconciliationRow) -> u64| {
            rows.iter().map(figure).sum::<u64>()
        };
        let (approved, credited) = (sum(|r| r.approved_dong), sum(|r| r.credited_dong));
        let open = sum(|r| r.in_flight_dong) + sum(|r| r.parked_dong) + sum(|r| r.failed_dong);
        let difference = rows.iter().map(|r| r.difference_dong.abs()).sum::<i64>();
        let said = format!(
            "{} lists/banks; approved {} lines = {approved} đồng, credited {} lines = {credited} \
             đồng, open {open} đồng, difference {difference} đồng",
            rows.len(),
            count(|r| r.approved_count),
            count(|r| r.credited_count),
        );
        let exact = count(|r| r.credited_count) == payments
            && approved == credited
            && open == 0
            && difference == 0;
        if exact || Instant::now() > deadline {
            return Ok((said, exact));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await? {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
