//! Per-user and per-address request rate limits (token buckets).

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use crate::{
    config::RateLimits,
    error::{ApiError, ApiResult},
};

/// The limited actions.
#[derive(Clone)]
pub struct Limiter {
    enabled: bool,
    send: Arc<DefaultKeyedRateLimiter<String>>,
    login: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    register: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Password checks, wherever they happen (login and user-interactive
    /// auth), per account and per address.
    password: Arc<DefaultKeyedRateLimiter<PasswordKey>>,
    /// Validation mails (`requestToken`), per address mailed and per
    /// client address: nobody can flood a mailbox or the relay.
    mail: Arc<DefaultKeyedRateLimiter<PasswordKey>>,
    /// Requests of other servers, per verified origin.
    federation: Arc<DefaultKeyedRateLimiter<String>>,
}

/// What a password check is counted against.
#[derive(Clone, PartialEq, Eq, Hash)]
enum PasswordKey {
    Account(String),
    Address(IpAddr),
}

fn nz(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v.max(1)).expect("max(1) is non-zero")
}

impl Limiter {
    pub fn new(cfg: &RateLimits) -> Self {
        let send = Quota::per_second(nz(cfg.send_per_second)).allow_burst(nz(cfg.send_burst));
        let login = Quota::per_minute(nz(cfg.login_per_minute))
            .allow_burst(nz(cfg.login_per_minute.min(10)));
        let register = Quota::per_minute(nz(cfg.register_per_minute))
            .allow_burst(nz(cfg.register_per_minute.min(5)));
        Self {
            enabled: cfg.enabled,
            send: Arc::new(RateLimiter::keyed(send)),
            password: Arc::new(RateLimiter::keyed(login)),
            login: Arc::new(RateLimiter::keyed(login)),
            register: Arc::new(RateLimiter::keyed(register)),
            mail: Arc::new(RateLimiter::keyed(
                Quota::per_minute(nz(cfg.mail_per_minute)).allow_burst(nz(cfg.mail_burst)),
            )),
            federation: Arc::new(RateLimiter::keyed(
                Quota::per_second(nz(cfg.federation_per_second))
                    .allow_burst(nz(cfg.federation_burst)),
            )),
        }
    }

    pub fn check_send(&self, user: &str) -> ApiResult<()> {
        if !self.enabled {
            return Ok(());
        }
        to_result(self.send.check_key(&user.to_owned()))
    }

    pub fn check_login(&self, ip: Option<IpAddr>) -> ApiResult<()> {
        match ip {
            Some(ip) if self.enabled => to_result(self.login.check_key(&ip)),
            _ => Ok(()),
        }
    }

    pub fn check_register(&self, ip: Option<IpAddr>) -> ApiResult<()> {
        match ip {
            Some(ip) if self.enabled => to_result(self.register.check_key(&ip)),
            _ => Ok(()),
        }
    }

    /// Counts one password check for `user` from `ip`: refused when either
    /// has had too many lately, so guessing costs the same through every
    /// endpoint that takes a password.
    pub fn check_password(&self, user: &str, ip: Option<IpAddr>) -> ApiResult<()> {
        if !self.enabled {
            return Ok(());
        }
        to_result(
            self.password
                .check_key(&PasswordKey::Account(user.to_owned())),
        )?;
        match ip {
            Some(ip) => to_result(self.password.check_key(&PasswordKey::Address(ip))),
            None => Ok(()),
        }
    }

    /// Counts one validation mail to `address` asked from `ip`.
    pub fn check_mail(&self, address: &str, ip: Option<IpAddr>) -> ApiResult<()> {
        if !self.enabled {
            return Ok(());
        }
        to_result(
            self.mail
                .check_key(&PasswordKey::Account(address.to_owned())),
        )?;
        match ip {
            Some(ip) => self.check_mail_client(ip),
            None => Ok(()),
        }
    }

    /// Takes from the client address's mail bucket only: checked before
    /// anything about an address is answered, so that probing which
    /// addresses have accounts is as slow as mailing them.
    pub fn check_mail_client(&self, ip: IpAddr) -> ApiResult<()> {
        if !self.enabled {
            return Ok(());
        }
        to_result(self.mail.check_key(&PasswordKey::Address(ip)))
    }

    /// Counts one request of the other server `origin` (once its
    /// signature is verified, so nobody can spend another server's
    /// allowance).
    pub fn check_federation(&self, origin: &str) -> ApiResult<()> {
        if !self.enabled {
            return Ok(());
        }
        to_result(self.federation.check_key(&origin.to_owned()))
    }

    /// Drops idle buckets so memory stays bounded.
    pub fn shrink(&self) {
        self.password.retain_recent();
        self.send.retain_recent();
        self.login.retain_recent();
        self.register.retain_recent();
        self.mail.retain_recent();
        self.federation.retain_recent();
    }
}

fn to_result(r: Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>>) -> ApiResult<()> {
    r.map_err(|not_until| {
        let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::LimitExceeded {
            retry_after_ms: wait.as_millis().max(1) as u64,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_beyond_the_quota_are_refused_with_a_retry_time() {
        let cfg = RateLimits {
            send_per_second: 1,
            send_burst: 2,
            ..RateLimits::default()
        };
        let l = Limiter::new(&cfg);
        assert!(l.check_send("@a:x").is_ok());
        assert!(l.check_send("@a:x").is_ok());
        match l.check_send("@a:x") {
            Err(ApiError::LimitExceeded { retry_after_ms }) => assert!(retry_after_ms > 0),
            other => panic!("expected LimitExceeded, got {other:?}"),
        }
        // Other users have their own bucket.
        assert!(l.check_send("@b:x").is_ok());
    }

    #[test]
    fn mails_are_limited_per_address_and_per_client() {
        let cfg = RateLimits {
            mail_per_minute: 1,
            mail_burst: 2,
            ..RateLimits::default()
        };
        let l = Limiter::new(&cfg);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other_ip: IpAddr = [10, 0, 0, 2].into();
        // Two mails to one address, then its bucket is empty whoever asks.
        assert!(l.check_mail("a@x.fr", None).is_ok());
        assert!(l.check_mail("a@x.fr", None).is_ok());
        assert!(matches!(
            l.check_mail("a@x.fr", Some(other_ip)),
            Err(ApiError::LimitExceeded { .. })
        ));
        // One client's bucket, checked before any address is looked at.
        assert!(l.check_mail_client(ip).is_ok());
        assert!(l.check_mail("b@x.fr", Some(ip)).is_ok());
        assert!(matches!(
            l.check_mail_client(ip),
            Err(ApiError::LimitExceeded { .. })
        ));
        assert!(l.check_mail("c@x.fr", Some(other_ip)).is_ok());
    }

    #[test]
    fn each_origin_server_has_its_own_bucket() {
        let cfg = RateLimits {
            federation_per_second: 1,
            federation_burst: 3,
            ..RateLimits::default()
        };
        let l = Limiter::new(&cfg);
        for _ in 0..3 {
            assert!(l.check_federation("a.example").is_ok());
        }
        assert!(matches!(
            l.check_federation("a.example"),
            Err(ApiError::LimitExceeded { .. })
        ));
        assert!(l.check_federation("b.example").is_ok());
    }

    #[test]
    fn disabled_limits_never_refuse() {
        let cfg = RateLimits {
            enabled: false,
            send_per_second: 1,
            send_burst: 1,
            ..RateLimits::default()
        };
        let l = Limiter::new(&cfg);
        for _ in 0..100 {
            assert!(l.check_send("@a:x").is_ok());
        }
    }
}
