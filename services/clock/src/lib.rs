//! The one source of time. Services never call `Utc::now()` themselves: they are handed a
//! [`Clock`], so a test can move a whole benefit period forward in seconds.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

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

/// The wall clock moved by an offset read from a file, so a test or a benchmark can run the
/// services as separate processes and still move their time (to a check-in window, past a
/// deadline) without restarting them. The file holds the offset in whole milliseconds
/// (e.g. `2592000000` for thirty days ahead); between two reads time flows as on the wall.
///
/// The file is read again at most every [`OffsetFileClock::REREAD`], so asking the time stays
/// cheap on hot paths; a file that became unreadable or invalid keeps the last good offset.
#[derive(Debug)]
pub struct OffsetFileClock {
    path: PathBuf,
    state: Mutex<OffsetState>,
}

#[derive(Debug, Clone, Copy)]
struct OffsetState {
    offset: Duration,
    read_at: Instant,
}

/// Why an offset file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OffsetFileError {
    /// The file could not be read.
    #[error("cannot read the clock offset file {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file does not hold a whole number of milliseconds.
    #[error("the clock offset file {path} must hold a whole number of milliseconds, not {text:?}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What it holds.
        text: String,
    },
}

impl OffsetFileClock {
    /// How long an offset read from the file is used before the file is read again.
    pub const REREAD: std::time::Duration = std::time::Duration::from_millis(100);

    /// A clock following the offset in `path`, which must exist and be valid now.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, OffsetFileError> {
        let path = path.into();
        let offset = read_offset(&path)?;
        Ok(Self {
            path,
            state: Mutex::new(OffsetState {
                offset,
                read_at: Instant::now(),
            }),
        })
    }

    /// Writes `offset` to `path` for the clocks following it.
    pub fn write(path: &Path, offset: Duration) -> std::io::Result<()> {
        // Written beside and renamed, so a reader never sees half a number.
        let partial = path.with_extension("partial");
        std::fs::write(&partial, offset.num_milliseconds().to_string())?;
        std::fs::rename(&partial, path)
    }

    fn offset(&self) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.read_at.elapsed() >= Self::REREAD {
            if let Ok(offset) = read_offset(&self.path) {
                state.offset = offset;
            }
            state.read_at = Instant::now();
        }
        state.offset
    }
}

fn read_offset(path: &Path) -> Result<Duration, OffsetFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| OffsetFileError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    text.trim()
        .parse::<i64>()
        .ok()
        .and_then(Duration::try_milliseconds)
        .ok_or_else(|| OffsetFileError::Invalid {
            path: path.to_owned(),
            text: text.trim().to_owned(),
        })
}

impl Clock for OffsetFileClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
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

    #[test]
    fn an_offset_file_moves_the_wall_clock_and_a_new_offset_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock-offset");
        OffsetFileClock::write(&path, Duration::days(30)).unwrap();
        let clock = OffsetFileClock::open(&path).unwrap();

        let ahead = clock.now() - Utc::now();
        assert!(ahead > Duration::days(30) - Duration::seconds(5), "{ahead}");
        assert!(ahead <= Duration::days(30), "{ahead}");

        OffsetFileClock::write(&path, Duration::days(-2)).unwrap();
        std::thread::sleep(OffsetFileClock::REREAD);
        let behind = Utc::now() - clock.now();
        assert!(
            behind > Duration::days(2) - Duration::seconds(5),
            "{behind}"
        );
        assert!(
            behind <= Duration::days(2) + Duration::seconds(5),
            "{behind}"
        );
    }

    #[test]
    fn a_missing_or_invalid_offset_file_is_refused_at_open_and_the_last_good_offset_kept_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock-offset");
        assert!(matches!(
            OffsetFileClock::open(&path),
            Err(OffsetFileError::Unreadable { .. })
        ));

        std::fs::write(&path, "next tuesday").unwrap();
        let error = OffsetFileClock::open(&path).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("must hold a whole number of milliseconds, not \"next tuesday\""),
            "{error}"
        );

        OffsetFileClock::write(&path, Duration::hours(5)).unwrap();
        let clock = OffsetFileClock::open(&path).unwrap();
        std::fs::write(&path, "garbage").unwrap();
        std::thread::sleep(OffsetFileClock::REREAD);
        let ahead = clock.now() - Utc::now();
        assert!(ahead > Duration::hours(5) - Duration::seconds(5), "{ahead}");
    }
}
