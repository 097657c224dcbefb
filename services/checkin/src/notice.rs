//! The printable check-in notice: one A4 page in Vietnamese with the beneficiary's name, the
//! decision number, the month-by-month check-in windows, the QR code of the signed token and
//! the short code an officer types when the scanner fails.
//!
//! Rendering is a pure function of [`NoticeSheet`]: the page is laid out once
//! ([`layout`]) and drawn either as a PDF with the font embedded ([`pdf`]) or as a PNG
//! ([`raster`]), so both formats show exactly the same page.

pub mod issued;
pub mod keys;
mod layout;
mod pdf;
mod raster;

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;

use crate::domain::window::CheckinWindow;

/// The font every notice is set in. DejaVu Sans covers every Vietnamese letter as a
/// precomposed glyph; it is compiled in so a running service reads no system font. Its licence
/// (Bitstream Vera, DejaVu changes in the public domain) is beside it in `assets/`.
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Everything printed on a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeSheet {
    /// Beneficiary's full name, as the decision gives it.
    pub beneficiary_name: String,
    /// Legal number of the decision.
    pub decision_number: String,
    /// The decision's check-in windows, month by month.
    pub windows: Vec<CheckinWindow>,
    /// The signed token the QR code holds.
    pub token: String,
    /// The code an officer types when the scanner fails.
    pub short_code: String,
    /// When the token stops being valid.
    pub expires_at: DateTime<Utc>,
}

impl NoticeSheet {
    /// Text fields in composed form (NFC): DejaVu has a glyph for every precomposed Vietnamese
    /// letter, while a decomposed name would need mark positioning the page does not do.
    fn composed(&self) -> Self {
        Self {
            beneficiary_name: self.beneficiary_name.trim().nfc().collect(),
            decision_number: self.decision_number.trim().nfc().collect(),
            ..self.clone()
        }
    }
}

/// Why a notice could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The token does not fit a QR code.
    #[error("token does not fit a QR code: {0}")]
    Qr(#[from] qrcode::types::QrError),
    /// The embedded font could not be read.
    #[error("the embedded font could not be read")]
    Font,
    /// The PNG encoder failed.
    #[error("png encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// The notice as an A4 PDF with the font embedded, so it prints the same everywhere and its
/// text can be searched and copied with its diacritics.
pub fn render_pdf(sheet: &NoticeSheet) -> Result<Vec<u8>, RenderError> {
    let page = layout::compose(&sheet.composed())?;
    pdf::draw(&page)
}

/// The notice as a greyscale PNG of the same A4 page at [`raster::DPI`].
pub fn render_png(sheet: &NoticeSheet) -> Result<Vec<u8>, RenderError> {
    let page = layout::compose(&sheet.composed())?;
    raster::draw(&page)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::domain::window::BenefitMonth;

    pub(super) fn sheet() -> NoticeSheet {
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        let windows = vec![
            CheckinWindow::new(
                BenefitMonth::new(1).unwrap(),
                day(3, 16),
                day(4, 15),
                day(3, 13),
                day(3, 18),
            )
            .unwrap(),
            CheckinWindow::new(
                BenefitMonth::new(2).unwrap(),
                day(4, 16),
                day(5, 15),
                day(4, 16),
                day(4, 20),
            )
            .unwrap(),
        ];
        NoticeSheet {
            // Decomposed on purpose: the page must compose it.
            beneficiary_name: "Nguye\u{302}\u{303}n Thị Hồng".into(),
            decision_number: "123/QĐ-SLĐTBXH".into(),
            windows,
            token: format!("BHTN1.{}.{}", "A".repeat(110), "B".repeat(103)),
            short_code: "ABCD-EFGH-JKLM".into(),
            expires_at: Utc.with_ymd_and_hms(2026, 8, 18, 17, 0, 0).unwrap(),
        }
    }

    #[test]
    fn names_are_composed_before_printing() {
        assert_eq!(sheet().composed().beneficiary_name, "Nguyễn Thị Hồng");
    }

    #[test]
    fn the_pdf_is_a_pdf_with_the_font_embedded() {
        let bytes = render_pdf(&sheet()).unwrap();

        assert!(bytes.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("/FontFile2"), "no embedded TrueType font");
        assert!(text.contains("/ToUnicode"), "no text extraction map");
    }

    #[test]
    fn the_png_is_an_a4_page_at_150_dpi() {
        let bytes = render_png(&sheet()).unwrap();

        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();

        assert_eq!((info.width, info.height), (1240, 1754));
        assert_eq!(info.color_type, png::ColorType::Grayscale);
    }
}
