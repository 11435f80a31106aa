//! Requests to other servers: ruma's federation request types, signed with
//! this server's key (`Authorization: X-Matrix` with origin, destination,
//! key and signature, made by ruma's `ServerSignatures` scheme), sent to
//! the endpoint discovery found, over TLS, connecting only to addresses
//! the policy allows, with bounded time and answer size.
//!
//! One pinned connection pool per destination is kept for a while, so
//! that the transaction sender reuses connections; the destination is
//! discovered again when it expires.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use ruma::{
    OwnedServerName, ServerName,
    api::{
        IncomingResponse, OutgoingRequest,
        auth_scheme::NoAuthentication,
        federation::authentication::{ServerSignatures, ServerSignaturesInput},
        path_builder::SinglePath,
    },
    signatures::Ed25519KeyPair,
};

use crate::{
    FederationError,
    discovery::{Discovery, Endpoint, pinned_client, read_capped},
    policy::Policy,
};

/// How long a request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer read (a room's state for a join is the largest kind;
/// Synapse reads up to about this much).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// How long a destination's discovery and connection pool are kept.
const DESTINATION_TTL: Duration = Duration::from_secs(3600);
/// Destinations kept at most.
const MAX_DESTINATIONS: usize = 10_000;

struct Destination {
    endpoint: Endpoint,
    client: reqwest::Client,
    until: Instant,
}

/// This server's client for the Server-Server API.
#[derive(Clone)]
pub struct FederationClient {
    inner: Arc<Inner>,
}

struct Inner {
    origin: OwnedServerName,
    key: Arc<Ed25519KeyPair>,
    policy: Policy,
    verify_tls: bool,
    discovery: Discovery,
    destinations: Mutex<HashMap<OwnedServerName, Arc<Destination>>>,
}

impl FederationClient {
    pub fn new(
        origin: OwnedServerName,
        key: Arc<Ed25519KeyPair>,
        policy: Policy,
        verify_tls: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                discovery: Discovery::new(policy.clone(), verify_tls),
                origin,
                key,
                policy,
                verify_tls,
                destinations: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// This server's name (the `origin` of its requests).
    pub fn origin(&self) -> &ServerName {
        &self.inner.origin
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Sends `request`, signed, to `destination`.
    pub async fn send<R>(
        &self,
        destination: &ServerName,
        request: R,
    ) -> Result<R::IncomingResponse, FederationError>
    where
        R: OutgoingRequest<Authentication = ServerSignatures, PathBuilder = SinglePath>,
    {
        self.check_destination(destination)?;
        let dest = self.destination(destination).await?;
        let input = ServerSignaturesInput::new(
            self.inner.origin.clone(),
            destination.to_owned(),
            &self.inner.key,
        );
        let http_request = request
            .try_into_http_request::<Vec<u8>>(&dest.endpoint.base_url(), input, ())
            .map_err(|e| FederationError::Request(e.to_string()))?;
        self.execute::<R>(destination, &dest, http_request).await
    }

    /// Sends an unauthenticated `request` (server keys) to `destination`.
    pub async fn send_unsigned<R>(
        &self,
        destination: &ServerName,
        request: R,
    ) -> Result<R::IncomingResponse, FederationError>
    where
        R: OutgoingRequest<Authentication = NoAuthentication, PathBuilder = SinglePath>,
    {
        self.check_destination(destination)?;
        let dest = self.destination(destination).await?;
        let http_request = request
            .try_into_http_request::<Vec<u8>>(&dest.endpoint.base_url(), (), ())
            .map_err(|e| FederationError::Request(e.to_string()))?;
        self.execute::<R>(destination, &dest, http_request).await
    }

    /// Nothing goes to a server outside the domain allowlist, nor to
    /// ourselves over the network.
    fn check_destination(&self, destination: &ServerName) -> Result<(), FederationError> {
        if !self.inner.policy.server_allowed(destination) || destination == self.inner.origin {
            return Err(FederationError::NotAllowed(destination.to_owned()));
        }
        Ok(())
    }

    async fn execute<R: OutgoingRequest>(
        &self,
        destination: &ServerName,
        dest: &Destination,
        http_request: http::Request<Vec<u8>>,
    ) -> Result<R::IncomingResponse, FederationError> {
        let unreachable = |e: String| FederationError::Unreachable(destination.to_owned(), e);
        let mut request = reqwest::Request::try_from(http_request)
            .map_err(|e| FederationError::Request(e.to_string()))?;
        if let Ok(host) = http::HeaderValue::from_str(&dest.endpoint.host_header) {
            request.headers_mut().insert(http::header::HOST, host);
        }
        let response = dest.client.execute(request).await.map_err(|e| {
            // A refused connection or a dead pool: discover it afresh next
            // time rather than keep the same addresses for an hour.
            self.forget(destination);
            unreachable(error_chain(&e))
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_capped(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(unreachable)?
            .ok_or_else(|| FederationError::TooLarge(destination.to_owned()))?;
        if !status.is_success() {
            let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let text = |k: &str| {
                answer
                    .get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned()
            };
            return Err(FederationError::Remote {
                destination: destination.to_owned(),
                status,
                errcode: text("errcode"),
                error: text("error"),
            });
        }
        let mut answer = http::Response::new(body);
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        R::IncomingResponse::try_from_http_response(answer)
            .map_err(|e| FederationError::InvalidResponse(destination.to_owned(), e.to_string()))
    }

    /// The destination's endpoint and pinned client, discovered if not
    /// known or expired.
    async fn destination(&self, server: &ServerName) -> Result<Arc<Destination>, FederationError> {
        if let Ok(known) = self.inner.destinations.lock()
            && let Some(dest) = known.get(server)
            && dest.until > Instant::now()
        {
            return Ok(dest.clone());
        }
        let endpoint = self.inner.discovery.resolve(server).await?;
        let allowed: Vec<SocketAddr> = endpoint
            .addrs
            .iter()
            .filter(|ip| self.inner.policy.address_allowed(**ip))
            .map(|ip| SocketAddr::new(*ip, endpoint.port))
            .collect();
        if allowed.is_empty() {
            tracing::info!(%server, addrs = ?endpoint.addrs, "no allowed address: not contacted");
            return Err(FederationError::AddressRefused(server.to_owned()));
        }
        let client = pinned_client(
            &endpoint.tls_name,
            &allowed,
            self.inner.verify_tls,
            REQUEST_TIMEOUT,
        )
        .map_err(|e| FederationError::Request(e.to_string()))?;
        let dest = Arc::new(Destination {
            endpoint,
            client,
            until: Instant::now() + DESTINATION_TTL,
        });
        if let Ok(mut known) = self.inner.destinations.lock() {
            if known.len() >= MAX_DESTINATIONS {
                let now = Instant::now();
                known.retain(|_, d| d.until > now);
                if known.len() >= MAX_DESTINATIONS {
                    known.clear();
                }
            }
            known.insert(server.to_owned(), dest.clone());
        }
        Ok(dest)
    }

    fn forget(&self, server: &ServerName) {
        if let Ok(mut known) = self.inner.destinations.lock() {
            known.remove(server);
        }
    }
}

/// An error and its causes on one line (reqwest's own message is only
/// "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
