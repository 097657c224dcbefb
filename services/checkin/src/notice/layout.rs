//! The notice page laid out once, in points from the top-left corner, for both renderers.

use ab_glyph::{Font, FontRef};
use chrono::NaiveDate;
use qrcode::{Color, EcLevel, QrCode};

use super::{FONT, NoticeSheet, RenderError};
use crate::domain::window::vietnam_date;

/// A4 in points.
pub const PAGE_WIDTH: f32 = 595.28;
/// A4 in points.
pub const PAGE_HEIGHT: f32 = 841.89;

/// Side of one QR module: 2.88 pt is 1.02 mm, and exactly 6, 12 or 4 pixels at 150, 300 and
/// 100 dpi, so a printout or a rendering at those resolutions keeps every module the same size.
const MODULE: f32 = 2.88;
/// Modules sit on this grid (one pixel at 150 dpi) so they never straddle pixels.
const GRID: f32 = 0.48;
/// Light modules around the code, as the QR standard requires.
const QUIET_ZONE: usize = 4;

const MARGIN: f32 = 56.0;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const RULE: f32 = 0.6;

/// One thing drawn on the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A line of text starting at `x` on `baseline`.
    Text {
        /// Left edge of the first glyph's advance box.
        x: f32,
        /// Baseline, from the top of the page.
        baseline: f32,
        /// Font size (em) in points.
        size: f32,
        /// The text, composed (NFC).
        text: String,
    },
    /// A black rectangle: a QR module run or a rule.
    Block {
        /// Left edge.
        x: f32,
        /// Top edge, from the top of the page.
        y: f32,
        /// Width.
        width: f32,
        /// Height.
        height: f32,
    },
}

/// The laid-out page.
#[derive(Debug, Clone)]
pub struct Page {
    /// What is drawn, in order.
    pub items: Vec<Item>,
}

/// Widths of text in the notice's font, so lines can be centred and wrapped.
pub struct Measure<'a> {
    font: FontRef<'a>,
    units_per_em: f32,
}

impl Measure<'static> {
    /// The measure of the embedded font.
    pub fn new() -> Result<Self, RenderError> {
        let font = FontRef::try_from_slice(FONT).map_err(|_| RenderError::Font)?;
        let units_per_em = font.units_per_em().ok_or(RenderError::Font)?;
        Ok(Self { font, units_per_em })
    }
}

impl<'a> Measure<'a> {
    /// The font, for the rasteriser.
    pub fn font(&self) -> &FontRef<'a> {
        &self.font
    }

    /// Horizontal advance of `c` at `size` points, in points.
    pub fn advance(&self, c: char, size: f32) -> f32 {
        let glyph = self.font.glyph_id(c);
        self.font.h_advance_unscaled(glyph) / self.units_per_em * size
    }

    /// Width of `text` at `size` points. Neither renderer kerns, so this is the sum of advances.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance(c, size)).sum()
    }
}

struct Composer {
    measure: Measure<'static>,
    items: Vec<Item>,
}

impl Composer {
    fn text(&mut self, x: f32, baseline: f32, size: f32, text: &str) {
        self.items.push(Item::Text {
            x,
            baseline,
            size,
            text: text.to_owned(),
        });
    }

    fn centred(&mut self, baseline: f32, size: f32, text: &str) {
        let width = self.measure.width(text, size);
        self.text((PAGE_WIDTH - width) / 2.0, baseline, size, text);
    }

    fn rule(&mut self, x: f32, y: f32, width: f32) {
        self.items.push(Item::Block {
            x,
            y,
            width,
            height: RULE,
        });
    }

    /// Writes `text` from `x` in lines no wider than `width`, breaking between words; returns
    /// the baseline of the last line.
    fn paragraph(&mut self, x: f32, baseline: f32, width: f32, size: f32, text: &str) -> f32 {
        let leading = size * 1.4;
        let mut line = String::new();
        let mut baseline = baseline;
        for word in text.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if !line.is_empty() && self.measure.width(&candidate, size) > width {
                self.text(x, baseline, size, &line);
                baseline += leading;
                line = word.to_owned();
            } else {
                line = candidate;
            }
        }
        if !line.is_empty() {
            self.text(x, baseline, size, &line);
        }
        baseline
    }

    /// The QR code of `token` with its top-left corner near (`x`, `y`); returns its side.
    fn qr(&mut self, x: f32, y: f32, token: &str) -> Result<f32, RenderError> {
        // M recovers about 15% of the code: enough for a folded or smudged page
        // (standards.md allows M or Q).
        let code = QrCode::with_error_correction_level(token.as_bytes(), EcLevel::M)?;
        let modules = code.width();
        let colors = code.to_colors();
        let x = snap(x) + QUIET_ZONE as f32 * MODULE;
        let y = snap(y) + QUIET_ZONE as f32 * MODULE;
        for (row, line) in colors.chunks(modules).enumerate() {
            let mut column = 0;
            while column < modules {
                if line[column] != Color::Dark {
                    column += 1;
                    continue;
                }
                let start = column;
                while column < modules && line[column] == Color::Dark {
                    column += 1;
                }
                self.items.push(Item::Block {
                    x: x + start as f32 * MODULE,
                    y: y + row as f32 * MODULE,
                    width: (column - start) as f32 * MODULE,
                    height: MODULE,
                });
            }
        }
        Ok((modules + 2 * QUIET_ZONE) as f32 * MODULE)
    }
}

fn snap(value: f32) -> f32 {
    (value / GRID).round() * GRID
}

fn day(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

/// Lays out the notice of `sheet`.
pub fn compose(sheet: &NoticeSheet) -> Result<Page, RenderError> {
    let mut page = Composer {
        measure: Measure::new()?,
        items: Vec::new(),
    };

    page.centred(56.0, 11.0, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM");
    page.centred(72.0, 11.0, "Độc lập – Tự do – Hạnh phúc");
    page.rule((PAGE_WIDTH - 160.0) / 2.0, 77.0, 160.0);

    page.centred(
        112.0,
        14.0,
        "GIẤY HẸN THÔNG BÁO TÌM KIẾM VIỆC LÀM HẰNG THÁNG",
    );
    page.centred(
        127.0,
        9.0,
        "Monthly check-in notice – unemployment insurance benefit",
    );

    let mut cursor = page.paragraph(
        MARGIN,
        160.0,
        CONTENT_WIDTH,
        12.0,
        &format!("Người hưởng: {}", sheet.beneficiary_name),
    );
    cursor = page.paragraph(
        MARGIN,
        cursor + 20.0,
        CONTENT_WIDTH,
        12.0,
        &format!(
            "Quyết định hưởng trợ cấp thất nghiệp số: {}",
            sheet.decision_number
        ),
    );

    // The windows, month by month: when each benefit month runs and the days on which the
    // beneficiary must come to the centre to check in for it.
    let columns = [MARGIN + 4.0, MARGIN + 84.0, MARGIN + 284.0];
    let header = cursor + 30.0;
    page.text(columns[0], header, 10.0, "Tháng thứ");
    page.text(columns[1], header, 10.0, "Thời gian hưởng");
    page.text(columns[2], header, 10.0, "Ngày đến thông báo");
    page.rule(MARGIN, header - 14.0, CONTENT_WIDTH);
    page.rule(MARGIN, header + 6.0, CONTENT_WIDTH);
    let mut row = header + 6.0;
    for window in &sheet.windows {
        row += 17.0;
        page.text(columns[0], row, 10.5, &window.month().number().to_string());
        page.text(
            columns[1],
            row,
            10.5,
            &format!(
                "{} – {}",
                day(window.month_start()),
                day(window.month_end())
            ),
        );
        page.text(
            columns[2],
            row,
            10.5,
            &format!("{} – {}", day(window.opens_on()), day(window.closes_on())),
        );
    }
    page.rule(MARGIN, row + 7.0, CONTENT_WIDTH);

    cursor = page.paragraph(
        MARGIN,
        row + 30.0,
        CONTENT_WIDTH,
        10.5,
        "Trong những ngày đến thông báo của mỗi tháng, người hưởng mang giấy này đến trung tâm \
         dịch vụ việc làm và đưa mã QR dưới đây vào máy quét tại ki-ốt. Không đến thông báo \
         trong tháng nào thì tháng đó bị tạm dừng hưởng trợ cấp.",
    );

    let side = {
        // The code is at most about 60 mm wide; centre it on the page.
        let code = QrCode::with_error_correction_level(sheet.token.as_bytes(), EcLevel::M)?;
        (code.width() + 2 * QUIET_ZONE) as f32 * MODULE
    };
    let top = cursor + 12.0;
    page.qr((PAGE_WIDTH - side) / 2.0, top, &sheet.token)?;
    let below = top + side;

    page.centred(
        below + 12.0,
        10.0,
        "Mã dự phòng (cán bộ nhập khi máy không quét được):",
    );
    page.centred(below + 34.0, 18.0, &sheet.short_code);
    page.centred(
        below + 56.0,
        10.0,
        &format!(
            "Giấy này có hiệu lực đến hết ngày {}.",
            day(vietnam_date(sheet.expires_at))
        ),
    );
    page.centred(
        PAGE_HEIGHT - 40.0,
        8.0,
        "Mã QR được ký điện tử; giấy bị sửa hoặc giả mạo sẽ bị máy quét từ chối.",
    );

    Ok(Page { items: page.items })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_lies_on_the_page() {
        let page = compose(&super::super::tests::sheet().composed()).unwrap();
        let measure = Measure::new().unwrap();

        for item in &page.items {
            let (left, top, right, bottom) = match item {
                Item::Text {
                    x,
                    baseline,
                    size,
                    text,
                } => (
                    *x,
                    baseline - size,
                    x + measure.width(text, *size),
                    *baseline,
                ),
                Item::Block {
                    x,
                    y,
                    width,
                    height,
                } => (*x, *y, x + width, y + height),
            };
            assert!(
                left >= 0.0 && top >= 0.0 && right <= PAGE_WIDTH && bottom <= PAGE_HEIGHT,
                "{item:?}"
            );
        }
    }

    #[test]
    fn a_long_name_wraps_inside_the_margins() {
        let mut sheet = super::super::tests::sheet();
        sheet.beneficiary_name = "Tôn Nữ Thị Hoàng Phương Thảo ".repeat(6);
        let page = compose(&sheet.composed()).unwrap();
        let measure = Measure::new().unwrap();

        let name_lines = page
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Text { x, size, text, .. } if text.contains("Thảo") => {
                    Some(x + measure.width(text, *size))
                }
                _ => None,
            })
            .collect::<Vec<_>>();

        assert!(name_lines.len() > 1);
        assert!(name_lines.iter().all(|right| *right <= PAGE_WIDTH - MARGIN));
    }
}
