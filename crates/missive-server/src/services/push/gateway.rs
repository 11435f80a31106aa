//! Sends one notification to a push gateway (`POST <url>`, the Push Gateway
//! API), guarded like URL previews against reaching inside the network: the
//! URL's every resolved address must be public unless allowlisted, and the
//! checked address is the one connected to (no DNS rebinding), with no
//! redirects and a bounded time.

use std::time::Duration;

use ipnet::IpNet;
use ruma::api::{
    IncomingResponse, OutgoingRequest,
    push_gateway::send_event_notification::v1::{Notification, Request, Response},
};

use crate::services::media::preview::is_internal;

/// The path every push gateway URL ends with (the spec requires it).
pub const NOTIFY_PATH: &str = "/_matrix/push/v1/notify";

const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: the gateway is unreachable, overloaded
    /// (429) or failing (5xx).
    #[error("push gateway unavailable: {0}")]
    Transient(String),
    /// Trying again would fail the same way: a refused address, a 4xx.
    #[error("push gateway refused the notification: {0}")]
    Permanent(String),
}

/// Whether `url` can be a pusher's: http(s), ending in the notify path.
pub fn valid_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host_str().is_some()
            && u.path().ends_with(NOTIFY_PATH)
            && u.query().is_none()
    })
}

/// The outbound side of push delivery.
#[derive(Clone)]
pub struct Gateway {
    /// Internal ranges gateways may still be at.
    allowed: Vec<IpNet>,
}

impl Gateway {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// Posts `notification` to `url`; the pushkeys the gateway rejected.
    pub async fn send(
        &self,
        url: &str,
        notification: Notification,
    ) -> Result<Vec<String>, SendError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| SendError::Permanent(e.to_string()))?;
        if !valid_url(url) {
            return Err(SendError::Permanent(format!(
                "not a push gateway URL: {url}"
            )));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| SendError::Permanent("URL without a host".into()))?
            .to_owned();
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| SendError::Permanent("URL without a port".into()))?;
        let addrs: Vec<std::net::SocketAddr> =
            tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
                .await
                .map_err(|e| SendError::Transient(format!("cannot resolve {host}: {e}")))?
                .collect();
        let addr = addrs
            .first()
            .copied()
            .ok_or_else(|| SendError::Transient(format!("{host} has no address")))?;
        // Every address must be acceptable: a resolver may hand out any.
        if let Some(bad) = addrs
            .iter()
            .find(|a| is_internal(a.ip()) && !self.allowed.iter().any(|n| n.contains(&a.ip())))
        {
            return Err(SendError::Permanent(format!(
                "{host} resolves to the internal address {}, not in the push IP allowlist",
                bad.ip()
            )));
        }
        // ruma builds the request from the URL before the notify path, so
        // the body is exactly the Push Gateway API's.
        let base = &url[..url.len() - NOTIFY_PATH.len()];
        let http_request = Request::new(notification)
            .try_into_http_request::<Vec<u8>>(base, (), ())
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let request = reqwest::Request::try_from(http_request)
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // The checked address is the one connected to: no proxy from
            // the environment in between.
            .no_proxy()
            .timeout(SEND_TIMEOUT)
            .resolve(&host, addr)
            .user_agent("Missive push")
            .build()
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let response = client
            .execute(request)
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(SendError::Transient(format!("status {status}")));
        }
        if !status.is_success() {
            return Err(SendError::Permanent(format!("status {status}")));
        }
        let mut answer = http::Response::new(body);
        *answer.status_mut() = status;
        // A gateway that accepted but answered no `rejected` list rejected
        // nothing.
        Ok(Response::try_from_http_response(answer)
            .map(|r| r.rejected)
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pusher_urls_end_in_the_notify_path() {
        assert!(valid_url("https://push.example.org/_matrix/push/v1/notify"));
        assert!(valid_url(
            "http://10.0.0.1:5000/sygnal/_matrix/push/v1/notify"
        ));
        assert!(!valid_url("https://push.example.org/notify"));
        assert!(!valid_url("ftp://push.example.org/_matrix/push/v1/notify"));
        assert!(!valid_url("not a url"));
    }
}
