//! Pure rules of paying approved lists: money, bank ids and destinations, end-to-end ids, list
//! verification and the meaning of a bank's answer. No I/O.

pub mod bank;
pub mod end_to_end;
pub mod list;
pub mod money;
pub mod result;
pub mod termination;
pub mod text;
