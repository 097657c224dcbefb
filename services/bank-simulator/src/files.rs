//! Banks that take files: a pain.001.001.09 batch in, a pain.002.001.10 status report out,
//! with the same seeded outcomes as the Kafka path.

use quick_xml::{
    Reader, Writer,
    events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event},
};
use thiserror::Error;

use crate::{Shares, decide};

/// The namespace of pain.002.001.10.
pub const PAIN_002_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10";

/// Why a payment file could not be answered.
#[derive(Debug, Error)]
pub enum FileError {
    /// Not well-formed XML.
    #[error("payment file is not well-formed XML: {0}")]
    Xml(String),
    /// Not a pain.001 customer credit transfer initiation.
    #[error("document is not a pain.001 credit transfer initiation")]
    NotAnInitiation,
    /// The report could not be written.
    #[error("status report not written: {0}")]
    Write(#[from] std::io::Error),
}

/// What the answer needs from a pain.001 file.
#[derive(Debug, Default, PartialEq, Eq)]
struct Initiation {
    message_id: String,
    payment_information_id: String,
    end_to_end_ids: Vec<String>,
}

fn read_initiation(xml: &str) -> Result<Initiation, FileError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut initiation = Initiation::default();
    let mut seen_root = false;
    loop {
        match reader
            .read_event()
            .map_err(|error| FileError::Xml(error.to_string()))?
        {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                seen_root |= name == "CstmrCdtTrfInitn";
                path.push(name);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(text) => {
                let value = text
                    .decode()
                    .map_err(|error| FileError::Xml(error.to_string()))?
                    .into_owned();
                let tail: Vec<&str> = path.iter().rev().take(2).map(String::as_str).collect();
                match tail.as_slice() {
                    ["MsgId", "GrpHdr"] => initiation.message_id = value,
                    ["PmtInfId", "PmtInf"] => initiation.payment_information_id = value,
                    ["EndToEndId", "PmtId"] => initiation.end_to_end_ids.push(value),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(FileError::NotAnInitiation);
    }
    Ok(initiation)
}

fn leaf(writer: &mut Writer<Vec<u8>>, name: &str, text: &str) -> std::io::Result<()> {
    writer.write_event(Event::Start(BytesStart::new(name)))?;
    writer.write_event(Event::Text(BytesText::new(text)))?;
    writer.write_event(Event::End(BytesEnd::new(name)))
}

fn open(writer: &mut Writer<Vec<u8>>, name: &str) -> std::io::Result<()> {
    writer.write_event(Event::Start(BytesStart::new(name)))
}

fn close(writer: &mut Writer<Vec<u8>>, name: &str) -> std::io::Result<()> {
    writer.write_event(Event::End(BytesEnd::new(name)))
}

/// The pain.002 status report answering the pain.001 `xml`: one status per transaction,
/// drawn like the Kafka answers. `report_id` becomes the report's MsgId and `created_at`
/// (ISO 8601) its CreDtTm.
pub fn answer_pain_001(
    xml: &str,
    seed: u64,
    shares: &Shares,
    report_id: &str,
    created_at: &str,
) -> Result<String, FileError> {
    let initiation = read_initiation(xml)?;
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer.write_event(Event::Start(
        BytesStart::new("Document").with_attributes([("xmlns", PAIN_002_NAMESPACE)]),
    ))?;
    open(&mut writer, "CstmrPmtStsRpt")?;
    open(&mut writer, "GrpHdr")?;
    leaf(&mut writer, "MsgId", report_id)?;
    leaf(&mut writer, "CreDtTm", created_at)?;
    close(&mut writer, "GrpHdr")?;
    open(&mut writer, "OrgnlGrpInfAndSts")?;
    leaf(&mut writer, "OrgnlMsgId", &initiation.message_id)?;
    leaf(&mut writer, "OrgnlMsgNmId", "pain.001.001.09")?;
    close(&mut writer, "OrgnlGrpInfAndSts")?;
    open(&mut writer, "OrgnlPmtInfAndSts")?;
    leaf(
        &mut writer,
        "OrgnlPmtInfId",
        &initiation.payment_information_id,
    )?;
    for end_to_end_id in &initiation.end_to_end_ids {
        let answer = decide(seed, end_to_end_id, shares);
        let (_, reason) = answer.status_and_reason();
        open(&mut writer, "TxInfAndSts")?;
        leaf(&mut writer, "OrgnlEndToEndId", end_to_end_id)?;
        leaf(&mut writer, "TxSts", answer.status_code())?;
        if !reason.is_empty() {
            open(&mut writer, "StsRsnInf")?;
            open(&mut writer, "Rsn")?;
            leaf(&mut writer, "Cd", reason)?;
            close(&mut writer, "Rsn")?;
            close(&mut writer, "StsRsnInf")?;
        }
        close(&mut writer, "TxInfAndSts")?;
    }
    close(&mut writer, "OrgnlPmtInfAndSts")?;
    close(&mut writer, "CstmrPmtStsRpt")?;
    close(&mut writer, "Document")?;
    String::from_utf8(writer.into_inner()).map_err(|error| FileError::Xml(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAIN_001: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"><CstmrCdtTrfInitn>
<GrpHdr><MsgId>UBMBATCH1</MsgId><CreDtTm>2026-03-10T09:00:00+07:00</CreDtTm>
<NbOfTxs>2</NbOfTxs><CtrlSum>10500000</CtrlSum><InitgPty><Nm>BHXH</Nm></InitgPty></GrpHdr>
<PmtInf><PmtInfId>UBPBATCH1</PmtInfId><PmtMtd>TRF</PmtMtd>
<CdtTrfTxInf><PmtId><InstrId>UBA-001</InstrId><EndToEndId>UBA-001</EndToEndId></PmtId></CdtTrfTxInf>
<CdtTrfTxInf><PmtId><InstrId>UBB-001</InstrId><EndToEndId>UBB-001</EndToEndId></PmtId></CdtTrfTxInf>
</PmtInf></CstmrCdtTrfInitn></Document>"#;

    #[test]
    fn a_payment_file_is_answered_with_one_status_per_transaction() {
        let everything_rejected = Shares {
            ac01_per_mille: 1000,
            ..Shares::default()
        };
        let report = answer_pain_001(
            PAIN_001,
            1,
            &everything_rejected,
            "RPT1",
            "2026-03-10T15:00:00+07:00",
        )
        .unwrap();

        assert!(report.contains("<OrgnlMsgId>UBMBATCH1</OrgnlMsgId>"));
        assert!(report.contains("<OrgnlPmtInfId>UBPBATCH1</OrgnlPmtInfId>"));
        assert_eq!(report.matches("<TxInfAndSts>").count(), 2);
        assert_eq!(report.matches("<TxSts>RJCT</TxSts>").count(), 2);
        assert_eq!(report.matches("<Cd>AC01</Cd>").count(), 2);
        assert!(report.contains("<OrgnlEndToEndId>UBB-001</OrgnlEndToEndId>"));

        let credited = answer_pain_001(PAIN_001, 1, &Shares::default(), "RPT2", "x").unwrap();
        assert_eq!(credited.matches("<TxSts>ACCC</TxSts>").count(), 2);
        assert!(!credited.contains("<StsRsnInf>"));
    }

    #[test]
    fn another_document_is_refused() {
        assert!(matches!(
            answer_pain_001("<Document><X/></Document>", 1, &Shares::default(), "R", "x"),
            Err(FileError::NotAnInitiation)
        ));
    }
}
