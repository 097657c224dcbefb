//! What checkin consumes: decision changes. An activation stores the decision's windows and
//! issues its signed notice; suspensions, resumptions and terminations update what a scan is
//! judged on. Every effect is idempotent: a redelivered activation finds its decision, and a
//! replayed older version changes nothing.

use std::sync::Arc;

use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use clock::SharedClock;
use contracts::eligibility::v1::{DecisionActivated, DecisionEvent, decision_event};
use contracts::topics;
use messaging::{Handler, HandlerError, Inbound, decode};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::convert::date_from_proto;
use crate::domain::ids::DecisionId;
use crate::domain::token::{self, NoticeSigner};
use crate::domain::window::{BenefitMonth, CheckinWindow, Schedule};
use crate::notice::keys;
use crate::store::{self, Change, ChangeOutcome, NewDecision, NewNotice};

/// The topics checkin consumes, as one consumer group.
pub const TOPICS: [&str; 1] = [topics::DECISIONS];

/// The handler of every topic checkin consumes.
pub struct Events {
    signer: Arc<NoticeSigner>,
    clock: SharedClock,
    valid_days_after_last_window: u32,
}

impl Events {
    /// A handler that signs new notices with the newest active key derived from `signer` (the
    /// configured key), valid for
    /// `valid_days_after_last_window` days after the last window closes.
    pub fn new(
        signer: Arc<NoticeSigner>,
        clock: SharedClock,
        valid_days_after_last_window: u32,
    ) -> Self {
        Self {
            signer,
            clock,
            valid_days_after_last_window,
        }
    }

    async fn activate(
        &self,
        tx: &mut PgConnection,
        decision_id: DecisionId,
        version: i64,
        activated: &DecisionActivated,
    ) -> Result<(), HandlerError> {
        let schedule = schedule_of(activated)?;
        let last_close = schedule
            .windows()
            .last()
            .map(CheckinWindow::closes_on)
            .ok_or_else(|| HandlerError::Permanent("decision has no check-in window".into()))?;
        let expires_at = end_of_vietnam_day(
            last_close
                .checked_add_days(Days::new(u64::from(self.valid_days_after_last_window)))
                .unwrap_or(last_close),
        );
        let notice_id = Uuid::now_v7();
        // New notices are signed with the newest active key, whichever instance rotated it.
        let signer = keys::issuing_signer(tx, &self.signer, self.clock.now()).await?;
        let (payload, token) = signer.sign(notice_id, decision_id.clone(), expires_at);
        let decision = NewDecision {
            decision_id: decision_id.as_str().to_owned(),
            decision_number: activated.decision_number.clone(),
            beneficiary_name: activated.beneficiary_name.clone(),
            centre_id: activated.centre_id.clone(),
            province: activated.province.clone(),
            version,
            schedule,
        };
        let notice = NewNotice {
            notice_id,
            key_id: payload.key_id.as_str().to_owned(),
            token,
            short_code: token::short_code(notice_id),
            expires_at: payload.expires_at,
        };
        let fresh = store::insert_decision(tx, &decision, &notice, self.clock.now()).await?;
        if fresh {
            tracing::info!(decision_id = %decision_id, notice_id = %notice_id, "check-in notice issued");
        } else {
            tracing::debug!(decision_id = %decision_id, "decision already known");
        }
        Ok(())
    }

    async fn change(
        &self,
        tx: &mut PgConnection,
        decision_id: &DecisionId,
        version: i64,
        change: Change,
    ) -> Result<(), HandlerError> {
        match store::apply_change(tx, decision_id.as_str(), version, change).await? {
            ChangeOutcome::Applied => {
                tracing::info!(decision_id = %decision_id, version, ?change, "decision change applied");
                Ok(())
            }
            ChangeOutcome::Stale => {
                tracing::debug!(decision_id = %decision_id, version, "stale decision change ignored");
                Ok(())
            }
            ChangeOutcome::UnknownDecision => Err(HandlerError::Permanent(format!(
                "decision {decision_id} changed before it was activated"
            ))),
        }
    }
}

/// The instant a Vietnamese calendar day ends (UTC+7).
fn end_of_vietnam_day(day: NaiveDate) -> DateTime<Utc> {
    let next = day.succ_opt().unwrap_or(day);
    next.and_time(chrono::NaiveTime::MIN).and_utc() - Duration::hours(7)
}

fn schedule_of(activated: &DecisionActivated) -> Result<Schedule, HandlerError> {
    let mut windows = Vec::with_capacity(activated.checkin_windows.len());
    for window in &activated.checkin_windows {
        let bad = |what: &str| {
            HandlerError::Permanent(format!(
                "check-in window of benefit month {}: {what}",
                window.benefit_month
            ))
        };
        let month =
            BenefitMonth::new(window.benefit_month).map_err(|error| bad(&error.to_string()))?;
        let day = |date, name: &str| {
            date_from_proto(date).ok_or_else(|| bad(&format!("{name} missing or impossible")))
        };
        windows.push(
            CheckinWindow::new(
                month,
                day(window.month_start.as_ref(), "month_start")?,
                day(window.month_end.as_ref(), "month_end")?,
                day(window.opens_on.as_ref(), "opens_on")?,
                day(window.closes_on.as_ref(), "closes_on")?,
            )
            .map_err(|error| bad(&error.to_string()))?,
        );
    }
    Schedule::new(windows).map_err(|error| HandlerError::Permanent(error.to_string()))
}

impl Handler for Events {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        match message.topic {
            topics::DECISIONS => {
                let event: DecisionEvent = decode(message)?;
                let decision_id = DecisionId::parse(&event.decision_id)
                    .map_err(|error| HandlerError::Permanent(format!("decision_id: {error}")))?;
                let version = i64::try_from(event.decision_version)
                    .map_err(|_| HandlerError::Permanent("decision_version out of range".into()))?;
                match &event.change {
                    Some(decision_event::Change::Activated(activated)) => {
                        self.activate(tx, decision_id, version, activated).await
                    }
                    Some(decision_event::Change::MonthSuspended(suspended)) => {
                        let month =
                            BenefitMonth::new(suspended.benefit_month).map_err(|error| {
                                HandlerError::Permanent(format!("benefit_month: {error}"))
                            })?;
                        self.change(tx, &decision_id, version, Change::Suspend(month))
                            .await
                    }
                    Some(decision_event::Change::Resumed(_)) => {
                        self.change(tx, &decision_id, version, Change::Resume).await
                    }
                    Some(decision_event::Change::Terminated(terminated)) => {
                        let change = Change::Terminate {
                            reason: terminated.reason,
                            effective: date_from_proto(terminated.effective_date.as_ref()),
                        };
                        self.change(tx, &decision_id, version, change).await
                    }
                    // Where the money goes is payroll's and transfer's business.
                    // Its windows have all closed; nothing is left to check in.
                    Some(
                        decision_event::Change::BankDestinationChanged(_)
                        | decision_event::Change::Completed(_),
                    ) => Ok(()),
                    None => Err(HandlerError::Permanent(
                        "decision event without a change".into(),
                    )),
                }
            }
            other => Err(HandlerError::Permanent(format!(
                "checkin does not consume {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vietnamese_day_ends_at_17_utc() {
        let day = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
        assert_eq!(
            end_of_vietnam_day(day).to_rfc3339(),
            "2026-09-30T17:00:00+00:00"
        );
    }
}
