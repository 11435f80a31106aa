//! The Server-Server API's plumbing, independent of the server's services:
//!
//! - [`policy`]: who may be talked to (the domain allowlist) and where
//!   (addresses: internal ones only when allowlisted);
//! - [`discovery`]: from a server name to the addresses, port, TLS name and
//!   `Host` of its federation endpoint (IP literals, ports,
//!   `/.well-known/matrix/server`, SRV records, 8448);
//! - [`client`]: ruma's federation requests sent signed (`X-Matrix`) to a
//!   destination, with bounded time and answer size;
//! - [`keys`]: server key answers, our own signed and others' verified;
//! - [`tls`]: the federation listener's certificate, generated when none
//!   is configured.
//!
//! The server (`missive-server`) wires these to its store and routes; the
//! transaction sender and joins build on [`client::FederationClient`].

#![forbid(unsafe_code)]

pub mod client;
pub mod discovery;
mod error;
pub mod keys;
pub mod policy;
pub mod tls;

pub use client::FederationClient;
pub use error::FederationError;
pub use policy::Policy;
