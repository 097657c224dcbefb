//! When the cutter cuts: on a short timer (paying within seconds of the scan), or once a day
//! at a set time as in today's practice.

use chrono::{DateTime, Days, NaiveTime, TimeDelta, Utc};

/// Offset of Vietnam's clock from UTC; daily cut times are Vietnam times.
const VIETNAM_OFFSET: TimeDelta = TimeDelta::hours(7);

/// How often pending entitlements are cut into lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutSchedule {
    /// Cut whenever this much time has passed since the last cut.
    Every(TimeDelta),
    /// Cut once a day at this Vietnam time.
    DailyAt(NaiveTime),
}

impl CutSchedule {
    /// True when a cut is due at `now`, the last one having run at `last_cut`.
    pub fn is_due(&self, last_cut: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        match *self {
            CutSchedule::Every(interval) => now - last_cut >= interval,
            CutSchedule::DailyAt(time) => {
                let local_now = (now + VIETNAM_OFFSET).naive_utc();
                let today = local_now.date().and_time(time);
                let latest = if local_now >= today {
                    Some(today)
                } else {
                    today.checked_sub_days(Days::new(1))
                };
                latest.is_some_and(|latest| (last_cut + VIETNAM_OFFSET).naive_utc() < latest)
            }
        }
    }

    /// True when a full batch of pending entitlements may trigger a cut between ticks; a
    /// daily schedule waits for its hour whatever the queue.
    pub fn cuts_on_size(&self) -> bool {
        matches!(self, CutSchedule::Every(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap()
    }

    #[test]
    fn an_interval_cut_is_due_once_the_interval_has_passed() {
        let schedule = CutSchedule::Every(TimeDelta::seconds(1));
        assert!(!schedule.is_due(utc(19, 2, 0), utc(19, 2, 0)));
        assert!(schedule.is_due(utc(19, 2, 0), utc(19, 2, 1)));
    }

    #[test]
    fn a_daily_cut_is_due_once_after_its_vietnam_time() {
        // 16:00 in Hà Nội is 09:00 UTC.
        let schedule = CutSchedule::DailyAt(NaiveTime::from_hms_opt(16, 0, 0).unwrap());
        let morning_cut = utc(19, 1, 0);
        assert!(!schedule.is_due(morning_cut, utc(19, 8, 59)));
        assert!(schedule.is_due(morning_cut, utc(19, 9, 0)));
        assert!(
            !schedule.is_due(utc(19, 9, 0), utc(19, 23, 0)),
            "once a day"
        );
        assert!(schedule.is_due(utc(19, 9, 0), utc(20, 9, 0)));
    }

    #[test]
    fn a_missed_daily_cut_runs_at_the_next_tick() {
        let schedule = CutSchedule::DailyAt(NaiveTime::from_hms_opt(16, 0, 0).unwrap());
        // The service was down from the 18th to the 20th before 16:00.
        assert!(schedule.is_due(utc(18, 1, 0), utc(20, 2, 0)));
    }

    #[test]
    fn only_interval_schedules_cut_on_size() {
        assert!(CutSchedule::Every(TimeDelta::seconds(1)).cuts_on_size());
        assert!(!CutSchedule::DailyAt(NaiveTime::MIN).cuts_on_size());
    }
}
