//! Why a request to another server did not get an answer we can use.

use ruma::OwnedServerName;

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// The destination is not in the domain allowlist: nothing was sent.
    #[error("{0} is not in the federation domain allowlist")]
    NotAllowed(OwnedServerName),
    /// Every address of the destination is internal and not allowlisted:
    /// nothing was sent.
    #[error("{0} has no address this server may connect to")]
    AddressRefused(OwnedServerName),
    /// Discovery, connection, TLS or time failed.
    #[error("cannot reach {0}: {1}")]
    Unreachable(OwnedServerName, String),
    /// The destination answered with an error.
    #[error("{destination} answered {status} {errcode}: {error}")]
    Remote {
        destination: OwnedServerName,
        status: http::StatusCode,
        errcode: String,
        error: String,
    },
    /// The answer was larger than allowed.
    #[error("the answer of {0} is too large")]
    TooLarge(OwnedServerName),
    /// The answer was not what the endpoint returns.
    #[error("invalid answer from {0}: {1}")]
    InvalidResponse(OwnedServerName, String),
    /// The request could not be built (a bug, or an invalid argument).
    #[error("cannot build the request: {0}")]
    Request(String),
}
