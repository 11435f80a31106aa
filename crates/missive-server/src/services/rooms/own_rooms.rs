//! A user's own view of their rooms: which they are joined to, removing
//! others (kick, unban only where it applies), forgetting a room left.

use missive_store::EventStore;
use ruma::{OwnedRoomId, RoomId, UserId};

use super::Rooms;
use crate::error::{ApiError, ApiResult};
use ruma::events::room::member::MembershipState;

impl Rooms {
    /// The rooms `user` is joined to.
    pub async fn joined_rooms(&self, user: &UserId) -> ApiResult<Vec<OwnedRoomId>> {
        Ok(self
            .store()
            .user_memberships(user)
            .await?
            .into_iter()
            .filter(|m| m.membership == MembershipState::Join)
            .filter_map(|m| RoomId::parse(m.room_id).ok())
            .collect())
    }

    /// `target`'s current membership in the room, if any.
    async fn membership_of(
        &self,
        room: &RoomId,
        target: &UserId,
    ) -> ApiResult<Option<MembershipState>> {
        Ok(self
            .store()
            .membership(room, target)
            .await?
            .map(|m| m.membership))
    }

    /// Removes `target` from the room, as `by`: only someone who is in it
    /// (joined, invited or knocking).
    pub async fn kick(
        &self,
        room: &RoomId,
        by: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> ApiResult<()> {
        let current = self.membership_of(room, target).await?;
        if !current.is_some_and(|m| {
            matches!(
                m,
                MembershipState::Join | MembershipState::Invite | MembershipState::Knock
            )
        }) {
            return Err(ApiError::forbidden("the user is not in the room"));
        }
        self.set_other_membership(room, by, target, "leave", reason)
            .await?;
        Ok(())
    }

    /// Lifts `target`'s ban, as `by`.
    pub async fn unban(
        &self,
        room: &RoomId,
        by: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> ApiResult<()> {
        if self.membership_of(room, target).await? != Some(MembershipState::Ban) {
            return Err(ApiError::forbidden("the user is not banned"));
        }
        self.set_other_membership(room, by, target, "leave", reason)
            .await?;
        Ok(())
    }

    /// Forgets a room the user has left: it no longer shows in their sync.
    pub async fn forget(&self, room: &RoomId, user: &UserId) -> ApiResult<()> {
        match self.membership_of(room, user).await? {
            Some(MembershipState::Join | MembershipState::Invite | MembershipState::Knock) => Err(
                ApiError::BadState("leave the room before forgetting it".into()),
            ),
            Some(_) => Ok(self.store().forget_room(room, user).await?),
            None => Err(ApiError::not_found("you were never in this room")),
        }
    }
}
