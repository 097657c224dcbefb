//! Scans answered together: scans that arrive while a batch is being written wait for the next
//! one and are read, judged and recorded with each other. Each keeps its own answer, a month
//! is recorded and published once however many of its scans share a batch, and each event
//! keeps the trace of its own call.

mod support;

use std::time::Duration;

use contracts::checkin::v1::{
    InvalidReason, ScanOutcome, ScanRequest, ScanResponse,
    checkin_service_client::CheckinServiceClient,
};
use sqlx::PgConnection;
use support::{Harness, morning_of, scan_with};
use testkit::eventually;
use tonic::Code;
use tonic::transport::Channel;
use tracing::Instrument;

/// Holds `decision_id`'s first month locked in a transaction of the test's own, so the batch
/// that records a scan of it waits; every scan arriving meanwhile queues for the next batch.
async fn hold_month(harness: &Harness, decision_id: &str) -> anyhow::Result<PgConnection> {
    let mut conn = harness.admin().await?;
    sqlx::query("BEGIN").execute(&mut conn).await?;
    sqlx::query(
        "SELECT 1 FROM checkin.windows WHERE decision_id = $1 AND benefit_month = 1 FOR UPDATE",
    )
    .bind(decision_id)
    .execute(&mut conn)
    .await?;
    Ok(conn)
}

/// Lets the held month go: the waiting batch goes on, and the scans queued meanwhile follow.
async fn release(mut hold: PgConnection) -> anyhow::Result<()> {
    sqlx::query("ROLLBACK").execute(&mut hold).await?;
    Ok(())
}

/// Waits until a statement of the service waits for a lock: the batch writing the held month.
async fn wait_for_the_held_batch(harness: &Harness) -> anyhow::Result<()> {
    let waiting = eventually(Duration::from_secs(20), || async {
        let mut conn = harness.admin().await?;
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut conn)
        .await?;
        Ok(waiting > 0)
    })
    .await?;
    anyhow::ensure!(waiting, "no batch ever waited for the held month");
    Ok(())
}

/// The largest batch the service answered, from its `/metrics`.
async fn largest_batch(harness: &Harness) -> anyhow::Result<f64> {
    let metrics = testkit::scrape_metrics(harness.http).await?;
    testkit::metric_value(&metrics, "checkin_scan_batch_size{quantile=\"1\"}")
        .ok_or_else(|| anyhow::anyhow!("no batch size in {metrics}"))
}

fn spawn_scan(
    client: &CheckinServiceClient<Channel>,
    credential: &str,
    text: &str,
) -> tokio::task::JoinHandle<Result<ScanResponse, tonic::Status>> {
    let (client, credential, text) = (client.clone(), credential.to_owned(), text.to_owned());
    tokio::spawn(async move { scan_with(client, &credential, &text).await })
}

#[tokio::test]
async fn scans_sharing_a_batch_record_each_month_once_and_answer_each_scan_on_its_own()
-> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    // The first request to /metrics installs the recorder; batches before it go uncounted.
    testkit::scrape_metrics(harness.http).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let held = harness.activate("decision-held").await?;
    let twice = harness.activate("decision-1").await?;
    let once = harness.activate("decision-2").await?;
    harness.activate("decision-3").await?;
    let mut conn = harness.admin().await?;
    let short_code: String = sqlx::query_scalar(
        "SELECT short_code FROM checkin.notices WHERE decision_id = 'decision-3'",
    )
    .fetch_one(&mut conn)
    .await?;
    // The signature's first character changed: still base32, no longer the signature.
    let mut forged = once.clone();
    let signature_start = forged.rfind('.').unwrap() + 1;
    let swapped = if forged[signature_start..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    forged.replace_range(signature_start..signature_start + 1, swapped);

    let hold = hold_month(&harness, "decision-held").await?;
    let first = spawn_scan(&harness.client, &credential, &held);
    wait_for_the_held_batch(&harness).await?;
    let duplicates: Vec<_> = (0..5)
        .map(|_| spawn_scan(&harness.client, &credential, &twice))
        .collect();
    let valid = spawn_scan(&harness.client, &credential, &once);
    let by_code = spawn_scan(&harness.client, &credential, &short_code);
    let bad_format = spawn_scan(&harness.client, &credential, "not a notice");
    let bad_signature = spawn_scan(&harness.client, &credential, &forged);
    let stranger = spawn_scan(&harness.client, "NOT-A-KIOSK-CREDENTIAL", &once);
    // Every scan above reaches the queue while the held batch waits.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    release(hold).await?;

    assert_eq!(first.await??.outcome(), ScanOutcome::Accepted);
    let mut duplicate_answers = Vec::new();
    for scan in duplicates {
        duplicate_answers.push(scan.await??);
    }
    let accepted: Vec<&ScanResponse> = duplicate_answers
        .iter()
        .filter(|answer| answer.outcome() == ScanOutcome::Accepted)
        .collect();
    assert_eq!(accepted.len(), 1, "{duplicate_answers:?}");
    for answer in &duplicate_answers {
        if answer.outcome() != ScanOutcome::Accepted {
            assert_eq!(answer.outcome(), ScanOutcome::AlreadyRecorded);
            assert_eq!(answer.recorded_at, accepted[0].recorded_at);
            assert_eq!(answer.payment_by, accepted[0].payment_by);
            assert!(answer.message_en.contains("already recorded"), "{answer:?}");
        }
    }
    assert_eq!(valid.await??.outcome(), ScanOutcome::Accepted);
    assert_eq!(by_code.await??.outcome(), ScanOutcome::Accepted);
    let bad_format = bad_format.await??;
    assert_eq!(bad_format.outcome(), ScanOutcome::Invalid);
    assert_eq!(bad_format.invalid_reason(), InvalidReason::BadFormat);
    let bad_signature = bad_signature.await??;
    assert_eq!(bad_signature.outcome(), ScanOutcome::Invalid);
    assert_eq!(bad_signature.invalid_reason(), InvalidReason::BadSignature);
    assert_eq!(
        stranger.await?.err().map(|status| status.code()),
        Some(Code::Unauthenticated)
    );
    assert!(
        largest_batch(&harness).await? >= 8.0,
        "the queued scans were not answered together"
    );
    assert_eq!(harness.checkin_count().await?, 4);
    assert_eq!(harness.outbox_count().await?, 4);
    let mut published: Vec<String> = harness
        .checkin_events(5)
        .await?
        .into_iter()
        .map(|event| event.decision_id)
        .collect();
    published.sort();
    assert_eq!(
        published,
        ["decision-1", "decision-2", "decision-3", "decision-held"]
    );
    harness.stop().await
}

#[tokio::test]
async fn each_scan_of_a_batch_publishes_its_event_in_its_own_trace() -> anyhow::Result<()> {
    telemetry::init_for_tests();
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let held = harness.activate("decision-held").await?;
    let mut traced = Vec::new();
    for decision_id in ["decision-1", "decision-2", "decision-3"] {
        traced.push((decision_id, harness.activate(decision_id).await?));
    }
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", harness.grpc))?
        .connect()
        .await?;
    let client =
        CheckinServiceClient::with_interceptor(channel, telemetry::inject_into_grpc_request);

    let hold = hold_month(&harness, "decision-held").await?;
    let first = spawn_scan(&harness.client, &credential, &held);
    wait_for_the_held_batch(&harness).await?;
    let mut scans = Vec::new();
    for (decision_id, token) in &traced {
        let kiosk_scan = tracing::info_span!("kiosk scan");
        let trace_id = telemetry::trace_id(&kiosk_scan).expect("the kiosk span has a trace id");
        let mut request = tonic::Request::new(ScanRequest {
            scanned_text: token.clone(),
            kiosk_id: String::new(),
        });
        request
            .metadata_mut()
            .insert(checkin::KIOSK_CREDENTIAL_HEADER, credential.parse()?);
        let mut client = client.clone();
        let scan = tokio::spawn(async move { client.scan(request).await }.instrument(kiosk_scan));
        scans.push((*decision_id, trace_id, scan));
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    release(hold).await?;

    assert_eq!(first.await??.outcome(), ScanOutcome::Accepted);
    let mut conn = harness.admin().await?;
    for (decision_id, trace_id, scan) in scans {
        assert_eq!(scan.await??.into_inner().outcome(), ScanOutcome::Accepted);
        let traceparent: Option<String> =
            sqlx::query_scalar("SELECT traceparent FROM checkin.outbox WHERE message_key = $1")
                .bind(decision_id)
                .fetch_one(&mut conn)
                .await?;
        assert_eq!(
            traceparent
                .as_deref()
                .and_then(|value| value.split('-').nth(1)),
            Some(trace_id.as_str()),
            "{decision_id}"
        );
    }
    harness.stop().await
}

#[tokio::test]
async fn a_batch_on_a_connection_the_server_ended_fails_alone_and_the_next_one_records()
-> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let first = harness.activate("decision-1").await?;
    let second = harness.activate("decision-2").await?;
    let accepted = harness.scan(&credential, &first).await?;
    assert_eq!(accepted.outcome(), ScanOutcome::Accepted);

    // The server ends the connection the last batch wrote on, as a restart or a failover would.
    let mut admin = harness.admin().await?;
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND query LIKE 'WITH scanned AS%'",
    )
    .fetch_all(&mut admin)
    .await?;
    assert_eq!(ended, [true]);

    // The batch loop kept that connection, so the next scan's batch runs on it: the scan is
    // told to try again and records nothing. Its connection goes back to the pool, which
    // finds it ended, and the scan tried again gets one that works.
    let status = harness
        .scan(&credential, &second)
        .await
        .expect_err("the ended connection answered");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(harness.checkin_count().await?, 1);
    let again = harness.scan(&credential, &second).await?;
    assert_eq!(again.outcome(), ScanOutcome::Accepted);
    assert_eq!(harness.checkin_count().await?, 2);
    harness.stop().await
}
