//! The printable notice. For now the PNG holds the QR code of the token alone; the A4 page with
//! the decision's text and windows comes with the PDF.

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module: about 0.7 mm at 300 dpi, easy for a kiosk scanner on paper.
const MODULE_PIXELS: usize = 8;
/// Light modules around the code, as the QR standard requires.
const QUIET_ZONE: usize = 4;

/// Why a notice could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The token does not fit a QR code.
    #[error("token does not fit a QR code: {0}")]
    Qr(#[from] qrcode::types::QrError),
    /// The PNG encoder failed.
    #[error("png encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// A greyscale PNG of the QR code holding `token`, with error correction M (a printed page
/// survives a fold or a smudge; standards.md allows M or Q).
pub fn qr_png(token: &str) -> Result<Vec<u8>, RenderError> {
    let code = QrCode::with_error_correction_level(token.as_bytes(), EcLevel::M)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * MODULE_PIXELS;
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let left = (index % modules + QUIET_ZONE) * MODULE_PIXELS;
        let top = (index / modules + QUIET_ZONE) * MODULE_PIXELS;
        for row in top..top + MODULE_PIXELS {
            pixels[row * side + left..row * side + left + MODULE_PIXELS].fill(0);
        }
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_is_a_square_greyscale_image_with_a_light_border() {
        let bytes = qr_png("BHTN1.ABCDEFGH.IJKLMNOP").unwrap();

        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();

        assert_eq!(info.width, info.height);
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(pixels[0], 255);
        assert!(pixels.contains(&0));
    }
}
