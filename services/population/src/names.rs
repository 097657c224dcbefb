//! Vietnamese names, province codes and banks the generator draws from.

use rand::{Rng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;

use crate::Sex;

/// Family names with their rough share of the population, most common first.
const FAMILY_NAMES: [(&str, u32); 16] = [
    ("Nguyễn", 380),
    ("Trần", 110),
    ("Lê", 95),
    ("Phạm", 70),
    ("Hoàng", 51),
    ("Huỳnh", 30),
    ("Phan", 45),
    ("Vũ", 39),
    ("Võ", 25),
    ("Đặng", 21),
    ("Bùi", 20),
    ("Đỗ", 14),
    ("Hồ", 13),
    ("Ngô", 13),
    ("Dương", 10),
    ("Lý", 5),
];

const MIDDLE_NAMES_MALE: [&str; 10] = [
    "Văn", "Hữu", "Đức", "Minh", "Quốc", "Thanh", "Công", "Xuân", "Đình", "Quang",
];
const MIDDLE_NAMES_FEMALE: [&str; 10] = [
    "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Kim", "Thùy", "Mỹ", "Phương", "Hồng",
];
const GIVEN_NAMES_MALE: [&str; 20] = [
    "An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hùng", "Huy", "Khánh", "Long", "Nam",
    "Phúc", "Quân", "Sơn", "Tài", "Thắng", "Trung", "Tuấn", "Việt",
];
const GIVEN_NAMES_FEMALE: [&str; 20] = [
    "Anh", "Châu", "Dung", "Giang", "Hà", "Hằng", "Hạnh", "Hoa", "Hương", "Lan", "Linh", "Mai",
    "Nga", "Nhung", "Oanh", "Phương", "Thảo", "Trang", "Vy", "Yến",
];

/// Citizen-id province codes (Circular 07/2016/TT-BCA), as claims are spread over them.
pub(crate) const PROVINCE_CODES: [&str; 63] = [
    "001", "002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "019", "020",
    "022", "024", "025", "026", "027", "030", "031", "033", "034", "035", "036", "037", "038",
    "040", "042", "044", "045", "046", "048", "049", "051", "052", "054", "056", "058", "060",
    "062", "064", "066", "067", "068", "070", "072", "074", "075", "077", "079", "080", "082",
    "083", "084", "086", "087", "089", "091", "092", "093", "094", "095", "096",
];

/// NAPAS bank ids with the first six digits of their domestic cards (Agribank's cards start
/// 970499, not with its bank id).
pub(crate) const BANKS: [(&str, &str); 24] = [
    ("970436", "970436"),
    ("970415", "970415"),
    ("970418", "970418"),
    ("970405", "970499"),
    ("970422", "970422"),
    ("970407", "970407"),
    ("970416", "970416"),
    ("970432", "970432"),
    ("970423", "970423"),
    ("970403", "970403"),
    ("970443", "970443"),
    ("970437", "970437"),
    ("970441", "970441"),
    ("970426", "970426"),
    ("970431", "970431"),
    ("970440", "970440"),
    ("970448", "970448"),
    ("970449", "970449"),
    ("970452", "970452"),
    ("970428", "970428"),
    ("970409", "970409"),
    ("970419", "970419"),
    ("970425", "970425"),
    ("970438", "970438"),
];

/// A full name, family name first, with a middle name that follows the usual pattern.
pub(crate) fn full_name(rng: &mut ChaCha8Rng, sex: Sex) -> String {
    let total: u32 = FAMILY_NAMES.iter().map(|(_, weight)| weight).sum();
    let mut pick = rng.gen_range(0..total);
    let mut family = FAMILY_NAMES[0].0;
    for (name, weight) in FAMILY_NAMES {
        if pick < weight {
            family = name;
            break;
        }
        pick -= weight;
    }
    let (middles, givens) = match sex {
        Sex::Male => (&MIDDLE_NAMES_MALE[..], &GIVEN_NAMES_MALE[..]),
        Sex::Female => (&MIDDLE_NAMES_FEMALE[..], &GIVEN_NAMES_FEMALE[..]),
    };
    let middle = middles.choose(rng).copied().unwrap_or("Văn");
    let given = givens.choose(rng).copied().unwrap_or("An");
    format!("{family} {middle} {given}")
}
