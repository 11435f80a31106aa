//! A sync answer's sections as ruma's types. The events in them stay raw
//! JSON (each served event is written once, into its `Raw`), so typing the
//! answer costs no second serialisation.

use std::collections::BTreeMap;

use missive_store::Membership;
use ruma::{
    OneTimeKeyAlgorithm, OwnedEventId, OwnedUserId, UInt, UserId,
    api::client::sync::sync_events::{
        UnreadNotificationsCount,
        v3::{
            Ephemeral, InviteState, InvitedRoom, JoinedRoom, KnockState, KnockedRoom, LeftRoom,
            RoomAccountData, RoomSummary, State, StateEvents, Timeline,
        },
    },
    events::room::member::MembershipState,
    serde::Raw,
};
use serde_json::Value;

use crate::{error::ApiResult, services::reader::to_raw};

/// One room's part of a sync, before it becomes a joined or left room.
pub(super) struct RoomSection {
    pub timeline: Vec<Value>,
    pub limited: bool,
    pub prev_batch: String,
    pub state: Vec<Value>,
    pub account_data: Vec<Value>,
    /// Joined rooms only: typing and receipts.
    pub ephemeral: Vec<Value>,
    /// Joined rooms only: (notifications, highlights); of the main
    /// timeline alone when counted per thread.
    pub unread: Option<(i64, i64)>,
    /// Joined rooms, counted per thread: thread root → (notifications,
    /// highlights), for threads with anything unread.
    pub thread_unread: BTreeMap<String, (i64, i64)>,
    /// Joined rooms only, when the membership may have changed.
    pub summary: Option<RoomSummary>,
}

fn raws<T>(values: &[Value]) -> ApiResult<Vec<Raw<T>>> {
    values.iter().map(to_raw).collect()
}

fn count(n: i64) -> Option<UInt> {
    Some(UInt::try_from(n.max(0)).unwrap_or_default())
}

impl RoomSection {
    /// Nothing to tell the client about this room.
    pub fn is_empty(&self) -> bool {
        self.timeline.is_empty()
            && self.state.is_empty()
            && self.ephemeral.is_empty()
            && self.account_data.is_empty()
    }

    fn timeline(&self) -> ApiResult<Timeline> {
        let mut timeline = Timeline::new();
        timeline.events = raws(&self.timeline)?;
        timeline.limited = self.limited;
        timeline.prev_batch = Some(self.prev_batch.clone());
        Ok(timeline)
    }

    fn state(&self) -> ApiResult<State> {
        let mut state = StateEvents::new();
        state.events = raws(&self.state)?;
        Ok(State::Before(state))
    }

    fn account_data(&self) -> ApiResult<RoomAccountData> {
        let mut data = RoomAccountData::new();
        data.events = raws(&self.account_data)?;
        Ok(data)
    }

    pub fn into_joined(self) -> ApiResult<JoinedRoom> {
        let mut room = JoinedRoom::new();
        room.timeline = self.timeline()?;
        room.state = self.state()?;
        room.account_data = self.account_data()?;
        let mut ephemeral = Ephemeral::new();
        ephemeral.events = raws(&self.ephemeral)?;
        room.ephemeral = ephemeral;
        if let Some((notifications, highlights)) = self.unread {
            let mut unread = UnreadNotificationsCount::new();
            unread.notification_count = count(notifications);
            unread.highlight_count = count(highlights);
            room.unread_notifications = unread;
        }
        for (root, (notifications, highlights)) in self.thread_unread {
            let Ok(root) = OwnedEventId::try_from(root) else {
                continue;
            };
            let mut unread = UnreadNotificationsCount::new();
            unread.notification_count = count(notifications);
            unread.highlight_count = count(highlights);
            room.unread_thread_notifications.insert(root, unread);
        }
        if let Some(summary) = self.summary {
            room.summary = summary;
        }
        Ok(room)
    }

    pub fn into_left(self) -> ApiResult<LeftRoom> {
        let mut room = LeftRoom::new();
        room.timeline = self.timeline()?;
        room.state = self.state()?;
        room.account_data = self.account_data()?;
        Ok(room)
    }
}

/// An invited room: the stripped state the client shows.
pub(super) fn invited(events: &[Value]) -> ApiResult<InvitedRoom> {
    let mut state = InviteState::new();
    state.events = raws(events)?;
    let mut room = InvitedRoom::new();
    room.invite_state = state;
    Ok(room)
}

/// A knocked room: the stripped state the client shows.
pub(super) fn knocked(events: &[Value]) -> ApiResult<KnockedRoom> {
    let mut state = KnockState::new();
    state.events = raws(events)?;
    let mut room = KnockedRoom::new();
    room.knock_state = state;
    Ok(room)
}

/// The room summary: member counts and up to five heroes (others joined
/// or invited), as clients name rooms without a name.
pub(super) fn summary(members: &[Membership], user: &UserId) -> RoomSummary {
    let joined = members
        .iter()
        .filter(|m| m.membership == MembershipState::Join)
        .count();
    let invited = members
        .iter()
        .filter(|m| m.membership == MembershipState::Invite)
        .count();
    let mut summary = RoomSummary::new();
    summary.heroes = members
        .iter()
        .filter(|m| {
            m.user_id != user.as_str()
                && matches!(
                    m.membership,
                    MembershipState::Join | MembershipState::Invite
                )
        })
        .filter_map(|m| OwnedUserId::try_from(m.user_id.as_str()).ok())
        .take(5)
        .collect();
    summary.joined_member_count = count(i64::try_from(joined).unwrap_or(i64::MAX));
    summary.invited_member_count = count(i64::try_from(invited).unwrap_or(i64::MAX));
    summary
}

/// The device's one-time key counts. `signed_curve25519` is always there,
/// zero when none is left, as Synapse sends it: clients read a missing
/// count as "unknown" and may never upload new keys.
pub(super) fn one_time_key_counts(
    counts: BTreeMap<String, i64>,
) -> BTreeMap<OneTimeKeyAlgorithm, UInt> {
    let mut counts: BTreeMap<OneTimeKeyAlgorithm, UInt> = counts
        .into_iter()
        .map(|(algorithm, n)| {
            (
                OneTimeKeyAlgorithm::from(algorithm.as_str()),
                UInt::try_from(n.max(0)).unwrap_or_default(),
            )
        })
        .collect();
    counts
        .entry(OneTimeKeyAlgorithm::SignedCurve25519)
        .or_insert(UInt::MIN);
    counts
}
