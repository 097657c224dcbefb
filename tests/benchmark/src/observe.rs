//! Reads the topics as the banks and an auditor see them, from the moment the month starts:
//! each stage's records with the time they were produced, and for each decision when its
//! line was listed, its instruction sent and its credit recorded.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher as _, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use contracts::bank::v1::{BankResult, TransactionStatus, TransferInstruction};
use contracts::payroll::v1::PaymentListChunk;
use contracts::topics;
use contracts::transfer::v1::{TransferOutcome, TransferStatus};
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Headers as _;
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};

/// The stages of a payment, in order, as the topics show them.
pub const STAGES: [&str; 5] = [
    "check-ins published",
    "lines in signed lists",
    "bank instructions",
    "bank answers",
    "credits recorded",
];

/// Records of one stage.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stage {
    /// How many.
    pub count: u64,
    /// Production time of the first, in milliseconds since the epoch.
    pub first_ms: i64,
    /// Production time of the last.
    pub last_ms: i64,
    /// Records carrying an event id the stage had already seen: one event published again
    /// (the outbox relay is at least once), which consumers recognise and skip.
    pub republished: u64,
    /// Events, each with an id of its own, for a decision the stage had already seen: a
    /// second instruction or a second credit of one payment, which the month never expects.
    pub second_events: u64,
}

/// What the topics showed so far.
#[derive(Debug, Default)]
pub struct Observed {
    /// Per stage name.
    pub stages: BTreeMap<&'static str, Stage>,
    /// When each decision's line first appeared in a signed list.
    pub listed: HashMap<String, i64>,
    /// When each decision's first instruction was sent to its bank.
    pub instructed: HashMap<String, i64>,
    /// When each decision's credit was recorded by transfer.
    pub credited: HashMap<String, i64>,
    /// Outcomes other than credited (parked, failed), which the month does not expect.
    pub not_credited: u64,
    /// Event ids seen, per stage, as hashes: 8 bytes each rather than a string.
    events: HashMap<&'static str, HashSet<u64>>,
    hasher: RandomState,
}

impl Observed {
    /// Counts one record of `stage` and says whether it is an event seen for the first time.
    fn first_sighting(&mut self, stage: &'static str, event_id: Option<&str>, at: i64) -> bool {
        let fresh = event_id.is_none_or(|id| {
            let hash = self.hasher.hash_one(id);
            self.events.entry(stage).or_default().insert(hash)
        });
        let counted = self.stages.entry(stage).or_default();
        if !fresh {
            counted.republished += 1;
        }
        counted.first_ms = if counted.count == 0 && counted.republished == 0 {
            at
        } else {
            counted.first_ms.min(at)
        };
        counted.last_ms = counted.last_ms.max(at);
        fresh
    }
}

/// The running observer; stops when dropped.
pub struct Observer {
    /// What it saw.
    pub observed: Arc<Mutex<Observed>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Observer {
    /// A copy of one figure of what was seen.
    pub fn read<T>(&self, figure: impl FnOnce(&Observed) -> T) -> T {
        figure(&self.observed.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn config(brokers: &str, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    config
}

/// Starts reading every stage's topic from its current end.
pub fn start(brokers: &str) -> anyhow::Result<Observer> {
    let consumer: BaseConsumer = config(brokers, "benchmark-observer").create()?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(None, timeout)?;
    let mut assignment = TopicPartitionList::new();
    for topic in metadata.topics() {
        let name = topic.name();
        let wanted = [
            topics::CHECKIN_SCANS,
            topics::PAYMENT_LISTS,
            topics::BANK_RESULTS,
            topics::TRANSFER_OUTCOMES,
        ]
        .contains(&name)
            || (name.starts_with("bank.") && name.ends_with(".transfers.v1"));
        if !wanted {
            continue;
        }
        for partition in topic.partitions() {
            let (_, high) = consumer.fetch_watermarks(name, partition.id(), timeout)?;
            assignment.add_partition_offset(name, partition.id(), Offset::Offset(high))?;
        }
    }
    consumer.assign(&assignment)?;

    let observed = Arc::new(Mutex::new(Observed::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, stopped) = (observed.clone(), stop.clone());
    std::thread::spawn(move || {
        while !stopped.load(Ordering::Relaxed) {
            let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let at = message.timestamp().to_millis().unwrap_or_default();
            let payload = message.payload().unwrap_or_default();
            let event_id = message.headers().and_then(|headers| {
                headers
                    .iter()
                    .find(|header| header.key == "event-id")
                    .and_then(|header| std::str::from_utf8(header.value?).ok())
            });
            let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
            record(&mut seen, message.topic(), at, event_id, payload);
        }
    });
    Ok(Observer { observed, stop })
}

/// Counts one record; a record whose event was seen before counts only as republished.
fn record(seen: &mut Observed, topic: &str, at: i64, event_id: Option<&str>, payload: &[u8]) {
    if topic == topics::CHECKIN_SCANS {
        if seen.first_sighting(STAGES[0], event_id, at) {
            seen.stages.entry(STAGES[0]).or_default().count += 1;
        }
    } else if topic == topics::PAYMENT_LISTS {
        if let Ok(chunk) = PaymentListChunk::decode(payload)
            && seen.first_sighting(STAGES[1], event_id, at)
        {
            seen.stages.entry(STAGES[1]).or_default().count += chunk.lines.len() as u64;
            for line in chunk.lines {
                seen.listed
                    .entry(line.decision_id.to_lowercase())
                    .or_insert(at);
            }
        }
    } else if topic == topics::BANK_RESULTS {
        if BankResult::decode(payload)
            .is_ok_and(|result| result.status() == TransactionStatus::Accc)
            && seen.first_sighting(STAGES[3], event_id, at)
        {
            seen.stages.entry(STAGES[3]).or_default().count += 1;
        }
    } else if topic == topics::TRANSFER_OUTCOMES {
        if let Ok(outcome) = TransferOutcome::decode(payload)
            && outcome.notice.is_none()
        {
            match outcome.status() {
                TransferStatus::Paid if seen.first_sighting(STAGES[4], event_id, at) => {
                    let decision = outcome.decision_id.to_lowercase();
                    let stage = seen.stages.entry(STAGES[4]).or_default();
                    stage.count += 1;
                    match seen.credited.entry(decision) {
                        Entry::Occupied(_) => stage.second_events += 1,
                        Entry::Vacant(first) => _ = first.insert(at),
                    }
                }
                TransferStatus::Parked | TransferStatus::Failed => seen.not_credited += 1,
                _ => {}
            }
        }
    } else if let Ok(instruction) = TransferInstruction::decode(payload)
        && seen.first_sighting(STAGES[2], event_id, at)
    {
        let decision = decision_of(&instruction.remittance_information);
        let stage = seen.stages.entry(STAGES[2]).or_default();
        stage.count += 1;
        if let Some(decision) = decision {
            match seen.instructed.entry(decision) {
                Entry::Occupied(_) => stage.second_events += 1,
                Entry::Vacant(first) => _ = first.insert(at),
            }
        }
    }
}

/// The decision id in "TRO CAP THAT NGHIEP THANG <month> QD <decision id>", the remittance
/// text the bank's customer reads.
fn decision_of(remittance: &str) -> Option<String> {
    let (_, decision) = remittance.split_once(" QD ")?;
    Some(decision.trim().to_lowercase())
}

/// True when consumer group `group` has committed up to the end of every partition of `topic`.
pub fn caught_up(brokers: &str, group: &str, topic: &str) -> anyhow::Result<bool> {
    let consumer: BaseConsumer = config(brokers, group).create()?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let partitions = metadata
        .topics()
        .first()
        .map(|topic| topic.partitions().len())
        .context("no such topic")?;
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, i32::try_from(partition)?);
    }
    let committed = consumer.committed_offsets(list, timeout)?;
    for partition in committed.elements() {
        let (low, high) = consumer.fetch_watermarks(topic, partition.partition(), timeout)?;
        let next = match partition.offset() {
            Offset::Offset(offset) => offset,
            _ => low,
        };
        if next < high {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_is_read_from_the_remittance_text() {
        assert_eq!(
            decision_of("TRO CAP THAT NGHIEP THANG 1 QD 0195F3A2-AB"),
            Some("0195f3a2-ab".to_owned())
        );
        assert_eq!(decision_of("LUONG THANG 1"), None);
    }

    fn paid(decision_id: &str) -> Vec<u8> {
        TransferOutcome {
            decision_id: decision_id.into(),
            status: TransferStatus::Paid as i32,
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn an_event_published_again_is_told_apart_from_a_second_credit() {
        let mut seen = Observed::default();
        let outcomes = topics::TRANSFER_OUTCOMES;
        record(&mut seen, outcomes, 1_000, Some("event-1"), &paid("D-1"));
        record(&mut seen, outcomes, 1_500, Some("event-1"), &paid("D-1"));
        record(&mut seen, outcomes, 2_000, Some("event-2"), &paid("D-2"));
        record(&mut seen, outcomes, 3_000, Some("event-3"), &paid("D-1"));
        let credits = seen.stages[STAGES[4]];
        assert_eq!(
            (
                credits.count,
                credits.republished,
                credits.second_events,
                credits.first_ms,
                credits.last_ms
            ),
            (3, 1, 1, 1_000, 3_000)
        );
        assert_eq!(seen.credited.len(), 2);
        assert_eq!(seen.credited["d-1"], 1_000);
    }
}
