//! ISO 20022 files on the real PostgreSQL: a bank batch written as pain.001, a bank's
//! pain.002 applied once, and the transfer as an officer sees it.

mod support;

use contracts::common::v1::{Agency, Officer};
use contracts::transfer::v1::{
    ExportPaymentInitiationRequest, GetTransferRequest, ImportStatusReportHeader,
    ImportStatusReportRequest, ImportStatusReportResponse, TransferStatus,
    export_payment_initiation_response::Part as ExportPart,
    import_status_report_request::Part as ImportPart,
};
use sha2::{Digest, Sha256};
use support::{BANK_A, QUIET, Rig, WAIT, line, start, unique};

fn pain_002(original_message_id: &str, statuses: &[(&str, &str, &str)]) -> String {
    let mut transactions = String::new();
    for (end_to_end_id, status, reason) in statuses {
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!("<StsRsnInf><Rsn><Cd>{reason}</Cd></Rsn></StsRsnInf>")
        };
        transactions.push_str(&format!(
            "<TxInfAndSts><OrgnlEndToEndId>{end_to_end_id}</OrgnlEndToEndId>\
             <TxSts>{status}</TxSts>{reason}</TxInfAndSts>"
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>
<GrpHdr><MsgId>BANKRPT1</MsgId><CreDtTm>2026-03-10T15:00:00+07:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>{original_message_id}</OrgnlMsgId>
<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>P1</OrgnlPmtInfId>{transactions}</OrgnlPmtInfAndSts>
</CstmrPmtStsRpt></Document>"#
    )
}

fn officer(id: &str) -> Option<Officer> {
    Some(Officer {
        officer_id: id.into(),
        agency: Agency::SocialSecurity as i32,
    })
}

async fn import(rig: &Rig, xml: &str) -> anyhow::Result<ImportStatusReportResponse> {
    let mut messages = vec![ImportStatusReportRequest {
        part: Some(ImportPart::Header(ImportStatusReportHeader {
            bank_id: BANK_A.into(),
            source_name: "report.xml".into(),
            officer: Some(Officer {
                officer_id: "uploader".into(),
                agency: Agency::SocialSecurity as i32,
            }),
        })),
    }];
    // Split mid-document, as a real upload would.
    let (head, tail) = xml.split_at(xml.len() / 2);
    for part in [head, tail] {
        messages.push(ImportStatusReportRequest {
            part: Some(ImportPart::XmlChunk(part.as_bytes().to_vec())),
        });
    }
    Ok(rig
        .client()
        .await?
        .import_status_report(futures::stream::iter(messages))
        .await?
        .into_inner())
}

#[tokio::test]
async fn a_batch_goes_out_as_pain_001_and_the_bank_s_pain_002_applies_once() -> anyhow::Result<()> {
    let rig = start().await?;
    let (first, second) = (unique("e"), unique("e"));
    let list_id = unique("list");
    rig.publish_list(&rig.signed_list(
        &list_id,
        vec![
            line(&first, BANK_A, 6_000_000),
            line(&second, BANK_A, 4_500_000),
        ],
        2,
    ))
    .await?;
    let sent = rig.instructions(BANK_A, 2, WAIT).await?;
    let id_of = |amount: i64| {
        sent.iter()
            .find(|(_, instruction)| instruction.amount_dong == amount)
            .map(|(_, instruction)| instruction.end_to_end_id.clone())
            .unwrap()
    };
    let (paid_id, parked_id) = (id_of(6_000_000), id_of(4_500_000));
    let card_in_clear: bool = sqlx::query_scalar(
        "SELECT bool_or(position(convert_to($1, 'UTF8') IN destination_sealed) > 0) FROM transfers",
    )
    .bind(support::CARD)
    .fetch_one(&rig.pool)
    .await?;
    assert!(!card_in_clear, "card numbers are stored sealed");

    let mut stream = rig
        .client()
        .await?
        .export_payment_initiation(ExportPaymentInitiationRequest {
            bank_id: BANK_A.into(),
            list_id: list_id.clone(),
            officer: officer("exporter"),
        })
        .await?
        .into_inner();
    let mut summary = None;
    let mut xml = Vec::new();
    while let Some(message) = stream.message().await? {
        match message.part {
            Some(ExportPart::Summary(found)) => summary = Some(found),
            Some(ExportPart::XmlChunk(data)) => xml.extend(data),
            None => {}
        }
    }
    let summary = summary.expect("the summary comes first");
    let xml = String::from_utf8(xml)?;
    support::schema_valid(support::PAIN_001_XSD, &xml)?;
    assert_eq!(summary.number_of_transactions, 2);
    assert_eq!(summary.control_sum_dong, 10_500_000);
    assert!(summary.message_id.len() <= 35);
    assert!(xml.contains(&format!("<MsgId>{}</MsgId>", summary.message_id)));
    assert!(xml.contains("<CtrlSum>10500000</CtrlSum>"));
    assert!(xml.contains(&format!("<EndToEndId>{paid_id}</EndToEndId>")));
    assert!(xml.contains(&format!("<EndToEndId>{parked_id}</EndToEndId>")));
    assert!(xml.contains("<Nm>NGUYEN THI DAO</Nm>"));
    let (officer_id, list, bank, count, sum, digest): (String, String, String, i64, i64, String) =
        sqlx::query_as(
            "SELECT officer_id, list_id, bank_id, transactions, control_sum_dong, sha256 \
             FROM payment_file_exports WHERE message_id = $1",
        )
        .bind(&summary.message_id)
        .fetch_one(&rig.pool)
        .await?;
    assert_eq!(
        (
            officer_id.as_str(),
            list.as_str(),
            bank.as_str(),
            count,
            sum
        ),
        ("exporter", list_id.as_str(), BANK_A, 2, 10_500_000),
        "who took which file out is recorded"
    );
    assert_eq!(digest, hex::encode(Sha256::digest(xml.as_bytes())));

    let report = pain_002(
        &summary.message_id,
        &[
            (&paid_id, "ACCC", ""),
            (&parked_id, "RJCT", "AC04"),
            ("UBUNKNOWN-001", "ACCC", ""),
        ],
    );
    support::schema_valid(support::PAIN_002_XSD, &report)?;
    let applied = import(&rig, &report).await?;
    assert_eq!(applied.original_message_id, summary.message_id);
    assert_eq!(applied.statuses_read, 3);
    assert_eq!(applied.statuses_applied, 2);
    assert_eq!(
        applied.unknown_end_to_end_ids,
        vec!["UBUNKNOWN-001".to_owned()]
    );
    assert_eq!(rig.payment_state(&first).await?.as_deref(), Some("paid"));
    assert_eq!(rig.payment_state(&second).await?.as_deref(), Some("parked"));

    let again = import(&rig, &report).await?;
    assert_eq!(again.statuses_applied, 0);
    assert_eq!(again.statuses_ignored, 2);

    let transfer = rig
        .client()
        .await?
        .get_transfer(GetTransferRequest {
            end_to_end_id: parked_id.clone(),
        })
        .await?
        .into_inner()
        .transfer
        .expect("the transfer");
    assert_eq!(transfer.status, TransferStatus::Parked as i32);
    assert_eq!(transfer.reason_code, "AC04");
    let destination = transfer.bank_destination.expect("a destination");
    assert!(destination.number.ends_with("0002"));
    assert!(
        !destination.number.contains(support::CARD),
        "never the full number"
    );
    let history: Vec<i32> = transfer
        .history
        .iter()
        .map(|change| change.status)
        .collect();
    assert_eq!(
        history,
        vec![
            TransferStatus::InFlight as i32,
            TransferStatus::Parked as i32
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_pain_002_mixing_statuses_applies_each_in_file_order_and_announces_each_change()
-> anyhow::Result<()> {
    let rig = start().await?;
    let amounts = [6_000_000, 4_500_000, 3_700_000, 2_100_000];
    let entitlements: Vec<String> = amounts.iter().map(|_| unique("e")).collect();
    let lines = entitlements
        .iter()
        .zip(amounts)
        .map(|(entitlement, amount)| line(entitlement, BANK_A, amount))
        .collect();
    rig.publish_list(&rig.signed_list(&unique("list"), lines, 4))
        .await?;
    let sent = rig.instructions(BANK_A, 4, WAIT).await?;
    let id_of = |amount: i64| {
        sent.iter()
            .find(|(_, instruction)| instruction.amount_dong == amount)
            .map(|(_, instruction)| instruction.end_to_end_id.clone())
            .unwrap()
    };
    let [paid, parked, retried, pending] = amounts.map(id_of);

    // A later status for an attempt the file already settled must see that settlement: the
    // rejection after the credit changes nothing.
    let report = pain_002(
        "MSG-MIXED",
        &[
            (&paid, "ACCC", ""),
            (&parked, "RJCT", "AC01"),
            (&paid, "RJCT", "AC04"),
            (&retried, "RJCT", "AB05"),
            (&pending, "PDNG", ""),
            ("UBUNKNOWN-002", "ACCC", ""),
        ],
    );
    let applied = import(&rig, &report).await?;

    assert_eq!(applied.statuses_read, 6);
    assert_eq!(applied.statuses_applied, 3);
    assert_eq!(
        applied.statuses_ignored, 2,
        "the late rejection and the pending status"
    );
    assert_eq!(
        applied.unknown_end_to_end_ids,
        vec!["UBUNKNOWN-002".to_owned()]
    );
    let states = [
        rig.payment_state(&entitlements[0]).await?,
        rig.payment_state(&entitlements[1]).await?,
        rig.payment_state(&entitlements[2]).await?,
        rig.payment_state(&entitlements[3]).await?,
    ];
    let expected = ["paid", "parked", "retrying", "in_flight"].map(|state| Some(state.to_owned()));
    assert_eq!(states, expected);
    let announced = rig.outcomes(4, QUIET).await?;
    let mut statuses: Vec<(String, i32)> = announced
        .iter()
        .map(|(_, outcome)| (outcome.end_to_end_id.clone(), outcome.status))
        .collect();
    statuses.sort();
    let mut wanted = vec![
        (paid, TransferStatus::Paid as i32),
        (parked, TransferStatus::Parked as i32),
        (retried, TransferStatus::Retrying as i32),
    ];
    wanted.sort();
    assert_eq!(
        statuses, wanted,
        "one outcome per change, none for the rest"
    );
    Ok(())
}

#[tokio::test]
async fn a_pain_001_answered_by_the_bank_simulator_pays_every_line() -> anyhow::Result<()> {
    let rig = start().await?;
    let entitlements = [unique("e"), unique("e"), unique("e")];
    let list_id = unique("list");
    let lines = entitlements
        .iter()
        .map(|entitlement| line(entitlement, BANK_A, 3_700_000))
        .collect();
    rig.publish_list(&rig.signed_list(&list_id, lines, 3))
        .await?;
    rig.instructions(BANK_A, 3, WAIT).await?;

    let mut stream = rig
        .client()
        .await?
        .export_payment_initiation(ExportPaymentInitiationRequest {
            bank_id: BANK_A.into(),
            list_id,
            officer: officer("exporter"),
        })
        .await?
        .into_inner();
    let mut xml = Vec::new();
    while let Some(message) = stream.message().await? {
        if let Some(ExportPart::XmlChunk(data)) = message.part {
            xml.extend(data);
        }
    }
    let report = bank_simulator::files::answer_pain_001(
        &String::from_utf8(xml)?,
        1,
        &bank_simulator::Shares::default(),
        "SIMREPORT1",
        "2026-03-10T15:00:00+07:00",
    )?;
    let applied = import(&rig, &report).await?;

    assert_eq!(applied.statuses_applied, 3);
    for entitlement in &entitlements {
        assert_eq!(
            rig.payment_state(entitlement).await?.as_deref(),
            Some("paid")
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_payment_file_goes_out_only_to_a_named_social_security_officer() -> anyhow::Result<()> {
    let rig = start().await?;
    let list_id = unique("list");
    rig.publish_list(&rig.signed_list(&list_id, vec![line(&unique("e"), BANK_A, 1_000_000)], 1))
        .await?;
    rig.instructions(BANK_A, 1, WAIT).await?;
    let request = |officer: Option<Officer>| ExportPaymentInitiationRequest {
        bank_id: BANK_A.into(),
        list_id: list_id.clone(),
        officer,
    };
    let mut client = rig.client().await?;

    let nobody = client.export_payment_initiation(request(None)).await;
    let blank = client
        .export_payment_initiation(request(officer("  ")))
        .await;
    let outsider = client
        .export_payment_initiation(request(Some(Officer {
            officer_id: "labour-7".into(),
            agency: Agency::LabourDepartment as i32,
        })))
        .await;

    let status = nobody.expect_err("refused without an officer");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("officer"), "{}", status.message());
    let status = blank.expect_err("refused with a blank officer id");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("officer.officer_id"));
    assert_eq!(
        outsider.expect_err("refused to another agency").code(),
        tonic::Code::PermissionDenied
    );
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM payment_file_exports")
        .fetch_one(&rig.pool)
        .await?;
    assert_eq!(recorded, 0, "a refused export leaves no file and no record");
    Ok(())
}
