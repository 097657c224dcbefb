//! The rate data: the migration seeds the published rate book the rules were tested with, and
//! an operator's change takes effect on the next claim.

mod support;

use contracts::common::v1::{Agency, Officer};
use contracts::eligibility::v1::{AddHolidayRequest, GetRateDataRequest, Holiday};
use eligibility::domain::rates::RateBook;
use support::{Harness, date, morning_of};
use testkit::TestDatabase;

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
