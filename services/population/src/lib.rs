//! A synthetic population of unemployment-benefit claimants, deterministic by seed: the same
//! seed and size give the same people, byte for byte, at any scale from a hundred to a
//! million. Tests and the benchmark load it through the system's real import paths.
//!
//! Each person is generated from their own random stream (seed + person number), so a
//! population can be streamed without holding it in memory and any person can be
//! regenerated alone.

mod names;
mod write;

use chrono::{Datelike, Months, NaiveDate};
use rand::{Rng, SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;

pub use write::{contributions_csv, write_csv};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// How many people.
    pub people: u64,
    /// The seed; the same seed gives the same population.
    pub seed: u64,
    /// Jobs end within the 60 days before this date, so claims fall in one benefit season.
    pub reference_date: NaiveDate,
    /// Share of people whose bank account or card number is wrong (the bank rejects it).
    pub wrong_account_share: f64,
    /// Share of people registered a second time under a mistyped citizen id.
    pub duplicate_share: f64,
    /// Share of people who also have a legacy 9-digit id on record.
    pub legacy_id_share: f64,
    /// Share of people who will find a new job during their benefit.
    pub reemployed_share: f64,
    /// When set, everyone is born in this province (its 3-digit citizen-id code, e.g. "001"
    /// for Hà Nội), as in one province's intake; otherwise provinces are drawn from all 63.
    pub province_code: Option<&'static str>,
}

impl Spec {
    /// `people` people from `seed`, with the shares seen in practice.
    pub fn new(people: u64, seed: u64, reference_date: NaiveDate) -> Self {
        Self {
            people,
            seed,
            reference_date,
            wrong_account_share: 0.02,
            duplicate_share: 0.01,
            legacy_id_share: 0.05,
            reemployed_share: 0.03,
            province_code: None,
        }
    }

    /// The same spec with everyone born in `province_code`; `None` when the code is not one
    /// of the 63 citizen-id province codes.
    pub fn in_province(self, province_code: &str) -> Option<Self> {
        let code = names::PROVINCE_CODES
            .iter()
            .find(|known| **known == province_code)?;
        Some(Self {
            province_code: Some(code),
            ..self
        })
    }
}

/// A person's sex, as the citizen id encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    /// Male.
    Male,
    /// Female.
    Female,
}

/// The kind of the last labour contract, which picks the contribution window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// Without a fixed end.
    Indefinite,
    /// Fixed term of this many months.
    FixedTerm(u32),
}

/// One month of unemployment-insurance contributions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// The employer's tax code.
    pub employer_id: String,
    /// First day of the contribution month.
    pub month: NaiveDate,
    /// The salary contributions were paid on, in đồng.
    pub salary_dong: i64,
    /// The employer's minimum-wage region, 1 to 4.
    pub region: u8,
    /// The contract in force that month.
    pub contract: Contract,
}

/// Where the benefit is paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankDestination {
    /// The 6-digit NAPAS bank id.
    pub bank_id: &'static str,
    /// True for a card number, false for an account number.
    pub is_card: bool,
    /// The card or account number.
    pub number: String,
    /// True when the number does not exist at the bank (the bank answers AC01).
    pub wrong: bool,
}

/// One claimant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Position in the population, from 0.
    pub number: u64,
    /// Full name with diacritics, family name first.
    pub full_name: String,
    /// Sex.
    pub sex: Sex,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// 12-digit citizen id consistent with province, sex and birth year.
    pub citizen_id: String,
    /// 9-digit legacy id, for some.
    pub legacy_id: Option<String>,
    /// 10-digit social insurance number.
    pub social_insurance_number: String,
    /// 3-digit province code of the citizen id, also where the claim is filed.
    pub province_code: &'static str,
    /// Every contribution month, oldest first.
    pub contributions: Vec<Contribution>,
    /// Last day of the last job.
    pub terminated_on: NaiveDate,
    /// The day the complete claim was filed.
    pub claim_filed_on: NaiveDate,
    /// Where to pay.
    pub bank: BankDestination,
    /// When set, the first month of new contributions after the benefit started.
    pub reemployed_from: Option<NaiveDate>,
    /// When set, this record is a second registration of that person number under a
    /// citizen id one digit apart.
    pub duplicate_of: Option<u64>,
}

/// The people of `spec`, generated one at a time.
pub fn generate(spec: &Spec) -> impl Iterator<Item = Person> + '_ {
    (0..spec.people).map(move |number| person(spec, number))
}

/// Person `number` of `spec`, alone.
pub fn person(spec: &Spec, number: u64) -> Person {
    let mut rng = stream(spec.seed, number);
    let duplicate_of =
        (number > 0 && rng.gen_bool(spec.duplicate_share)).then(|| rng.gen_range(0..number));
    match duplicate_of {
        Some(original) => duplicate(spec, number, original),
        None => original(spec, number, &mut rng),
    }
}

fn stream(seed: u64, number: u64) -> ChaCha8Rng {
    // A golden-ratio stride keeps the streams of neighbouring numbers unrelated.
    ChaCha8Rng::seed_from_u64(seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The same person registered again with one digit of the citizen id mistyped.
fn duplicate(spec: &Spec, number: u64, original_number: u64) -> Person {
    let original = person(spec, original_number);
    let mut rng = stream(spec.seed.wrapping_add(1), number);
    // Only the random tail (digits 7 to 12) is mistyped, so the id stays well-formed.
    let position = rng.gen_range(6..12);
    let mut digits: Vec<u8> = original.citizen_id.bytes().collect();
    let old = digits[position] - b'0';
    digits[position] = b'0' + (old + rng.gen_range(1..10)) % 10;
    Person {
        number,
        citizen_id: digits.into_iter().map(char::from).collect(),
        duplicate_of: Some(original_number),
        ..original
    }
}

fn original(spec: &Spec, number: u64, rng: &mut ChaCha8Rng) -> Person {
    let sex = if rng.gen_bool(0.5) {
        Sex::Male
    } else {
        Sex::Female
    };
    let full_name = names::full_name(rng, sex);
    let birth_date = date_between(rng, ymd(1966, 1, 1), ymd(2006, 12, 31));
    // Drawn even when the province is fixed, so the rest of the person stays the same.
    let drawn = *names::PROVINCE_CODES.choose(rng).unwrap_or(&"001");
    let province_code = spec.province_code.unwrap_or(drawn);
    let citizen_id = citizen_id(rng, province_code, sex, birth_date);
    let legacy_id = rng.gen_bool(spec.legacy_id_share).then(|| digits(rng, 9));
    let social_insurance_number = digits(rng, 10);

    let terminated_on = date_between(
        rng,
        spec.reference_date - chrono::Duration::days(60),
        spec.reference_date - chrono::Duration::days(1),
    );
    let claim_filed_on = terminated_on + chrono::Duration::days(rng.gen_range(1..60));
    let contributions = contribution_history(rng, terminated_on);
    let bank = bank_destination(rng, spec.wrong_account_share);
    let reemployed_from = rng.gen_bool(spec.reemployed_share).then(|| {
        let after = rng.gen_range(2..5);
        first_of_month(claim_filed_on) + Months::new(after)
    });

    Person {
        number,
        full_name,
        sex,
        birth_date,
        citizen_id,
        legacy_id,
        social_insurance_number,
        province_code,
        contributions,
        terminated_on,
        claim_filed_on,
        bank,
        reemployed_from,
        duplicate_of: None,
    }
}

/// Citizen id: province (3 digits), century and sex, the year's last two digits, then six
/// random digits (Circular 07/2016/TT-BCA).
fn citizen_id(rng: &mut ChaCha8Rng, province: &str, sex: Sex, birth_date: NaiveDate) -> String {
    let century = (birth_date.year() - 1900) / 100;
    let century_sex = century * 2 + i32::from(sex == Sex::Female);
    format!(
        "{province}{century_sex}{:02}{}",
        birth_date.year() % 100,
        digits(rng, 6)
    )
}

/// Contributions up to the termination month: one or two earlier jobs and the last one, with
/// salaries around and well above the regional minimum wage, a few above the benefit cap.
fn contribution_history(rng: &mut ChaCha8Rng, terminated_on: NaiveDate) -> Vec<Contribution> {
    let months: u32 = match rng.gen_range(0..100) {
        0..=4 => rng.gen_range(6..12),   // too short: not eligible
        5..=69 => rng.gen_range(12..48), // the common case: 3 months of benefit
        70..=94 => rng.gen_range(48..144),
        _ => rng.gen_range(144..200), // above the 12-month ceiling
    };
    let last_month = first_of_month(terminated_on);
    let region: u8 = match rng.gen_range(0..100) {
        0..=39 => 1,
        40..=69 => 2,
        70..=89 => 3,
        _ => 4,
    };
    let minimum = [5_310_000, 4_730_000, 4_140_000, 3_700_000][usize::from(region - 1)];
    let base_salary: i64 = match rng.gen_range(0..100) {
        0..=59 => rng.gen_range(minimum..minimum * 2),
        60..=94 => rng.gen_range(minimum * 2..minimum * 6),
        _ => rng.gen_range(minimum * 9..minimum * 15), // 60% of it is above the 5× cap
    };
    let contract = if rng.gen_bool(0.8) {
        Contract::Indefinite
    } else {
        Contract::FixedTerm(rng.gen_range(1..36))
    };
    let employer = |rng: &mut ChaCha8Rng| format!("0{}", digits(rng, 9));
    let last_employer = employer(rng);
    let earlier_employer = employer(rng);
    let switch_at = rng.gen_range(0..=months);
    let mut history = Vec::with_capacity(months as usize);
    for back in (0..months).rev() {
        let month = last_month - Months::new(back);
        let recent = back < months - switch_at;
        // Salaries round to the thousand đồng, as payrolls do.
        let salary = (base_salary * i64::from(95 + (back % 7) as i32) / 100) / 1_000 * 1_000;
        history.push(Contribution {
            employer_id: if recent {
                last_employer.clone()
            } else {
                earlier_employer.clone()
            },
            month,
            salary_dong: salary,
            region,
            contract,
        });
    }
    history
}

fn bank_destination(rng: &mut ChaCha8Rng, wrong_share: f64) -> BankDestination {
    let (bank_id, card_prefix) = *names::BANKS.choose(rng).unwrap_or(&names::BANKS[0]);
    let is_card = rng.gen_bool(0.6);
    let number = if is_card {
        card_number(rng, card_prefix)
    } else {
        let length = rng.gen_range(9..15);
        digits(rng, length)
    };
    BankDestination {
        bank_id,
        is_card,
        number,
        wrong: rng.gen_bool(wrong_share),
    }
}

/// The card or account a person gives when the bank refuses `wrong`: another number at the
/// same bank, of the same kind, a card's still passing the Luhn check. `attempt` (from 1)
/// tells successive corrections apart; the same inputs give the same number.
pub fn corrected_destination(wrong: &BankDestination, attempt: u32) -> BankDestination {
    let mut rng = ChaCha8Rng::seed_from_u64(
        u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ wrong.number.bytes().fold(0u64, |sum, byte| {
                sum.wrapping_mul(31).wrapping_add(u64::from(byte))
            }),
    );
    let number = loop {
        let candidate = if wrong.is_card {
            let prefix = &wrong.number[..6.min(wrong.number.len())];
            card_number(&mut rng, prefix)
        } else {
            digits(&mut rng, wrong.number.len())
        };
        if candidate != wrong.number {
            break candidate;
        }
    };
    BankDestination {
        number,
        wrong: false,
        ..wrong.clone()
    }
}

/// A 16-digit domestic card number with a valid Luhn check digit.
fn card_number(rng: &mut ChaCha8Rng, prefix: &str) -> String {
    let mut number = format!("{prefix}{}", digits(rng, 15 - prefix.len()));
    number.push(luhn_check_digit(&number));
    number
}

fn luhn_check_digit(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(index, byte)| {
            let digit = u32::from(byte - b'0');
            if index % 2 == 0 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn digits(rng: &mut ChaCha8Rng, count: usize) -> String {
    (0..count)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

fn date_between(rng: &mut ChaCha8Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let days = (to - from).num_days().max(0);
    from + chrono::Duration::days(rng.gen_range(0..=days))
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eligibility::domain::ids::{CitizenId, Sex as IdSex};

    fn spec(people: u64) -> Spec {
        Spec::new(people, 42, ymd(2026, 3, 15))
    }

    #[test]
    fn the_same_seed_gives_the_same_people() {
        let first: Vec<Person> = generate(&spec(200)).collect();
        let second: Vec<Person> = generate(&spec(200)).collect();
        assert_eq!(first, second);
        let other: Vec<Person> = generate(&Spec::new(200, 43, ymd(2026, 3, 15))).collect();
        assert_ne!(first, other);
    }

    #[test]
    fn every_citizen_id_agrees_with_the_person_s_birth_date_and_sex() {
        for person in generate(&spec(2_000)) {
            let id = CitizenId::parse(&person.citizen_id).unwrap();
            let sex = match person.sex {
                Sex::Male => IdSex::Male,
                Sex::Female => IdSex::Female,
            };
            id.check_against(person.birth_date, sex).unwrap();
            assert_eq!(id.province_code(), person.province_code);
        }
    }

    #[test]
    fn a_duplicate_differs_from_its_original_in_exactly_one_digit_of_the_id() {
        let people: Vec<Person> = generate(&spec(3_000)).collect();
        let duplicates: Vec<&Person> = people.iter().filter(|p| p.duplicate_of.is_some()).collect();
        assert!(!duplicates.is_empty());
        for duplicate in duplicates {
            let original = &people[duplicate.duplicate_of.unwrap() as usize];
            let differing = original
                .citizen_id
                .bytes()
                .zip(duplicate.citizen_id.bytes())
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(differing, 1);
            assert_eq!(original.full_name, duplicate.full_name);
            assert_eq!(original.birth_date, duplicate.birth_date);
        }
    }

    #[test]
    fn card_numbers_pass_the_luhn_check_and_carry_their_bank_prefix() {
        for person in generate(&spec(1_000)).filter(|p| p.bank.is_card) {
            let number = &person.bank.number;
            assert_eq!(number.len(), 16);
            assert!(number.starts_with("9704"));
            let body = &number[..15];
            assert_eq!(number.chars().last(), Some(luhn_check_digit(body)));
        }
    }

    #[test]
    fn the_shares_come_out_near_what_was_asked() {
        let people: Vec<Person> = generate(&spec(20_000)).collect();
        let share = |count: usize| count as f64 / people.len() as f64;
        let wrong = share(people.iter().filter(|p| p.bank.wrong).count());
        let duplicates = share(people.iter().filter(|p| p.duplicate_of.is_some()).count());
        assert!((0.015..0.025).contains(&wrong), "{wrong}");
        assert!((0.007..0.013).contains(&duplicates), "{duplicates}");
        let above_cap = people
            .iter()
            .filter(|p| {
                p.contributions
                    .last()
                    .is_some_and(|c| c.salary_dong * 6 / 10 > 26_550_000)
            })
            .count();
        assert!(above_cap > 0, "some salaries exceed the benefit cap");
    }

    #[test]
    fn contributions_end_in_the_termination_month_and_claims_follow_it() {
        for person in generate(&spec(500)) {
            let last = person.contributions.last().unwrap();
            assert_eq!(last.month, first_of_month(person.terminated_on));
            assert!(person.claim_filed_on > person.terminated_on);
            assert!(
                person
                    .contributions
                    .windows(2)
                    .all(|w| w[0].month < w[1].month)
            );
            assert!(person.contributions.iter().all(|c| c.salary_dong > 0));
        }
    }

    #[test]
    fn a_province_spec_puts_everyone_in_that_province_and_changes_nothing_else() {
        let everywhere: Vec<Person> = generate(&spec(300)).collect();
        let hanoi: Vec<Person> = generate(&spec(300).in_province("001").unwrap()).collect();
        for (anywhere, local) in everywhere.iter().zip(&hanoi) {
            assert_eq!(local.province_code, "001");
            assert!(local.citizen_id.starts_with("001"));
            assert_eq!(local.full_name, anywhere.full_name);
            assert_eq!(local.contributions, anywhere.contributions);
            let id = CitizenId::parse(&local.citizen_id).unwrap();
            assert_eq!(id.province_code(), "001");
        }
        assert!(spec(10).in_province("999").is_none());
    }

    #[test]
    fn a_corrected_destination_is_another_valid_number_at_the_same_bank() {
        for person in generate(&spec(300)) {
            let corrected = corrected_destination(&person.bank, 1);
            assert_ne!(corrected.number, person.bank.number);
            assert_eq!(corrected.bank_id, person.bank.bank_id);
            assert_eq!(corrected.is_card, person.bank.is_card);
            assert_eq!(corrected.number.len(), person.bank.number.len());
            assert_eq!(corrected, corrected_destination(&person.bank, 1));
            assert_ne!(
                corrected.number,
                corrected_destination(&person.bank, 2).number
            );
            if corrected.is_card {
                assert_eq!(corrected.number[..6], person.bank.number[..6]);
                let body = &corrected.number[..15];
                assert_eq!(
                    corrected.number.chars().last(),
                    Some(luhn_check_digit(body))
                );
            }
        }
    }

    #[test]
    fn names_are_vietnamese_with_diacritics() {
        let names: Vec<String> = generate(&spec(300)).map(|p| p.full_name).collect();
        assert!(names.iter().any(|name| name.starts_with("Nguyễn ")));
        assert!(names.iter().all(|name| name.split(' ').count() >= 3));
    }
}
