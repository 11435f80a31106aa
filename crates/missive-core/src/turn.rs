//! Time-limited TURN credentials, in the TURN REST scheme that coturn's
//! `use-auth-secret` checks: the username is `<expiry>:<user ID>` (expiry
//! in seconds since the epoch) and the password the base64 HMAC-SHA1 of
//! the username keyed by the secret both sides share. The TURN server
//! recomputes the password and refuses a username whose expiry has passed,
//! so nothing is stored and a leaked pair stops working on its own.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A username and password for a TURN server sharing `secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    pub username: String,
    pub password: String,
}

/// The credentials of `user_id` valid until `expires_at_secs` (seconds
/// since the Unix epoch) on a TURN server configured with `secret`.
pub fn credentials(secret: &[u8], user_id: &str, expires_at_secs: u64) -> TurnCredentials {
    let username = format!("{expires_at_secs}:{user_id}");
    TurnCredentials {
        password: password(secret, &username),
        username,
    }
}

fn password(secret: &[u8], username: &str) -> String {
    // HMAC takes keys of any length (long ones are hashed first): only
    // fixed-size MACs fail `new_from_slice`.
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC accepts keys of every length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values coturn computes (the same HMAC-SHA1 as
    /// `printf %s "$username" | openssl dgst -sha1 -hmac "$secret" -binary
    /// | base64`, which produced these), padded base64 as coturn wants.
    #[test]
    fn credentials_match_the_turn_rest_scheme() {
        let c = credentials(b"s3cret", "@alice:localhost", 1_796_330_261);
        assert_eq!(c.username, "1796330261:@alice:localhost");
        assert_eq!(c.password, "cc1tSAWBh8TDTb6FPRVS6FKCPCg=");
        let c = credentials(b"s3cret", "@bob:example.org", 1_600_000_000);
        assert_eq!(c.password, "1rHNlxaxYIkHbx778Qzj6S0Nu7M=");
        let c = credentials(
            "north-secret-with-ünïcode".as_bytes(),
            "@bob:example.org",
            1_600_000_000,
        );
        assert_eq!(c.password, "c3+ItHpGEkH+Qth8pe++4uM4Ieg=");
    }
}
