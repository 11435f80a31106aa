//! Federation as the rest of the server sees it: the outbound client (when
//! federation is on), the domain policy, other servers' keys
//! ([`keys::ServerKeys`]) and the queries answered by asking another
//! server (profiles, for now). Transactions and joins build on the same
//! client and on [`crate::federation_request::FederationRequest`].

mod acl;
pub mod backfill;
pub mod edus;
pub mod inbound;
pub mod invites;
pub mod joins;
pub mod keys;
pub mod knocks;
pub mod leaves;
pub mod outbound;
pub mod remote_keys;
pub mod sender;
mod served;
pub mod third_party;

use std::sync::Arc;

use missive_federation::{FederationClient, Policy};
use missive_store::{SqlStore, StreamPos};
use ruma::{ServerName, UserId, api::federation::query::get_profile_information};
use tokio::sync::watch;

use crate::{
    config::FederationConfig,
    error::{ApiError, ApiResult},
    services::profiles::Profile,
};

use self::{
    keys::ServerKeys,
    outbound::Outbound,
    sender::{ClientSink, Sender},
};

#[derive(Clone)]
pub struct Federation {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` when federation is off: nothing is sent.
    client: Option<FederationClient>,
    policy: Policy,
    keys: ServerKeys,
    /// The outbound queue; `None` when federation is off: nothing is queued.
    outbound: Option<Outbound>,
}

impl Federation {
    pub fn new(
        client: Option<FederationClient>,
        policy: Policy,
        keys: ServerKeys,
        store: Arc<SqlStore>,
    ) -> Self {
        let outbound = client
            .as_ref()
            .map(|c| Outbound::new(store, c.origin().to_owned(), policy.clone()));
        Self {
            inner: Arc::new(Inner {
                client,
                policy,
                keys,
                outbound,
            }),
        }
    }

    /// The outbound queue (EDUs, waking the sender), or `None` when
    /// federation is off.
    pub fn outbound(&self) -> Option<&Outbound> {
        self.inner.outbound.as_ref()
    }

    /// Starts the sender task (see [`sender`]), when federation is on.
    /// `positions`: the committed stream position, which other processes'
    /// writes move.
    pub fn spawn_sender(
        &self,
        positions: Option<watch::Receiver<StreamPos>>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let outbound = self.inner.outbound.clone()?;
        let client = self.inner.client.clone()?;
        Some(Sender::new(outbound, ClientSink::new(client)).spawn(positions))
    }

    /// The policy of `config`: its domain allowlist and internal ranges.
    pub fn policy_of(config: &FederationConfig) -> Policy {
        Policy::new(
            config
                .domain_allowlist
                .iter()
                .filter_map(|n| ServerName::parse(n).ok())
                .collect(),
            config
                .ip_allowlist
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
        )
    }

    /// The client, or 403 when federation is off.
    pub fn client(&self) -> ApiResult<&FederationClient> {
        self.inner
            .client
            .as_ref()
            .ok_or_else(|| ApiError::forbidden("federation is off on this server"))
    }

    pub fn keys(&self) -> &ServerKeys {
        &self.inner.keys
    }

    /// Whether requests from `origin` are accepted (the domain allowlist).
    pub fn accepts_from(&self, origin: &ServerName) -> bool {
        self.inner.policy.server_allowed(origin)
    }

    /// A remote user's profile, asked of their server.
    pub async fn remote_profile(&self, user: &UserId) -> ApiResult<Profile> {
        let answer = self
            .client()?
            .send(
                user.server_name(),
                get_profile_information::v1::Request::new(user.to_owned()),
            )
            .await?;
        let text = |k: &str| answer.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        Ok(Profile {
            displayname: text("displayname"),
            avatar_url: text("avatar_url"),
        })
    }
}
