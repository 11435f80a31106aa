//! Glue between axum and ruma's endpoint types: an extractor that parses a
//! request into the endpoint's ruma `Request` and authenticates it, and a
//! response wrapper.

use axum::{
    extract::{FromRequest, Request},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http_body_util::BodyExt;
use ruma::api::{
    IncomingRequest, OutgoingResponse,
    auth_scheme::{
        AccessToken, AccessTokenOptional, AppserviceToken, AppserviceTokenOptional, NoAccessToken,
        NoAuthentication,
    },
    error::{DeserializationError, FromHttpRequestError},
    path_builder::PathBuilder,
};

use crate::{
    api::nul_guard,
    error::ApiError,
    request_policy::{self, TokenRule},
    services::accounts::{Accounts, Identity},
    state::AppState,
};

/// Maps ruma's authentication schemes to what the server enforces (see
/// [`request_policy::token_rule`] for the endpoints that differ).
pub trait AuthRule {
    const RULE: TokenRule;
}
impl AuthRule for AccessToken {
    const RULE: TokenRule = TokenRule::Required;
}
impl AuthRule for AccessTokenOptional {
    const RULE: TokenRule = TokenRule::Optional;
}
impl AuthRule for AppserviceToken {
    const RULE: TokenRule = TokenRule::Required;
}
impl AuthRule for AppserviceTokenOptional {
    const RULE: TokenRule = TokenRule::Optional;
}
impl AuthRule for NoAuthentication {
    const RULE: TokenRule = TokenRule::Ignored;
}
// Synapse does not look at a token on these (login flows, username
// availability, profiles, alias lookups, the public room list).
impl AuthRule for NoAccessToken {
    const RULE: TokenRule = TokenRule::Ignored;
}

/// A parsed, authenticated request of endpoint `T`.
pub struct Ruma<T> {
    pub body: T,
    /// The caller, when a valid access token was given.
    pub identity: Option<Identity>,
    /// The raw JSON body (some endpoints need fields ruma does not model).
    pub json_body: Option<serde_json::Value>,
    /// The client's address, for rate limits and device "last seen".
    pub client_ip: Option<std::net::IpAddr>,
    /// `METHOD /path` (no query, which may hold a token): what a
    /// user-interactive auth session is bound to.
    pub operation: String,
}

impl<T> Ruma<T> {
    /// The authenticated caller; only call on endpoints that require a token.
    pub fn user(&self) -> ApiResultRef<'_> {
        self.identity.as_ref().ok_or(ApiError::MissingToken)
    }
}

type ApiResultRef<'a> = Result<&'a Identity, ApiError>;

/// Extracts the access token from the Authorization header or the
/// deprecated `access_token` query parameter.
pub fn access_token(parts: &http::request::Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(http::header::AUTHORIZATION)
        && let Ok(v) = v.to_str()
        && let Some(token) = v.strip_prefix("Bearer ")
    {
        return Some(token.trim().to_owned());
    }
    parts.uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    })
}

impl<T> FromRequest<AppState> for Ruma<T>
where
    T: IncomingRequest + Send + 'static,
    T::Authentication: AuthRule,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let mut path_params: Vec<String> = {
            use axum::extract::FromRequestParts;
            match axum::extract::RawPathParams::from_request_parts(&mut parts, state).await {
                Ok(params) => params.iter().map(|(_, v)| v.to_owned()).collect(),
                Err(_) => Vec::new(),
            }
        };
        // Routes registered without an optional trailing parameter (an empty
        // state key) pass fewer values: the missing ones are empty.
        let expected = T::PATH_BUILDER
            .all_paths()
            .next()
            .map_or(0, |p| p.matches('{').count());
        path_params.resize(expected.max(path_params.len()), String::new());
        check_path_params(&path_params)?;
        let client_ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());

        let limit = if parts.uri.path().starts_with("/_matrix/media/") {
            usize::MAX
        } else {
            state.config.max_request_bytes
        };
        let bytes: Bytes = match http_body_util::Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                let msg = e.to_string();
                if e.is::<http_body_util::LengthLimitError>() {
                    return Err(ApiError::TooLarge("request body too large".into()));
                }
                return Err(ApiError::bad_json(format!("cannot read body: {msg}")));
            }
        };

        let identity = match request_policy::token_rule::<T>(T::Authentication::RULE) {
            TokenRule::Ignored => None,
            rule => match access_token(&parts) {
                Some(token) => {
                    Some(Accounts::authenticate(&state.accounts, &token, client_ip).await?)
                }
                None if matches!(rule, TokenRule::Required) => return Err(ApiError::MissingToken),
                None => None,
            },
        };
        if identity.as_ref().is_some_and(|i| i.is_guest)
            && !crate::guest_policy::guest_may_call::<T>()
        {
            return Err(ApiError::GuestAccessForbidden);
        }

        // After authentication, as Synapse checks a path only for a caller
        // it knows.
        request_policy::check_path::<T>(&parts.method, &path_params)?;

        // GET and HEAD bodies carry nothing: ignore them.
        let reads = matches!(parts.method, http::Method::GET | http::Method::HEAD);
        let (bytes, json_body) = if reads {
            (Bytes::new(), None)
        } else if is_json_endpoint(&parts) {
            let (bytes, object) = request_policy::prepare_json_body::<T>(bytes)?;
            (bytes, Some(object))
        } else {
            let json_body = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
            (bytes, json_body)
        };
        if json_body.as_ref().is_some_and(nul_guard::contains_nul)
            && !nul_guard::body_may_hold_nul(parts.uri.path())
        {
            return Err(ApiError::bad_json(
                "NUL characters are only allowed in event content and account data",
            ));
        }

        let path = parts.uri.path().to_owned();
        let mut parts = parts;
        if let Some(query) = request_policy::fill_query::<T>(parts.uri.query()) {
            parts.uri = format!("{path}?{query}")
                .parse()
                .map_err(|_| ApiError::invalid_param("invalid query string"))?;
        }
        let operation = format!("{} {path}", parts.method);
        let http_req = http::Request::from_parts(parts, bytes);
        // Bodies known to panic ruma's parsers are refused above; should
        // another one slip through, it is still a 400 and not a dropped
        // connection, and the log says so loudly.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            T::try_from_http_request(http_req, &path_params)
        }));
        let body = match parsed {
            Ok(result) => result.map_err(request_error)?,
            Err(_) => {
                tracing::error!(%path, "ruma's request parser panicked; answered 400");
                return Err(ApiError::bad_json("malformed request"));
            }
        };
        Ok(Ruma {
            body,
            identity,
            json_body,
            client_ip,
            operation,
        })
    }
}

/// Media uploads carry arbitrary bytes; everything else speaks JSON.
fn is_json_endpoint(parts: &http::request::Parts) -> bool {
    !parts.uri.path().starts_with("/_matrix/media/")
}

pub(crate) fn request_error(e: FromHttpRequestError) -> ApiError {
    match e {
        FromHttpRequestError::Deserialization(DeserializationError::Json(e)) => {
            ApiError::bad_json(format!("invalid request body: {e}"))
        }
        FromHttpRequestError::Deserialization(DeserializationError::Query(e)) => {
            ApiError::invalid_param(format!("invalid query parameters: {e}"))
        }
        FromHttpRequestError::Deserialization(DeserializationError::Ident(e)) => {
            ApiError::invalid_param(format!("invalid identifier: {e}"))
        }
        FromHttpRequestError::Deserialization(other) => ApiError::bad_json(other.to_string()),
        FromHttpRequestError::MethodMismatch { .. } => ApiError::MethodNotAllowed,
        _ => ApiError::bad_json("invalid request"),
    }
}

/// A ruma response turned into an HTTP response.
pub struct RumaResponse<T>(pub T);

impl<T: OutgoingResponse> From<T> for RumaResponse<T> {
    fn from(v: T) -> Self {
        Self(v)
    }
}

impl<T: OutgoingResponse> IntoResponse for RumaResponse<T> {
    fn into_response(self) -> Response {
        match self.0.try_into_http_response::<bytes::BytesMut>() {
            Ok(res) => res
                .map(|b| axum::body::Body::from(b.freeze()))
                .into_response(),
            Err(e) => ApiError::Internal(format!("cannot serialise response: {e}")).into_response(),
        }
    }
}

/// Identifiers in paths (transaction IDs, event types, state keys, device
/// IDs, aliases, server names...) are bounded as the spec bounds events'.
pub(crate) fn check_path_params(params: &[String]) -> Result<(), ApiError> {
    if params.iter().any(|p| p.len() > missive_core::MAX_ID_BYTES) {
        return Err(ApiError::invalid_param(format!(
            "path parameters are limited to {} bytes",
            missive_core::MAX_ID_BYTES
        )));
    }
    Ok(())
}
