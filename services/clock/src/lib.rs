//! The one source of time. Services never call `Utc::now()` themselves: they are handed a
//! [`Clock`], so a test can move a whole benefit period forward in seconds.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Today's date in Vietnam (UTC+7), the calendar every deadline of the law is counted in.
    fn today(&self) -> NaiveDate {
        (self.now() + Duration::hours(7)).date_naive()
    }
}

/// A clock shared between the parts of one service.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; for tests and simulations.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock to `instant`.
    pub fn set(&self, instant: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = instant;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The wall clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::starting_at(start);
        assert_eq!(clock.now(), start);

        clock.advance(Duration::days(31));

        assert_eq!(
            clock.now(),
            Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn today_is_counted_in_vietnam_time() {
        // 18:00 UTC on 31 March is already 1 April in Hà Nội.
        let clock = ManualClock::starting_at(Utc.with_ymd_and_hms(2026, 3, 31, 18, 0, 0).unwrap());
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2026, 4, 1).unwrap());
    }
}
