//! Text as banks receive it: ISO 20022 files and most bank cores take ASCII only.

use unicode_normalization::UnicodeNormalization;

/// An ASCII copy of `text` for a bank: đ becomes D, accents are removed, letters are
/// capitalised, runs of whitespace become one space, and anything else outside printable
/// ASCII is dropped. The full Unicode name stays in the database.
pub fn fold_ascii(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    let mut pending_space = false;
    // Đ and đ are letters of their own in Unicode, not D with a mark, so NFD keeps them.
    let replaced = text.replace(['đ', 'Đ'], "D");
    for character in replaced.nfd() {
        if character.is_whitespace() {
            pending_space = !folded.is_empty();
            continue;
        }
        if !character.is_ascii() || character.is_ascii_control() {
            continue;
        }
        if pending_space {
            folded.push(' ');
            pending_space = false;
        }
        folded.push(character.to_ascii_uppercase());
    }
    folded
}

/// The first `max` characters of an ASCII string, for length-limited ISO 20022 fields,
/// without the blank a cut between two words leaves at the end.
pub fn truncate_ascii(text: &str, max: usize) -> String {
    let cut: String = text.chars().take(max).collect();
    cut.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_names_fold_to_capital_ascii() {
        assert_eq!(fold_ascii("Nguyễn Văn Đức"), "NGUYEN VAN DUC");
        assert_eq!(fold_ascii("Trần Thị Ngọc Ánh"), "TRAN THI NGOC ANH");
        assert_eq!(fold_ascii("đặng  thị   ưng"), "DANG THI UNG");
        assert_eq!(fold_ascii("Lê Hữu Phước Ơn"), "LE HUU PHUOC ON");
    }

    #[test]
    fn leading_trailing_and_non_latin_characters_are_dropped() {
        assert_eq!(fold_ascii("  Phạm 李 Quý  "), "PHAM QUY");
    }

    #[test]
    fn truncation_keeps_the_first_characters() {
        assert_eq!(truncate_ascii("ABCDEF", 3), "ABC");
        assert_eq!(truncate_ascii("AB", 3), "AB");
        assert_eq!(truncate_ascii("AB CD", 3), "AB");
    }
}
