//! The events checkin publishes on `checkin.scans.v1`, keyed by decision id.

use chrono::{DateTime, NaiveDate, Utc};
use contracts::checkin::v1::{CheckinEvent, CheckinMissed, CheckinRecorded, checkin_event};
use contracts::common::v1::{EventMeta, Officer};
use contracts::topics;
use messaging::OutboxEvent;
use uuid::Uuid;

use crate::convert::{date_to_proto, timestamp};
use crate::domain::window::CheckinWindow;

/// Shape of the payload, for consumers that must refuse a shape they do not know.
const SCHEMA_VERSION: u32 = 1;

/// Where a counted check-in came from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A kiosk scanned the notice.
    Scan {
        /// The notice scanned.
        notice_id: Uuid,
        /// The kiosk that scanned it.
        kiosk_id: Uuid,
    },
    /// An officer excused the month.
    Excused {
        /// The contract's excuse reason.
        reason: i32,
        /// Certificate or other supporting document.
        document_reference: String,
        /// Free-text note.
        note: String,
        /// Officer who recorded it.
        officer: Officer,
    },
}

/// A check-in about to be recorded.
#[derive(Debug, Clone)]
pub struct NewCheckin {
    /// The decision.
    pub decision_id: String,
    /// The benefit month it counts for.
    pub benefit_month: u32,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Date promised for the money.
    pub payment_by: NaiveDate,
    /// Job centre where it happened.
    pub centre_id: String,
    /// Province of that centre.
    pub province: String,
    /// Scan or excuse.
    pub source: Source,
}

fn meta(event_id: Uuid, occurred_at: DateTime<Utc>, decision_id: &str) -> EventMeta {
    EventMeta {
        event_id: event_id.to_string(),
        occurred_at: Some(timestamp(occurred_at)),
        subject_id: decision_id.to_owned(),
        schema_version: SCHEMA_VERSION,
        producer: crate::SERVICE.to_owned(),
    }
}

/// The `Recorded` event of a new check-in.
pub fn recorded(event_id: Uuid, checkin: &NewCheckin) -> OutboxEvent {
    let mut recorded = CheckinRecorded {
        scanned_at: Some(timestamp(checkin.recorded_at)),
        centre_id: checkin.centre_id.clone(),
        province: checkin.province.clone(),
        payment_by: Some(date_to_proto(checkin.payment_by)),
        ..CheckinRecorded::default()
    };
    match &checkin.source {
        Source::Scan {
            notice_id,
            kiosk_id,
        } => {
            recorded.notice_id = notice_id.to_string();
            recorded.kiosk_id = kiosk_id.to_string();
        }
        Source::Excused {
            reason,
            document_reference,
            officer,
            ..
        } => {
            recorded.excused = true;
            recorded.excuse_reason = *reason;
            recorded.document_reference = document_reference.clone();
            recorded.excused_by = Some(officer.clone());
        }
    }
    let event = CheckinEvent {
        meta: Some(meta(event_id, checkin.recorded_at, &checkin.decision_id)),
        decision_id: checkin.decision_id.clone(),
        benefit_month: checkin.benefit_month,
        kind: Some(checkin_event::Kind::Recorded(recorded)),
    };
    OutboxEvent::new(
        event_id,
        topics::CHECKIN_SCANS,
        &checkin.decision_id,
        &event,
    )
}

/// The `Missed` event of a window that closed without a check-in.
pub fn missed(
    event_id: Uuid,
    decision_id: &str,
    window: &CheckinWindow,
    noticed_at: DateTime<Utc>,
) -> OutboxEvent {
    let event = CheckinEvent {
        meta: Some(meta(event_id, noticed_at, decision_id)),
        decision_id: decision_id.to_owned(),
        benefit_month: window.month().number(),
        kind: Some(checkin_event::Kind::Missed(CheckinMissed {
            window: Some(window_to_proto(window)),
        })),
    };
    OutboxEvent::new(event_id, topics::CHECKIN_SCANS, decision_id, &event)
}

/// A window as the contract's `CheckinWindow`.
pub fn window_to_proto(window: &CheckinWindow) -> contracts::common::v1::CheckinWindow {
    contracts::common::v1::CheckinWindow {
        benefit_month: window.month().number(),
        month_start: Some(date_to_proto(window.month_start())),
        month_end: Some(date_to_proto(window.month_end())),
        opens_on: Some(date_to_proto(window.opens_on())),
        closes_on: Some(date_to_proto(window.closes_on())),
    }
}
