//! What a kiosk shows after a scan: the verdict and a short message in Vietnamese with the
//! English beneath.

use chrono::NaiveDate;

use super::token::TokenRefusal;
use super::window::{BenefitMonth, CheckinWindow, Placement};

/// What a decision allows at the moment of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionStanding {
    /// Paying; check-ins count.
    Active,
    /// Ended early: benefit months starting on or after `effective` are not paid (every month,
    /// when the date is unknown); earlier months still count.
    Terminated {
        /// The contract's termination reason.
        reason: i32,
        /// Day from which nothing more is paid.
        effective: Option<NaiveDate>,
    },
}

impl DecisionStanding {
    /// The termination reason when the termination cancels the benefit month of `window`.
    ///
    /// Law 74 art. 41(4): payments for months after the effective date are cancelled; the rule
    /// shared with eligibility and payroll is that a month starting on or after it is not paid.
    pub fn cancels(self, window: &CheckinWindow) -> Option<i32> {
        match self {
            Self::Active => None,
            Self::Terminated { reason, effective } => effective
                .is_none_or(|effective| window.month_start() >= effective)
                .then_some(reason),
        }
    }
}

/// The verdict on a scan, before anything is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The scan counts for this window's month.
    CountsFor(CheckinWindow),
    /// Outside every window.
    Outside(Placement),
    /// The month being checked in for is suspended.
    MonthSuspended(CheckinWindow),
    /// The decision ended.
    Terminated(i32),
}

/// Decides what a scan on `placement`'s day means for a decision in `standing`, given whether
/// the month it falls in is suspended.
pub fn judge(
    standing: DecisionStanding,
    placement: Placement,
    month_suspended: impl Fn(BenefitMonth) -> bool,
) -> Verdict {
    let (Placement::Inside(window) | Placement::TooEarly(window) | Placement::TooLate(window)) =
        placement;
    if let Some(reason) = standing.cancels(&window) {
        return Verdict::Terminated(reason);
    }
    match placement {
        Placement::Inside(window) if month_suspended(window.month()) => {
            Verdict::MonthSuspended(window)
        }
        Placement::Inside(window) => Verdict::CountsFor(window),
        outside => Verdict::Outside(outside),
    }
}

/// The answer on the screen, with both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenText {
    /// Vietnamese, shown large.
    pub vi: String,
    /// English, shown beneath.
    pub en: String,
}

fn day(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

/// Text for a check-in just recorded.
pub fn accepted_text(month: BenefitMonth, payment_by: NaiveDate) -> ScreenText {
    ScreenText {
        vi: format!(
            "Đã ghi nhận thông báo tháng thứ {}. Tiền trợ cấp sẽ được chuyển trước ngày {}.",
            month.number(),
            day(payment_by)
        ),
        en: format!(
            "Check-in for benefit month {} recorded. The money will be sent by {}.",
            month.number(),
            day(payment_by)
        ),
    }
}

/// Text for a repeat scan of a month already recorded.
pub fn already_recorded_text(month: BenefitMonth, payment_by: NaiveDate) -> ScreenText {
    ScreenText {
        vi: format!(
            "Tháng thứ {} đã được ghi nhận trước đó. Tiền trợ cấp sẽ được chuyển trước ngày {}.",
            month.number(),
            day(payment_by)
        ),
        en: format!(
            "Benefit month {} was already recorded. The money will be sent by {}.",
            month.number(),
            day(payment_by)
        ),
    }
}

/// Text for a scan outside every window.
pub fn outside_text(placement: Placement) -> ScreenText {
    match placement {
        Placement::TooEarly(window) | Placement::Inside(window) => ScreenText {
            vi: format!(
                "Chưa đến hạn thông báo tháng thứ {}: từ ngày {} đến ngày {}.",
                window.month().number(),
                day(window.opens_on()),
                day(window.closes_on())
            ),
            en: format!(
                "Too early for benefit month {}: check in from {} to {}.",
                window.month().number(),
                day(window.opens_on()),
                day(window.closes_on())
            ),
        },
        Placement::TooLate(window) => ScreenText {
            vi: format!(
                "Đã quá hạn thông báo tháng thứ {} (từ ngày {} đến ngày {}). Vui lòng gặp cán bộ.",
                window.month().number(),
                day(window.opens_on()),
                day(window.closes_on())
            ),
            en: format!(
                "Too late for benefit month {} (window {} to {}). Please see an officer.",
                window.month().number(),
                day(window.opens_on()),
                day(window.closes_on())
            ),
        },
    }
}

/// Text for a scan in a suspended month.
pub fn suspended_text(month: BenefitMonth) -> ScreenText {
    ScreenText {
        vi: format!(
            "Tháng thứ {} đang bị tạm dừng hưởng trợ cấp. Vui lòng gặp cán bộ.",
            month.number()
        ),
        en: format!(
            "Benefit month {} is suspended. Please see an officer.",
            month.number()
        ),
    }
}

/// Text for a scan of a terminated decision.
pub fn terminated_text() -> ScreenText {
    ScreenText {
        vi: "Quyết định hưởng trợ cấp đã chấm dứt. Vui lòng gặp cán bộ.".into(),
        en: "The benefit decision has ended. Please see an officer.".into(),
    }
}

/// Text for a code that is not a valid notice.
pub fn invalid_text(refusal: TokenRefusal) -> ScreenText {
    let (vi, en) = match refusal {
        TokenRefusal::BadFormat => (
            "Mã không phải là mã thông báo hợp lệ.",
            "This code is not a check-in notice.",
        ),
        TokenRefusal::BadSignature => (
            "Chữ ký của mã không hợp lệ.",
            "The code's signature is not valid.",
        ),
        TokenRefusal::UnknownKey => (
            "Mã được ký bằng khóa không xác định.",
            "The code was signed with an unknown key.",
        ),
        TokenRefusal::RetiredKey => (
            "Mã được ký bằng khóa đã thu hồi. Vui lòng xin cấp lại thông báo.",
            "The code was signed with a retired key. Please ask for a new notice.",
        ),
        TokenRefusal::Expired => ("Thông báo đã hết hạn.", "The notice has expired."),
        TokenRefusal::OtherDecision => (
            "Thông báo không khớp với quyết định hưởng trợ cấp.",
            "The notice does not match its benefit decision.",
        ),
        TokenRefusal::UnknownNotice => (
            "Không tìm thấy thông báo này.",
            "No such notice was issued.",
        ),
    };
    ScreenText {
        vi: format!("{vi} Vui lòng gặp cán bộ."),
        en: format!("{en} Please see an officer."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(month: u32) -> CheckinWindow {
        let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        CheckinWindow::new(
            BenefitMonth::new(month).unwrap(),
            d(4, 16),
            d(5, 15),
            d(4, 16),
            d(4, 20),
        )
        .unwrap()
    }

    #[test]
    fn a_scan_inside_an_open_month_counts() {
        let verdict = judge(
            DecisionStanding::Active,
            Placement::Inside(window(2)),
            |_| false,
        );
        assert_eq!(verdict, Verdict::CountsFor(window(2)));
    }

    fn terminated_from(month: u32, day: u32) -> DecisionStanding {
        DecisionStanding::Terminated {
            reason: 1,
            effective: NaiveDate::from_ymd_opt(2026, month, day),
        }
    }

    #[test]
    fn a_termination_refuses_a_month_starting_on_its_effective_date_even_inside_the_window() {
        let verdict = judge(terminated_from(4, 16), Placement::Inside(window(2)), |_| {
            false
        });
        assert_eq!(verdict, Verdict::Terminated(1));
    }

    #[test]
    fn a_termination_effective_later_lets_an_earlier_month_count() {
        let verdict = judge(terminated_from(4, 17), Placement::Inside(window(2)), |_| {
            false
        });
        assert_eq!(verdict, Verdict::CountsFor(window(2)));
    }

    #[test]
    fn a_termination_without_a_date_refuses_every_month() {
        let standing = DecisionStanding::Terminated {
            reason: 3,
            effective: None,
        };
        let verdict = judge(standing, Placement::TooEarly(window(2)), |_| false);
        assert_eq!(verdict, Verdict::Terminated(3));
    }

    #[test]
    fn a_suspended_month_refuses_its_check_in() {
        let verdict = judge(
            DecisionStanding::Active,
            Placement::Inside(window(2)),
            |month| month.number() == 2,
        );
        assert_eq!(verdict, Verdict::MonthSuspended(window(2)));
    }

    #[test]
    fn the_outside_text_names_the_window_dates() {
        let text = outside_text(Placement::TooLate(window(2)));
        assert!(text.vi.contains("16/04/2026") && text.vi.contains("20/04/2026"));
        assert!(text.en.starts_with("Too late for benefit month 2"));
    }

    #[test]
    fn the_accepted_text_names_the_month_and_the_payment_date() {
        let date = NaiveDate::from_ymd_opt(2026, 4, 28).unwrap();
        let text = accepted_text(BenefitMonth::new(2).unwrap(), date);
        assert!(text.vi.contains("tháng thứ 2") && text.vi.contains("28/04/2026"));
        assert!(text.en.contains("month 2") && text.en.contains("28/04/2026"));
    }
}
