//! Card and account numbers are sealed at rest: a database reader sees neither the number nor
//! its digits, the published list still carries it for the bank, and the "one account for
//! several people" check still finds shared accounts by their keyed digest.

mod support;

use contracts::{
    common::v1::{Agency, Officer},
    payroll::v1::GetPaymentListRequest,
};
use support::{account, activated, checked_in, officer, start};

#[tokio::test]
async fn a_number_is_sealed_in_every_row_yet_published_in_full() -> anyhow::Result<()> {
    let payroll = start().await?;
    payroll
        .decide(&activated("d-s", "p-s", account("0011008004321")))
        .await?;
    payroll.check_in(&checked_in("d-s", 1)).await?;
    payroll
        .wait_for_count("SELECT count(*) FROM payroll.entitlements", 1)
        .await?;

    let mut db = payroll.db().await?;
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT row_to_json(d)::text FROM payroll.decisions d \
         UNION ALL SELECT row_to_json(e)::text FROM payroll.entitlements e",
    )
    .fetch_all(&mut db)
    .await?;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert!(!row.contains("0011008004321"), "number in clear: {row}");
        assert!(row.contains("\"destination_number\":null"), "{row}");
    }
    let sealed: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT destination_sealed FROM payroll.decisions \
         UNION ALL SELECT destination_sealed FROM payroll.entitlements",
    )
    .fetch_all(&mut db)
    .await?;
    assert!(
        sealed
            .iter()
            .all(|bytes| !bytes.windows(13).any(|window| window == b"0011008004321"))
    );

    payroll.pass_cut_interval();
    let chunks = payroll.published_chunks(1, support::WAIT).await?;
    let line = &chunks[0].1.lines[0];
    assert_eq!(
        line.bank_destination.as_ref().unwrap().number,
        "0011008004321",
        "the bank needs the whole number"
    );
    payroll.stop().await
}

#[tokio::test]
async fn numbers_stored_in_clear_are_sealed_at_the_next_start_with_the_digest_new_ones_get()
-> anyhow::Result<()> {
    let payroll = start().await?;
    let mut db = payroll.db().await?;
    // A decision and its entitlement written before numbers were sealed.
    sqlx::query(
        "INSERT INTO payroll.decisions (decision_id, version, person_id, amount_dong, months, \
         start_date, province, bank_id, destination_kind, destination_number, holder_name, \
         received_on) VALUES ('d-old', 1, 'p-old', 6000000, 3, '2026-03-16', '91', '970436', 2, \
         '0011010000001', 'NGUYEN VAN A', '2026-03-19')",
    )
    .execute(&mut db)
    .await?;
    sqlx::query(
        "INSERT INTO payroll.entitlements (entitlement_id, decision_id, benefit_month, \
         amount_dong, province, bank_id, destination_kind, destination_number, holder_name, \
         payment_by, earned_month, scanned_at, created_at, state) \
         VALUES (gen_random_uuid(), 'd-old', 1, 6000000, '91', '970436', 2, '0011010000001', \
         'NGUYEN VAN A', '2026-03-26', '2026-03-01', now(), now(), 'pending')",
    )
    .execute(&mut db)
    .await?;

    let payroll = payroll.restart().await?;

    assert_eq!(
        payroll
            .count(
                "SELECT count(*) FROM payroll.decisions WHERE destination_number IS NULL \
                 AND destination_sealed IS NOT NULL AND destination_digest IS NOT NULL"
            )
            .await?,
        1
    );
    assert_eq!(
        payroll
            .count(
                "SELECT count(*) FROM payroll.entitlements WHERE destination_number IS NULL \
                 AND destination_sealed IS NOT NULL AND destination_digest IS NOT NULL"
            )
            .await?,
        1
    );
    // The digest is the one a number sealed today gets, so the shared-account check matches
    // old rows with new ones; the sealed number opens to the original.
    let sealer = payroll::VaultSettings::default().sealer()?;
    let mut db = payroll.db().await?;
    let (sealed, digest): (Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT destination_sealed, destination_digest FROM payroll.entitlements \
         WHERE decision_id = 'd-old'",
    )
    .fetch_one(&mut db)
    .await?;
    assert_eq!(digest, sealer.digest("0011010000001"));
    assert_eq!(sealer.open_number(&sealed)?, "0011010000001");

    // And the old entitlement is cut and listed like any other.
    payroll.pass_cut_interval();
    payroll
        .wait_for_count(
            "SELECT count(*) FROM payroll.entitlements WHERE decision_id = 'd-old' \
             AND state = 'listed'",
            1,
        )
        .await?;
    payroll.stop().await
}

#[tokio::test]
async fn a_payment_list_is_read_only_by_a_named_social_security_officer() -> anyhow::Result<()> {
    let payroll = start().await?;
    let mut client = payroll.client().await?;
    let request = |officer: Option<Officer>| GetPaymentListRequest {
        list_id: uuid::Uuid::new_v4().to_string(),
        page_size: 10,
        page_token: String::new(),
        officer,
    };

    let anonymous = client.get_payment_list(request(None)).await.unwrap_err();
    let job_centre = client
        .get_payment_list(request(Some(Officer {
            officer_id: "jc-1".into(),
            agency: Agency::JobCentre as i32,
        })))
        .await
        .unwrap_err();
    let named = client
        .get_payment_list(request(Some(officer("auditor"))))
        .await
        .unwrap_err();

    assert_eq!(anonymous.code(), tonic::Code::InvalidArgument);
    assert!(
        anonymous.message().contains("officer"),
        "{}",
        anonymous.message()
    );
    assert_eq!(job_centre.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        named.code(),
        tonic::Code::NotFound,
        "authorised, the list is looked up"
    );
    payroll.stop().await
}
