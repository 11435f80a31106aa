//! Per-endpoint rules that ruma's request types do not carry, applied by
//! the extractor (`ruma_wrapper`) before a request reaches ruma's parser:
//! which token an endpoint looks at, and what a JSON body must be before
//! parsing (an empty body is `{}`, spec defaults that ruma's types require
//! are filled in, a legacy password stage gets the `identifier` ruma
//! requires, and bodies known to panic a parser are refused).
//!
//! Endpoints are told apart by their ruma request type, so a rule names
//! the endpoint it is for and cannot drift from the route.

use std::any::TypeId;

use bytes::Bytes;
use ruma::api::client::{
    account::change_password,
    directory::set_room_visibility,
    push::{
        delete_pushrule, get_pushrule, get_pushrule_actions, get_pushrule_enabled, set_pushrule,
        set_pushrule_actions, set_pushrule_enabled,
    },
    session::login,
    threads::get_threads,
    typing::create_typing_event,
};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// How long a client that says it is typing, without a timeout, is.
const DEFAULT_TYPING_TIMEOUT_MS: u64 = 30_000;

/// Whether an endpoint requires, accepts or ignores an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRule {
    /// A token must be given and valid.
    Required,
    /// Anonymous callers are served; a given token must be valid, since
    /// the answer depends on who asks (Synapse refuses a dead token here).
    Optional,
    /// The token is not looked at: a stale one is no reason to refuse an
    /// answer that is the same for everyone.
    Ignored,
}

fn is<T: 'static, U: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<U>()
}

/// The token rule of endpoint `T`, whose ruma authentication scheme gives
/// `scheme_rule`. Synapse looks at a token on `/login` only for appservice
/// logins, which Missive does not offer: a client whose session died must
/// be able to log in again with the old token still in its headers.
///
/// `POST /account/password` also serves someone not signed in who resets
/// a forgotten password by proving they hold the account's e-mail address.
pub fn token_rule<T: 'static>(scheme_rule: TokenRule) -> TokenRule {
    if is::<T, login::v3::Request>() {
        TokenRule::Ignored
    } else if is::<T, change_password::v3::Request>() {
        TokenRule::Optional
    } else if identity_token_endpoint::<T>() {
        TokenRule::Ignored
    } else {
        scheme_rule
    }
}

/// The identity service endpoints that take an identity access token
/// (checked by their handlers), never a client's.
fn identity_token_endpoint<T: 'static>() -> bool {
    use ruma::api::identity_service::{
        authentication::get_account_information,
        invitation::store_invitation,
        lookup::{get_hash_parameters, lookup_3pid},
    };
    is::<T, get_account_information::v2::Request>()
        || is::<T, store_invitation::v2::Request>()
        || is::<T, get_hash_parameters::v2::Request>()
        || is::<T, lookup_3pid::v2::Request>()
}

/// The push rule kinds the spec defines; a path naming another is refused.
pub const PUSH_RULE_KINDS: [&str; 5] = ["override", "underride", "sender", "room", "content"];

/// Checks the path parameters of endpoint `T` that ruma would read
/// leniently or refuse with the wrong errcode: a push rule endpoint's kind
/// must be one of the spec's (ruma takes any kind on reads, and refuses
/// an unknown one on writes as bad JSON). As Synapse: an unknown kind is
/// an unrecognised request on reads, an invalid parameter on writes.
pub fn check_path<T: 'static>(method: &http::Method, params: &[String]) -> Result<(), ApiError> {
    let push_rule_endpoint = is::<T, get_pushrule::v3::Request>()
        || is::<T, get_pushrule_enabled::v3::Request>()
        || is::<T, get_pushrule_actions::v3::Request>()
        || is::<T, set_pushrule::v3::Request>()
        || is::<T, delete_pushrule::v3::Request>()
        || is::<T, set_pushrule_enabled::v3::Request>()
        || is::<T, set_pushrule_actions::v3::Request>();
    if push_rule_endpoint
        && let Some(kind) = params.first()
        && !PUSH_RULE_KINDS.contains(&kind.as_str())
    {
        let msg = format!("unknown push rule kind {kind:?}");
        return Err(if method == http::Method::GET {
            ApiError::UnrecognizedRequest(msg)
        } else {
            ApiError::invalid_param(msg)
        });
    }
    Ok(())
}

/// Turns the body of a JSON request to endpoint `T` into the JSON object
/// and the bytes ruma parses.
///
/// An empty body is the empty object: ruma's generated parsers read it so,
/// its hand-written ones (`/join/{roomIdOrAlias}`, `/knock`, state events)
/// do not, and clients (matrix-nio) send `POST /join/{id}` with no body,
/// which Synapse accepts. Every endpoint whose fields are all optional thus
/// takes an empty body; one with a required field refuses it as `{}`.
pub fn prepare_json_body<T: 'static>(bytes: Bytes) -> Result<(Bytes, Value), ApiError> {
    let mut object = if bytes.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => object,
            _ => {
                return Err(ApiError::NotJson(
                    "request body must be a JSON object".into(),
                ));
            }
        }
    };
    let filled = check_and_fill::<T>(&mut object)?;
    let bytes = if bytes.is_empty() || filled {
        Bytes::from(serde_json::to_vec(&object).map_err(|e| ApiError::Internal(e.to_string()))?)
    } else {
        bytes
    };
    Ok((bytes, Value::Object(object)))
}

/// The query string of a request to endpoint `T` with the spec defaults
/// ruma's types require filled in; `None` when it needs none. `/threads`
/// takes `include=all` by default, which ruma's request type requires.
pub fn fill_query<T: 'static>(query: Option<&str>) -> Option<String> {
    if is::<T, get_threads::v1::Request>() {
        let query = query.unwrap_or_default();
        let given = form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "include");
        if !given {
            return Some(if query.is_empty() {
                "include=all".to_owned()
            } else {
                format!("{query}&include=all")
            });
        }
    }
    None
}

/// Refuses bodies that would panic ruma's parser and fills in defaults the
/// spec gives for fields ruma requires; true when it changed the body.
fn check_and_fill<T: 'static>(body: &mut Map<String, Value>) -> Result<bool, ApiError> {
    if legacy_password_auth(body) {
        return Ok(true);
    }
    if is::<T, login::v3::Request>() {
        // ruma's `LoginInfo` indexes `data["type"]`, which panics when the
        // field is missing.
        if !body.get("type").is_some_and(Value::is_string) {
            return Err(ApiError::bad_json("login needs a string field `type`"));
        }
    } else if is::<T, set_room_visibility::v3::Request>() && !body.contains_key("visibility") {
        // "Defaults to public" (spec, and Synapse); ruma requires the field.
        body.insert("visibility".into(), Value::from("public"));
        return Ok(true);
    } else if is::<T, create_typing_event::v3::Request>()
        && body.get("typing") == Some(&Value::Bool(true))
        && !body.contains_key("timeout")
    {
        // Synapse takes 30 s when a typing client gives no timeout; ruma
        // requires one.
        body.insert("timeout".into(), Value::from(DEFAULT_TYPING_TIMEOUT_MS));
        return Ok(true);
    }
    Ok(false)
}

/// A user-interactive password stage in its legacy shape (`user` without
/// `identifier`, as older clients and Synapse's own tests still send it,
/// and Synapse accepts) is given the identifier ruma's `AuthData` requires.
/// Whatever the endpoint: only user-interactive auth bodies carry `auth`.
fn legacy_password_auth(body: &mut Map<String, Value>) -> bool {
    let Some(Value::Object(auth)) = body.get_mut("auth") else {
        return false;
    };
    if auth.get("type").and_then(Value::as_str) != Some("m.login.password")
        || auth.contains_key("identifier")
    {
        return false;
    }
    let Some(user) = auth.get("user").and_then(Value::as_str).map(str::to_owned) else {
        return false;
    };
    auth.insert(
        "identifier".into(),
        serde_json::json!({ "type": "m.id.user", "user": user }),
    );
    true
}

#[cfg(test)]
mod tests {
    use ruma::api::client::membership::join_room_by_id_or_alias;
    use serde_json::json;

    use super::*;

    type Join = join_room_by_id_or_alias::v3::Request;

    #[test]
    fn threads_include_all_by_default() {
        type Threads = get_threads::v1::Request;
        assert_eq!(fill_query::<Threads>(None).as_deref(), Some("include=all"));
        assert_eq!(
            fill_query::<Threads>(Some("limit=2")).as_deref(),
            Some("limit=2&include=all")
        );
        assert_eq!(fill_query::<Threads>(Some("include=participated")), None);
        assert_eq!(fill_query::<Join>(None), None);
    }

    #[test]
    fn an_empty_body_is_the_empty_object() {
        let (bytes, value) = prepare_json_body::<Join>(Bytes::new()).unwrap();
        assert_eq!((&bytes[..], value), (&b"{}"[..], json!({})));
    }

    #[test]
    fn a_body_that_is_no_object_is_not_json() {
        for body in ["[1]", "{", "null", "\"x\""] {
            let err = prepare_json_body::<Join>(Bytes::from(body)).unwrap_err();
            assert!(matches!(err, ApiError::NotJson(_)), "{body}");
        }
    }

    #[test]
    fn an_unchanged_body_keeps_its_bytes() {
        let body = Bytes::from_static(br#"{ "reason" : "hi" }"#);
        let (bytes, _) = prepare_json_body::<Join>(body.clone()).unwrap();
        assert_eq!(bytes, body);
    }

    #[test]
    fn a_login_needs_a_string_type() {
        type Login = login::v3::Request;
        for body in [r#"{"password":"x"}"#, r#"{"type":5}"#, ""] {
            assert!(
                prepare_json_body::<Login>(Bytes::from(body)).is_err(),
                "{body}"
            );
        }
        assert!(prepare_json_body::<Login>(Bytes::from(r#"{"type":"m.login.password"}"#)).is_ok());
    }

    #[test]
    fn room_visibility_defaults_to_public() {
        type Vis = set_room_visibility::v3::Request;
        let (bytes, value) = prepare_json_body::<Vis>(Bytes::new()).unwrap();
        assert_eq!(value, json!({ "visibility": "public" }));
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), value);
    }

    #[test]
    fn typing_without_a_timeout_gets_synapse_s() {
        type Typing = create_typing_event::v3::Request;
        let (_, value) = prepare_json_body::<Typing>(Bytes::from(r#"{"typing":true}"#)).unwrap();
        assert_eq!(value, json!({ "typing": true, "timeout": 30_000 }));
        let (_, value) = prepare_json_body::<Typing>(Bytes::from(r#"{"typing":false}"#)).unwrap();
        assert_eq!(value, json!({ "typing": false }));
    }

    #[test]
    fn a_legacy_password_stage_gets_an_identifier() {
        type Upload = ruma::api::client::keys::upload_signing_keys::v3::Request;
        let body =
            r#"{"auth":{"type":"m.login.password","user":"@a:hs","password":"p","session":"s"}}"#;
        let (bytes, value) = prepare_json_body::<Upload>(Bytes::from(body)).unwrap();
        assert_eq!(
            value["auth"]["identifier"],
            json!({ "type": "m.id.user", "user": "@a:hs" })
        );
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), value);
        // The current shape, and other stages, are left as they are.
        for body in [
            r#"{"auth":{"type":"m.login.password","identifier":{"type":"m.id.user","user":"a"},"user":"b","password":"p"}}"#,
            r#"{"auth":{"type":"m.login.dummy","user":"a"}}"#,
        ] {
            let (bytes, _) = prepare_json_body::<Upload>(Bytes::from(body)).unwrap();
            assert_eq!(&bytes[..], body.as_bytes());
        }
    }

    #[test]
    fn only_login_ignores_tokens_beyond_its_scheme() {
        assert_eq!(
            token_rule::<login::v3::Request>(TokenRule::Optional),
            TokenRule::Ignored
        );
        assert_eq!(token_rule::<Join>(TokenRule::Required), TokenRule::Required);
    }
}
