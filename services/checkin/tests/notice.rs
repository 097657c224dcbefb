//! The printable notice: its QR code decodes back to exactly the issued token, and the short
//! code printed beside it checks in like the token.

mod support;

use contracts::checkin::v1::{GetNoticeRequest, NoticeFormat, ScanOutcome};
use support::{Harness, morning_of, officer};
use tonic::Code;

fn decode_qr(png_bytes: &[u8]) -> anyhow::Result<String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info()?;
    let mut pixels = vec![0; reader.output_buffer_size().unwrap_or_default()];
    let info = reader.next_frame(&mut pixels)?;
    let width = info.width as usize;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, info.height as usize, |x, y| {
            pixels[y * width + x]
        });
    let grids = image.detect_grids();
    anyhow::ensure!(
        grids.len() == 1,
        "expected one QR code, found {}",
        grids.len()
    );
    let (_, content) = grids[0].decode()?;
    Ok(content)
}

#[tokio::test]
async fn the_notice_png_decodes_back_to_exactly_the_issued_token() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let token = harness.activate("decision-1").await?;

    let notice = harness
        .client
        .clone()
        .get_notice(GetNoticeRequest {
            decision_id: "decision-1".into(),
            format: NoticeFormat::Png as i32,
            officer: Some(officer()),
        })
        .await?
        .into_inner();

    assert_eq!(notice.content_type, "image/png");
    assert_eq!(notice.key_id, support::SIGNING_KEY_ID);
    assert_eq!(
        notice.notice_id,
        harness.notice_id("decision-1").await?.to_string()
    );
    assert_eq!(decode_qr(&notice.content)?, token);
    harness.stop().await
}

#[tokio::test]
async fn the_short_code_typed_by_an_officer_checks_in_like_the_token() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let (_, credential) = harness.register_kiosk().await?;
    let token = harness.activate("decision-1").await?;
    let notice = harness
        .client
        .clone()
        .get_notice(GetNoticeRequest {
            decision_id: "decision-1".into(),
            format: NoticeFormat::Png as i32,
            officer: Some(officer()),
        })
        .await?
        .into_inner();

    let typed = harness
        .scan(&credential, &notice.short_code.to_lowercase())
        .await?;
    let scanned = harness.scan(&credential, &token).await?;
    let unknown = harness.scan(&credential, "AAAA-AAAA-AAAA").await?;

    assert_eq!(typed.outcome(), ScanOutcome::Accepted);
    assert_eq!(scanned.outcome(), ScanOutcome::AlreadyRecorded);
    assert_eq!(unknown.outcome(), ScanOutcome::Invalid);
    assert_eq!(harness.checkin_count().await?, 1);
    harness.stop().await
}

#[tokio::test]
async fn a_notice_of_an_unknown_decision_is_not_found() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;

    let missing = harness
        .client
        .clone()
        .get_notice(GetNoticeRequest {
            decision_id: "decision-404".into(),
            format: NoticeFormat::Png as i32,
            officer: Some(officer()),
        })
        .await;

    assert_eq!(
        missing.err().map(|status| status.code()),
        Some(Code::NotFound)
    );
    harness.stop().await
}
