//! Reports of events and rooms that users send to the server's admins
//! (`POST /rooms/{roomId}/report/{eventId}`, `POST /rooms/{roomId}/report`).

use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use sqlx::Row;

use crate::{SqlStore, StoreError, StoreResult};

/// A report as it is filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    pub reporter: OwnedUserId,
    pub room_id: OwnedRoomId,
    /// `None` for a report of the whole room.
    pub event_id: Option<OwnedEventId>,
    pub reason: Option<String>,
    pub score: Option<i64>,
    pub received_ts: i64,
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentReport {
    pub report_id: i64,
    pub report: NewReport,
}

#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Files a report; returns its ID.
    async fn add_report(&self, report: &NewReport) -> StoreResult<i64>;
    /// Reports, newest first, skipping the `offset` newest.
    async fn reports(&self, offset: i64, limit: i64) -> StoreResult<Vec<ContentReport>>;
    /// How many reports there are.
    async fn count_reports(&self) -> StoreResult<i64>;
}

#[async_trait]
impl ReportStore for SqlStore {
    async fn add_report(&self, report: &NewReport) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO content_reports (reporter, room_id, event_id, reason, score, received_ts) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING report_id",
        )
        .bind(report.reporter.as_str())
        .bind(report.room_id.as_str())
        .bind(report.event_id.as_ref().map(|e| e.as_str()))
        .bind(report.reason.as_deref())
        .bind(report.score)
        .bind(report.received_ts)
        .fetch_one(&self.write)
        .await?)
    }

    async fn count_reports(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM content_reports")
            .fetch_one(&self.read)
            .await?)
    }

    async fn reports(&self, offset: i64, limit: i64) -> StoreResult<Vec<ContentReport>> {
        let rows = sqlx::query(
            "SELECT report_id, reporter, room_id, event_id, reason, score, received_ts \
             FROM content_reports ORDER BY report_id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?;
        let corrupt = |what: &str, e: ruma::IdParseError| {
            StoreError::Corrupt(format!("stored report's {what} is invalid: {e}"))
        };
        rows.iter()
            .map(|r| {
                let event_id: Option<String> = r.try_get(3)?;
                Ok(ContentReport {
                    report_id: r.try_get(0)?,
                    report: NewReport {
                        reporter: OwnedUserId::try_from(r.try_get::<String, _>(1)?)
                            .map_err(|e| corrupt("reporter", e))?,
                        room_id: OwnedRoomId::try_from(r.try_get::<String, _>(2)?)
                            .map_err(|e| corrupt("room", e))?,
                        event_id: event_id
                            .map(OwnedEventId::try_from)
                            .transpose()
                            .map_err(|e| corrupt("event", e))?,
                        reason: r.try_get(4)?,
                        score: r.try_get(5)?,
                        received_ts: r.try_get(6)?,
                    },
                })
            })
            .collect()
    }
}
