//! Registering people and claims over gRPC: bad input is refused and stores nothing, the law's
//! worked example comes back with its full reasoning, duplicates are held, and approval obeys
//! maker-checker and publishes the decision once.

mod support;

use contracts::common::v1::{Agency, BankDestination, Officer};
use contracts::eligibility::v1::{
    ApproveClaimRequest, CapBasis, ClaimStatus, Condition, ConditionOutcome, HoldResolution,
    ListDuplicateHoldsRequest, MatchKind, Regime, RegisterClaimRequest, RegisterPersonRequest,
    ResolveDuplicateHoldRequest, decision_event::Change,
};
use support::{Harness, an, approver, date, example_1_claim, morning_of, registrar};
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn an_invalid_citizen_id_is_refused_with_the_field_and_reason_and_nothing_is_stored()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let cases = [
        (
            "00108501234",
            "citizen id must have 12 digits, got 11 characters",
        ),
        (
            "003085012345",
            "citizen id province code 003 is not in the official list",
        ),
        (
            "001086012345",
            "citizen id birth year digits are 86 but the person was born in 1985",
        ),
        (
            "001185012345",
            "citizen id century and sex digit is 1 but a male born in 1985 needs 0",
        ),
    ];

    for (citizen_id, reason) in cases {
        let status = harness
            .client
            .register_person(RegisterPersonRequest {
                citizen_id: citizen_id.into(),
                ..an()
            })
            .await
            .expect_err("an invalid citizen id must be refused");

        assert_eq!(status.code(), Code::InvalidArgument, "{citizen_id}");
        let details = status.get_error_details();
        let violation = &details
            .bad_request()
            .expect("a field violation")
            .field_violations[0];
        assert_eq!(violation.field, "citizen_id");
        assert_eq!(violation.description, reason);
    }
    assert_eq!(harness.count("persons").await?, 0);
    assert_eq!(harness.count("person_identifiers").await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_malformed_claim_is_refused_with_the_field_and_reason_and_nothing_is_stored()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let person_id = harness.register(an()).await?;
    let good = example_1_claim(&person_id);
    let destination = good.bank_destination.clone().expect("a destination");
    let cases = [
        (
            RegisterClaimRequest {
                person_id: "someone".into(),
                ..good.clone()
            },
            "person_id",
            "is not a valid id",
        ),
        (
            RegisterClaimRequest {
                termination_date: None,
                ..good.clone()
            },
            "termination_date",
            "is required",
        ),
        (
            RegisterClaimRequest {
                termination_date: date(2026, 2, 30),
                ..good.clone()
            },
            "termination_date",
            "is not a calendar date",
        ),
        (
            RegisterClaimRequest {
                filing_date: date(2026, 3, 9),
                ..good.clone()
            },
            "filing_date",
            "is before the termination date",
        ),
        (
            RegisterClaimRequest {
                end_reason: 0,
                ..good.clone()
            },
            "end_reason",
            "is required",
        ),
        (
            RegisterClaimRequest {
                bank_destination: Some(BankDestination {
                    number: "1234560000000001".into(),
                    ..destination.clone()
                }),
                ..good.clone()
            },
            "bank_destination",
            "card number must be 16 or 19 digits starting with 9704",
        ),
        (
            RegisterClaimRequest {
                bank_destination: None,
                ..good.clone()
            },
            "bank_destination",
            "is required",
        ),
        (
            RegisterClaimRequest {
                centre_id: " ".into(),
                ..good.clone()
            },
            "centre_id",
            "is required",
        ),
    ];

    for (request, field, reason) in cases {
        let status = harness
            .client
            .register_claim(request)
            .await
            .expect_err("a malformed claim must be refused");

        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        let details = status.get_error_details();
        let violation = &details
            .bad_request()
            .expect("a field violation")
            .field_violations[0];
        assert_eq!(violation.field, field);
        assert_eq!(violation.description, reason, "{field}");
    }
    let approval = harness
        .client
        .approve_claim(ApproveClaimRequest {
            claim_id: "claim-1".into(),
            decision_number: String::new(),
            handover_date: None,
            officer: approver(),
        })
        .await
        .expect_err("an approval names a claim id");
    assert_eq!(approval.code(), Code::InvalidArgument);
    assert_eq!(harness.count("claims").await?, 0);
    assert_eq!(harness.count("duplicate_holds").await?, 0);
    assert_eq!(harness.count("decisions").await?, 0);
    assert_eq!(harness.count("outbox").await?, 0);
    Ok(())
}

#[tokio::test]
async fn worked_example_1_through_the_api_gives_six_million_for_three_months_from_the_11th_working_day()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;

    let claim = harness.example_1_claim().await?;

    assert_eq!(claim.status(), ClaimStatus::AwaitingApproval);
    let assessment = claim.assessment.expect("an assessment");
    assert!(assessment.eligible);
    assert!(
        assessment
            .conditions
            .iter()
            .all(|condition| condition.outcome == 1)
    );
    assert_eq!(assessment.contribution_months_counted, 40);
    assert_eq!(assessment.months_in_window, 24);
    assert_eq!(assessment.average_salary_dong, 10_000_000);
    assert_eq!(assessment.cap_dong, 26_550_000);
    assert!(!assessment.cap_applied);
    assert_eq!(assessment.monthly_amount_dong, 6_000_000);
    assert_eq!(assessment.benefit_months, 3);
    assert_eq!(assessment.reserved_months, 4);
    // Filed Monday 16 March 2026: the 11th working day after it is Tuesday 31 March.
    assert_eq!(assessment.start_date, date(2026, 3, 31));
    assert_eq!(assessment.end_date, date(2026, 6, 30));
    assert_eq!(assessment.checkin_windows.len(), 3);
    assert_eq!(assessment.checkin_windows[1].opens_on, date(2026, 5, 1));
    assert_eq!(assessment.checkin_windows[1].closes_on, date(2026, 5, 6));
    assert_eq!(assessment.averaged_salaries.len(), 6);
    Ok(())
}

#[tokio::test]
async fn a_second_claim_for_the_same_person_is_held_as_an_exact_match() -> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let first = harness.example_1_claim().await?;

    let second = harness
        .client
        .register_claim(example_1_claim(&first.person_id))
        .await?
        .into_inner()
        .claim
        .expect("a claim");

    assert_eq!(second.status(), ClaimStatus::HeldDuplicate);
    let hold = second.hold.expect("a hold");
    assert_eq!(hold.match_kind(), MatchKind::ExactId);
    assert_eq!(hold.matched_person_id, first.person_id);
    assert!(second.assessment.is_none());
    assert_eq!(harness.count("duplicate_holds").await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_claim_under_an_id_one_digit_apart_with_the_same_name_and_birth_date_is_held()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let first = harness.example_1_claim().await?;
    let typo = harness
        .register(RegisterPersonRequest {
            citizen_id: "001085012346".into(),
            legacy_id: String::new(),
            social_insurance_number: "0109999999".into(),
            ..an()
        })
        .await?;

    let claim = harness
        .client
        .register_claim(example_1_claim(&typo))
        .await?
        .into_inner()
        .claim
        .expect("a claim");

    assert_eq!(claim.status(), ClaimStatus::HeldDuplicate);
    let hold = claim.hold.expect("a hold");
    assert_eq!(hold.match_kind(), MatchKind::NearId);
    assert_eq!(hold.matched_person_id, first.person_id);

    let listed = harness
        .client
        .list_duplicate_holds(ListDuplicateHoldsRequest::default())
        .await?
        .into_inner();
    assert_eq!(listed.holds.len(), 1);
    let resolved = harness
        .client
        .resolve_duplicate_hold(ResolveDuplicateHoldRequest {
            hold_id: hold.hold_id,
            resolution: HoldResolution::DifferentPerson as i32,
            note: "twins: different people".into(),
            officer: registrar(),
        })
        .await?
        .into_inner()
        .claim
        .expect("a claim");
    // The typo record has no contributions of its own, so the claim goes on, not eligible.
    assert_eq!(resolved.status(), ClaimStatus::NotEligible);
    assert!(resolved.assessment.is_some());
    let listed = harness
        .client
        .list_duplicate_holds(ListDuplicateHoldsRequest::default())
        .await?
        .into_inner();
    assert!(listed.holds.is_empty());
    Ok(())
}

#[tokio::test]
async fn approval_by_the_officer_who_registered_the_claim_is_refused() -> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let claim = harness.example_1_claim().await?;

    let status = harness
        .client
        .approve_claim(ApproveClaimRequest {
            claim_id: claim.claim_id.clone(),
            decision_number: "QD-1".into(),
            handover_date: None,
            officer: Some(Officer {
                agency: Agency::LabourDepartment as i32,
                ..registrar().expect("an officer")
            }),
        })
        .await
        .expect_err("the registrar must not approve");

    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(harness.count("decisions").await?, 0);
    assert_eq!(harness.count("outbox").await?, 0);
    Ok(())
}

#[tokio::test]
async fn approval_publishes_exactly_one_decision_event_with_what_downstream_needs()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let claim = harness.example_1_claim().await?;
    harness.clock.set(morning_of(2026, 3, 27));

    let decision_id = harness.approve(&claim.claim_id).await?;

    let events = harness.decision_events(1).await?;
    assert_eq!(events.len(), 1, "exactly one event");
    let (key, event) = &events[0];
    assert_eq!(key, &decision_id);
    assert_eq!(event.decision_id, decision_id);
    assert_eq!(event.decision_version, 1);
    let Some(Change::Activated(activated)) = &event.change else {
        anyhow::bail!("expected an activation, got {:?}", event.change);
    };
    assert_eq!(activated.person_id, claim.person_id);
    assert_eq!(activated.beneficiary_name, "Nguyễn Văn An");
    assert_eq!(activated.amount_dong, 6_000_000);
    assert_eq!(activated.months, 3);
    assert_eq!(activated.start_date, date(2026, 3, 31));
    assert_eq!(activated.province, "01");
    assert_eq!(activated.handover_date, date(2026, 3, 27));
    assert_eq!(activated.checkin_windows.len(), 3);
    // Month 1's window opens on hand-over (Friday) and runs 3 working days after it.
    assert_eq!(activated.checkin_windows[0].opens_on, date(2026, 3, 27));
    assert_eq!(activated.checkin_windows[0].closes_on, date(2026, 4, 1));
    let bank = activated.bank_destination.as_ref().expect("a destination");
    assert_eq!(bank.bank_id, "970436");

    let second = harness
        .client
        .approve_claim(ApproveClaimRequest {
            claim_id: claim.claim_id.clone(),
            decision_number: String::new(),
            handover_date: None,
            officer: approver(),
        })
        .await
        .expect_err("a claim is approved once");
    assert_eq!(second.code(), Code::FailedPrecondition);
    Ok(())
}

#[tokio::test]
async fn two_claims_for_one_person_registered_at_once_are_never_both_decidable()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let person_id = harness.register(an()).await?;
    harness
        .import(
            &support::months_csv("0101234567", "EMP-OLD", (2026, 3), 40, 10_000_000, 1),
            4096,
        )
        .await?;

    let (mut first, mut second) = (harness.client.clone(), harness.client.clone());
    let (a, b) = tokio::join!(
        first.register_claim(example_1_claim(&person_id)),
        second.register_claim(example_1_claim(&person_id)),
    );

    let mut statuses = vec![
        a?.into_inner().claim.expect("a claim").status(),
        b?.into_inner().claim.expect("a claim").status(),
    ];
    statuses.sort_by_key(|status| *status as i32);
    assert_eq!(
        statuses,
        [ClaimStatus::AwaitingApproval, ClaimStatus::HeldDuplicate]
    );
    Ok(())
}

#[tokio::test]
async fn the_same_person_registered_twice_at_once_is_stored_once() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;

    let (mut first, mut second) = (harness.client.clone(), harness.client.clone());
    let (a, b) = tokio::join!(first.register_person(an()), second.register_person(an()));

    let mut outcomes = [a.map(|_| Code::Ok), b.map(|_| Code::Ok)]
        .into_iter()
        .map(|outcome| outcome.unwrap_or_else(|status| status.code()))
        .collect::<Vec<_>>();
    outcomes.sort_by_key(|code| *code as i32);
    assert_eq!(outcomes, [Code::Ok, Code::FailedPrecondition]);
    assert_eq!(harness.count("persons").await?, 1);
    assert_eq!(harness.count("person_identifiers").await?, 2);
    Ok(())
}

/// Registers An with `csv` as history and files a claim ended `ended`, filed `filed`.
async fn claim_with(
    harness: &mut Harness,
    csv: &str,
    ended: (i32, i32, i32),
    filed: (i32, i32, i32),
) -> anyhow::Result<contracts::eligibility::v1::Claim> {
    let person_id = harness.register(an()).await?;
    harness.import(csv, 4096).await?;
    let request = contracts::eligibility::v1::RegisterClaimRequest {
        termination_date: date(ended.0, ended.1, ended.2),
        filing_date: date(filed.0, filed.1, filed.2),
        ..example_1_claim(&person_id)
    };
    let reply = harness.client.register_claim(request).await?.into_inner();
    reply.claim.ok_or_else(|| anyhow::anyhow!("no claim"))
}

#[tokio::test]
async fn worked_example_2_through_the_api_is_capped_at_five_region_iv_minimum_wages()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 2, 2)).await?;
    let csv = support::months_csv("0101234567", "EMP-1", (2026, 2), 24, 40_000_000, 4);

    let claim = claim_with(&mut harness, &csv, (2026, 2, 1), (2026, 2, 2)).await?;

    let assessment = claim.assessment.expect("an assessment");
    assert_eq!(assessment.uncapped_amount_dong, 24_000_000);
    assert_eq!(assessment.cap_dong, 18_500_000);
    assert!(assessment.cap_applied);
    assert_eq!(assessment.monthly_amount_dong, 18_500_000);
    Ok(())
}

#[tokio::test]
async fn worked_example_5_through_the_api_is_not_eligible_for_filing_late() -> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 4, 6)).await?;
    let csv = support::months_csv("0101234567", "EMP-1", (2026, 1), 24, 10_000_000, 1);

    let claim = claim_with(&mut harness, &csv, (2026, 1, 5), (2026, 4, 6)).await?;

    assert_eq!(claim.status(), ClaimStatus::NotEligible);
    let assessment = claim.assessment.expect("an assessment");
    assert!(!assessment.eligible);
    let not_met: Vec<_> = assessment
        .conditions
        .iter()
        .filter(|condition| condition.outcome() == ConditionOutcome::NotMet)
        .map(|condition| condition.condition())
        .collect();
    assert_eq!(not_met, [Condition::FiledInTime]);
    Ok(())
}

#[tokio::test]
async fn worked_example_6_through_the_api_caps_a_state_scale_worker_at_five_base_salaries()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2025, 12, 22)).await?;
    let csv = support::months_csv("0101234567", "EMP-1", (2025, 12), 24, 20_000_000, 1)
        .replace(",indefinite,1\n", ",indefinite,1,true\n");

    let claim = claim_with(&mut harness, &csv, (2025, 12, 20), (2025, 12, 22)).await?;

    let assessment = claim.assessment.expect("an assessment");
    assert_eq!(assessment.regime(), Regime::Regime2013);
    assert_eq!(assessment.cap_basis(), CapBasis::BaseSalary);
    assert_eq!(assessment.monthly_amount_dong, 11_700_000);
    Ok(())
}

#[tokio::test]
async fn contributions_from_a_new_employer_within_ten_working_days_of_the_claim_disqualify_it()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 4, 9)).await?;
    let mut csv = support::months_csv("0101234567", "EMP-OLD", (2026, 3), 40, 10_000_000, 1);
    csv.push_str("0101234567,,EMP-NEW,2026-04,11000000,indefinite,1\n");

    // Filed Wednesday 25 March: the 10 working days run to 8 April; the new job began in April.
    let claim = claim_with(&mut harness, &csv, (2026, 3, 10), (2026, 3, 25)).await?;

    assert_eq!(claim.status(), ClaimStatus::NotEligible);
    let assessment = claim.assessment.expect("an assessment");
    let failed: Vec<_> = assessment
        .conditions
        .iter()
        .filter(|condition| condition.outcome() == ConditionOutcome::NotMet)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].condition(), Condition::NoDisqualifyingEvent);
    assert!(
        failed[0]
            .explanation
            .starts_with("new job with social insurance in 2026-04"),
        "{}",
        failed[0].explanation
    );
    Ok(())
}

#[tokio::test]
async fn a_new_employer_contributing_for_the_filing_month_disqualifies_the_claim()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 4, 9)).await?;
    let mut csv = support::months_csv("0101234567", "EMP-OLD", (2026, 2), 40, 10_000_000, 1);
    csv.push_str("0101234567,,EMP-NEW,2026-03,11000000,indefinite,1\n");

    // Ended Friday 27 February, filed Monday 16 March; the new employer pays for March.
    let claim = claim_with(&mut harness, &csv, (2026, 2, 27), (2026, 3, 16)).await?;

    assert_eq!(claim.status(), ClaimStatus::NotEligible);
    let assessment = claim.assessment.expect("an assessment");
    let failed: Vec<_> = assessment
        .conditions
        .iter()
        .filter(|condition| condition.outcome() == ConditionOutcome::NotMet)
        .map(|condition| condition.condition())
        .collect();
    assert_eq!(failed, [Condition::NoDisqualifyingEvent]);
    Ok(())
}

#[tokio::test]
async fn a_new_job_reported_between_registration_and_approval_refuses_the_approval()
-> anyhow::Result<()> {
    let mut harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let csv = support::months_csv("0101234567", "EMP-OLD", (2026, 2), 40, 10_000_000, 1);
    let claim = claim_with(&mut harness, &csv, (2026, 2, 27), (2026, 3, 16)).await?;
    assert_eq!(claim.status(), ClaimStatus::AwaitingApproval);

    // The new employer's March contributions arrive after the claim was judged.
    harness.clock.set(morning_of(2026, 3, 27));
    harness
        .import("0101234567,,EMP-NEW,2026-03,11000000,indefinite,1\n", 4096)
        .await?;
    let refused = harness
        .client
        .approve_claim(ApproveClaimRequest {
            claim_id: claim.claim_id.clone(),
            decision_number: String::new(),
            handover_date: None,
            officer: approver(),
        })
        .await
        .expect_err("a claimant who started a job in the window is not approved");

    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().starts_with(
            "contributions from a new employer for 2026-03 arrived after registration"
        ),
        "{}",
        refused.message()
    );
    assert_eq!(harness.count("decisions").await?, 0);
    Ok(())
}
