//! One person, one benefit month, from the claim to the bank's credit: the four services and
//! the bank simulator run together on one database, one set of topics and one clock driven by
//! the test, and are reached only through their gRPC APIs and Kafka.

use std::time::Duration;

use contracts::checkin::v1::ScanOutcome;
use system_tests::{
    CUT_INTERVAL, System, morning_of, reconciled, reconciliation, statistics, total,
};

#[tokio::test]
async fn one_check_in_is_paid_once_from_claim_to_bank_credit() -> anyhow::Result<()> {
    // Arrange: the system on Monday 16 March 2026, the day An files his claim.
    let mut system = System::start(morning_of(2026, 3, 16)).await?;

    // Act: the contribution history, the person and the claim at the job centre; approved on
    // Tuesday 24 March, handed over on Friday 27 March, when month 1's window opens; An scans
    // his notice at the kiosk on hand-over day.
    let ready = system.prepare_first_check_in().await?;
    let monthly_amount = ready.monthly_amount;
    let first = system.scan(&ready.kiosk_credential, &ready.token).await?;
    anyhow::ensure!(
        first.outcome() == ScanOutcome::Accepted,
        "the first scan was not accepted: {first:?}"
    );
    // Payroll cuts, signs and publishes on its next interval; transfer pays; the bank credits.
    system.follow_check_in_to_payment().await?;
    let mut clients = system.clients();
    let paid_once = reconciliation(&mut clients.transfer).await?;

    // The same notice scanned again, and another cut interval.
    let second = system.scan(&ready.kiosk_credential, &ready.token).await?;
    system.clock.advance(CUT_INTERVAL * 2);
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Assert: 40 months at 10,000,000 đồng give 60% of the average, as in worked example 1.
    assert_eq!(monthly_amount, 6_000_000, "the assessed monthly amount");
    assert_eq!(first.outcome(), ScanOutcome::Accepted, "{first:?}");
    assert_eq!(first.benefit_month, 1);
    assert_eq!(second.outcome(), ScanOutcome::AlreadyRecorded, "{second:?}");

    let rows = reconciliation(&mut clients.transfer).await?;
    assert_eq!(
        rows, paid_once,
        "nothing more is paid after the repeat scan"
    );
    let (approved, credited, approved_count, credited_count) = reconciled(&rows);
    assert_eq!(approved_count, 1, "exactly one transfer: {rows:?}");
    assert_eq!(credited_count, 1, "and it is credited: {rows:?}");
    assert_eq!(
        approved, monthly_amount,
        "approved is the decision's amount"
    );
    assert_eq!(credited, approved, "credited to the đồng");
    assert!(
        rows.iter().all(|row| row.difference_dong == 0),
        "nothing unaccounted: {rows:?}"
    );

    let statistics = statistics(&mut clients.payroll).await?;
    let paid = total(&statistics, |row| row.paid_dong);
    let paid_to_cards = total(&statistics, |row| row.paid_to_cards);
    let entitlements = total(&statistics, |row| row.entitlements);
    assert_eq!(
        entitlements, 1,
        "one entitlement for the one check-in: {statistics:?}"
    );
    assert_eq!(
        paid, monthly_amount,
        "payroll shows the month paid: {statistics:?}"
    );
    assert_eq!(paid_to_cards, 1, "to the card: {statistics:?}");
    Ok(())
}
