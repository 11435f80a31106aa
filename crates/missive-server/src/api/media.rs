//! The media repository's HTTP endpoints. Uploads are streamed (never
//! buffered whole); downloads support ranges and are served with headers
//! that stop browsers from running uploaded content.

use std::collections::HashMap;

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{FromRequestParts, Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::{
    error::{ApiError, ApiResult},
    services::{
        accounts::Identity,
        media::{StoredFile, thumbnail::Method},
    },
    state::AppState,
};

/// The caller of a media endpoint, from the access token (media endpoints
/// bypass the buffering ruma extractor to stream their bodies).
pub struct Authed(pub Identity);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let token = crate::ruma_wrapper::access_token(parts).ok_or(ApiError::MissingToken)?;
        let identity = state.accounts.authenticate(&token, None).await?;
        // Guests may download what they read, not upload (as Synapse).
        if identity.is_guest && parts.method != http::Method::GET {
            return Err(ApiError::GuestAccessForbidden);
        }
        Ok(Authed(identity))
    }
}

/// Content types a browser may show inline (Synapse's list); everything
/// else (HTML, SVG, scripts, ...) is served as an attachment.
const INLINE_CONTENT_TYPES: &[&str] = &[
    "text/css",
    "text/plain",
    "text/csv",
    "application/json",
    "application/ld+json",
    "image/jpeg",
    "image/gif",
    "image/png",
    "image/apng",
    "image/webp",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "audio/mp4",
    "audio/webm",
    "audio/aac",
    "audio/mpeg",
    "audio/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wav",
    "audio/flac",
    "audio/x-flac",
];

/// Forbids scripts, plugins and navigation for anything a browser renders.
const MEDIA_CSP: &str = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; \
                         style-src 'unsafe-inline'; media-src 'self'; object-src 'self';";

fn content_type_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A file name safe for a header: no path, no control characters.
fn sanitize_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(255)
        .collect();
    let clean = clean.trim().trim_start_matches('.').to_owned();
    (!clean.is_empty()).then_some(clean)
}

fn content_disposition(inline: bool, filename: Option<&str>) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    match filename.and_then(sanitize_filename) {
        Some(name) => {
            let ascii: String = name
                .chars()
                .map(|c| if c.is_ascii() && c != '\\' { c } else { '_' })
                .collect();
            let encoded: String = form_urlencoded::byte_serialize(name.as_bytes())
                .collect::<String>()
                .replace('+', "%20");
            format!("{kind}; filename=\"{ascii}\"; filename*=utf-8''{encoded}")
        }
        None => kind.to_owned(),
    }
}

/// Serves a stored file with range support and the safe headers.
async fn serve(
    file: StoredFile,
    request_headers: &HeaderMap,
    filename_override: Option<&str>,
) -> ApiResult<Response> {
    let mut request = http::Request::builder().uri("/");
    for name in [
        header::RANGE,
        header::IF_RANGE,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
    ] {
        if let Some(v) = request_headers.get(&name) {
            request = request.header(name, v);
        }
    }
    let request = request
        .body(Body::empty())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let response = ServeFile::new(&file.path)
        .oneshot(request)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot read media: {e}")))?;
    let mut response = response.map(Body::new);
    let essence = file
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let inline = INLINE_CONTENT_TYPES.contains(&essence.as_str());
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&file.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    let disposition = content_disposition(inline, filename_override.or(file.filename.as_deref()));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(MEDIA_CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    Ok(response)
}

pub async fn upload(
    State(s): State<AppState>,
    Authed(me): Authed,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    s.limiter.check_send(me.user_id.as_str())?;
    s.media
        .check_declared_size(&me.user_id, declared_length(&headers))
        .await?;
    let filename = query.get("filename").cloned();
    let uri = s
        .media
        .upload(
            &me.user_id,
            content_type_of(&headers),
            filename,
            body.into_data_stream(),
        )
        .await?;
    Ok(Json(json!({ "content_uri": uri })))
}

pub async fn create_mxc_uri(
    State(s): State<AppState>,
    Authed(me): Authed,
) -> ApiResult<Json<Value>> {
    s.limiter.check_send(me.user_id.as_str())?;
    let (uri, expires) = s.media.create_pending(&me.user_id).await?;
    Ok(Json(
        json!({ "content_uri": uri, "unused_expires_at": expires }),
    ))
}

pub async fn upload_pending(
    State(s): State<AppState>,
    Authed(me): Authed,
    Path((server, media_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    s.media
        .check_declared_size(&me.user_id, declared_length(&headers))
        .await?;
    let filename = query.get("filename").cloned();
    s.media
        .upload_pending(
            &me.user_id,
            &server,
            &media_id,
            content_type_of(&headers),
            filename,
            body.into_data_stream(),
        )
        .await?;
    Ok(Json(json!({})))
}

pub async fn config(State(s): State<AppState>, _me: Authed) -> Json<Value> {
    Json(json!({ "m.upload.size": s.media.max_upload_bytes() }))
}

pub async fn download(
    State(s): State<AppState>,
    _me: Authed,
    Path(params): Path<Vec<String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (server, media_id, filename) = split_params(&params)?;
    let file = s.media.file(server, media_id).await?;
    serve(file, &headers, filename).await
}

fn split_params(params: &[String]) -> ApiResult<(&str, &str, Option<&str>)> {
    match params {
        [server, id] => Ok((server, id, None)),
        [server, id, name] => Ok((server, id, Some(name.as_str()))),
        _ => Err(ApiError::Unrecognized),
    }
}

#[derive(serde::Deserialize)]
pub struct ThumbnailQuery {
    width: Option<u32>,
    height: Option<u32>,
    method: Option<String>,
}

/// The thumbnail query, or a Matrix error saying which parameter is
/// wrong (axum's own rejection is a `text/plain` body without errcode).
fn thumbnail_query(
    query: Result<Query<ThumbnailQuery>, QueryRejection>,
) -> ApiResult<ThumbnailQuery> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::invalid_param(e.body_text()))
}

fn thumbnail_method(method: Option<&str>) -> ApiResult<Method> {
    match method {
        None | Some("scale") => Ok(Method::Scale),
        Some("crop") => Ok(Method::Crop),
        Some(other) => Err(ApiError::invalid_param(format!(
            "unknown thumbnail method {other}"
        ))),
    }
}

pub async fn thumbnail(
    State(s): State<AppState>,
    _me: Authed,
    Path((server, media_id)): Path<(String, String)>,
    query: Result<Query<ThumbnailQuery>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let q = thumbnail_query(query)?;
    let (Some(width), Some(height)) = (q.width, q.height) else {
        return Err(ApiError::MissingParam(
            "width and height are required".into(),
        ));
    };
    if width == 0 || height == 0 {
        return Err(ApiError::invalid_param("width and height must be positive"));
    }
    let method = thumbnail_method(q.method.as_deref())?;
    let file = s
        .media
        .thumbnail(&server, &media_id, width, height, method)
        .await?;
    serve(file, &headers, None).await
}

pub async fn preview_url(
    State(s): State<AppState>,
    _me: Authed,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let url = query
        .get("url")
        .ok_or_else(|| ApiError::MissingParam("url is required".into()))?;
    Ok(Json(Value::Object(s.media.preview_url(url).await?)))
}

/// The deprecated unauthenticated endpoints: off unless configured, as in
/// Synapse after the authenticated-media freeze.
pub async fn legacy_download(
    State(s): State<AppState>,
    Path(params): Path<Vec<String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if !s.media.legacy_unauthenticated() {
        return Err(ApiError::not_found(
            "use the authenticated media endpoints (/_matrix/client/v1/media)",
        ));
    }
    let (server, media_id, filename) = split_params(&params)?;
    let file = s.media.file(server, media_id).await?;
    serve(file, &headers, filename).await
}

pub async fn legacy_thumbnail(
    State(s): State<AppState>,
    Path((server, media_id)): Path<(String, String)>,
    query: Result<Query<ThumbnailQuery>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if !s.media.legacy_unauthenticated() {
        return Err(ApiError::not_found(
            "use the authenticated media endpoints (/_matrix/client/v1/media)",
        ));
    }
    let q = thumbnail_query(query)?;
    let method = thumbnail_method(q.method.as_deref())?;
    let file = s
        .media
        .thumbnail(
            &server,
            &media_id,
            q.width.unwrap_or(96).max(1),
            q.height.unwrap_or(96).max(1),
            method,
        )
        .await?;
    serve(file, &headers, None).await
}

/// Admin: delete one media item (Synapse's admin API path).
pub async fn admin_delete_media(
    State(s): State<AppState>,
    Authed(me): Authed,
    Path((server, media_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    if !me.is_admin {
        return Err(ApiError::forbidden("server administrators only"));
    }
    if !s.media.delete(&server, &media_id).await? {
        return Err(ApiError::not_found("media not found"));
    }
    tracing::info!(admin = %me.user_id, %server, %media_id, "media deleted");
    Ok(Json(json!({ "deleted_media": [media_id], "total": 1 })))
}

/// Admin: delete all media of a user.
pub async fn admin_delete_user_media(
    State(s): State<AppState>,
    Authed(me): Authed,
    Path(user): Path<String>,
) -> ApiResult<Json<Value>> {
    if !me.is_admin {
        return Err(ApiError::forbidden("server administrators only"));
    }
    let user =
        ruma::UserId::parse(&user).map_err(|_| ApiError::invalid_param("invalid user ID"))?;
    let deleted = s.media.delete_user_media(&user).await?;
    tracing::info!(admin = %me.user_id, user = %user, count = deleted.len(), "user media deleted");
    Ok(Json(
        json!({ "total": deleted.len(), "deleted_media": deleted }),
    ))
}

// --- Content scanner API (as the matrix-content-scanner serves it) --------

/// The `file` object of a scanner request body, with Matrix errors for
/// bodies that are not JSON.
fn file_info(body: &[u8]) -> ApiResult<Value> {
    let body: Value = serde_json::from_slice(body).map_err(|e| ApiError::NotJson(e.to_string()))?;
    body.get("file")
        .cloned()
        .ok_or_else(|| ApiError::MissingParam("the request needs a file object".into()))
}

/// `POST /_matrix/media_proxy/unstable/scan_encrypted`: is this encrypted
/// attachment clean?
pub async fn scan_encrypted(
    State(s): State<AppState>,
    _me: Authed,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (_, verdict) = s.media.scan_encrypted(&file_info(&body)?).await?;
    Ok(Json(match verdict {
        None => json!({ "clean": true, "info": "File is clean" }),
        Some(name) => json!({ "clean": false, "info": format!("File contains malware ({name})") }),
    }))
}

/// `POST /_matrix/media_proxy/unstable/download_encrypted`: the ciphertext,
/// only if its plaintext is clean.
pub async fn download_encrypted(
    State(s): State<AppState>,
    _me: Authed,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (file, verdict) = s.media.scan_encrypted(&file_info(&body)?).await?;
    if let Some(name) = verdict {
        return Err(ApiError::MediaInfected(name));
    }
    serve(file, &headers, None).await
}

/// `GET /_matrix/media_proxy/unstable/scan/{server}/{id}`: the verdict on
/// an unencrypted file (uploads are scanned on arrival, so a stored file
/// is clean).
pub async fn scan_plain(
    State(s): State<AppState>,
    _me: Authed,
    Path((server, media_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    s.media.file(&server, &media_id).await?;
    Ok(Json(json!({ "clean": true, "info": "File is clean" })))
}
