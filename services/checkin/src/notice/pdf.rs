//! The laid-out notice as a PDF page.

use printpdf::{
    Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt,
    Rect, TextItem,
};

use super::layout::{Item, PAGE_HEIGHT, PAGE_WIDTH, Page};
use super::{FONT, RenderError};

/// The page as a one-page A4 PDF with the whole font embedded (about 390 KB once compressed):
/// printpdf subsets fonts only with its text-layout engine, far heavier than this page needs.
pub fn draw(page: &Page) -> Result<Vec<u8>, RenderError> {
    let font = ParsedFont::from_bytes(FONT, 0, &mut Vec::new()).ok_or(RenderError::Font)?;
    let mut document = PdfDocument::new("Giấy hẹn thông báo tìm kiếm việc làm hằng tháng");
    let font = PdfFontHandle::External(document.add_font(&font));

    let mut ops = Vec::with_capacity(page.items.len() * 5);
    for item in &page.items {
        match item {
            Item::Text {
                x,
                baseline,
                size,
                text,
            } => ops.extend([
                Op::StartTextSection,
                Op::SetFont {
                    font: font.clone(),
                    size: Pt(*size),
                },
                Op::SetTextCursor {
                    // PDF measures from the bottom-left corner.
                    pos: Point {
                        x: Pt(*x),
                        y: Pt(PAGE_HEIGHT - baseline),
                    },
                },
                Op::ShowText {
                    items: vec![TextItem::Text(text.clone())],
                },
                Op::EndTextSection,
            ]),
            Item::Block {
                x,
                y,
                width,
                height,
            } => ops.push(Op::DrawRectangle {
                rectangle: Rect {
                    x: Pt(*x),
                    y: Pt(PAGE_HEIGHT - y - height),
                    width: Pt(*width),
                    height: Pt(*height),
                    mode: Some(PaintMode::Fill),
                    winding_order: None,
                },
            }),
        }
    }
    let pdf_page = PdfPage::new(Pt(PAGE_WIDTH).into(), Pt(PAGE_HEIGHT).into(), ops);
    let options = PdfSaveOptions {
        subset_fonts: false,
        ..PdfSaveOptions::default()
    };
    Ok(document
        .with_pages(vec![pdf_page])
        .save(&options, &mut Vec::new()))
}
