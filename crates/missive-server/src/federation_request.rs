//! The extractor of requests from other servers: the only way a handler
//! gets a federation endpoint's request (ruma's types whose authentication
//! is `ServerSignatures`; `Ruma<T>` does not take them), so none can skip
//! the checks. It parses the `Authorization: X-Matrix` header with ruma's
//! `XMatrix`, refuses an origin outside the domain allowlist (403
//! `M_FORBIDDEN`), a destination other than us and a key we cannot find
//! (401 `M_UNAUTHORIZED`), verifies the signature over the request's
//! method, URI, origin, destination and content with ruma's signatures
//! crate against the origin's key (401 `M_UNAUTHORIZED`), and only then
//! parses the endpoint's request. The handler receives the origin as a
//! typed, verified server name.

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use bytes::Bytes;
use http_body_util::BodyExt;
use ruma::{
    OwnedServerName,
    api::{
        IncomingRequest,
        auth_scheme::AuthScheme,
        federation::authentication::{ServerSignatures, XMatrix},
    },
    signatures::PublicKeyMap,
};

use crate::{
    error::ApiError,
    ruma_wrapper::{check_path_params, request_error},
    state::AppState,
    time::now_ms,
};

/// A request of endpoint `T` from another server, its signature verified.
pub struct FederationRequest<T> {
    /// The server that sent (and signed) it.
    pub origin: OwnedServerName,
    pub body: T,
}

impl<T> FromRequest<AppState> for FederationRequest<T>
where
    T: IncomingRequest<Authentication = ServerSignatures> + Send + 'static,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let path_params: Vec<String> =
            match RawPathParams::from_request_parts(&mut parts, state).await {
                Ok(params) => params.iter().map(|(_, v)| v.to_owned()).collect(),
                Err(_) => Vec::new(),
            };
        check_path_params(&path_params)?;
        let bytes: Bytes = match http_body_util::Limited::new(body, state.config.max_request_bytes)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(ApiError::TooLarge("request body too large".into()));
            }
            Err(e) => return Err(ApiError::bad_json(format!("cannot read body: {e}"))),
        };
        let http_req = http::Request::from_parts(parts, bytes);
        let origin = verify(&http_req, state).await?;
        let body = T::try_from_http_request(http_req, &path_params).map_err(request_error)?;
        Ok(FederationRequest { origin, body })
    }
}

/// The verified origin of `req`, or why it is refused.
async fn verify(req: &http::Request<Bytes>, state: &AppState) -> Result<OwnedServerName, ApiError> {
    let x_matrix: XMatrix = ServerSignatures::extract_authentication(req)
        .map_err(|e| ApiError::Unauthorized(format!("invalid X-Matrix authorization: {e}")))?;
    let federation = &state.federation;
    let ours = federation.keys().server_name();
    if x_matrix
        .destination
        .as_deref()
        .is_some_and(|destination| destination != ours)
    {
        return Err(ApiError::Unauthorized(format!(
            "this request is for another server, not {ours}"
        )));
    }
    if !federation.accepts_from(&x_matrix.origin) {
        return Err(ApiError::forbidden(format!(
            "{} is not in this server's federation allowlist",
            x_matrix.origin
        )));
    }
    let key = federation
        .keys()
        .public_key(&x_matrix.origin, &x_matrix.key, now_ms())
        .await?
        .ok_or_else(|| {
            ApiError::Unauthorized(format!(
                "unknown key {} of {}",
                x_matrix.key, x_matrix.origin
            ))
        })?;
    let keys: PublicKeyMap = [(
        x_matrix.origin.to_string(),
        [(x_matrix.key.to_string(), key)].into(),
    )]
    .into();
    x_matrix
        .verify_request(req, ours, &keys)
        .map_err(|e| ApiError::Unauthorized(format!("invalid request signature: {e}")))?;
    state.limiter.check_federation(x_matrix.origin.as_str())?;
    if let Some(outbound) = federation.outbound() {
        outbound.server_up(&x_matrix.origin);
    }
    Ok(x_matrix.origin)
}
