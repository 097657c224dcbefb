//! The laid-out notice as a greyscale PNG.

use ab_glyph::{Font, point};

use super::RenderError;
use super::layout::{Item, Measure, PAGE_HEIGHT, PAGE_WIDTH, Page};

/// Resolution of the PNG: enough for a kiosk scanner to read the QR code off a screen or a
/// printout of the image.
pub const DPI: f32 = 150.0;

/// The page as a greyscale PNG at [`DPI`], text anti-aliased.
pub fn draw(page: &Page) -> Result<Vec<u8>, RenderError> {
    let scale = DPI / 72.0;
    let width = (PAGE_WIDTH * scale).round() as usize;
    let height = (PAGE_HEIGHT * scale).round() as usize;
    let mut canvas = Canvas {
        width,
        height,
        pixels: vec![255; width * height],
    };
    let measure = Measure::new()?;
    let font = measure.font();
    for item in &page.items {
        match item {
            Item::Block {
                x,
                y,
                width,
                height,
            } => {
                // Edges are rounded to whole pixels so that adjacent QR modules tile exactly.
                let left = (x * scale).round() as usize;
                let top = (y * scale).round() as usize;
                let right = ((x + width) * scale).round() as usize;
                let bottom = ((y + height) * scale).round().max(top as f32 + 1.0) as usize;
                canvas.fill(left, top, right, bottom);
            }
            Item::Text {
                x,
                baseline,
                size,
                text,
            } => {
                let px_scale = font.pt_to_px_scale(size * scale).ok_or(RenderError::Font)?;
                let mut pen = x * scale;
                for c in text.chars() {
                    let id = font.glyph_id(c);
                    let glyph = id.with_scale_and_position(px_scale, point(pen, baseline * scale));
                    if let Some(outlined) = font.outline_glyph(glyph) {
                        let bounds = outlined.px_bounds();
                        outlined.draw(|gx, gy, coverage| {
                            let px = bounds.min.x as i64 + i64::from(gx);
                            let py = bounds.min.y as i64 + i64::from(gy);
                            canvas.darken(px, py, coverage);
                        });
                    }
                    pen += measure.advance(c, *size) * scale;
                }
            }
        }
    }
    canvas.encode()
}

struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn fill(&mut self, left: usize, top: usize, right: usize, bottom: usize) {
        let right = right.min(self.width);
        for row in top.min(self.height)..bottom.min(self.height) {
            if left < right {
                self.pixels[row * self.width + left..row * self.width + right].fill(0);
            }
        }
    }

    /// Lays black ink of `coverage` (0 to 1) over the pixel, as ink on paper does.
    fn darken(&mut self, x: i64, y: i64, coverage: f32) {
        let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y)) else {
            return;
        };
        if x >= self.width || y >= self.height {
            return;
        }
        let pixel = &mut self.pixels[y * self.width + x];
        *pixel = (f32::from(*pixel) * (1.0 - coverage.clamp(0.0, 1.0))).round() as u8;
    }

    fn encode(self) -> Result<Vec<u8>, RenderError> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer.finish()?;
        Ok(bytes)
    }
}
