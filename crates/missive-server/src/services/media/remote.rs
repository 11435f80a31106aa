//! Media of other servers, as this server's clients ask for it: fetched
//! once over authenticated federation media (`/_matrix/federation/v1/media/
//! download`), bounded by the upload limit, scanned by the antivirus like
//! an upload, then kept and served from the blob store like local media.

use missive_store::{MediaRecord, MediaStore, StoreError};
use ruma::{
    ServerName,
    api::federation::authenticated_media::{FileOrLocation, get_content},
};

use super::Media;
use crate::{
    error::{ApiError, ApiResult},
    time::now_ms,
};

impl Media {
    /// The record of `server`'s media `media_id`, fetched from `server`
    /// the first time (concurrent requests for it wait for one fetch).
    pub(super) async fn remote_record(
        &self,
        server: &str,
        media_id: &str,
    ) -> ApiResult<MediaRecord> {
        if let Some(record) = self.cached(server, media_id).await? {
            return Ok(record);
        }
        let key = format!("{server}/{media_id}");
        let lock = self.fetches.lock_for(&key);
        let fetched = async {
            let _held = lock.lock().await;
            if let Some(record) = self.cached(server, media_id).await? {
                return Ok(record);
            }
            self.fetch(server, media_id).await
        }
        .await;
        self.fetches.release(&key, lock);
        fetched
    }

    async fn cached(&self, server: &str, media_id: &str) -> ApiResult<Option<MediaRecord>> {
        Ok(self
            .store
            .media(server, media_id)
            .await?
            .filter(|r| r.sha256.is_some()))
    }

    async fn fetch(&self, server: &str, media_id: &str) -> ApiResult<MediaRecord> {
        let unavailable =
            || ApiError::not_found("remote media is not available without federation");
        let client = self.federation.client().map_err(|_| unavailable())?;
        let server_name = ServerName::parse(server).map_err(|_| unavailable())?;
        let answer = client
            .send(
                &server_name,
                get_content::v1::Request::new(media_id.to_owned()),
            )
            .await?;
        let content = match answer.content {
            FileOrLocation::File(content) => content,
            // Following it would mean fetching an arbitrary URL (the
            // private-address rules of URL previews would apply); no
            // server we know answers this way.
            _ => {
                return Err(ApiError::BadGateway(format!(
                    "{server} answered with a redirect; not followed"
                )));
            }
        };
        if content.file.len() as u64 > self.config.max_upload_bytes {
            return Err(ApiError::TooLarge(format!(
                "remote file is larger than the {} byte limit",
                self.config.max_upload_bytes
            )));
        }
        let mut writer = self.blobs.start().await?;
        if let Err(e) = writer.write(&content.file).await {
            self.blobs.abort(writer).await;
            return Err(e.into());
        }
        let blob = self.blobs.finish(writer).await?;
        self.scan(&blob.sha256).await?;
        let record = MediaRecord {
            server_name: server.to_owned(),
            media_id: media_id.to_owned(),
            // Nobody here uploaded it: no local user's quota counts it.
            uploader: String::new(),
            content_type: content.content_type,
            filename: content.content_disposition.and_then(|d| d.filename),
            size: blob.size as i64,
            sha256: Some(blob.sha256),
            created_ts: now_ms(),
            expires_ts: None,
        };
        match self.store.create_media(&record).await {
            // Another process fetched it meanwhile.
            Err(StoreError::AlreadyExists(_)) => self
                .cached(server, media_id)
                .await?
                .ok_or_else(|| ApiError::not_found("media not found")),
            other => other.map(|()| record).map_err(Into::into),
        }
    }
}
