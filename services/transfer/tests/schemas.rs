//! The ISO 20022 files against the vendored ISO 20022 schemas (`schemas/`), checked with
//! xmllint: every pain.001 transfer writes must validate, and a bank's pain.002 that
//! validates must be read into the outcomes transfer applies.

mod support;

use chrono::{NaiveDate, TimeZone, Utc};
use transfer::domain::result::{BankStatus, PaymentState, ResultEffect, classify};
use transfer::iso20022::{
    CreditTransfer, PaymentInitiation, TransactionStatusEntry, read_pain_002, write_pain_001,
};

use support::{PAIN_001_XSD, PAIN_002_XSD, schema_valid};

const SAMPLE_PAIN_002: &str = include_str!("data/pain.002.001.10-sample.xml");

fn transfer(end_to_end_id: &str, bank_id: &str, name: &str, amount_dong: i64) -> CreditTransfer {
    CreditTransfer {
        end_to_end_id: end_to_end_id.into(),
        amount_dong,
        creditor_bank_id: bank_id.into(),
        creditor_name: name.into(),
        creditor_account: "9704360000000000002".into(),
        remittance: "Trợ cấp thất nghiệp tháng 3/2026".into(),
    }
}

fn batch(id: &str, transfers: Vec<CreditTransfer>) -> PaymentInitiation {
    PaymentInitiation {
        message_id: format!("UBM{id}"),
        payment_information_id: format!("UBP{id}"),
        created_at: Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap(),
        execution_date: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default(),
        debtor_name: "Bảo hiểm xã hội Việt Nam".into(),
        debtor_account: "1000000000001".into(),
        debtor_bank_id: "970418".into(),
        transfers,
    }
}

#[test]
fn a_batch_with_vietnamese_names_validates_against_pain_001_001_09() {
    let batch = batch(
        "VN0001",
        vec![
            transfer("UBAAAA-001", "970436", "Nguyễn Thị Đào", 6_000_000),
            transfer("UBBBBB-001", "970436", "Trần Văn Ưng", 4_500_000),
            transfer(
                "UBCCCC-002",
                "970436",
                "Đặng Thị Ngọc Ánh & Lê Hữu Phước",
                1,
            ),
        ],
    );

    let xml = String::from_utf8(write_pain_001(&batch).unwrap()).unwrap();

    assert!(xml.is_ascii(), "banks receive ASCII only");
    assert!(xml.contains("<Nm>DANG THI NGOC ANH &amp; LE HUU PHUOC</Nm>"));
    schema_valid(PAIN_001_XSD, &xml).unwrap();
}

#[test]
fn fields_at_their_longest_validate_and_long_text_is_cut_to_the_schema_s_limit() {
    let longest_id = format!("UB{}-999", "Z".repeat(29));
    assert_eq!(longest_id.len(), 35);
    // Folds to far more than the 140 characters Nm and Ustrd allow.
    let long_name = "Nguyễn Thị Hồng Nhung Phạm Quỳnh Hương ".repeat(8);
    let mut long = transfer(&longest_id, "970415", &long_name, 999_999_999_999);
    long.remittance = "Trợ cấp thất nghiệp ".repeat(12);
    long.creditor_account = "1234567890123456789".into();
    let mut batch = batch(&"9".repeat(32), vec![long]);
    batch.debtor_name = "Bảo hiểm xã hội thành phố Hồ Chí Minh ".repeat(6);
    assert_eq!(batch.message_id.len(), 35);
    assert_eq!(batch.payment_information_id.len(), 35);

    let xml = String::from_utf8(write_pain_001(&batch).unwrap()).unwrap();

    schema_valid(PAIN_001_XSD, &xml).unwrap();
    for name in xml
        .split("<Nm>")
        .skip(1)
        .chain(xml.split("<Ustrd>").skip(1))
    {
        let text = &name[..name.find("</").unwrap()];
        assert!(text.len() <= 140, "{} characters: {text}", text.len());
        assert_eq!(text, text.trim_end(), "no trailing blank after the cut");
    }
    assert!(xml.contains(&format!("<EndToEndId>{longest_id}</EndToEndId>")));
}

#[test]
fn a_name_with_no_latin_letters_leaves_the_name_out_rather_than_empty() {
    let batch = batch(
        "NOLATIN1",
        vec![transfer("UBDDDD-001", "970436", "李明", 100)],
    );

    let xml = String::from_utf8(write_pain_001(&batch).unwrap()).unwrap();

    assert!(!xml.contains("<Nm></Nm>") && !xml.contains("<Nm/>"));
    schema_valid(PAIN_001_XSD, &xml).unwrap();
}

#[test]
fn one_batch_per_bank_each_validates_with_its_own_control_sums() {
    let banks = [
        ("970436", 3usize, 3_700_000i64),
        ("970415", 5, 2_100_000),
        ("970418", 1, 18_500_000),
    ];
    for (index, (bank_id, count, amount)) in banks.into_iter().enumerate() {
        let transfers = (0..count)
            .map(|n| {
                transfer(
                    &format!("UB{bank_id}X{n}-001"),
                    bank_id,
                    "Lê Văn Ân",
                    amount,
                )
            })
            .collect();
        let batch = batch(&format!("BATCH{index}"), transfers);

        let xml = String::from_utf8(write_pain_001(&batch).unwrap()).unwrap();

        schema_valid(PAIN_001_XSD, &xml).unwrap();
        let control_sum = amount * i64::try_from(count).unwrap();
        assert_eq!(
            xml.matches(&format!("<NbOfTxs>{count}</NbOfTxs>")).count(),
            2
        );
        assert_eq!(
            xml.matches(&format!("<CtrlSum>{control_sum}</CtrlSum>"))
                .count(),
            2
        );
        assert_eq!(
            xml.matches(&format!("<MmbId>{bank_id}</MmbId>")).count(),
            count + usize::from(bank_id == "970418"),
            "each creditor agent is the batch's bank (the debtor's agent is 970418)"
        );
    }
}

#[test]
fn the_simulator_s_pain_002_answer_validates_against_pain_002_001_10() {
    let batch = batch(
        "SIMANSWER1",
        (0..20)
            .map(|n| transfer(&format!("UBSIM{n:04}-001"), "970436", "Võ Thị Sáu", 1_000))
            .collect(),
    );
    let pain_001 = String::from_utf8(write_pain_001(&batch).unwrap()).unwrap();
    let shares = bank_simulator::Shares {
        ac01_per_mille: 200,
        ac04_per_mille: 200,
        md07_per_mille: 100,
        timeout_per_mille: 200,
    };

    let report = bank_simulator::files::answer_pain_001(
        &pain_001,
        7,
        &shares,
        "SIMREPORT1",
        "2026-03-10T15:00:00+07:00",
    )
    .unwrap();

    schema_valid(PAIN_002_XSD, &report).unwrap();
    assert_eq!(read_pain_002(&report).unwrap().transactions.len(), 20);
}

#[test]
fn the_sample_pain_002_validates_and_is_read_into_outcomes() {
    schema_valid(PAIN_002_XSD, SAMPLE_PAIN_002).unwrap();

    let report = read_pain_002(SAMPLE_PAIN_002).unwrap();

    assert_eq!(report.original_message_id, "UBMAAAAAAAAAAAAAAAAAAAAAAAA");
    let entry = |id: &str, status: &str, reason: &str| TransactionStatusEntry {
        original_end_to_end_id: id.into(),
        status: status.into(),
        reason_code: reason.into(),
    };
    assert_eq!(
        report.transactions,
        vec![
            entry("UB7Q2KXH4MZ3A9WDP5R8TC6NYFJ3B-001", "ACCC", ""),
            entry("UB2MWD7PKQ4XHZ8R3TA6C9NBYJ5EF-001", "RJCT", "AC04"),
            entry("UBK3P8XW2QZ7MDH4RA9TC5NJYB6EF-001", "RJCT", "MD07"),
            entry("UBZ9R4TQ6XW2KPM8HD3AC7NBJY5EF-002", "RJCT", "AB05"),
            entry("UBW5H2PX8QK4ZMR7DT3AC9NJYB6EF-001", "ACSP", ""),
            entry("UBP6T3QX9WK2ZHM5RD8AC4NJYB7EF-001", "RJCT", "AM05"),
            entry("UBX4M7QP2WK9ZHR3DT6AC8NJYB5EF-001", "RJCT", "AC01"),
        ]
    );
    let outcomes: Vec<ResultEffect> = report
        .transactions
        .iter()
        .map(|entry| {
            let status = BankStatus::from_code(&entry.status).unwrap();
            classify(status, &entry.reason_code)
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ResultEffect::Paid,
            ResultEffect::Parked {
                ends_benefit: false
            },
            ResultEffect::Parked { ends_benefit: true },
            ResultEffect::Retry,
            ResultEffect::NoChange,
            ResultEffect::Failed,
            ResultEffect::Parked {
                ends_benefit: false
            },
        ]
    );
    assert_eq!(outcomes[0].state(), Some(PaymentState::Paid));
    assert_eq!(outcomes[4].state(), None, "ACSP is not final");
}

#[test]
fn the_schema_check_rejects_a_file_the_schema_forbids() {
    // Guards the guard: a check that passed everything would prove nothing.
    let xml = String::from_utf8(write_pain_001(&batch("BAD1", vec![])).unwrap()).unwrap();

    assert!(
        support::schema_errors(PAIN_001_XSD, &xml)
            .unwrap()
            .is_some(),
        "a batch without transactions breaks CdtTrfTxInf minOccurs=1"
    );
}
