//! History from before this server joined a room: when a client pages
//! back past the oldest event held here (and it is not the room's
//! creation), older events are asked of the servers in the room with
//! `/backfill`, checked (format, signatures, content hash) and kept as
//! backfilled history (`BackfillStore`), and the page is read again.
//! They are outliers: shown in the timeline, never used for state.

use missive_core::incoming;
use missive_store::{BackfillStore, FederationOutboxStore};
use ruma::{
    OwnedEventId, RoomId, ServerName, UInt, UserId, api::federation::backfill::get_backfill,
};

use super::inbound::Inbound;
use crate::{
    error::{ApiError, ApiResult},
    services::{
        reader::{Messages, MessagesQuery, Reader},
        rooms::record_of,
    },
};

/// The most events asked of a server at once.
const BACKFILL_LIMIT: u32 = 100;

impl Inbound {
    /// `/messages`, going on into other servers' history where this
    /// server's ends (see the module docs).
    pub async fn messages(
        &self,
        reader: &Reader,
        room_id: &RoomId,
        user: &UserId,
        device_id: &str,
        query: MessagesQuery<'_>,
    ) -> ApiResult<Messages> {
        let mut page = reader.messages(room_id, user, device_id, query).await?;
        let Some(from) = page.backfill_from.take() else {
            return Ok(page);
        };
        let fetched = match self.backfill(room_id, &from).await {
            Ok(n) => n,
            Err(e) => {
                tracing::info!(%room_id, error = %e, "backfill failed");
                0
            }
        };
        if fetched == 0 {
            // Nothing older to be had: the history ends here.
            page.end = None;
            return Ok(page);
        }
        let mut again = reader.messages(room_id, user, device_id, query).await?;
        again.backfill_from = None;
        Ok(again)
    }

    /// Asks the servers in the room for the events before `from`; keeps
    /// the new ones that pass the checks. Returns how many were kept.
    async fn backfill(&self, room_id: &RoomId, from: &str) -> ApiResult<usize> {
        let Ok(client) = self.federation().client() else {
            return Ok(0);
        };
        let Some((version, rules)) = self.room_version(room_id).await? else {
            return Ok(0);
        };
        let from_id = OwnedEventId::try_from(from)
            .map_err(|e| ApiError::Internal(format!("stored event ID {from}: {e}")))?;
        let own = self.server_name().to_owned();
        let servers = self.store().room_servers(room_id.as_str()).await?;
        for server in servers.iter().filter(|s| **s != own.as_str()) {
            let Ok(server) = ServerName::parse(server) else {
                continue;
            };
            let request = get_backfill::v1::Request::new(
                room_id.to_owned(),
                vec![from_id.clone()],
                UInt::from(BACKFILL_LIMIT),
            );
            let answer = match client.send(&server, request).await {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::info!(%room_id, %server, error = %e, "backfill request failed");
                    continue;
                }
            };
            let mut pdus = Vec::new();
            for raw in &answer.pdus {
                let Ok(parsed) = incoming::parse(raw, &version, room_id) else {
                    continue;
                };
                if parsed.event_id() == &*from_id {
                    continue;
                }
                match self.verify_pdu(parsed).await {
                    Ok(pdu) => pdus.push(pdu),
                    Err(e) => tracing::info!(%room_id, error = %e, "backfilled event refused"),
                }
            }
            // Newest first, as the history is kept.
            pdus.sort_by_key(|p| std::cmp::Reverse((p.depth, p.origin_server_ts)));
            let records = pdus
                .iter()
                .map(|p| record_of(p, &rules))
                .collect::<ApiResult<Vec<_>>>()?;
            let kept = self
                .store()
                .add_backfilled(room_id.as_str(), &records)
                .await?;
            if kept > 0 {
                return Ok(kept);
            }
        }
        Ok(0)
    }
}
