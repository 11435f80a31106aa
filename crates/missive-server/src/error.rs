//! The server's error type and the one place where errors become Matrix
//! error responses (HTTP status + `errcode`).

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use missive_core::CoreError;
use missive_store::StoreError;
use serde_json::json;

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
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("user ID already taken")]
    UserInUse,
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

    /// The HTTP status and Matrix `errcode` of this error.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        use ApiError::*;
        match self {
            Forbidden(_) => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
            MissingToken => (StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN"),
            UnknownToken => (StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN"),
            BadJson(_) => (StatusCode::BAD_REQUEST, "M_BAD_JSON"),
            NotJson(_) => (StatusCode::BAD_REQUEST, "M_NOT_JSON"),
            NotFound(_) => (StatusCode::NOT_FOUND, "M_NOT_FOUND"),
            LimitExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED"),
            Unrecognized => (StatusCode::NOT_FOUND, "M_UNRECOGNIZED"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED"),
            UserInUse => (StatusCode::BAD_REQUEST, "M_USER_IN_USE"),
            InvalidUsername(_) => (StatusCode::BAD_REQUEST, "M_INVALID_USERNAME"),
            TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE"),
            InvalidParam(_) => (StatusCode::BAD_REQUEST, "M_INVALID_PARAM"),
            MissingParam(_) => (StatusCode::BAD_REQUEST, "M_MISSING_PARAM"),
            RoomInUse(_) => (StatusCode::BAD_REQUEST, "M_ROOM_IN_USE"),
            UnsupportedRoomVersion(_) => (StatusCode::BAD_REQUEST, "M_UNSUPPORTED_ROOM_VERSION"),
            UserDeactivated => (StatusCode::FORBIDDEN, "M_USER_DEACTIVATED"),
            BadState(_) => (StatusCode::BAD_REQUEST, "M_BAD_STATE"),
            RegistrationDisabled => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
            Unauthorized(_) => (StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED"),
            UiaRequired(_) => (StatusCode::UNAUTHORIZED, "M_FORBIDDEN"),
            Unknown(_) => (StatusCode::BAD_REQUEST, "M_UNKNOWN"),
            BadAlias(_) => (StatusCode::BAD_REQUEST, "M_BAD_ALIAS"),
            Exists(_) => (StatusCode::CONFLICT, "M_UNKNOWN"),
            InvalidSignature(_) => (StatusCode::BAD_REQUEST, "M_INVALID_SIGNATURE"),
            ResourceLimitExceeded(_) => (StatusCode::FORBIDDEN, "M_RESOURCE_LIMIT_EXCEEDED"),
            MediaInfected(_) => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
            ScannerUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "M_UNKNOWN"),
            CannotOverwriteMedia => (StatusCode::CONFLICT, "M_CANNOT_OVERWRITE_MEDIA"),
            NotYetUploaded => (StatusCode::GATEWAY_TIMEOUT, "M_NOT_YET_UPLOADED"),
            WrongRoomKeysVersion { .. } => (StatusCode::FORBIDDEN, "M_WRONG_ROOM_KEYS_VERSION"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, errcode) = self.status_and_code();
        let body = match &self {
            ApiError::UiaRequired(state) => state.clone(),
            ApiError::LimitExceeded { retry_after_ms } => json!({
                "errcode": errcode, "error": self.to_string(), "retry_after_ms": retry_after_ms,
            }),
            ApiError::WrongRoomKeysVersion { current, message } => json!({
                "errcode": errcode, "error": message, "current_version": current,
            }),
            // The content scanner API's reason, for clients that know it.
            ApiError::MediaInfected(_) => json!({
                "errcode": errcode, "error": self.to_string(), "reason": "MCS_MEDIA_NOT_CLEAN",
            }),
            ApiError::UnknownToken => json!({
                "errcode": errcode, "error": self.to_string(), "soft_logout": false,
            }),
            ApiError::Internal(detail) => {
                // The detail goes to the log, not to the client.
                tracing::error!(%detail, "internal error");
                json!({ "errcode": errcode, "error": "Internal server error" })
            }
            _ => json!({ "errcode": errcode, "error": self.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if matches!(self, ApiError::TooLarge(_)) {
            // The rest of an oversized body is never read: the connection
            // cannot carry another request.
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        if let ApiError::LimitExceeded { retry_after_ms } = self {
            let secs = retry_after_ms.div_ceil(1000).to_string();
            if let Ok(v) = http::HeaderValue::from_str(&secs) {
                response.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
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
