//! The core's error type: why an event was refused or could not be built.

use thiserror::Error;

use crate::MAX_ID_BYTES;

/// Why the core refused or could not process an event.
#[derive(Debug, Error)]
pub enum CoreError {
    /// The event breaks the room's authorization rules.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The event is not valid JSON or misses required fields.
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// The event is larger than the PDU size limit.
    #[error("event too large")]
    TooLarge,
    /// A field is longer than the spec allows (event type, state key).
    #[error("{0} is longer than {MAX_ID_BYTES} bytes")]
    FieldTooLong(&'static str),
    /// The room version is unknown or not supported.
    #[error("unsupported room version {0}")]
    UnsupportedRoomVersion(String),
}
