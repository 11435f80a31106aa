//! Who this server talks to, and at which addresses.
//!
//! The domain allowlist closes federation: when set, no request is sent to
//! and none accepted from a server it does not name. The address check is
//! the one URL previews and push delivery apply: loopback, private,
//! link-local and similar addresses are refused unless allowlisted, and it
//! is applied to every address discovery yields, before connecting.

use std::{collections::HashSet, net::IpAddr};

use ipnet::IpNet;
use missive_core::net::is_internal;
use ruma::{OwnedServerName, ServerName};

#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `None`: open federation.
    domains: Option<HashSet<OwnedServerName>>,
    ip_allowlist: Vec<IpNet>,
}

impl Policy {
    /// `domains` empty means open federation.
    pub fn new(domains: Vec<OwnedServerName>, ip_allowlist: Vec<IpNet>) -> Self {
        Self {
            domains: (!domains.is_empty()).then(|| domains.into_iter().collect()),
            ip_allowlist,
        }
    }

    /// Whether requests may go to, and come from, `server`.
    pub fn server_allowed(&self, server: &ServerName) -> bool {
        self.domains.as_ref().is_none_or(|d| d.contains(server))
    }

    /// Whether this server may connect to `ip`.
    pub fn address_allowed(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.ip_allowlist.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_federation_names_its_servers() {
        let open = Policy::default();
        assert!(open.server_allowed(ruma::server_name!("anyone.example")));
        let closed = Policy::new(
            vec![ruma::server_name!("a.gouv.example").to_owned()],
            Vec::new(),
        );
        assert!(closed.server_allowed(ruma::server_name!("a.gouv.example")));
        assert!(!closed.server_allowed(ruma::server_name!("b.gouv.example")));
        // A port makes another server name.
        assert!(!closed.server_allowed(ruma::server_name!("a.gouv.example:8448")));
    }

    #[test]
    fn internal_addresses_need_the_allowlist() {
        let policy = Policy::new(Vec::new(), vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(policy.address_allowed("127.0.0.1".parse().unwrap()));
        assert!(!policy.address_allowed("10.0.0.1".parse().unwrap()));
        assert!(!policy.address_allowed("::1".parse().unwrap()));
        assert!(policy.address_allowed("93.184.216.34".parse().unwrap()));
    }
}
