//! Third-party invites by e-mail. Inviting an address already bound to a
//! local account is an ordinary invite of that account; otherwise the
//! inviter sends `m.room.third_party_invite` (state key: a random token;
//! the address masked; this server's long-term and a new ephemeral public
//! key), the invite waits in the store and the address gets a mail. When
//! the address becomes an account's (registration or `/account/3pid/add`
//! call [`IdentityServer::exchange`]), each waiting invite becomes an
//! `m.room.member` invite from the original inviter carrying
//! `third_party_invite.signed` (mxid and token signed with the long-term
//! key through ruma), which ruma's authorization rules check against the
//! room's `m.room.third_party_invite`. An invite whose event was emptied
//! (revoked) is dropped: the rules would refuse it anyway.

use missive_core::event_builder::EventTemplate;
use missive_store::{AccountStore, EventStore, IdentityStore, ThirdPartyInvite};
use ruma::{
    CanonicalJsonValue, OwnedRoomId, OwnedUserId, RoomId, UserId,
    api::identity_service::invitation::store_invitation,
    events::{StateEventType, room::member::MembershipState},
    signatures::Ed25519KeyPair,
    third_party_invite::IdentityServerBase64PublicKey,
};
use serde_json::{Value, json};

use super::{IdentityServer, PREFIX, b64, mask_email};
use crate::{
    error::{ApiError, ApiResult},
    services::{
        accounts::random_alphanumeric,
        mail::{Mail, escape_html},
        threepids::canonicalise_email,
    },
    time::now_ms,
};

/// What `store-invite` answers: the token and the keys to put in the
/// `m.room.third_party_invite` event.
pub struct StoredInvite {
    pub token: String,
    pub display_name: String,
    pub ephemeral_key: String,
}

impl IdentityServer {
    fn key_validity_url(&self) -> String {
        format!("{}{PREFIX}/pubkey/isvalid", self.inner.public_baseurl)
    }

    fn ephemeral_validity_url(&self) -> String {
        format!(
            "{}{PREFIX}/pubkey/ephemeral/isvalid",
            self.inner.public_baseurl
        )
    }

    /// The long-term and ephemeral keys of an invite, as `store-invite`
    /// answers them.
    pub fn invite_keys(
        &self,
        stored: &StoredInvite,
    ) -> (
        store_invitation::v2::PublicKey,
        store_invitation::v2::PublicKey,
    ) {
        (
            store_invitation::v2::PublicKey::new(
                IdentityServerBase64PublicKey(self.public_key()),
                self.key_validity_url(),
            ),
            store_invitation::v2::PublicKey::new(
                IdentityServerBase64PublicKey(stored.ephemeral_key.clone()),
                self.ephemeral_validity_url(),
            ),
        )
    }

    /// `POST /rooms/{roomId}/invite` naming an e-mail address and an
    /// identity server, which must be this one.
    pub async fn invite_by_email(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        id_server: &str,
        medium: &str,
        address: &str,
    ) -> ApiResult<()> {
        if !self.is_own(id_server) {
            return Err(ApiError::ServerNotTrusted(
                "this server trusts no identity server but its own".into(),
            ));
        }
        if medium != "email" {
            return Err(ApiError::ThreepidMediumNotSupported(
                "only e-mail addresses can be invited".into(),
            ));
        }
        let address = canonicalise_email(address)?;
        if let Some(user) = self.user_of(&address).await? {
            self.inner
                .rooms
                .invite(room_id, sender, &user, None, false)
                .await?;
            return Ok(());
        }
        self.inner.rooms.room(room_id).await?;
        let stored = self.prepare(sender, &address).await?;
        let content = json!({
            "display_name": stored.display_name,
            "key_validity_url": self.key_validity_url(),
            "public_key": self.public_key(),
            "public_keys": [
                { "public_key": self.public_key(), "key_validity_url": self.key_validity_url() },
                { "public_key": stored.ephemeral_key, "key_validity_url": self.ephemeral_validity_url() },
            ],
        });
        // The room's rules decide first (the invite power level): nothing
        // is kept or mailed for an invite they refuse.
        self.inner
            .rooms
            .send(
                room_id,
                sender,
                EventTemplate::state(StateEventType::RoomThirdPartyInvite, &stored.token, content),
                None,
            )
            .await?;
        self.record_and_mail(room_id, sender, &address, &stored)
            .await?;
        tracing::info!(room = %room_id, %sender, "invited an e-mail address");
        Ok(())
    }

    /// `POST /store-invite`, for a room of this server the sender is in:
    /// the token and keys for the inviter's `m.room.third_party_invite`.
    pub async fn store_invite(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        medium: &str,
        address: &str,
    ) -> ApiResult<StoredInvite> {
        if medium != "email" {
            return Err(ApiError::ThreepidMediumNotSupported(
                "only e-mail addresses can be invited".into(),
            ));
        }
        let address = canonicalise_email(address)?;
        if self.user_of(&address).await?.is_some() {
            return Err(ApiError::ThreepidInUse(
                "this address is bound: invite its account".into(),
            ));
        }
        self.inner.rooms.room(room_id).await?;
        let joined = self
            .inner
            .store
            .membership(room_id, sender)
            .await?
            .is_some_and(|m| m.membership == MembershipState::Join);
        if !joined {
            return Err(ApiError::forbidden("the sender is not in this room"));
        }
        let stored = self.prepare(sender, &address).await?;
        self.record_and_mail(room_id, sender, &address, &stored)
            .await?;
        Ok(stored)
    }

    /// A new token, the masked address, and a new ephemeral key (only its
    /// public half is kept: nothing is signed with it). Each invitation
    /// mails someone: limited per address and per inviter, as validation
    /// mails are.
    async fn prepare(&self, sender: &UserId, address: &str) -> ApiResult<StoredInvite> {
        if self.inner.mailer.is_none() {
            return Err(ApiError::ThreepidMediumNotSupported(
                "e-mail is not configured on this server".into(),
            ));
        }
        self.inner.limiter.check_mail(address, None)?;
        self.inner.limiter.check_mail(sender.as_str(), None)?;
        let document = Ed25519KeyPair::generate();
        let ephemeral = Ed25519KeyPair::from_der(&document, "0".into())
            .map_err(|e| ApiError::Internal(format!("ephemeral key: {e}")))?;
        let ephemeral_key = b64(&ephemeral.public_key());
        self.inner
            .store
            .add_ephemeral_key(&ephemeral_key, now_ms())
            .await?;
        Ok(StoredInvite {
            token: random_alphanumeric(32),
            display_name: mask_email(address),
            ephemeral_key,
        })
    }

    async fn record_and_mail(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        address: &str,
        stored: &StoredInvite,
    ) -> ApiResult<()> {
        let store = &self.inner.store;
        store
            .add_third_party_invite(&ThirdPartyInvite {
                token: stored.token.clone(),
                medium: "email".into(),
                address: address.to_owned(),
                room_id: room_id.to_string(),
                sender: sender.to_string(),
                display_name: stored.display_name.clone(),
                created_ts: now_ms(),
            })
            .await?;
        let room_name = store
            .current_state_event(room_id, "m.room.name", "")
            .await?
            .and_then(|e| serde_json::from_str::<Value>(&e.json).ok())
            .and_then(|e| e["content"]["name"].as_str().map(str::to_owned));
        let inviter = store
            .user(sender)
            .await?
            .and_then(|u| u.displayname)
            .unwrap_or_else(|| sender.to_string());
        let mail = invitation_mail(
            &self.inner.server_name,
            &inviter,
            room_name.as_deref(),
            &format!("{}/", self.inner.public_baseurl),
        );
        let mailer = self.inner.mailer.as_ref().ok_or_else(|| {
            ApiError::ThreepidMediumNotSupported("e-mail is not configured".into())
        })?;
        // The invite exists by now (its event is in the room, and it is
        // kept for the address): a mail relay that fails is logged, not
        // answered as an error a client would retry into a second invite.
        if let Err(e) = mailer.send(address, mail).await {
            tracing::warn!(room = %room_id, error = %e, "the invitation mail was not sent");
        }
        Ok(())
    }

    /// Exchanges every invite waiting for `address` for an invite of
    /// `user`, who now holds it. Failures are logged, not returned: the
    /// address is the user's whatever becomes of the invites.
    pub async fn exchange(&self, user: &UserId, address: &str) {
        let pending = match self
            .inner
            .store
            .third_party_invites_for("email", address)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read pending third-party invites");
                return;
            }
        };
        for invite in pending {
            match self.exchange_one(user, &invite).await {
                Ok(true) => {
                    tracing::info!(room = %invite.room_id, %user, "third-party invite exchanged")
                }
                Ok(false) => {
                    tracing::info!(room = %invite.room_id, "third-party invite was revoked")
                }
                Err(e) => {
                    tracing::warn!(room = %invite.room_id, error = %e, "third-party invite not exchanged")
                }
            }
            if let Err(e) = self
                .inner
                .store
                .delete_third_party_invite(&invite.token)
                .await
            {
                tracing::warn!(error = %e, "cannot forget a third-party invite");
            }
        }
    }

    /// One invite: false when it was revoked.
    async fn exchange_one(&self, user: &UserId, invite: &ThirdPartyInvite) -> ApiResult<bool> {
        let room_id = OwnedRoomId::try_from(invite.room_id.as_str())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let sender = OwnedUserId::try_from(invite.sender.as_str())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let current = self
            .inner
            .store
            .current_state_event(&room_id, "m.room.third_party_invite", &invite.token)
            .await?
            .and_then(|e| serde_json::from_str::<Value>(&e.json).ok());
        let live = current.is_some_and(|e| {
            e["content"].get("public_key").is_some() || e["content"].get("public_keys").is_some()
        });
        if !live {
            return Ok(false);
        }
        let signed = self.sign_invite(user, &invite.token)?;
        let mut content = json!({
            "membership": "invite",
            "third_party_invite": { "display_name": invite.display_name, "signed": signed },
        });
        if let Some(name) = self
            .inner
            .store
            .user(user)
            .await?
            .and_then(|u| u.displayname)
        {
            content["displayname"] = json!(name);
        }
        self.inner
            .rooms
            .send(
                &room_id,
                &sender,
                EventTemplate::state(StateEventType::RoomMember, user.as_str(), content),
                None,
            )
            .await?;
        Ok(true)
    }

    /// `{mxid, token, signatures}` signed with the long-term key.
    fn sign_invite(&self, user: &UserId, token: &str) -> ApiResult<Value> {
        let mut object = ruma::CanonicalJsonObject::new();
        object.insert("mxid".into(), CanonicalJsonValue::String(user.to_string()));
        object.insert("token".into(), CanonicalJsonValue::String(token.to_owned()));
        ruma::signatures::sign_json(&self.inner.server_name, &self.inner.key, &mut object)
            .map_err(|e| ApiError::Internal(format!("cannot sign the invite: {e}")))?;
        serde_json::to_value(&object).map_err(|e| ApiError::Internal(e.to_string()))
    }
}

/// The invitation, in French and English.
fn invitation_mail(server: &str, inviter: &str, room: Option<&str>, link: &str) -> Mail {
    let (room_fr, room_en) = match room {
        Some(name) => (
            format!("au salon « {name} »"),
            format!("to the room \"{name}\""),
        ),
        None => ("à un salon".to_owned(), "to a room".to_owned()),
    };
    let subject = format!("[{server}] {inviter} vous invite / invites you");
    let text = format!(
        "Bonjour,\n\n{inviter} vous invite {room_fr} sur la messagerie {server}.\n\
         Créez votre compte avec cette adresse e-mail pour rejoindre la conversation :\n\n{link}\n\n\
         ---\n\nHello,\n\n{inviter} invites you {room_en} on the {server} messenger.\n\
         Create your account with this e-mail address to join the conversation:\n\n{link}\n"
    );
    let (i, rf, re, l, s) = (
        escape_html(inviter),
        escape_html(&room_fr),
        escape_html(&room_en),
        escape_html(link),
        escape_html(server),
    );
    let html = format!(
        "<!DOCTYPE html><html><body>\
         <div lang=\"fr\"><p>Bonjour,</p><p>{i} vous invite {rf} sur la messagerie {s}.</p>\
         <p>Créez votre compte avec cette adresse e-mail pour rejoindre la conversation :</p>\
         <p><a href=\"{l}\">Rejoindre</a></p></div><hr>\
         <div lang=\"en\"><p>Hello,</p><p>{i} invites you {re} on the {s} messenger.</p>\
         <p>Create your account with this e-mail address to join the conversation:</p>\
         <p><a href=\"{l}\">Join</a></p></div></body></html>"
    );
    Mail {
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitations_are_bilingual_and_escaped() {
        let m = invitation_mail("gouv.fr", "Alice <a>", Some("Équipe"), "https://x/");
        assert!(m.text.contains("vous invite au salon « Équipe »"));
        assert!(m.text.contains("invites you to the room \"Équipe\""));
        assert!(m.html.contains("Alice &lt;a&gt;"));
    }
}
