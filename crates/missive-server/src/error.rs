//! The server's error type and the one place where errors become Matrix
//! error responses (HTTP status + `errcode`).

use std::time::Duration;

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use missive_core::CoreError;
use missive_store::StoreError;
use ruma::api::error::{
    ErrorBody, ErrorKind, IncompatibleRoomVersionErrorData, LimitExceededErrorData, RetryAfter,
    StandardErrorBody, UnknownTokenErrorData, WrongRoomKeysVersionErrorData,
};
use serde_json::json;

use crate::ruma_wrapper::RumaResponse;

/// Every way a client request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Forbidden(String),
    #[error("missing access token")]
    MissingToken,
    #[error("unknown or expired access token")]
    UnknownToken,
    #[error("{0}")]
    BadJson(String),
    #[error("{0}")]
    NotJson(String),
    #[error("{0}")]
    NotFound(String),
    #[error("too many requests")]
    LimitExceeded { retry_after_ms: u64 },
    #[error("unrecognized request")]
    Unrecognized,
    /// A request to a known endpoint whose path makes no sense (Synapse's
    /// `UnrecognizedRequestError`: 400, not 404).
    #[error("{0}")]
    UnrecognizedRequest(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("user ID already taken")]
    UserInUse,
    /// A guest called an endpoint guests may not use.
    #[error("guest accounts may not do this: register a full account first")]
    GuestAccessForbidden,
    #[error("{0}")]
    InvalidUsername(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    InvalidParam(String),
    #[error("{0}")]
    MissingParam(String),
    #[error("{0}")]
    RoomInUse(String),
    #[error("unsupported room version {0}")]
    UnsupportedRoomVersion(String),
    /// Another server cannot join a room of this version (`make_join`).
    #[error("the room's version {0} is not one your server supports")]
    IncompatibleRoomVersion(ruma::RoomVersionId),
    #[error("this account has been deactivated")]
    UserDeactivated,
    #[error("{0}")]
    BadState(String),
    #[error("registration is disabled")]
    RegistrationDisabled,
    #[error("{0}")]
    Unauthorized(String),
    /// User-interactive authentication must continue: the body is the UIA
    /// state (flows, session, completed stages, optional error).
    #[error("user-interactive authentication required")]
    UiaRequired(serde_json::Value),
    #[error("{0}")]
    Unknown(String),
    #[error("{0}")]
    BadAlias(String),
    #[error("{0}")]
    Exists(String),
    #[error("{0}")]
    InvalidSignature(String),
    /// The sender already reacted to that event with that key.
    #[error("cannot send the same reaction twice")]
    DuplicateAnnotation,
    #[error("{0}")]
    ResourceLimitExceeded(String),
    #[error("this file was refused because it contains malware ({0})")]
    MediaInfected(String),
    #[error("the antivirus service is unavailable; try again later")]
    ScannerUnavailable,
    #[error("this media has already been uploaded")]
    CannotOverwriteMedia,
    #[error("this media has not been uploaded yet")]
    NotYetUploaded,
    #[error("{message}")]
    WrongRoomKeysVersion {
        current: Option<String>,
        message: String,
    },
    #[error("{0}")]
    ThreepidInUse(String),
    #[error("{0}")]
    ThreepidNotFound(String),
    #[error("{0}")]
    ThreepidAuthFailed(String),
    #[error("{0}")]
    ThreepidMediumNotSupported(String),
    #[error("{0}")]
    ServerNotTrusted(String),
    /// An identity lookup hashed with another pepper than ours.
    #[error("the pepper does not match this server's")]
    InvalidPepper,
    /// Another server could not be reached or gave an unusable answer
    /// (Synapse's 502 for a remote lookup).
    #[error("{0}")]
    BadGateway(String),
    /// Another server's own error, passed on as it gave it (a 5xx).
    #[error("{message}")]
    Upstream {
        status: u16,
        errcode: String,
        message: String,
    },
    /// A restricted join this server cannot vouch for: it is not in the
    /// rooms that grant access (another server may be).
    #[error("{0}")]
    UnableToAuthoriseJoin(String),
    /// A restricted join no member of this server may authorise.
    #[error("{0}")]
    UnableToGrantJoin(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    pub fn bad_json(msg: impl Into<String>) -> Self {
        Self::BadJson(msg.into())
    }
    pub fn invalid_param(msg: impl Into<String>) -> Self {
        Self::InvalidParam(msg.into())
    }

    /// The HTTP status and ruma's `ErrorKind` (the errcode and its fields)
    /// of this error.
    fn status_and_kind(&self) -> (StatusCode, ErrorKind) {
        use ApiError::*;
        match self {
            Forbidden(_) | RegistrationDisabled | MediaInfected(_) => {
                (StatusCode::FORBIDDEN, ErrorKind::Forbidden)
            }
            MissingToken => (StatusCode::UNAUTHORIZED, ErrorKind::MissingToken),
            UnknownToken => (
                StatusCode::UNAUTHORIZED,
                ErrorKind::UnknownToken(UnknownTokenErrorData::new()),
            ),
            BadJson(_) => (StatusCode::BAD_REQUEST, ErrorKind::BadJson),
            NotJson(_) => (StatusCode::BAD_REQUEST, ErrorKind::NotJson),
            NotFound(_) => (StatusCode::NOT_FOUND, ErrorKind::NotFound),
            LimitExceeded { retry_after_ms } => {
                let mut data = LimitExceededErrorData::new();
                data.retry_after = Some(RetryAfter::Delay(Duration::from_millis(*retry_after_ms)));
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorKind::LimitExceeded(data),
                )
            }
            Unrecognized => (StatusCode::NOT_FOUND, ErrorKind::Unrecognized),
            UnrecognizedRequest(_) => (StatusCode::BAD_REQUEST, ErrorKind::Unrecognized),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ErrorKind::Unrecognized),
            UserInUse => (StatusCode::BAD_REQUEST, ErrorKind::UserInUse),
            GuestAccessForbidden => (StatusCode::FORBIDDEN, ErrorKind::GuestAccessForbidden),
            InvalidUsername(_) => (StatusCode::BAD_REQUEST, ErrorKind::InvalidUsername),
            TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorKind::TooLarge),
            InvalidParam(_) => (StatusCode::BAD_REQUEST, ErrorKind::InvalidParam),
            MissingParam(_) => (StatusCode::BAD_REQUEST, ErrorKind::MissingParam),
            RoomInUse(_) => (StatusCode::BAD_REQUEST, ErrorKind::RoomInUse),
            UnsupportedRoomVersion(_) => {
                (StatusCode::BAD_REQUEST, ErrorKind::UnsupportedRoomVersion)
            }
            IncompatibleRoomVersion(version) => (
                StatusCode::BAD_REQUEST,
                ErrorKind::IncompatibleRoomVersion(IncompatibleRoomVersionErrorData::new(
                    version.clone(),
                )),
            ),
            UserDeactivated => (StatusCode::FORBIDDEN, ErrorKind::UserDeactivated),
            UnableToAuthoriseJoin(_) => (StatusCode::BAD_REQUEST, ErrorKind::UnableToAuthorizeJoin),
            UnableToGrantJoin(_) => (StatusCode::BAD_REQUEST, ErrorKind::UnableToGrantJoin),
            BadState(_) => (StatusCode::BAD_REQUEST, ErrorKind::BadState),
            Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized),
            UiaRequired(_) => (StatusCode::UNAUTHORIZED, ErrorKind::Forbidden),
            Unknown(_) => (StatusCode::BAD_REQUEST, ErrorKind::Unknown),
            BadAlias(_) => (StatusCode::BAD_REQUEST, ErrorKind::BadAlias),
            Exists(_) => (StatusCode::CONFLICT, ErrorKind::Unknown),
            InvalidSignature(_) => (StatusCode::BAD_REQUEST, custom("M_INVALID_SIGNATURE")),
            DuplicateAnnotation => (StatusCode::BAD_REQUEST, custom("M_DUPLICATE_ANNOTATION")),
            ResourceLimitExceeded(_) => {
                (StatusCode::FORBIDDEN, custom("M_RESOURCE_LIMIT_EXCEEDED"))
            }
            ScannerUnavailable => (StatusCode::SERVICE_UNAVAILABLE, ErrorKind::Unknown),
            CannotOverwriteMedia => (StatusCode::CONFLICT, ErrorKind::CannotOverwriteMedia),
            NotYetUploaded => (StatusCode::GATEWAY_TIMEOUT, ErrorKind::NotYetUploaded),
            WrongRoomKeysVersion { current, .. } => (
                StatusCode::FORBIDDEN,
                match current {
                    Some(v) => ErrorKind::WrongRoomKeysVersion(WrongRoomKeysVersionErrorData::new(
                        v.clone(),
                    )),
                    None => custom("M_WRONG_ROOM_KEYS_VERSION"),
                },
            ),
            ThreepidInUse(_) => (StatusCode::BAD_REQUEST, ErrorKind::ThreepidInUse),
            ThreepidNotFound(_) => (StatusCode::BAD_REQUEST, ErrorKind::ThreepidNotFound),
            ThreepidAuthFailed(_) => (StatusCode::BAD_REQUEST, ErrorKind::ThreepidAuthFailed),
            ThreepidMediumNotSupported(_) => (
                StatusCode::BAD_REQUEST,
                ErrorKind::ThreepidMediumNotSupported,
            ),
            ServerNotTrusted(_) => (StatusCode::BAD_REQUEST, ErrorKind::ServerNotTrusted),
            InvalidPepper => (StatusCode::BAD_REQUEST, custom("M_INVALID_PEPPER")),
            BadGateway(_) => (StatusCode::BAD_GATEWAY, ErrorKind::Unknown),
            Upstream {
                status, errcode, ..
            } => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
                custom(errcode),
            ),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Unknown),
        }
    }

    /// This error's Matrix `errcode`, for answers that list several errors
    /// (a batch of signatures, say).
    pub fn errcode(&self) -> String {
        self.status_and_kind().1.errcode().to_string()
    }
}

/// An errcode ruma has no variant for (or whose required fields we do not
/// have): its kind carries the code alone.
fn custom(errcode: &str) -> ErrorKind {
    serde_json::from_value(json!({ "errcode": errcode })).unwrap_or(ErrorKind::Unknown)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.status_and_kind();
        let message = match &self {
            ApiError::Internal(detail) => {
                // The detail goes to the log, not to the client.
                tracing::error!(%detail, "internal error");
                "Internal server error".to_owned()
            }
            ApiError::WrongRoomKeysVersion { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let mut response = match &self {
            ApiError::UiaRequired(state) => (status, Json(state.clone())).into_response(),
            // The content scanner API's reason, for clients that know it.
            ApiError::MediaInfected(_) => {
                let mut body = json!({ "errcode": kind.errcode().to_string(), "error": message });
                body["reason"] = json!("MCS_MEDIA_NOT_CLEAN");
                (status, Json(body)).into_response()
            }
            ApiError::ResourceLimitExceeded(_) => (
                status,
                Json(json!({ "errcode": "M_RESOURCE_LIMIT_EXCEEDED", "error": message })),
            )
                .into_response(),
            _ => {
                let body = StandardErrorBody::new(kind, message);
                RumaResponse(ruma::api::error::Error::new(
                    status,
                    ErrorBody::Standard(body),
                ))
                .into_response()
            }
        };
        if matches!(self, ApiError::TooLarge(_)) {
            // The rest of an oversized body is never read: the connection
            // cannot carry another request.
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(what) => ApiError::BadState(format!("{what} already exists")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A federation request's failure as the client API reports it, Synapse's
/// way: a server outside the allowlist is 403; a remote 404 stays 404 and
/// a remote 5xx is passed on; any other answer, and no answer, is 502.
impl From<missive_federation::FederationError> for ApiError {
    fn from(e: missive_federation::FederationError) -> Self {
        use missive_federation::FederationError as F;
        match e {
            F::NotAllowed(server) => {
                ApiError::Forbidden(format!("Federation denied with {server}"))
            }
            F::Remote { status, .. } if status == StatusCode::NOT_FOUND => {
                ApiError::NotFound(e.to_string())
            }
            // The other server's refusal (a join denied by its ACL or its
            // rules, an incompatible room version) is the client's answer,
            // as Synapse passes it on; its own failures are passed on too.
            F::Remote {
                status,
                errcode,
                error,
                ..
            } if status.is_server_error()
                || status == StatusCode::FORBIDDEN
                || status == StatusCode::BAD_REQUEST =>
            {
                ApiError::Upstream {
                    status: status.as_u16(),
                    errcode: if errcode.is_empty() {
                        "M_UNKNOWN".to_owned()
                    } else {
                        errcode
                    },
                    message: error,
                }
            }
            other => {
                tracing::info!(error = %other, "federation request failed");
                ApiError::BadGateway(other.to_string())
            }
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Forbidden(why) => ApiError::Forbidden(why),
            CoreError::InvalidEvent(why) => ApiError::BadJson(why),
            CoreError::TooLarge => ApiError::TooLarge("event is larger than 65536 bytes".into()),
            CoreError::FieldTooLong(_) => ApiError::TooLarge(e.to_string()),
            CoreError::UnsupportedRoomVersion(v) => ApiError::UnsupportedRoomVersion(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn answer(e: ApiError) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let res = e.into_response();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn errors_carry_ruma_kinds_and_their_fields() {
        let (status, headers, body) = answer(ApiError::LimitExceeded {
            retry_after_ms: 1500,
        })
        .await;
        assert_eq!(status, 429);
        assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
        assert_eq!(body["retry_after_ms"], 1500);
        assert!(headers.contains_key(http::header::RETRY_AFTER));

        let (status, _, body) = answer(ApiError::UnknownToken).await;
        assert_eq!(
            (status.as_u16(), &body["errcode"]),
            (401, &json!("M_UNKNOWN_TOKEN"))
        );

        let (_, _, body) = answer(ApiError::InvalidSignature("bad".into())).await;
        assert_eq!(body["errcode"], "M_INVALID_SIGNATURE");
        assert_eq!(body["error"], "bad");

        let (_, _, body) = answer(ApiError::WrongRoomKeysVersion {
            current: Some("3".into()),
            message: "old".into(),
        })
        .await;
        assert_eq!(body["current_version"], "3");

        let (status, _, body) = answer(ApiError::Internal("secret detail".into())).await;
        assert_eq!(status, 500);
        assert!(!body.to_string().contains("secret"), "{body}");
    }
}
