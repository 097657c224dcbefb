//! ISO 20022 files for banks that take files: pain.001.001.09 out, pain.002.001.10 in.
//! Pure: values in, bytes out, and back.

use std::io;

use chrono::{DateTime, NaiveDate, Utc};
use quick_xml::{
    Reader, Writer,
    events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event},
};
use thiserror::Error;

use crate::domain::text::{fold_ascii, truncate_ascii};

/// The namespace of pain.001.001.09.
pub const PAIN_001_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";

/// One credit transfer of a batch (CdtTrfTxInf).
#[derive(Debug, Clone)]
pub struct CreditTransfer {
    /// EndToEndId, also used as InstrId.
    pub end_to_end_id: String,
    /// InstdAmt in whole đồng.
    pub amount_dong: i64,
    /// CdtrAgt ClrSysMmbId: the 6-digit NAPAS id.
    pub creditor_bank_id: String,
    /// Cdtr Nm in Unicode; folded when written.
    pub creditor_name: String,
    /// CdtrAcct Othr Id: card or account number.
    pub creditor_account: String,
    /// RmtInf Ustrd; folded and cut to 140 when written.
    pub remittance: String,
}

/// One bank batch: a group header and one payment information block.
#[derive(Debug, Clone)]
pub struct PaymentInitiation {
    /// MsgId, at most 35 characters.
    pub message_id: String,
    /// PmtInfId, at most 35 characters.
    pub payment_information_id: String,
    /// CreDtTm.
    pub created_at: DateTime<Utc>,
    /// ReqdExctnDt.
    pub execution_date: NaiveDate,
    /// InitgPty and Dbtr Nm; folded when written.
    pub debtor_name: String,
    /// DbtrAcct Othr Id.
    pub debtor_account: String,
    /// DbtrAgt ClrSysMmbId.
    pub debtor_bank_id: String,
    /// The transactions.
    pub transfers: Vec<CreditTransfer>,
}

impl PaymentInitiation {
    /// NbOfTxs.
    pub fn number_of_transactions(&self) -> usize {
        self.transfers.len()
    }

    /// CtrlSum, in whole đồng.
    pub fn control_sum(&self) -> i64 {
        self.transfers
            .iter()
            .map(|transfer| transfer.amount_dong)
            .sum()
    }
}

fn open<W: io::Write>(writer: &mut Writer<W>, name: &str) -> io::Result<()> {
    writer.write_event(Event::Start(BytesStart::new(name)))
}

fn close<W: io::Write>(writer: &mut Writer<W>, name: &str) -> io::Result<()> {
    writer.write_event(Event::End(BytesEnd::new(name)))
}

fn leaf<W: io::Write>(writer: &mut Writer<W>, name: &str, text: &str) -> io::Result<()> {
    open(writer, name)?;
    writer.write_event(Event::Text(BytesText::new(text)))?;
    close(writer, name)
}

/// `<Tag><FinInstnId><ClrSysMmbId><MmbId>id</MmbId></ClrSysMmbId></FinInstnId></Tag>`.
fn agent<W: io::Write>(writer: &mut Writer<W>, name: &str, bank_id: &str) -> io::Result<()> {
    open(writer, name)?;
    open(writer, "FinInstnId")?;
    open(writer, "ClrSysMmbId")?;
    leaf(writer, "MmbId", bank_id)?;
    close(writer, "ClrSysMmbId")?;
    close(writer, "FinInstnId")?;
    close(writer, name)
}

/// `<Tag><Id><Othr><Id>number</Id></Othr></Id></Tag>`: neither is an IBAN.
fn account<W: io::Write>(writer: &mut Writer<W>, name: &str, number: &str) -> io::Result<()> {
    open(writer, name)?;
    open(writer, "Id")?;
    open(writer, "Othr")?;
    leaf(writer, "Id", number)?;
    close(writer, "Othr")?;
    close(writer, "Id")?;
    close(writer, name)
}

/// `<Tag><Nm>name</Nm></Tag>`. Nm is Max140Text, at least one character: a name with no
/// Latin letter folds to nothing and is left out rather than sent empty, which the schema
/// refuses.
fn party<W: io::Write>(writer: &mut Writer<W>, name: &str, party_name: &str) -> io::Result<()> {
    open(writer, name)?;
    let folded = truncate_ascii(&fold_ascii(party_name), 140);
    if !folded.is_empty() {
        leaf(writer, "Nm", &folded)?;
    }
    close(writer, name)
}

/// Writes `batch` as a pain.001.001.09 document. Text is ASCII-folded; amounts are whole
/// đồng, since VND has no minor unit.
pub fn write_pain_001(batch: &PaymentInitiation) -> io::Result<Vec<u8>> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer.write_event(Event::Start(
        BytesStart::new("Document").with_attributes([("xmlns", PAIN_001_NAMESPACE)]),
    ))?;
    open(&mut writer, "CstmrCdtTrfInitn")?;

    let count = batch.number_of_transactions().to_string();
    let sum = batch.control_sum().to_string();
    open(&mut writer, "GrpHdr")?;
    leaf(&mut writer, "MsgId", &batch.message_id)?;
    leaf(
        &mut writer,
        "CreDtTm",
        // Vietnam has no daylight saving time: local time is always UTC+7.
        &(batch.created_at + chrono::Duration::hours(7))
            .format("%Y-%m-%dT%H:%M:%S+07:00")
            .to_string(),
    )?;
    leaf(&mut writer, "NbOfTxs", &count)?;
    leaf(&mut writer, "CtrlSum", &sum)?;
    party(&mut writer, "InitgPty", &batch.debtor_name)?;
    close(&mut writer, "GrpHdr")?;

    open(&mut writer, "PmtInf")?;
    leaf(&mut writer, "PmtInfId", &batch.payment_information_id)?;
    leaf(&mut writer, "PmtMtd", "TRF")?;
    leaf(&mut writer, "NbOfTxs", &count)?;
    leaf(&mut writer, "CtrlSum", &sum)?;
    open(&mut writer, "ReqdExctnDt")?;
    leaf(
        &mut writer,
        "Dt",
        &batch.execution_date.format("%Y-%m-%d").to_string(),
    )?;
    close(&mut writer, "ReqdExctnDt")?;
    party(&mut writer, "Dbtr", &batch.debtor_name)?;
    account(&mut writer, "DbtrAcct", &batch.debtor_account)?;
    agent(&mut writer, "DbtrAgt", &batch.debtor_bank_id)?;
    for transfer in &batch.transfers {
        open(&mut writer, "CdtTrfTxInf")?;
        open(&mut writer, "PmtId")?;
        leaf(&mut writer, "InstrId", &transfer.end_to_end_id)?;
        leaf(&mut writer, "EndToEndId", &transfer.end_to_end_id)?;
        close(&mut writer, "PmtId")?;
        open(&mut writer, "Amt")?;
        writer.write_event(Event::Start(
            BytesStart::new("InstdAmt").with_attributes([("Ccy", "VND")]),
        ))?;
        writer.write_event(Event::Text(BytesText::new(
            &transfer.amount_dong.to_string(),
        )))?;
        close(&mut writer, "InstdAmt")?;
        close(&mut writer, "Amt")?;
        agent(&mut writer, "CdtrAgt", &transfer.creditor_bank_id)?;
        party(&mut writer, "Cdtr", &transfer.creditor_name)?;
        account(&mut writer, "CdtrAcct", &transfer.creditor_account)?;
        open(&mut writer, "Purp")?;
        leaf(&mut writer, "Cd", "BENE")?;
        close(&mut writer, "Purp")?;
        let remittance = truncate_ascii(&fold_ascii(&transfer.remittance), 140);
        if !remittance.is_empty() {
            open(&mut writer, "RmtInf")?;
            leaf(&mut writer, "Ustrd", &remittance)?;
            close(&mut writer, "RmtInf")?;
        }
        close(&mut writer, "CdtTrfTxInf")?;
    }
    close(&mut writer, "PmtInf")?;
    close(&mut writer, "CstmrCdtTrfInitn")?;
    close(&mut writer, "Document")?;
    Ok(writer.into_inner())
}

/// Why a status report could not be read.
#[derive(Debug, Error)]
pub enum ReportError {
    /// Not well-formed XML.
    #[error("status report is not well-formed XML: {0}")]
    Xml(String),
    /// Not a pain.002 status report.
    #[error("document is not a pain.002 customer payment status report")]
    NotAStatusReport,
}

/// One transaction status of a pain.002 report (TxInfAndSts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionStatusEntry {
    /// OrgnlEndToEndId.
    pub original_end_to_end_id: String,
    /// TxSts, e.g. ACCC or RJCT.
    pub status: String,
    /// StsRsnInf Rsn Cd, empty when none.
    pub reason_code: String,
}

/// A pain.002.001.10 status report, reduced to what transfer applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusReport {
    /// OrgnlGrpInfAndSts OrgnlMsgId: the pain.001 message answered.
    pub original_message_id: String,
    /// Statuses, in document order.
    pub transactions: Vec<TransactionStatusEntry>,
}

/// Reads a pain.002 status report; elements transfer does not use are skipped.
pub fn read_pain_002(xml: &str) -> Result<StatusReport, ReportError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut report = StatusReport::default();
    let mut current = TransactionStatusEntry::default();
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|error| ReportError::Xml(error.to_string()))?;
        match event {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                if name == "CstmrPmtStsRpt" {
                    seen_root = true;
                }
                if name == "TxInfAndSts" {
                    current = TransactionStatusEntry::default();
                }
                path.push(name);
            }
            Event::End(_) => {
                if path.last().map(String::as_str) == Some("TxInfAndSts") {
                    report.transactions.push(std::mem::take(&mut current));
                }
                path.pop();
            }
            Event::Text(text) => {
                let value = text
                    .decode()
                    .map_err(|error| ReportError::Xml(error.to_string()))?
                    .into_owned();
                let tail: Vec<&str> = path.iter().rev().take(3).map(String::as_str).collect();
                match tail.as_slice() {
                    ["OrgnlMsgId", "OrgnlGrpInfAndSts", ..] => report.original_message_id = value,
                    ["OrgnlEndToEndId", "TxInfAndSts", ..] => {
                        current.original_end_to_end_id = value;
                    }
                    ["TxSts", "TxInfAndSts", ..] => current.status = value,
                    ["Cd", "Rsn", "StsRsnInf"] => current.reason_code = value,
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(ReportError::NotAStatusReport);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn batch() -> PaymentInitiation {
        PaymentInitiation {
            message_id: "UBMTEST0001".into(),
            payment_information_id: "UBPTEST0001".into(),
            created_at: Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap(),
            execution_date: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
            debtor_name: "Bảo hiểm xã hội Việt Nam".into(),
            debtor_account: "1000000000001".into(),
            debtor_bank_id: "970418".into(),
            transfers: vec![
                CreditTransfer {
                    end_to_end_id: "UBAAAA-001".into(),
                    amount_dong: 6_000_000,
                    creditor_bank_id: "970436".into(),
                    creditor_name: "Nguyễn Thị Đào".into(),
                    creditor_account: "9704360000000000002".into(),
                    remittance: "Trợ cấp thất nghiệp tháng 2 & 3".into(),
                },
                CreditTransfer {
                    end_to_end_id: "UBBBBB-002".into(),
                    amount_dong: 18_500_000,
                    creditor_bank_id: "970436".into(),
                    creditor_name: "Lê Văn Ân".into(),
                    creditor_account: "123456789".into(),
                    remittance: "Tro cap".into(),
                },
            ],
        }
    }

    #[test]
    fn a_batch_is_written_with_control_sums_and_folded_names() {
        let xml = String::from_utf8(write_pain_001(&batch()).unwrap()).unwrap();

        assert!(
            xml.contains(r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">"#)
        );
        assert_eq!(xml.matches("<NbOfTxs>2</NbOfTxs>").count(), 2);
        assert_eq!(xml.matches("<CtrlSum>24500000</CtrlSum>").count(), 2);
        assert!(xml.contains("<CreDtTm>2026-03-10T09:00:00+07:00</CreDtTm>"));
        assert!(xml.contains(r#"<InstdAmt Ccy="VND">6000000</InstdAmt>"#));
        assert!(xml.contains("<Nm>NGUYEN THI DAO</Nm>"));
        assert!(xml.contains("<Nm>BAO HIEM XA HOI VIET NAM</Nm>"));
        assert!(xml.contains("<Ustrd>TRO CAP THAT NGHIEP THANG 2 &amp; 3</Ustrd>"));
        assert!(xml.contains("<MmbId>970436</MmbId>"));
        assert!(xml.contains("<EndToEndId>UBBBBB-002</EndToEndId>"));
        assert!(xml.is_ascii());
    }

    #[test]
    fn elements_come_in_the_schema_s_order() {
        let xml = String::from_utf8(write_pain_001(&batch()).unwrap()).unwrap();
        let position = |tag: &str| xml.find(tag).unwrap();
        let order = [
            "<GrpHdr>",
            "<MsgId>",
            "<CreDtTm>",
            "<InitgPty>",
            "<PmtInf>",
            "<PmtInfId>",
            "<PmtMtd>",
            "<ReqdExctnDt>",
            "<Dbtr>",
            "<DbtrAcct>",
            "<DbtrAgt>",
            "<CdtTrfTxInf>",
            "<PmtId>",
            "<Amt>",
            "<CdtrAgt>",
            "<Cdtr>",
            "<CdtrAcct>",
            "<Purp>",
            "<RmtInf>",
        ];
        for pair in order.windows(2) {
            assert!(
                position(pair[0]) < position(pair[1]),
                "{} before {}",
                pair[0],
                pair[1]
            );
        }
    }

    const PAIN_002: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>BANKRPT0001</MsgId><CreDtTm>2026-03-10T15:00:00+07:00</CreDtTm></GrpHdr>
    <OrgnlGrpInfAndSts>
      <OrgnlMsgId>UBMTEST0001</OrgnlMsgId>
      <OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>
    </OrgnlGrpInfAndSts>
    <OrgnlPmtInfAndSts>
      <OrgnlPmtInfId>UBPTEST0001</OrgnlPmtInfId>
      <TxInfAndSts>
        <OrgnlEndToEndId>UBAAAA-001</OrgnlEndToEndId>
        <TxSts>ACCC</TxSts>
      </TxInfAndSts>
      <TxInfAndSts>
        <OrgnlEndToEndId>UBBBBB-002</OrgnlEndToEndId>
        <TxSts>RJCT</TxSts>
        <StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>account closed</AddtlInf></StsRsnInf>
      </TxInfAndSts>
    </OrgnlPmtInfAndSts>
  </CstmrPmtStsRpt>
</Document>"#;

    #[test]
    fn a_status_report_is_read_into_statuses() {
        let report = read_pain_002(PAIN_002).unwrap();

        assert_eq!(report.original_message_id, "UBMTEST0001");
        assert_eq!(
            report.transactions,
            vec![
                TransactionStatusEntry {
                    original_end_to_end_id: "UBAAAA-001".into(),
                    status: "ACCC".into(),
                    reason_code: String::new(),
                },
                TransactionStatusEntry {
                    original_end_to_end_id: "UBBBBB-002".into(),
                    status: "RJCT".into(),
                    reason_code: "AC04".into(),
                },
            ]
        );
    }

    #[test]
    fn another_document_or_broken_xml_is_refused() {
        assert!(matches!(
            read_pain_002("<Document><Other/></Document>"),
            Err(ReportError::NotAStatusReport)
        ));
        assert!(matches!(
            read_pain_002("<Document><CstmrPmtStsRpt></Document>"),
            Err(ReportError::Xml(_))
        ));
    }
}
