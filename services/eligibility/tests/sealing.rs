//! Card and account numbers at rest: sealed in every table, opened only for the decision event
//! and the officer's view; numbers stored before sealing are sealed when the service starts.

mod support;

use std::borrow::Cow;

use contracts::eligibility::v1::{GetDecisionRequest, decision_event::Change};
use sqlx::migrate::Migrator;
use support::{Harness, morning_of};
use testkit::TestDatabase;
use vault::Vault;

const NUMBER: &str = "9704360000000001";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn a_card_number_is_not_stored_in_clear_yet_the_decision_event_carries_it()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let claim = harness.example_1_claim().await?;
    harness.clock.set(morning_of(2026, 3, 27));

    let decision_id = harness.approve(&claim.claim_id).await?;

    let mut conn = harness.database.admin_connection().await?;
    for table in ["claims", "decisions"] {
        // The whole row as text: no column, whatever its name, holds the number in clear.
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT t::text FROM eligibility.{table} t"))
                .fetch_all(&mut conn)
                .await?;
        assert_eq!(rows.len(), 1, "{table}");
        assert!(
            !rows[0].contains(NUMBER),
            "{table} holds the number in clear"
        );
        let (sealed, last4): (Vec<u8>, String) = sqlx::query_as(&format!(
            "SELECT destination_sealed, destination_last4 FROM eligibility.{table}"
        ))
        .fetch_one(&mut conn)
        .await?;
        assert!(
            !contains(&sealed, NUMBER),
            "{table} sealed value shows the number"
        );
        assert!(
            !contains(&sealed, "0001"),
            "{table} sealed value shows the last digits"
        );
        assert_eq!(last4, "0001");
    }
    let events = harness.decision_events(1).await?;
    let Some(Change::Activated(activated)) = &events[0].1.change else {
        anyhow::bail!("expected an activation");
    };
    let destination = activated.bank_destination.as_ref().expect("a destination");
    assert_eq!(destination.number, NUMBER);
    assert_eq!(destination.holder_name, "Nguyễn Văn An");
    let decision = harness
        .client
        .clone()
        .get_decision(GetDecisionRequest { decision_id })
        .await?
        .into_inner()
        .decision
        .expect("a decision");
    assert_eq!(
        decision.bank_destination.expect("a destination").number,
        NUMBER
    );
    Ok(())
}

#[tokio::test]
async fn numbers_stored_in_clear_before_the_sealing_migration_are_sealed_by_the_migrate_command()
-> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let pool = database.pool(eligibility::SERVICE).await?;
    let before_sealing = Migrator {
        migrations: Cow::Owned(
            eligibility::MIGRATOR
                .migrations
                .iter()
                .filter(|migration| migration.version < 7)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    serving::migrate(&pool, Some(&before_sealing)).await?;
    sqlx::query(
        "INSERT INTO persons VALUES ('0191e7a0-0000-7000-8000-000000000001', 'Nguyễn Văn An', \
         '1985-03-14', 'male', '001085012345', '01', 'centre-officer-1', now())",
    )
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO claims (claim_id, person_id, status, termination_date, end_reason, \
         last_contract_type, filing_date, qualifies_for_pension, bank_id, destination_kind, \
         destination_number, holder_name, province, centre_id, registered_by, registered_at, \
         eligible, monthly_amount_dong, benefit_months, reserved_months, start_date, assessment) \
         VALUES ('0191e7a0-0000-7000-8000-000000000002', '0191e7a0-0000-7000-8000-000000000001', \
         'awaiting_approval', '2026-03-10', 1, 'indefinite', '2026-03-16', false, '970436', 1, \
         $1, 'Nguyễn Văn An', '01', 'centre-hn-1', 'centre-officer-1', now(), true, 6000000, 3, \
         4, '2026-03-31', '')",
    )
    .bind(NUMBER)
    .execute(&pool)
    .await?;

    let mut config = eligibility::Config::default();
    config.base.database = database.settings(eligibility::SERVICE);
    eligibility::migrate(&config).await?;

    let mut conn = database.admin_connection().await?;
    let (sealed, unsealed, last4): (Option<Vec<u8>>, Option<Vec<u8>>, String) = sqlx::query_as(
        "SELECT destination_sealed, destination_unsealed, destination_last4 \
         FROM eligibility.claims",
    )
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(unsealed, None, "nothing is left in clear");
    assert_eq!(last4, "0001");
    let sealed = sealed.expect("a sealed number");
    assert!(!contains(&sealed, NUMBER));
    let vault = Vault::from_hex(config.vault.key.expose(), eligibility::VAULT_PURPOSE)?;
    assert_eq!(vault.open(&sealed)?, NUMBER);
    Ok(())
}
