//! The server's one rule for NUL characters (U+0000), the same on every
//! backend: PostgreSQL cannot store them in text columns, and SQLite would.
//!
//! - Identifiers never contain NUL. A request whose path or query carries
//!   one (`%00`: transaction IDs, event types, state keys, account-data
//!   types, device and media IDs, aliases, filters...) is refused here with
//!   400 `M_INVALID_PARAM`, before any handler runs; a JSON body that
//!   carries one in any key or string is refused with 400 `M_BAD_JSON` by
//!   the request extractor ([`body_may_hold_nul`] says where it may).
//! - Event content and account data are the client's own JSON, stored as
//!   JSON text in which NUL is escaped (`\u0000`): kept faithfully, as
//!   Synapse keeps them. Columns the store derives from content (a member's
//!   membership, a room's join rule) never take a value with NUL.

use axum::{extract::Request, middleware::Next, response::Response};
use serde_json::Value;

use crate::error::ApiError;

/// Refuses requests whose path or query string encodes a NUL.
pub async fn refuse_nul_in_path(req: Request, next: Next) -> Result<Response, ApiError> {
    // A raw NUL byte cannot be in a request target (hyper refuses it), so
    // a NUL can only arrive percent-encoded.
    let encoded_nul = |s: &str| {
        s.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    let uri = req.uri();
    if encoded_nul(uri.path()) || uri.query().is_some_and(encoded_nul) {
        return Err(ApiError::invalid_param(
            "identifiers and parameters cannot contain NUL characters",
        ));
    }
    Ok(next.run(req).await)
}

/// Whether the JSON body of a request to `path` is event content or
/// account data (kept as JSON, NUL and all) rather than fields the server
/// stores one by one.
pub fn body_may_hold_nul(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    let in_room = segments.contains(&"rooms");
    segments.contains(&"account_data")
        || (in_room
            && segments
                .iter()
                .any(|s| matches!(*s, "send" | "state" | "redact")))
}

/// Whether any key or string in `value` contains a NUL.
pub fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_endpoints_keep_nul_and_others_do_not() {
        for path in [
            "/_matrix/client/v3/rooms/!r:x/send/m.room.message/t1",
            "/_matrix/client/v3/rooms/!r:x/state/m.room.topic/",
            "/_matrix/client/v3/rooms/!r:x/redact/$e/t1",
            "/_matrix/client/v3/user/@a:x/account_data/org.example",
            "/_matrix/client/v3/user/@a:x/rooms/!r:x/account_data/org.example",
        ] {
            assert!(body_may_hold_nul(path), "{path}");
        }
        for path in [
            "/_matrix/client/v3/login",
            "/_matrix/client/v3/createRoom",
            "/_matrix/client/v3/sendToDevice/m.x/t1",
            "/_matrix/client/v3/keys/upload",
            "/_matrix/client/v3/profile/@a:x/displayname",
            "/_matrix/client/v3/room_keys/keys",
        ] {
            assert!(!body_may_hold_nul(path), "{path}");
        }
    }

    #[test]
    fn nul_is_found_in_keys_and_nested_strings() {
        assert!(contains_nul(&json!({"a": ["b", {"c": "d\u{0}"}]})));
        assert!(contains_nul(&json!({"k\u{0}": 1})));
        assert!(!contains_nul(&json!({"a": ["b", {"c": 1, "d": null}]})));
    }
}
