//! Authenticated federation media: other servers download this server's
//! media, and thumbnails of it (`multipart/mixed`, ruma's encoding).

use axum::extract::State;
use ruma::{
    api::federation::authenticated_media::{
        Content, ContentMetadata, FileOrLocation, get_content, get_content_thumbnail,
    },
    http_headers::{ContentDisposition, ContentDispositionType},
    media::Method as RumaMethod,
};

use crate::{
    error::{ApiError, ApiResult},
    federation_request::FederationRequest,
    ruma_wrapper::RumaResponse,
    services::media::{Media, StoredFile, thumbnail::Method},
};

/// The file's bytes with its type and name, as the multipart answer holds
/// them.
async fn content(file: StoredFile) -> ApiResult<FileOrLocation> {
    let bytes = tokio::fs::read(&file.path)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot read media: {e}")))?;
    let disposition =
        ContentDisposition::new(ContentDispositionType::Attachment).with_filename(file.filename);
    Ok(FileOrLocation::File(Content::new(
        bytes,
        file.content_type,
        disposition,
    )))
}

/// `GET /_matrix/federation/v1/media/download/{mediaId}`: media of this
/// server only (never what it cached from others).
pub async fn download(
    State(media): State<Media>,
    req: FederationRequest<get_content::v1::Request>,
) -> ApiResult<RumaResponse<get_content::v1::Response>> {
    let file = media.local_file(&req.body.media_id).await?;
    Ok(RumaResponse(get_content::v1::Response::new(
        ContentMetadata::new(),
        content(file).await?,
    )))
}

/// `GET /_matrix/federation/v1/media/thumbnail/{mediaId}`.
pub async fn thumbnail(
    State(media): State<Media>,
    req: FederationRequest<get_content_thumbnail::v1::Request>,
) -> ApiResult<RumaResponse<get_content_thumbnail::v1::Response>> {
    let b = &req.body;
    let (width, height) = (
        u32::try_from(b.width).unwrap_or(u32::MAX),
        u32::try_from(b.height).unwrap_or(u32::MAX),
    );
    if width == 0 || height == 0 {
        return Err(ApiError::invalid_param("width and height must be positive"));
    }
    let method = match b.method {
        Some(RumaMethod::Crop) => Method::Crop,
        _ => Method::Scale,
    };
    let file = media
        .local_thumbnail(&b.media_id, width, height, method)
        .await?;
    Ok(RumaResponse(get_content_thumbnail::v1::Response::new(
        ContentMetadata::new(),
        content(file).await?,
    )))
}
