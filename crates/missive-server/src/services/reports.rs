//! Reports of events and rooms to the server's admins, stored as filed
//! (`ReportStore`); as in Synapse, an event the reporter cannot see (or a
//! redacted one) is "not found", and any existing room may be reported.

use std::sync::Arc;

use missive_store::{ContentReport, EventStore, NewReport, ReportStore, SqlStore};
use ruma::{EventId, RoomId, UserId};

use super::{accounts::Identity, reader::Reader};
use crate::{
    error::{ApiError, ApiResult},
    time::now_ms,
};

/// Files reports. Cheap to clone.
#[derive(Clone)]
pub struct Reports {
    store: Arc<SqlStore>,
    reader: Reader,
}

impl Reports {
    pub fn new(store: Arc<SqlStore>, reader: Reader) -> Self {
        Self { store, reader }
    }

    /// Reports an event the user may see.
    pub async fn report_event(
        &self,
        user: &UserId,
        room_id: &RoomId,
        event_id: &EventId,
        reason: Option<String>,
        score: Option<i64>,
    ) -> ApiResult<()> {
        let not_found = || {
            ApiError::not_found(
                "Unable to report event: it does not exist or you aren't able to see it.",
            )
        };
        match self.reader.event(room_id, user, event_id).await {
            Ok(event) if event.redacted_by.is_none() => {}
            Ok(_) | Err(ApiError::Forbidden(_) | ApiError::NotFound(_)) => return Err(not_found()),
            Err(other) => return Err(other),
        }
        self.store
            .add_report(&NewReport {
                reporter: user.to_owned(),
                room_id: room_id.to_owned(),
                event_id: Some(event_id.to_owned()),
                reason,
                score,
                received_ts: now_ms(),
            })
            .await?;
        Ok(())
    }

    /// Reports a room (it must exist; the reporter need not be in it).
    pub async fn report_room(
        &self,
        user: &UserId,
        room_id: &RoomId,
        reason: String,
    ) -> ApiResult<()> {
        if self.store.room(room_id).await?.is_none() {
            return Err(ApiError::not_found("Room does not exist"));
        }
        self.store
            .add_report(&NewReport {
                reporter: user.to_owned(),
                room_id: room_id.to_owned(),
                event_id: None,
                reason: Some(reason),
                score: None,
                received_ts: now_ms(),
            })
            .await?;
        Ok(())
    }

    /// The reports filed, newest first, for a server admin: a page from
    /// `offset`, and how many there are in all.
    pub async fn list(
        &self,
        admin: &Identity,
        offset: i64,
        limit: i64,
    ) -> ApiResult<(Vec<ContentReport>, i64)> {
        if !admin.is_admin {
            return Err(ApiError::forbidden("server administrators only"));
        }
        let reports = self.store.reports(offset, limit).await?;
        Ok((reports, self.store.count_reports().await?))
    }
}
