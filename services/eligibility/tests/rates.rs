//! The rate data: the migration seeds the published rate book the rules were tested with, and
//! an operator's change takes effect on the next claim.

mod support;

use contracts::common::v1::{Agency, Officer};
use contracts::eligibility::v1::{
    AddHolidayRequest, GetRateDataRequest, Holiday, Rate, RateKind, Regime, RegisterClaimRequest,
    RemoveHolidayRequest, SetRateRequest,
};
use eligibility::domain::rates::RateBook;
use support::{Harness, an, binh, date, example_1_claim, months_csv, morning_of, operator};
use testkit::TestDatabase;
use tonic::Code;
use tonic_types::StatusExt;

/// 65% of the average salary under the 2025 regime from 1 March 2026.
fn sixty_five_percent_from_march() -> Rate {
    Rate {
        kind: RateKind::BenefitShareBasisPoints as i32,
        regime: Regime::Regime2025 as i32,
        effective_from: date(2026, 3, 1),
        value: 6_500,
        source: "Decree 999/2026/ND-CP".into(),
    }
}

/// The benefit share in force on `day`, as GetRateData lists it.
async fn benefit_share_on(harness: &Harness, day: (i32, i32, i32)) -> anyhow::Result<Rate> {
    let listed = harness
        .client
        .clone()
        .get_rate_data(GetRateDataRequest {
            as_of: date(day.0, day.1, day.2),
        })
        .await?
        .into_inner();
    listed
        .rates
        .into_iter()
        .find(|rate| rate.kind() == RateKind::BenefitShareBasisPoints)
        .ok_or_else(|| anyhow::anyhow!("no benefit share listed"))
}

#[tokio::test]
async fn the_seeded_rate_data_reads_back_as_the_published_rate_book() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let pool = database.pool(eligibility::SERVICE).await?;
    serving::migrate(&pool, Some(&eligibility::MIGRATOR)).await?;

    let book = eligibility::store::rates::load_rate_book(&pool).await?;

    assert_eq!(book, RateBook::vietnam_defaults());
    Ok(())
}

#[tokio::test]
async fn a_holiday_an_operator_adds_moves_the_start_of_the_next_claim() -> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let operator = Some(Officer {
        officer_id: "operator-1".into(),
        agency: Agency::Operator as i32,
    });

    harness
        .client
        .add_holiday(AddHolidayRequest {
            holiday: Some(Holiday {
                date: date(2026, 3, 20),
                name: "day off declared by the Government".into(),
            }),
            officer: operator,
        })
        .await?;
    let claim = harness.example_1_claim().await?;

    // One working day fewer between filing and the 11th working day: Wednesday 1 April.
    let assessment = claim.assessment.expect("an assessment");
    assert_eq!(assessment.start_date, date(2026, 4, 1));
    let listed = harness
        .client
        .get_rate_data(GetRateDataRequest {
            as_of: date(2026, 3, 1),
        })
        .await?
        .into_inner();
    assert_eq!(listed.minimum_wages.len(), 4);
    assert_eq!(listed.minimum_wages[0].amount_dong, 5_310_000);
    assert!(
        listed
            .holidays
            .iter()
            .any(|holiday| holiday.date == date(2026, 3, 20))
    );
    Ok(())
}

#[tokio::test]
async fn only_an_operator_changes_rate_data() -> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;

    let status = harness
        .client
        .add_holiday(AddHolidayRequest {
            holiday: Some(Holiday {
                date: date(2026, 3, 20),
                name: "not allowed".into(),
            }),
            officer: support::registrar(),
        })
        .await
        .expect_err("a job-centre officer may not change rate data");

    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    Ok(())
}

#[tokio::test]
async fn a_rate_set_from_a_date_applies_to_jobs_ended_from_that_date_only() -> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;

    let stored = harness
        .client
        .set_rate(SetRateRequest {
            rate: Some(sixty_five_percent_from_march()),
            officer: operator(),
        })
        .await?
        .into_inner()
        .rate
        .expect("the stored rate");
    assert_eq!(stored.value, 6_500);
    assert_eq!(
        stored.source,
        "Law 74/2025/QH15; Decree 374/2025/ND-CP; Decree 999/2026/ND-CP"
    );

    // An's job ended on 10 March, after the change: 65% of 10,000,000.
    let an_id = harness.register(an()).await?;
    harness
        .import(
            &months_csv("0101234567", "EMP-OLD", (2026, 3), 40, 10_000_000, 1),
            4096,
        )
        .await?;
    let after = harness
        .client
        .register_claim(example_1_claim(&an_id))
        .await?
        .into_inner()
        .claim
        .and_then(|claim| claim.assessment)
        .expect("an assessment");
    // Bình's job ended on 28 February, the day before the change: still 60%.
    let binh_id = harness.register(binh()).await?;
    harness
        .import(
            &months_csv("0107654321", "EMP-B", (2026, 2), 40, 10_000_000, 1),
            4096,
        )
        .await?;
    let before = harness
        .client
        .register_claim(RegisterClaimRequest {
            termination_date: date(2026, 2, 28),
            ..example_1_claim(&binh_id)
        })
        .await?
        .into_inner()
        .claim
        .and_then(|claim| claim.assessment)
        .expect("an assessment");

    assert_eq!(after.monthly_amount_dong, 6_500_000);
    assert_eq!(before.monthly_amount_dong, 6_000_000);
    let listed_after = benefit_share_on(&harness, (2026, 3, 1)).await?;
    assert_eq!(listed_after.value, 6_500);
    assert_eq!(listed_after.effective_from, date(2026, 3, 1));
    assert!(listed_after.source.ends_with("Decree 999/2026/ND-CP"));
    assert_eq!(
        benefit_share_on(&harness, (2026, 2, 28)).await?.value,
        6_000
    );
    // Every other threshold of the 2025 regime carries on into the new set unchanged.
    let mut conn = harness.database.admin_connection().await?;
    let (start_day, filing_limit): (i32, i32) = sqlx::query_as(
        "SELECT start_working_day, filing_limit_months FROM eligibility.regime_rules \
         WHERE effective_from = '2026-03-01'",
    )
    .fetch_one(&mut conn)
    .await?;
    assert_eq!((start_day, filing_limit), (11, 3));
    let changed_by: Vec<(String, String)> =
        sqlx::query_as("SELECT what, officer_id FROM eligibility.rate_changes")
            .fetch_all(&mut conn)
            .await?;
    assert_eq!(changed_by, [("rate".to_owned(), "operator-1".to_owned())]);
    Ok(())
}

#[tokio::test]
async fn a_malformed_or_misplaced_rate_is_refused_with_its_field_and_nothing_changes()
-> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let good = sixty_five_percent_from_march();
    let cases = [
        (
            Rate {
                kind: RateKind::Unspecified as i32,
                ..good.clone()
            },
            "rate.kind",
            "is required",
        ),
        (
            Rate {
                value: 12_000,
                ..good.clone()
            },
            "rate.value",
            "must be from 1 to 10000 for this kind of rate",
        ),
        (
            Rate {
                kind: RateKind::CapMinimumWageMultiple as i32,
                value: 0,
                ..good.clone()
            },
            "rate.value",
            "must be from 1 to 100 for this kind of rate",
        ),
        (
            Rate {
                regime: Regime::Regime2013 as i32,
                ..good.clone()
            },
            "rate.regime",
            "the 2025 regime, not the 2013 one, is in force on 2026-03-01",
        ),
        (
            Rate {
                effective_from: date(2014, 12, 31),
                regime: Regime::Regime2013 as i32,
                ..good.clone()
            },
            "rate.effective_from",
            "no regime is in force on 2014-12-31",
        ),
        (
            Rate {
                source: "  ".into(),
                ..good.clone()
            },
            "rate.source",
            "is required",
        ),
    ];

    for (rate, field, reason) in cases {
        let status = harness
            .client
            .clone()
            .set_rate(SetRateRequest {
                rate: Some(rate),
                officer: operator(),
            })
            .await
            .expect_err("a bad rate must be refused");

        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        let details = status.get_error_details();
        let violation = &details
            .bad_request()
            .expect("a field violation")
            .field_violations[0];
        assert_eq!(violation.field, field);
        assert!(
            violation.description.starts_with(reason),
            "{field}: {}",
            violation.description
        );
    }
    let refused = harness
        .client
        .clone()
        .set_rate(SetRateRequest {
            rate: Some(good),
            officer: support::registrar(),
        })
        .await
        .expect_err("a job-centre officer may not change rates");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(harness.count("regime_rules").await?, 2);
    assert_eq!(harness.count("rate_changes").await?, 0);
    assert_eq!(benefit_share_on(&harness, (2026, 3, 1)).await?.value, 6_000);
    Ok(())
}

#[tokio::test]
async fn a_holiday_removed_again_no_longer_moves_the_start_and_both_changes_are_recorded()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let mut client = harness.client.clone();
    client
        .add_holiday(AddHolidayRequest {
            holiday: Some(Holiday {
                date: date(2026, 3, 20),
                name: "entered by mistake".into(),
            }),
            officer: operator(),
        })
        .await?;

    client
        .remove_holiday(RemoveHolidayRequest {
            date: date(2026, 3, 20),
            officer: operator(),
        })
        .await?;
    let claim = harness.example_1_claim().await?;

    // Back to worked example 1's start: the 11th working day after Monday 16 March.
    assert_eq!(
        claim.assessment.expect("an assessment").start_date,
        date(2026, 3, 31)
    );
    let listed = client
        .get_rate_data(GetRateDataRequest {
            as_of: date(2026, 3, 1),
        })
        .await?
        .into_inner();
    assert!(
        !listed
            .holidays
            .iter()
            .any(|holiday| holiday.date == date(2026, 3, 20))
    );
    let again = client
        .remove_holiday(RemoveHolidayRequest {
            date: date(2026, 3, 20),
            officer: operator(),
        })
        .await
        .expect_err("the day is no longer a holiday");
    assert_eq!(again.code(), Code::NotFound);
    let nameless = client
        .add_holiday(AddHolidayRequest {
            holiday: Some(Holiday {
                date: date(2026, 3, 23),
                name: String::new(),
            }),
            officer: operator(),
        })
        .await
        .expect_err("a holiday needs a name");
    assert_eq!(nameless.code(), Code::InvalidArgument);
    assert_eq!(
        nameless
            .get_error_details()
            .bad_request()
            .expect("a field violation")
            .field_violations[0]
            .field,
        "holiday.name"
    );
    let mut conn = harness.database.admin_connection().await?;
    let changes: Vec<(String, String)> =
        sqlx::query_as("SELECT what, officer_id FROM eligibility.rate_changes ORDER BY change_id")
            .fetch_all(&mut conn)
            .await?;
    assert_eq!(
        changes,
        [
            ("holiday_added".to_owned(), "operator-1".to_owned()),
            ("holiday_removed".to_owned(), "operator-1".to_owned()),
        ]
    );
    Ok(())
}
