//! Cutting throughput: entitlements already created are cut, signed and published as lists.
//! Ignored by default; run with
//! `BENCH_ENTITLEMENTS=100000 cargo nextest run -p payroll --run-ignored only bench`.

mod support;

use std::time::Instant;

use support::start_with;

#[tokio::test]
#[ignore = "benchmark; run on demand"]
async fn bench_cut_sign_and_publish_pending_entitlements() -> anyhow::Result<()> {
    let count: i64 = std::env::var("BENCH_ENTITLEMENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(100_000);
    let payroll = start_with(|config| config.lists.cut_interval_ms = 1).await?;
    let mut db = payroll.db().await?;
    sqlx::query(
        "INSERT INTO payroll.decisions (decision_id, version, person_id, amount_dong, months, \
         start_date, province, bank_id, destination_kind, destination_number, holder_name, \
         received_on) \
         SELECT 'd-' || n, 1, 'p-' || n, 6000000, 3, '2026-03-16', \
                lpad((n % 63 + 1)::text, 2, '0'), '970436', 2, \
                lpad(n::text, 13, '0'), 'NGUYEN VAN A', '2026-03-19' \
         FROM generate_series(1, $1) AS n",
    )
    .bind(count)
    .execute(&mut db)
    .await?;
    sqlx::query(
        "INSERT INTO payroll.entitlements (entitlement_id, decision_id, benefit_month, \
         amount_dong, province, bank_id, destination_kind, destination_number, holder_name, \
         payment_by, earned_month, scanned_at, created_at, state) \
         SELECT gen_random_uuid(), decision_id, 1, amount_dong, province, bank_id, \
                destination_kind, destination_number, holder_name, '2026-03-26', '2026-03-01', \
                now(), now(), 'pending' \
         FROM payroll.decisions",
    )
    .execute(&mut db)
    .await?;

    let started = Instant::now();
    payroll.pass_cut_interval();
    // The cutter keeps cutting while a full batch comes back.
    loop {
        payroll.pass_cut_interval();
        let pending = payroll
            .count("SELECT count(*) FROM payroll.entitlements WHERE state = 'pending'")
            .await?;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
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
        "{count} entitlements: cut and signed into {lists} lists in {:.1} s, \
         {chunks} chunks published after {:.1} s",
        cut.as_secs_f64(),
        published.as_secs_f64()
    );
    assert_eq!(
        payroll
            .count("SELECT count(*) FROM payroll.entitlements WHERE state = 'listed'")
            .await?,
        count
    );
    payroll.stop().await
}
