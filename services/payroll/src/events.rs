//! What payroll consumes: decisions (stored, with their suspensions, terminations and
//! destination changes), check-ins (one entitlement per decision and benefit month) and
//! transfer outcomes (paid, parked, failed). Every handler is idempotent: the inbox drops a
//! redelivered event, decision versions drop stale ones, and the unique (decision, benefit
//! month) key drops a second check-in for the same month.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use clock::SharedClock;
use contracts::topics;
use contracts::{
    checkin::v1::{CheckinEvent, checkin_event},
    eligibility::v1::{DecisionActivated, DecisionEvent, decision_event},
    transfer::v1::{
        BankDestinationCorrected, PaymentListRefused, TransferOutcome, TransferStatus,
        transfer_outcome,
    },
};
use messaging::{Handler, HandlerError, Inbound, Tally, decode};
use sqlx::PgConnection;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    domain::{
        BenefitMonth, DecisionTerms, MonthVerdict, Termination, WorkingCalendar, calendar,
        entitlement,
    },
    sealing::{SealedNumber, Sealer},
    store::{
        self, Correction, DecisionRow, LockedDecision, NewEntitlement, OutcomeTarget,
        StoredDestination, WaitingCheckin,
    },
    wire,
};

/// How many refused lists may carry one entitlement before it waits for an officer: a list
/// refused for payroll's own fault is cut and signed again, but a fault that repeats would
/// otherwise publish list after list.
pub const MAX_LIST_REFUSALS: i32 = 3;

/// The topics payroll consumes, as one consumer group.
pub const TOPICS: [&str; 3] = [
    topics::CHECKIN_SCANS,
    topics::DECISIONS,
    topics::TRANSFER_OUTCOMES,
];

/// The handler of every topic payroll consumes.
pub struct Events {
    clock: SharedClock,
    calendar: WorkingCalendar,
    sealer: Arc<Sealer>,
}

impl Events {
    /// A handler reading time from `clock`, counting deadlines on `calendar` and sealing card
    /// and account numbers with `sealer` before they are stored.
    pub fn new(clock: SharedClock, calendar: WorkingCalendar, sealer: Arc<Sealer>) -> Self {
        Self {
            clock,
            calendar,
            sealer,
        }
    }

    fn seal(&self, number: &str) -> Result<SealedNumber, HandlerError> {
        // Sealing fails only when the system has no randomness; that may pass.
        self.sealer
            .seal_number(number)
            .map_err(|error| HandlerError::Transient(format!("sealing the number: {error}")))
    }
}

fn permanent(reason: impl Into<String>) -> HandlerError {
    HandlerError::Permanent(reason.into())
}

impl Handler for Events {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        let mut tally = Tally::default();
        self.apply(tx, &mut tally, message).await?;
        tally.settle();
        Ok(())
    }

    /// Applies the common cases a run at a time, in a few statements per run: recorded
    /// check-ins (one read of their decisions, one insert of their entitlements) and final
    /// transfer outcomes (one read, one update). Every other message takes `handle`'s path,
    /// in its place in the batch, after the run before it.
    async fn handle_batch(
        &self,
        tx: &mut PgConnection,
        messages: &[&Inbound<'_>],
    ) -> Result<(), HandlerError> {
        // Counted only once the whole batch went through: a batch that fails is applied again
        // message by message.
        let mut tally = Tally::default();
        let mut scans: Vec<Scan<'_, '_>> = Vec::new();
        let mut outcomes: Vec<Settle<'_, '_>> = Vec::new();
        let mut in_outcomes: HashSet<Uuid> = HashSet::new();
        for message in messages {
            if let Some(scan) = recorded_checkin(message) {
                self.settle_outcomes(tx, &mut tally, std::mem::take(&mut outcomes))
                    .await?;
                in_outcomes.clear();
                scans.push(scan);
                continue;
            }
            match final_outcome(message) {
                Some(FinalOutcome::Changes(settle)) => {
                    self.earn_all(tx, &mut tally, std::mem::take(&mut scans))
                        .await?;
                    // A second outcome for one entitlement must see the first one's effect.
                    if !in_outcomes.insert(settle.entitlement_id) {
                        self.settle_outcomes(tx, &mut tally, std::mem::take(&mut outcomes))
                            .await?;
                        in_outcomes.clear();
                        in_outcomes.insert(settle.entitlement_id);
                    }
                    outcomes.push(settle);
                }
                // A payment still under way changes nothing, wherever it falls in the batch.
                Some(FinalOutcome::UnderWay) => {}
                None => {
                    self.earn_all(tx, &mut tally, std::mem::take(&mut scans))
                        .await?;
                    self.settle_outcomes(tx, &mut tally, std::mem::take(&mut outcomes))
                        .await?;
                    in_outcomes.clear();
                    self.apply(&mut *tx, &mut tally, message)
                        .instrument(message.span.clone())
                        .await?;
                }
            }
        }
        self.earn_all(tx, &mut tally, scans).await?;
        self.settle_outcomes(tx, &mut tally, outcomes).await?;
        tally.settle();
        Ok(())
    }
}

/// A recorded check-in of the common case, ready to be applied with others.
struct Scan<'b, 'm> {
    message: &'b Inbound<'m>,
    decision_id: String,
    month: BenefitMonth,
    number: i32,
    /// When it was scanned, if the event says.
    scanned_at: Option<DateTime<Utc>>,
}

/// The message as a recorded check-in that decodes and names a decision and a valid month, or
/// `None` when it is anything else (another topic, a missed check-in, malformed), which the
/// one-message path handles or refuses.
fn recorded_checkin<'b, 'm>(message: &'b Inbound<'m>) -> Option<Scan<'b, 'm>> {
    if message.topic != topics::CHECKIN_SCANS {
        return None;
    }
    let event: CheckinEvent = decode(message).ok()?;
    let Some(checkin_event::Kind::Recorded(recorded)) = event.kind else {
        return None;
    };
    if event.decision_id.is_empty() {
        return None;
    }
    let month = BenefitMonth::new(event.benefit_month).ok()?;
    let number = month_number(month).ok()?;
    Some(Scan {
        message,
        decision_id: event.decision_id,
        month,
        number,
        scanned_at: wire::timestamp_from(recorded.scanned_at.as_ref()),
    })
}

/// A transfer outcome that sets an entitlement's state, ready to be applied with others.
struct Settle<'b, 'm> {
    message: &'b Inbound<'m>,
    entitlement_id: Uuid,
    new_state: &'static str,
}

/// What a payment outcome of the common case asks.
enum FinalOutcome<'b, 'm> {
    /// The payment reached a state: paid, parked or failed.
    Changes(Settle<'b, 'm>),
    /// The payment is in flight or retrying: nothing to change.
    UnderWay,
}

/// The message as an outcome about one payment attempt with a known status, or `None` when it
/// is anything else (another topic, a notice, malformed), which the one-message path handles
/// or refuses.
fn final_outcome<'b, 'm>(message: &'b Inbound<'m>) -> Option<FinalOutcome<'b, 'm>> {
    if message.topic != topics::TRANSFER_OUTCOMES {
        return None;
    }
    let event: TransferOutcome = decode(message).ok()?;
    if event.notice.is_some() {
        return None;
    }
    let entitlement_id = Uuid::parse_str(&event.entitlement_id).ok()?;
    let new_state = match outcome_state(event.status).ok()? {
        Some(state) => state,
        None => return Some(FinalOutcome::UnderWay),
    };
    Some(FinalOutcome::Changes(Settle {
        message,
        entitlement_id,
        new_state,
    }))
}

/// The entitlement state a transfer status sets; `None` while the payment is under way.
fn outcome_state(status: i32) -> Result<Option<&'static str>, HandlerError> {
    match TransferStatus::try_from(status) {
        Ok(TransferStatus::Paid) => Ok(Some("paid")),
        Ok(TransferStatus::Parked) => Ok(Some("parked")),
        Ok(TransferStatus::Failed) => Ok(Some("failed")),
        Ok(TransferStatus::InFlight | TransferStatus::Retrying) => Ok(None),
        Ok(TransferStatus::Unspecified) | Err(_) => Err(permanent("outcome status is unspecified")),
    }
}

/// Whether an outcome moving to `new_state` changes the entitlement. A credit is final: a late
/// parked or failed answer about an earlier attempt must not undo it.
fn outcome_changes(target: &OutcomeTarget, new_state: &str) -> bool {
    target.state != "paid" && target.state != new_state
}

/// The W3C traceparent of `span`, empty when it has none.
fn traceparent_of(span: &tracing::Span) -> String {
    telemetry::headers_for_span(span)
        .into_iter()
        .find(|(name, _)| name == "traceparent")
        .map(|(_, value)| value)
        .unwrap_or_default()
}

impl Events {
    /// Applies one message; the metrics it moves are owed in `tally`.
    async fn apply(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        message: &Inbound<'_>,
    ) -> Result<(), HandlerError> {
        match message.topic {
            topics::CHECKIN_SCANS => {
                let event: CheckinEvent = decode(message)?;
                self.on_checkin(tx, tally, event).await
            }
            topics::DECISIONS => {
                let event: DecisionEvent = decode(message)?;
                self.on_decision(tx, tally, event).await
            }
            topics::TRANSFER_OUTCOMES => {
                let event: TransferOutcome = decode(message)?;
                self.on_outcome(tx, tally, event).await
            }
            other => Err(permanent(format!("payroll does not consume {other}"))),
        }
    }

    /// Applies a run of recorded check-ins as `on_checkin` applies each in turn: one lock and
    /// read of their decisions, one insert of the waiting ones, one of the entitlements.
    async fn earn_all(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        run: Vec<Scan<'_, '_>>,
    ) -> Result<(), HandlerError> {
        if run.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        // A month scanned twice in one run earns once, as the second scan handled alone
        // would find the first one's entitlement (or waiting check-in): the first one counts.
        let mut seen: HashSet<(String, i32)> = HashSet::new();
        let run: Vec<Scan<'_, '_>> = run
            .into_iter()
            .filter(|scan| seen.insert((scan.decision_id.clone(), scan.number)))
            .collect();
        let mut ids: Vec<&str> = run.iter().map(|scan| scan.decision_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut decisions: HashMap<String, LockedDecision> = store::lock_decisions(tx, &ids)
            .await?
            .into_iter()
            .map(|locked| (locked.decision.decision_id.clone(), locked))
            .collect();
        // As for one check-in: only unknown decisions take the decision id's lock, which their
        // activation holds, and are looked for again.
        let unknown: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !decisions.contains_key(*id))
            .collect();
        if !unknown.is_empty() {
            store::lock_decision_ids(tx, &unknown).await?;
            for locked in store::lock_decisions(tx, &unknown).await? {
                decisions.insert(locked.decision.decision_id.clone(), locked);
            }
        }
        let known: Vec<&Scan<'_, '_>> = run
            .iter()
            .filter(|scan| decisions.contains_key(&scan.decision_id))
            .collect();
        let known_ids: Vec<&str> = known.iter().map(|scan| scan.decision_id.as_str()).collect();
        let known_months: Vec<i32> = known.iter().map(|scan| scan.number).collect();
        let starts: HashMap<(String, i32), NaiveDate> =
            store::month_starts(tx, &known_ids, &known_months)
                .await?
                .into_iter()
                .map(|(decision_id, number, start)| ((decision_id, number), start))
                .collect();

        let mut waiting = Vec::new();
        let mut earned: Vec<(&Scan<'_, '_>, NewEntitlement)> = Vec::new();
        for scan in &run {
            let checkin = CheckinFacts {
                scanned_at: scan.scanned_at.unwrap_or(now),
                traceparent: traceparent_of(&scan.message.span),
            };
            let Some(locked) = decisions.get(&scan.decision_id) else {
                scan.message.span.in_scope(|| {
                    tracing::info!(
                        decision_id = %scan.decision_id,
                        benefit_month = scan.number,
                        "check-in waits for its decision"
                    );
                });
                waiting.push(WaitingCheckin {
                    decision_id: scan.decision_id.clone(),
                    benefit_month: scan.number,
                    scanned_at: checkin.scanned_at,
                    traceparent: checkin.traceparent,
                });
                continue;
            };
            let facts = MonthFacts {
                month_start: starts
                    .get(&(scan.decision_id.clone(), scan.number))
                    .copied(),
                suspended: locked.suspended.clone(),
            };
            let entitlement = scan.message.span.in_scope(|| {
                self.entitlement_for(&locked.decision, scan.month, facts, checkin, now)
            })?;
            if let Some(entitlement) = entitlement {
                earned.push((scan, entitlement));
            }
        }
        store::wait_checkins(tx, &waiting, now).await?;
        let new: Vec<NewEntitlement> = earned
            .iter()
            .map(|(_, entitlement)| entitlement.clone())
            .collect();
        let created: HashSet<(String, i32)> = store::insert_entitlements(tx, &new)
            .await?
            .into_iter()
            .collect();
        for (scan, entitlement) in &earned {
            if created.contains(&(entitlement.decision_id.clone(), entitlement.benefit_month)) {
                scan.message
                    .span
                    .in_scope(|| announce_created(tally, entitlement));
            }
        }
        Ok(())
    }

    /// Applies a run of payment outcomes, one per entitlement, as `on_outcome` applies each:
    /// one lock and read of their entitlements, one update of their states.
    async fn settle_outcomes(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        run: Vec<Settle<'_, '_>>,
    ) -> Result<(), HandlerError> {
        if run.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = run.iter().map(|settle| settle.entitlement_id).collect();
        let targets: HashMap<Uuid, OutcomeTarget> = store::lock_outcome_targets(tx, &ids)
            .await?
            .into_iter()
            .collect();
        let mut changed: Vec<(&Settle<'_, '_>, &OutcomeTarget)> = Vec::new();
        for settle in &run {
            let Some(target) = targets.get(&settle.entitlement_id) else {
                return Err(permanent(format!(
                    "outcome for unknown entitlement {}",
                    settle.entitlement_id
                )));
            };
            if outcome_changes(target, settle.new_state) {
                changed.push((settle, target));
            }
        }
        let states: Vec<(Uuid, &str)> = changed
            .iter()
            .map(|(settle, _)| (settle.entitlement_id, settle.new_state))
            .collect();
        store::set_outcome_states(tx, &states).await?;
        for (settle, target) in changed {
            self.outcome_applied(tx, tally, settle.entitlement_id, target, settle.new_state)
                .instrument(settle.message.span.clone())
                .await?;
        }
        Ok(())
    }
}

impl Events {
    async fn on_checkin(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        event: CheckinEvent,
    ) -> Result<(), HandlerError> {
        let recorded = match event.kind {
            Some(checkin_event::Kind::Recorded(recorded)) => recorded,
            // A missed check-in is eligibility's to act on (it reaches payroll as a suspended
            // month); payroll only counts it for the statistics.
            Some(checkin_event::Kind::Missed(_)) => {
                let number = i32::try_from(event.benefit_month)
                    .map_err(|_| permanent("benefit_month out of range"))?;
                let today = vietnam_date(self.clock.now());
                store::record_missed_checkin(tx, &event.decision_id, number, first_of_month(today))
                    .await?;
                return Ok(());
            }
            None => return Err(permanent("check-in event without kind")),
        };
        if event.decision_id.is_empty() {
            return Err(permanent("check-in without decision id"));
        }
        let month = BenefitMonth::new(event.benefit_month)
            .map_err(|error| permanent(format!("check-in benefit_month: {error}")))?;
        let number = month_number(month)?;
        let now = self.clock.now();
        // The month a check-in earns in is the month it was scanned, not the month a lagging
        // consumer gets to it; only an event without a scan time falls back to processing time.
        let scanned_at = wire::timestamp_from(recorded.scanned_at.as_ref()).unwrap_or(now);
        // The payment continues the check-in's trace, across the list cut that batches it.
        let traceparent = current_traceparent();

        // A known decision is locked by its row, in the one statement that also reads the
        // month; only an unknown one takes the decision id's lock, which its activation holds,
        // and looks again, so a check-in racing its decision is never left waiting.
        let known = match store::lock_decision_month(tx, &event.decision_id, number).await? {
            Some(known) => known,
            None => {
                store::lock_decision_id(tx, &event.decision_id).await?;
                let Some(known) =
                    store::lock_decision_month(tx, &event.decision_id, number).await?
                else {
                    store::wait_checkin(
                        tx,
                        &event.decision_id,
                        number,
                        scanned_at,
                        &traceparent,
                        now,
                    )
                    .await?;
                    tracing::info!(
                        decision_id = %event.decision_id,
                        benefit_month = number,
                        "check-in waits for its decision"
                    );
                    return Ok(());
                };
                known
            }
        };
        let month_facts = MonthFacts {
            month_start: known.month_start,
            suspended: known.suspended,
        };
        let checkin = CheckinFacts {
            scanned_at,
            traceparent,
        };
        self.earn(tx, tally, &known.decision, month, month_facts, checkin, now)
            .await
    }

    /// The stored facts `earn` needs about a decision's month.
    async fn month_facts(
        tx: &mut PgConnection,
        decision_id: &str,
        number: i32,
    ) -> Result<MonthFacts, HandlerError> {
        Ok(MonthFacts {
            month_start: store::month_start(tx, decision_id, number).await?,
            suspended: store::suspended_months(tx, decision_id).await?,
        })
    }

    /// Creates the month's entitlement when the decision pays it; a month already earned,
    /// suspended, after the termination or outside the decision changes nothing.
    #[allow(
        clippy::too_many_arguments,
        reason = "the facts of one check-in, named"
    )]
    async fn earn(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        decision: &DecisionRow,
        month: BenefitMonth,
        facts: MonthFacts,
        checkin: CheckinFacts,
        now: DateTime<Utc>,
    ) -> Result<(), HandlerError> {
        let Some(entitlement) = self.entitlement_for(decision, month, facts, checkin, now)? else {
            return Ok(());
        };
        if store::insert_entitlement(tx, &entitlement).await? {
            announce_created(tally, &entitlement);
        }
        Ok(())
    }

    /// The entitlement the check-in earns, or `None` when the decision does not pay the month
    /// (suspended, after the termination or outside the decision).
    fn entitlement_for(
        &self,
        decision: &DecisionRow,
        month: BenefitMonth,
        facts: MonthFacts,
        checkin: CheckinFacts,
        now: DateTime<Utc>,
    ) -> Result<Option<NewEntitlement>, HandlerError> {
        let scanned_at = checkin.scanned_at;
        let number = month_number(month)?;
        let month_start = match facts.month_start {
            Some(start) => start,
            None => month
                .start_from(decision.start_date)
                .ok_or_else(|| permanent("benefit month start out of range"))?,
        };
        let terms = terms_of(decision, facts.suspended);
        let verdict = entitlement::verdict(&terms, month, month_start);
        if verdict != MonthVerdict::Payable {
            tracing::info!(
                decision_id = %decision.decision_id,
                benefit_month = number,
                ?verdict,
                "check-in earns no entitlement"
            );
            return Ok(None);
        }
        let payment_by =
            calendar::payment_deadline(month, month_start, decision.received_on, &self.calendar)
                .map_err(|error| permanent(error.to_string()))?;
        // Statistics and the shared-account check file the entitlement under the month of the
        // scan, so a consumer lagging across a month end does not move it to the next month.
        let earned_month = first_of_month(vietnam_date(scanned_at));
        Ok(Some(NewEntitlement {
            entitlement_id: Uuid::new_v4(),
            decision_id: decision.decision_id.clone(),
            benefit_month: number,
            amount_dong: decision.amount_dong,
            province: decision.province.clone(),
            // The decision's sealed number is copied as it is: same number, same digest.
            destination: StoredDestination {
                bank_id: decision.bank_id.clone(),
                kind: decision.destination_kind,
                number: SealedNumber {
                    sealed: decision.destination_sealed.clone(),
                    digest: decision.destination_digest.clone(),
                },
                holder_name: decision.holder_name.clone(),
            },
            payment_by,
            earned_month,
            scanned_at,
            traceparent: checkin.traceparent,
            created_at: now,
        }))
    }

    async fn on_decision(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        event: DecisionEvent,
    ) -> Result<(), HandlerError> {
        if event.decision_id.is_empty() {
            return Err(permanent("decision event without decision id"));
        }
        let version = i64::try_from(event.decision_version)
            .map_err(|_| permanent("decision_version out of range"))?;
        let change = event
            .change
            .ok_or_else(|| permanent("decision event without change"))?;
        store::lock_decision_id(tx, &event.decision_id).await?;
        if let decision_event::Change::Activated(activated) = change {
            return self
                .on_activated(tx, tally, &event.decision_id, version, activated)
                .await;
        }
        let Some(decision) = store::lock_decision(tx, &event.decision_id).await? else {
            return Err(permanent(format!(
                "decision {} changed before it was activated",
                event.decision_id
            )));
        };
        if version <= decision.version {
            tracing::debug!(decision_id = %event.decision_id, version, "stale decision event ignored");
            return Ok(());
        }
        match change {
            decision_event::Change::Activated(_) => {}
            decision_event::Change::MonthSuspended(suspended) => {
                let month = i32::try_from(suspended.benefit_month)
                    .map_err(|_| permanent("benefit_month out of range"))?;
                store::suspend_month(tx, &event.decision_id, month).await?;
            }
            // The resumed month is checked in and earns its entitlement from the check-in;
            // months suspended before stay unpaid.
            decision_event::Change::Resumed(_) => {}
            // Every month was earned (or missed) before the period ended; nothing changes.
            decision_event::Change::Completed(_) => {}
            decision_event::Change::Terminated(terminated) => {
                let effective = wire::date_from(terminated.effective_date.as_ref())
                    .ok_or_else(|| permanent("termination effective_date is missing"))?;
                self.on_terminated(tx, &decision, terminated.reason, effective)
                    .await?;
            }
            decision_event::Change::BankDestinationChanged(changed) => {
                let destination = wire::destination_from(changed.bank_destination.as_ref())
                    .map_err(|reason| permanent(format!("bank_destination: {reason}")))?;
                let changed_by: Vec<String> = [changed.proposed_by, changed.confirmed_by]
                    .into_iter()
                    .flatten()
                    .map(|officer| officer.officer_id)
                    .filter(|id| !id.is_empty())
                    .collect();
                store::change_destination(
                    tx,
                    &event.decision_id,
                    &StoredDestination {
                        bank_id: destination.bank_id().to_owned(),
                        kind: i16::try_from(destination.kind().code()).unwrap_or_default(),
                        number: self.seal(destination.number())?,
                        holder_name: destination.holder_name().to_owned(),
                    },
                    &changed_by,
                )
                .await?;
            }
        }
        store::set_version(tx, &event.decision_id, version).await?;
        Ok(())
    }

    async fn on_activated(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        decision_id: &str,
        version: i64,
        activated: DecisionActivated,
    ) -> Result<(), HandlerError> {
        let destination = wire::destination_from(activated.bank_destination.as_ref())
            .map_err(|reason| permanent(format!("activated.bank_destination: {reason}")))?;
        if activated.amount_dong < 0 {
            return Err(permanent("activated.amount_dong is negative"));
        }
        let months = i32::try_from(activated.months)
            .ok()
            .filter(|months| *months > 0)
            .ok_or_else(|| permanent("activated.months must be at least 1"))?;
        if activated.province.trim().is_empty() {
            return Err(permanent("activated.province is empty"));
        }
        let start_date = wire::date_from(activated.start_date.as_ref())
            .ok_or_else(|| permanent("activated.start_date is missing"))?;
        let now = self.clock.now();
        let number = self.seal(destination.number())?;
        let decision = DecisionRow {
            decision_id: decision_id.to_owned(),
            version,
            person_id: activated.person_id.clone(),
            amount_dong: activated.amount_dong,
            months,
            start_date,
            province: activated.province.clone(),
            bank_id: destination.bank_id().to_owned(),
            destination_kind: i16::try_from(destination.kind().code()).unwrap_or_default(),
            destination_sealed: number.sealed,
            destination_digest: number.digest,
            holder_name: destination.holder_name().to_owned(),
            received_on: vietnam_date(now),
            termination_effective: None,
        };
        if !store::insert_decision(tx, &decision).await? {
            tracing::debug!(decision_id, "decision already stored");
            return Ok(());
        }
        let month_starts: Vec<(i32, NaiveDate)> = activated
            .checkin_windows
            .iter()
            .filter_map(|window| {
                let number = i32::try_from(window.benefit_month).ok()?;
                Some((number, wire::date_from(window.month_start.as_ref())?))
            })
            .collect();
        store::insert_decision_months(tx, decision_id, &month_starts).await?;

        for (number, scanned_at, traceparent) in
            store::take_waiting_checkins(tx, decision_id).await?
        {
            let month = u32::try_from(number)
                .ok()
                .and_then(|n| BenefitMonth::new(n).ok())
                .ok_or_else(|| permanent("stored benefit month out of range"))?;
            let facts = Self::month_facts(tx, decision_id, number).await?;
            let checkin = CheckinFacts {
                scanned_at,
                traceparent,
            };
            self.earn(tx, tally, &decision, month, facts, checkin, now)
                .await?;
        }
        Ok(())
    }

    /// Records the termination; months starting on or after its effective date are
    /// cancelled if unpaid, become debts if paid, and are marked so a payment still in
    /// flight becomes a debt when it lands.
    async fn on_terminated(
        &self,
        tx: &mut PgConnection,
        decision: &DecisionRow,
        reason: i32,
        effective: NaiveDate,
    ) -> Result<(), HandlerError> {
        let now = self.clock.now();
        store::terminate(tx, &decision.decision_id, reason, effective, now).await?;
        let termination = Termination {
            effective_date: effective,
        };
        for entitlement in store::lock_entitlements_of(tx, &decision.decision_id).await? {
            let month = u32::try_from(entitlement.benefit_month)
                .ok()
                .and_then(|n| BenefitMonth::new(n).ok())
                .ok_or_else(|| permanent("stored benefit month out of range"))?;
            let month_start =
                match store::month_start(tx, &decision.decision_id, entitlement.benefit_month)
                    .await?
                {
                    Some(start) => start,
                    None => month
                        .start_from(decision.start_date)
                        .ok_or_else(|| permanent("benefit month start out of range"))?,
                };
            if !termination.cancels(month_start) {
                if entitlement.state == "pending" {
                    store::flag_terminated_after_checkin(tx, entitlement.entitlement_id).await?;
                }
                continue;
            }
            let note = format!("terminated from {effective}, reason {reason}");
            let unpaid = matches!(entitlement.state.as_str(), "pending" | "held");
            store::cancel_for_termination(tx, entitlement.entitlement_id, reason, &note, unpaid)
                .await?;
            if entitlement.state == "paid" {
                store::record_debt(tx, entitlement.entitlement_id, now).await?;
            }
            tracing::info!(
                entitlement_id = %entitlement.entitlement_id,
                state = %entitlement.state,
                "termination cancels a benefit month"
            );
        }
        Ok(())
    }

    async fn on_outcome(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        event: TransferOutcome,
    ) -> Result<(), HandlerError> {
        // A notice is about a list or a decision, not an attempt: its attempt fields are empty.
        match event.notice {
            Some(transfer_outcome::Notice::ListRefused(refused)) => {
                return self.on_list_refused(tx, tally, refused).await;
            }
            Some(transfer_outcome::Notice::DestinationCorrected(corrected)) => {
                return self.on_destination_corrected(tx, tally, corrected).await;
            }
            None => {}
        }
        let entitlement_id = Uuid::parse_str(&event.entitlement_id)
            .map_err(|_| permanent("outcome entitlement_id is not a uuid"))?;
        let Some(new_state) = outcome_state(event.status)? else {
            return Ok(());
        };
        let Some(target) = store::lock_outcome_target(tx, entitlement_id).await? else {
            return Err(permanent(format!(
                "outcome for unknown entitlement {entitlement_id}"
            )));
        };
        if !outcome_changes(&target, new_state) {
            return Ok(());
        }
        store::set_outcome_state(tx, entitlement_id, new_state).await?;
        self.outcome_applied(tx, tally, entitlement_id, &target, new_state)
            .await
    }

    /// What follows an entitlement's move to `new_state`, once stored: a credit for a month a
    /// termination cancelled becomes a debt, and the time from check-in to credit is measured.
    async fn outcome_applied(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        entitlement_id: Uuid,
        target: &OutcomeTarget,
        new_state: &'static str,
    ) -> Result<(), HandlerError> {
        let now = self.clock.now();
        if new_state == "paid" {
            if target.termination_reason.is_some() {
                store::record_debt(tx, entitlement_id, now).await?;
            }
            let waited = (now - target.scanned_at).to_std().unwrap_or_default();
            let bank = target.bank_id.clone();
            tally.owe(move || {
                metrics::histogram!("checkin_to_credit_seconds", "bank" => bank)
                    .record(waited.as_secs_f64());
            });
        }
        tracing::info!(%entitlement_id, state = new_state, "transfer outcome applied");
        Ok(())
    }
}

impl Events {
    /// Pays the decision's later months to the corrected destination. Entitlements already in
    /// a list keep the destination their signed list carries (transfer resends its parked
    /// ones itself); pending and held ones, and every later one, take the new destination.
    /// The corrected account is a changed account: the next line is still held for an
    /// officer, who must be neither the officer who proposed it nor the one who confirmed it.
    async fn on_destination_corrected(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        corrected: BankDestinationCorrected,
    ) -> Result<(), HandlerError> {
        if corrected.correction_id.is_empty() {
            return Err(permanent("destination correction without correction_id"));
        }
        if corrected.decision_id.is_empty() {
            return Err(permanent("destination correction without decision_id"));
        }
        let destination =
            wire::destination_from(corrected.bank_destination.as_ref()).map_err(|reason| {
                permanent(format!("destination_corrected.bank_destination: {reason}"))
            })?;
        store::lock_decision_id(tx, &corrected.decision_id).await?;
        if store::lock_decision(tx, &corrected.decision_id)
            .await?
            .is_none()
        {
            return Err(permanent(format!(
                "destination correction for unknown decision {}",
                corrected.decision_id
            )));
        }
        let officer_id = |officer: Option<contracts::common::v1::Officer>| {
            officer
                .map(|officer| officer.officer_id)
                .filter(|id| !id.is_empty())
        };
        let proposed_by = officer_id(corrected.proposed_by);
        let confirmed_by = officer_id(corrected.confirmed_by);
        let stored = StoredDestination {
            bank_id: destination.bank_id().to_owned(),
            kind: i16::try_from(destination.kind().code()).unwrap_or_default(),
            number: self.seal(destination.number())?,
            holder_name: destination.holder_name().to_owned(),
        };
        let recorded = store::insert_correction(
            tx,
            &Correction {
                correction_id: corrected.correction_id.clone(),
                decision_id: corrected.decision_id.clone(),
                destination: stored.clone(),
                proposed_by: proposed_by.clone(),
                confirmed_by: confirmed_by.clone(),
                applied_at: self.clock.now(),
            },
        )
        .await?;
        if !recorded {
            tracing::debug!(correction_id = %corrected.correction_id, "destination correction already applied");
            return Ok(());
        }
        let changed_by: Vec<String> = [proposed_by, confirmed_by].into_iter().flatten().collect();
        store::change_destination(tx, &corrected.decision_id, &stored, &changed_by).await?;
        tally.owe(|| metrics::counter!("payroll_destination_corrections_total").increment(1));
        tracing::info!(
            correction_id = %corrected.correction_id,
            decision_id = %corrected.decision_id,
            "corrected destination in force for later months"
        );
        Ok(())
    }

    /// Takes the refused list's lines back: nothing in it was paid, so they are cut, checked
    /// and signed again into a new list. Whatever the reason (a bad signature, a list that
    /// arrived incomplete, a line transfer could not read), the fault is in how the list was
    /// made or carried, not in the entitlements; a line refused `MAX_LIST_REFUSALS` times
    /// waits for an officer instead.
    async fn on_list_refused(
        &self,
        tx: &mut PgConnection,
        tally: &mut Tally,
        refused: PaymentListRefused,
    ) -> Result<(), HandlerError> {
        let list_id = Uuid::parse_str(&refused.list_id)
            .map_err(|_| permanent("list_refused.list_id is not a uuid"))?;
        let reason = if refused.reason.is_empty() {
            "REFUSAL_REASON_UNSPECIFIED"
        } else {
            refused.reason.as_str()
        };
        let Some(refused_at) = store::lock_list_refusal(tx, list_id).await? else {
            return Err(permanent(format!("refusal of unknown list {list_id}")));
        };
        if refused_at.is_some() {
            tracing::debug!(%list_id, "list refusal already applied");
            return Ok(());
        }
        let returned = store::refuse_list(
            tx,
            list_id,
            reason,
            &refused.detail,
            MAX_LIST_REFUSALS,
            self.clock.now(),
        )
        .await?;
        let refusal_reason = reason.to_owned();
        let recut = returned.pending;
        tally.owe(move || {
            metrics::counter!("payroll_lists_refused_total", "reason" => refusal_reason)
                .increment(1);
            metrics::counter!("payroll_lines_recut_total").increment(recut);
        });
        tracing::warn!(
            %list_id,
            reason,
            detail = %refused.detail,
            recut = returned.pending,
            held = returned.held,
            cancelled = returned.cancelled,
            "payment list refused by transfer; its lines go into a new list"
        );
        Ok(())
    }
}

/// What a check-in brings to its entitlement: when it was scanned, and the trace it started.
struct CheckinFacts {
    scanned_at: DateTime<Utc>,
    traceparent: String,
}

/// The W3C traceparent of the current span, empty when tracing is off.
fn current_traceparent() -> String {
    traceparent_of(&tracing::Span::current())
}

/// Owes the metrics of a created entitlement and logs it.
fn announce_created(tally: &mut Tally, entitlement: &NewEntitlement) {
    let province = entitlement.province.clone();
    let amount = u64::try_from(entitlement.amount_dong).unwrap_or_default();
    tally.owe(move || {
        metrics::counter!("payroll_entitlements_created_total", "province" => province.clone())
            .increment(1);
        metrics::counter!("payroll_entitlement_amount_dong_total", "province" => province)
            .increment(amount);
    });
    tracing::info!(
        decision_id = %entitlement.decision_id,
        benefit_month = entitlement.benefit_month,
        payment_by = %entitlement.payment_by,
        "entitlement created"
    );
}

/// What is stored about one month of a decision: its first day, if the decision listed it,
/// and the decision's suspended months.
struct MonthFacts {
    month_start: Option<NaiveDate>,
    suspended: Vec<i32>,
}

fn month_number(month: BenefitMonth) -> Result<i32, HandlerError> {
    i32::try_from(month.get()).map_err(|_| permanent("benefit_month out of range"))
}

fn terms_of(decision: &DecisionRow, suspended: Vec<i32>) -> DecisionTerms {
    DecisionTerms {
        months: u32::try_from(decision.months).unwrap_or_default(),
        suspended: suspended
            .into_iter()
            .filter_map(|month| u32::try_from(month).ok())
            .collect::<BTreeSet<u32>>(),
        termination: decision
            .termination_effective
            .map(|effective_date| Termination { effective_date }),
    }
}

/// The first day of `day`'s month.
fn first_of_month(day: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap_or(day)
}

/// The calendar date in Vietnam (UTC+7) at `instant`.
fn vietnam_date(instant: DateTime<Utc>) -> NaiveDate {
    (instant + chrono::Duration::hours(7)).date_naive()
}
