//! Missive's protocol core: the Matrix rules a homeserver applies, with no IO.
//!
//! Everything here is a pure function of its inputs (events, state, rules),
//! so it is tested without a database or a network. Storage hands events in;
//! the server decides what to do with the answers.

#![forbid(unsafe_code)]

mod auth;
mod error;
pub mod event_builder;
pub mod filter;
pub mod incoming;
pub mod local_rules;
pub mod membership_template;
pub mod net;
pub mod pdu;
pub mod power_levels;
pub mod push;
pub mod room_versions;
pub mod search;
pub mod state_resolution;
#[cfg(test)]
mod testing;
pub mod turn;
pub mod visibility;

pub use error::CoreError;
pub use pdu::Pdu;

/// The largest PDU the server accepts or creates, in bytes of canonical JSON.
pub const MAX_PDU_BYTES: usize = 65_536;

/// The longest event type, state key, or identifier, in bytes (the spec's
/// size limits for events).
pub const MAX_ID_BYTES: usize = 255;
