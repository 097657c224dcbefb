//! The printable notice: the PDF and the PNG both show the QR code of exactly the issued token,
//! the PDF's text keeps its Vietnamese diacritics, and the short code printed beside the QR
//! code checks in like the token.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use contracts::checkin::v1::{
    GetNoticeRequest, GetNoticeResponse, NoticeFormat, ScanOutcome, checkin_service_client,
};
use contracts::eligibility::v1::decision_event;
use support::{Harness, activation, morning_of, officer};
use tonic::Code;
use tonic::transport::Channel;

/// The single QR code in a PNG image, decoded. pdftoppm writes RGB, the service greyscale.
fn decode_qr(png_bytes: &[u8]) -> anyhow::Result<String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info()?;
    let mut pixels = vec![0; reader.output_buffer_size().unwrap_or_default()];
    let info = reader.next_frame(&mut pixels)?;
    anyhow::ensure!(
        info.bit_depth == png::BitDepth::Eight,
        "{:?}",
        info.bit_depth
    );
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => anyhow::bail!("unexpected PNG colour type {other:?}"),
    };
    let width = info.width as usize;
    let stride = info.line_size;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, info.height as usize, |x, y| {
            pixels[y * stride + x * channels]
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

async fn get_notice(
    client: &checkin_service_client::CheckinServiceClient<Channel>,
    decision_id: &str,
    format: NoticeFormat,
) -> Result<GetNoticeResponse, tonic::Status> {
    Ok(client
        .clone()
        .get_notice(GetNoticeRequest {
            decision_id: decision_id.into(),
            format: format as i32,
            officer: Some(officer()),
        })
        .await?
        .into_inner())
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("checkin-notice-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(command: &mut Command) -> anyhow::Result<Vec<u8>> {
    let output = command.output()?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output.stdout)
}

/// The PDF as poppler renders it at 150 dpi, as a PNG.
fn pdf_to_png(scratch: &Scratch, pdf: &Path) -> anyhow::Result<Vec<u8>> {
    let prefix = scratch.path("page");
    run(Command::new("pdftoppm")
        .args(["-png", "-r", "150", "-singlefile"])
        .arg(pdf)
        .arg(&prefix))?;
    Ok(std::fs::read(prefix.with_extension("png"))?)
}

/// The token of `decision_id`'s notice, once the service issued it.
async fn issued_token(harness: &Harness, decision_id: &str) -> anyhow::Result<String> {
    for _ in 0..400 {
        if let Some(token) = harness.notice_token(decision_id).await? {
            return Ok(token);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("no notice issued for {decision_id}")
}

#[tokio::test]
async fn the_notice_pdf_rendered_to_an_image_decodes_back_to_exactly_the_issued_token_and_keeps_its_diacritics()
-> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let mut event = activation("decision-1");
    if let Some(decision_event::Change::Activated(activated)) = &mut event.change {
        // Decomposed, as some registries store names: the notice must still print it right.
        activated.beneficiary_name = "Nguye\u{302}\u{303}n Thị Hồng".into();
    }
    harness.publish_decision(&event).await?;
    let token = issued_token(&harness, "decision-1").await?;

    let notice = get_notice(&harness.client, "decision-1", NoticeFormat::Pdf).await?;
    let default = get_notice(&harness.client, "decision-1", NoticeFormat::Unspecified).await?;

    assert_eq!(notice.content_type, "application/pdf");
    assert_eq!(default.content_type, "application/pdf");
    assert!(notice.content.starts_with(b"%PDF-"));
    let scratch = Scratch::new()?;
    let pdf = scratch.path("notice.pdf");
    std::fs::write(&pdf, &notice.content)?;
    assert_eq!(decode_qr(&pdf_to_png(&scratch, &pdf)?)?, token);
    let text = String::from_utf8(run(Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&pdf)
        .arg("-"))?)?;
    assert!(text.contains("Nguyễn Thị Hồng"), "{text}");
    assert!(text.contains("123/QĐ-SLĐTBXH"), "{text}");
    assert!(text.contains(&notice.short_code), "{text}");
    // Every month's window, as the decision gives it.
    for window in [
        "13/03/2026 – 18/03/2026",
        "16/04/2026 – 20/04/2026",
        "18/05/2026 – 20/05/2026",
    ] {
        assert!(text.contains(window), "{window} missing from {text}");
    }
    harness.stop().await
}

#[tokio::test]
async fn the_notice_png_decodes_back_to_exactly_the_issued_token() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    let token = harness.activate("decision-1").await?;

    let notice = get_notice(&harness.client, "decision-1", NoticeFormat::Png).await?;

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
    let notice = get_notice(&harness.client, "decision-1", NoticeFormat::Png).await?;

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

    let missing = get_notice(&harness.client, "decision-404", NoticeFormat::Pdf).await;

    assert_eq!(
        missing.err().map(|status| status.code()),
        Some(Code::NotFound)
    );
    harness.stop().await
}

#[tokio::test]
async fn a_notice_in_an_unknown_format_is_refused_with_the_field() -> anyhow::Result<()> {
    let harness = Harness::start(morning_of(2026, 3, 16)).await?;
    harness.activate("decision-1").await?;

    let refused = harness
        .client
        .clone()
        .get_notice(GetNoticeRequest {
            decision_id: "decision-1".into(),
            format: 42,
            officer: Some(officer()),
        })
        .await
        .err();

    let status = refused.ok_or_else(|| anyhow::anyhow!("an unknown format was accepted"))?;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("format"), "{}", status.message());
    harness.stop().await
}
