//! Protobuf contracts of the benefit system: the gRPC APIs of the four services and the messages
//! they exchange over Kafka.
//!
//! Each protobuf package `benefit.<name>.v1` becomes the module `<name>::v1`. Messages published
//! on a topic carry `common::v1::EventMeta` as their first field.

/// Types shared by every service: the event envelope, dates, bank destinations, check-in windows.
pub mod common {
    /// Version 1 of the shared types.
    pub mod v1 {
        tonic::include_proto!("benefit.common.v1");
    }
}

/// Contribution records from the collection system, on topic `contributions.v1`.
pub mod contributions {
    /// Version 1 of the contribution records.
    pub mod v1 {
        tonic::include_proto!("benefit.contributions.v1");
    }
}

/// The eligibility service's API and its decision events on topic `benefit.decisions.v1`.
pub mod eligibility {
    /// Version 1 of the eligibility contracts.
    pub mod v1 {
        tonic::include_proto!("benefit.eligibility.v1");
    }
}

/// The check-in service's API and its check-in events on topic `checkin.scans.v1`.
pub mod checkin {
    /// Version 1 of the check-in contracts.
    pub mod v1 {
        tonic::include_proto!("benefit.checkin.v1");
    }
}

/// The payroll service's API and its payment lists on topic `payroll.lists.v1`.
pub mod payroll {
    /// Version 1 of the payroll contracts.
    pub mod v1 {
        tonic::include_proto!("benefit.payroll.v1");
    }
}

/// The transfer service's API and its outcomes on topic `transfer.outcomes.v1`.
pub mod transfer {
    /// Version 1 of the transfer contracts.
    pub mod v1 {
        tonic::include_proto!("benefit.transfer.v1");
    }
}

/// What banks receive and answer: instructions on `bank.{bank_id}.transfers.v1`, results on
/// `bank.results.v1`.
pub mod bank {
    /// Version 1 of the bank contracts.
    pub mod v1 {
        tonic::include_proto!("benefit.bank.v1");
    }
}

/// Kafka topic names, one constant per topic, so producers and consumers cannot drift apart.
pub mod topics {
    /// Monthly contribution records from the collection system; payload
    /// `contributions::v1::ContributionRecord`, keyed by social insurance number.
    pub const CONTRIBUTIONS: &str = "contributions.v1";
    /// Benefit decision changes; payload `eligibility::v1::DecisionEvent`, keyed by decision id.
    pub const DECISIONS: &str = "benefit.decisions.v1";
    /// Recorded and missed check-ins; payload `checkin::v1::CheckinEvent`, keyed by decision id.
    pub const CHECKIN_SCANS: &str = "checkin.scans.v1";
    /// Approved, signed payment lists; payload `payroll::v1::PaymentListChunk`, keyed by list id.
    pub const PAYMENT_LISTS: &str = "payroll.lists.v1";
    /// Banks' statuses per payment; payload `bank::v1::BankResult`, keyed by end-to-end id.
    pub const BANK_RESULTS: &str = "bank.results.v1";
    /// Outcome of each payment attempt; payload `transfer::v1::TransferOutcome`, keyed by
    /// entitlement id.
    pub const TRANSFER_OUTCOMES: &str = "transfer.outcomes.v1";

    /// The topic carrying one bank's transfer instructions (`bank::v1::TransferInstruction`,
    /// keyed by end-to-end id); each bank reads only its own, named by its 6-digit NAPAS id.
    pub fn bank_transfers(bank_id: &str) -> String {
        format!("bank.{bank_id}.transfers.v1")
    }
}

/// Encoded `FileDescriptorSet` of every package, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/benefit_descriptor.bin"));
