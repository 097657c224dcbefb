//! Payroll's rules as pure functions over types that can only hold valid values.

pub mod anomaly;
pub mod calendar;
pub mod entitlement;
pub mod list;
pub mod money;
pub mod schedule;
pub mod signing;

pub use anomaly::{Candidate, DestinationKey, HoldReason, Holds};
pub use calendar::WorkingCalendar;
pub use entitlement::{BenefitMonth, DecisionTerms, MonthVerdict, Termination};
pub use list::{Destination, DestinationKind, Line, Totals};
pub use money::Dong;
pub use schedule::CutSchedule;
pub use signing::{ContentHash, KeyState, ListKey, ListSignature, TrustedKeys};
