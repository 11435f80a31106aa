//! Server discovery (Server-Server API, "Resolving server names"): from a
//! server name to where its federation API listens, the name its
//! certificate must carry and the `Host` header requests must bear.
//!
//! In order: an IP literal (with its port, or 8448); a hostname with a
//! port (its A/AAAA records); else `/.well-known/matrix/server` (followed
//! and cached), whose delegated name goes through the same steps, then the
//! SRV records `_matrix-fed._tcp` and the deprecated `_matrix._tcp`, then
//! the name's A/AAAA records on 8448. The addresses found are not checked
//! here: the client checks every one against the [`Policy`] before
//! connecting, and so does the well-known fetch below.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Mutex,
    time::{Duration, Instant},
};

use hickory_resolver::{TokioResolver, proto::rr::RData};
use ruma::{OwnedServerName, ServerName};

use crate::{FederationError, policy::Policy};

/// The federation port when nothing else says.
pub const DEFAULT_PORT: u16 = 8448;
/// How long a well-known answer is kept without a `Cache-Control` saying
/// otherwise, the longest it is kept, and how long a failure is (the
/// spec's recommendations).
const WELL_KNOWN_DEFAULT: Duration = Duration::from_secs(24 * 3600);
const WELL_KNOWN_MAX: Duration = Duration::from_secs(48 * 3600);
const WELL_KNOWN_FAILURE: Duration = Duration::from_secs(3600);
const WELL_KNOWN_TIMEOUT: Duration = Duration::from_secs(10);
const WELL_KNOWN_MAX_BYTES: usize = 64 * 1024;
const WELL_KNOWN_MAX_REDIRECTS: usize = 5;
/// Well-known answers remembered at most (a cap on what other servers
/// can make us keep).
const WELL_KNOWN_CACHE_ENTRIES: usize = 10_000;

/// Where and how to reach a server's federation API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The name the certificate must be valid for (a DNS name, or an IP
    /// address without brackets); also the host of the request URL.
    pub tls_name: String,
    pub port: u16,
    /// The `Host` header of requests.
    pub host_header: String,
    /// The addresses found, not yet checked against the policy.
    pub addrs: Vec<IpAddr>,
}

impl Endpoint {
    /// `https://host:port`, brackets around an IPv6 address.
    pub fn base_url(&self) -> String {
        match self.tls_name.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("https://[{ip}]:{}", self.port),
            _ => format!("https://{}:{}", self.tls_name, self.port),
        }
    }
}

/// The host of a server name (or of a delegated name), without IPv6
/// brackets, and its IP address when it is a literal.
fn split(name: &ServerName) -> (String, Option<IpAddr>, Option<u16>) {
    let host = name.host().trim_start_matches('[').trim_end_matches(']');
    (host.to_owned(), host.parse().ok(), name.port())
}

pub struct Discovery {
    /// SRV lookups; `None` when the system's DNS configuration could not
    /// be read (then only names with ports, IP literals and well-known
    /// delegation to them are reachable).
    dns: Option<TokioResolver>,
    policy: Policy,
    verify_tls: bool,
    well_known: Mutex<HashMap<OwnedServerName, (Option<OwnedServerName>, Instant)>>,
}

impl Discovery {
    pub fn new(policy: Policy, verify_tls: bool) -> Self {
        let dns = match TokioResolver::builder_tokio() {
            Ok(builder) => builder.build().ok(),
            Err(e) => {
                tracing::warn!(error = %e, "no DNS configuration: SRV records will not be used");
                None
            }
        };
        Self {
            dns,
            policy,
            verify_tls,
            well_known: Mutex::new(HashMap::new()),
        }
    }

    /// Where `server`'s federation API is.
    pub async fn resolve(&self, server: &ServerName) -> Result<Endpoint, FederationError> {
        if let Some(endpoint) = self.literal_or_port(server, server).await? {
            return Ok(endpoint);
        }
        let name = match self.delegation(server).await {
            Some(delegated) => delegated,
            None => server.to_owned(),
        };
        if let Some(endpoint) = self.literal_or_port(&name, server).await? {
            return Ok(endpoint);
        }
        let (host, _, _) = split(&name);
        for service in ["_matrix-fed._tcp", "_matrix._tcp"] {
            if let Some((target, port)) = self.srv(&format!("{service}.{host}.")).await {
                return Ok(Endpoint {
                    addrs: lookup(&target, port, server).await?,
                    tls_name: host.clone(),
                    port,
                    host_header: host,
                });
            }
        }
        Ok(Endpoint {
            addrs: lookup(&host, DEFAULT_PORT, server).await?,
            tls_name: host.clone(),
            port: DEFAULT_PORT,
            host_header: host,
        })
    }

    /// Steps 1 and 2, for a server name or a delegated name: an IP
    /// literal, or a hostname with an explicit port.
    async fn literal_or_port(
        &self,
        name: &ServerName,
        server: &ServerName,
    ) -> Result<Option<Endpoint>, FederationError> {
        let (host, ip, port) = split(name);
        if let Some(ip) = ip {
            return Ok(Some(Endpoint {
                tls_name: host,
                port: port.unwrap_or(DEFAULT_PORT),
                host_header: name.to_string(),
                addrs: vec![ip],
            }));
        }
        let Some(port) = port else {
            return Ok(None);
        };
        Ok(Some(Endpoint {
            addrs: lookup(&host, port, server).await?,
            tls_name: host,
            port,
            host_header: name.to_string(),
        }))
    }

    /// The first SRV record's target and port (lowest priority first).
    async fn srv(&self, query: &str) -> Option<(String, u16)> {
        let lookup = self.dns.as_ref()?.srv_lookup(query).await.ok()?;
        let mut records: Vec<(u16, String, u16)> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(srv) => Some((
                    srv.priority,
                    srv.target.to_string().trim_end_matches('.').to_owned(),
                    srv.port,
                )),
                _ => None,
            })
            .collect();
        records.sort();
        records
            .into_iter()
            .next()
            .filter(|(_, target, _)| !target.is_empty())
            .map(|(_, target, port)| (target, port))
    }

    /// The name `server` delegates to in its `/.well-known/matrix/server`,
    /// cached (failures too, for less long).
    async fn delegation(&self, server: &ServerName) -> Option<OwnedServerName> {
        if let Ok(cache) = self.well_known.lock()
            && let Some((delegated, until)) = cache.get(server)
            && *until > Instant::now()
        {
            return delegated.clone();
        }
        let (delegated, keep) = match self.fetch_well_known(server).await {
            Ok((delegated, keep)) => (Some(delegated), keep),
            Err(e) => {
                tracing::debug!(%server, error = %e, "no well-known delegation");
                (None, WELL_KNOWN_FAILURE)
            }
        };
        if let Ok(mut cache) = self.well_known.lock() {
            if cache.len() >= WELL_KNOWN_CACHE_ENTRIES {
                let now = Instant::now();
                cache.retain(|_, (_, until)| *until > now);
                if cache.len() >= WELL_KNOWN_CACHE_ENTRIES {
                    cache.clear();
                }
            }
            cache.insert(
                server.to_owned(),
                (delegated.clone(), Instant::now() + keep),
            );
        }
        delegated
    }

    /// `GET https://<server>/.well-known/matrix/server`, redirects followed
    /// by hand so that every hop's addresses are checked.
    async fn fetch_well_known(
        &self,
        server: &ServerName,
    ) -> Result<(OwnedServerName, Duration), String> {
        let mut url = reqwest::Url::parse(&format!("https://{server}/.well-known/matrix/server"))
            .map_err(|e| e.to_string())?;
        for _ in 0..=WELL_KNOWN_MAX_REDIRECTS {
            let host = url.host_str().ok_or("no host")?.to_owned();
            let port = url.port_or_known_default().ok_or("no port")?;
            let addrs: Vec<SocketAddr> = lookup(&host, port, server)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|ip| self.policy.address_allowed(*ip))
                .map(|ip| SocketAddr::new(ip, port))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no address this server may connect to"));
            }
            let client = pinned_client(&host, &addrs, self.verify_tls, WELL_KNOWN_TIMEOUT)
                .map_err(|e| e.to_string())?;
            let response = client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if response.status().is_redirection() {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or("redirect without a location")?;
                url = url.join(location).map_err(|e| e.to_string())?;
                if url.scheme() != "https" {
                    return Err("redirected off https".into());
                }
                continue;
            }
            if !response.status().is_success() {
                return Err(format!("status {}", response.status()));
            }
            let keep = cache_duration(response.headers());
            let body = read_capped(response, WELL_KNOWN_MAX_BYTES)
                .await?
                .ok_or("answer too large")?;
            let answer: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            let delegated = answer
                .get("m.server")
                .and_then(|s| s.as_str())
                .ok_or("no m.server")?;
            let delegated = ServerName::parse(delegated).map_err(|e| e.to_string())?;
            return Ok((delegated, keep));
        }
        Err("too many redirects".into())
    }
}

/// A well-known answer's `Cache-Control: max-age`, within the spec's
/// bounds.
fn cache_duration(headers: &http::HeaderMap) -> Duration {
    headers
        .get(http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|d| d.trim().strip_prefix("max-age="))
                .find_map(|s| s.parse::<u64>().ok())
        })
        .map_or(WELL_KNOWN_DEFAULT, |s| {
            Duration::from_secs(s).min(WELL_KNOWN_MAX)
        })
}

/// The addresses of `host` (the system resolver, so /etc/hosts applies).
async fn lookup(
    host: &str,
    port: u16,
    server: &ServerName,
) -> Result<Vec<IpAddr>, FederationError> {
    let found: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| FederationError::Unreachable(server.to_owned(), format!("{host}: {e}")))?
        .map(|a| a.ip())
        .collect();
    if found.is_empty() {
        return Err(FederationError::Unreachable(
            server.to_owned(),
            format!("{host} has no address"),
        ));
    }
    Ok(found)
}

/// A client that connects `host` only to `addrs` (vetted by the caller: no
/// DNS lookup happens after the check), without redirects or proxies.
pub(crate) fn pinned_client(
    host: &str,
    addrs: &[SocketAddr],
    verify_tls: bool,
    timeout: Duration,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .resolve_to_addrs(host, addrs)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .danger_accept_invalid_certs(!verify_tls)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .user_agent(concat!("Missive/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The body of `response`, or `None` past `limit` bytes.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, String> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery() -> Discovery {
        Discovery::new(Policy::default(), true)
    }

    #[tokio::test]
    async fn ip_literals_need_no_lookup() {
        let d = discovery();
        let e = d
            .resolve(ruma::server_name!("127.0.0.1:8500"))
            .await
            .unwrap();
        assert_eq!(
            e,
            Endpoint {
                tls_name: "127.0.0.1".into(),
                port: 8500,
                host_header: "127.0.0.1:8500".into(),
                addrs: vec!["127.0.0.1".parse().unwrap()],
            }
        );
        assert_eq!(e.base_url(), "https://127.0.0.1:8500");
        let e = d.resolve(ruma::server_name!("[::1]")).await.unwrap();
        assert_eq!((e.tls_name.as_str(), e.port), ("::1", DEFAULT_PORT));
        assert_eq!(e.host_header, "[::1]");
        assert_eq!(e.base_url(), "https://[::1]:8448");
    }

    #[tokio::test]
    async fn a_hostname_with_a_port_is_looked_up_directly() {
        let d = discovery();
        let e = d
            .resolve(ruma::server_name!("localhost:8500"))
            .await
            .unwrap();
        assert_eq!((e.tls_name.as_str(), e.port), ("localhost", 8500));
        assert_eq!(e.host_header, "localhost:8500");
        assert!(e.addrs.iter().all(|a| a.is_loopback()), "{:?}", e.addrs);
    }

    #[test]
    fn well_known_caching_follows_max_age_within_bounds() {
        let mut h = http::HeaderMap::new();
        assert_eq!(cache_duration(&h), WELL_KNOWN_DEFAULT);
        h.insert(
            http::header::CACHE_CONTROL,
            "public, max-age=600".parse().unwrap(),
        );
        assert_eq!(cache_duration(&h), Duration::from_secs(600));
        h.insert(
            http::header::CACHE_CONTROL,
            "max-age=99999999".parse().unwrap(),
        );
        assert_eq!(cache_duration(&h), WELL_KNOWN_MAX);
    }
}
