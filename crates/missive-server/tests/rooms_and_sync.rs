//! Rooms, messages and sync through missive-server with matrix-sdk as the
//! client: two users talk; a third cannot read.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use matrix_sdk::{
    Client,
    config::SyncSettings,
    room::MessagesOptions,
    ruma::{
        OwnedRoomId,
        api::client::{receipt::create_receipt::v3::ReceiptType, room::create_room},
        api::error::ErrorKind,
        events::{
            Mentions,
            receipt::ReceiptThread,
            room::{member::MembershipState, message::RoomMessageEventContent},
        },
    },
};
use support::{Backend, TestServer, sync_once, sync_until};

fn body(event: &matrix_sdk::deserialized_responses::TimelineEvent) -> Option<String> {
    event
        .raw()
        .get_field::<serde_json::Value>("content")
        .ok()
        .flatten()
        .and_then(|c| c.get("body").and_then(|b| b.as_str()).map(str::to_owned))
}

/// Alice creates a named private room, invites bob, bob joins.
async fn private_room(alice: &Client, bob: &Client) -> OwnedRoomId {
    let mut request = create_room::v3::Request::new();
    request.name = Some("Cabinet".into());
    request.topic = Some("Réunion du lundi".into());
    let room = alice.create_room(request).await.expect("create room");
    let room_id = room.room_id().to_owned();
    room.invite_user_by_id(bob.user_id().unwrap())
        .await
        .expect("invite");
    sync_until(&[bob], 20, "bob sees the invite", || async {
        support::invited_to(bob, &room_id)
    })
    .await;
    bob.join_room_by_id(&room_id).await.expect("bob joins");
    sync_until(&[alice, bob], 20, "both see two members", || async {
        alice
            .get_room(&room_id)
            .is_some_and(|r| r.joined_members_count() == 2)
            && bob
                .get_room(&room_id)
                .is_some_and(|r| r.joined_members_count() == 2)
    })
    .await;
    room_id
}

async fn conversation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let room_id = private_room(&alice, &bob).await;

    let bob_room = bob.get_room(&room_id).unwrap();
    assert_eq!(bob_room.name().as_deref(), Some("Cabinet"));
    assert_eq!(bob_room.topic().as_deref(), Some("Réunion du lundi"));

    // A long-poll from bob (since a token, 30 s timeout) is woken by
    // alice's message: start it, then send. An unrelated wake-up only
    // restarts the poll from its next_batch, a bounded number of times.
    let token = sync_once(&bob).await;
    let poll = {
        let bob = bob.clone();
        let room_id = room_id.clone();
        tokio::spawn(async move {
            let mut token = token;
            for _ in 0..5 {
                let response = bob
                    .sync_once(
                        SyncSettings::default()
                            .token(token)
                            .timeout(Duration::from_secs(30)),
                    )
                    .await
                    .expect("long-poll sync");
                let bodies: Vec<String> = response
                    .rooms
                    .joined
                    .get(&room_id)
                    .map(|j| j.timeline.events.iter().filter_map(body).collect())
                    .unwrap_or_default();
                if !bodies.is_empty() {
                    return bodies;
                }
                token = response.next_batch;
            }
            panic!("five long-polls returned without alice's message");
        })
    };
    let alice_room = alice.get_room(&room_id).unwrap();
    let sent = alice_room
        .send(RoomMessageEventContent::text_plain("Bonjour Bob"))
        .await
        .expect("send");
    assert_eq!(poll.await.unwrap(), ["Bonjour Bob"]);

    // Bob answers; alice receives it.
    let reply = bob_room
        .send(RoomMessageEventContent::text_plain("Bonjour Alice"))
        .await
        .expect("reply");
    let reply_id = reply.response.event_id.clone();
    sync_until(&[&alice], 20, "alice receives bob's reply", || async {
        alice_room
            .event(&reply_id, None)
            .await
            .ok()
            .and_then(|e| body(&e))
            .as_deref()
            == Some("Bonjour Alice")
    })
    .await;

    // Typing and a read receipt from bob reach alice through sync.
    let mut token = sync_once(&alice).await;
    bob_room.typing_notice(true).await.expect("typing");
    let mut bob_typing = false;
    for _ in 0..10 {
        let response = alice
            .sync_once(
                SyncSettings::default()
                    .token(token)
                    .timeout(Duration::from_secs(10)),
            )
            .await
            .expect("sync");
        bob_typing = response.rooms.joined.get(&room_id).is_some_and(|j| {
            j.ephemeral.iter().any(|e| {
                e.get_field::<String>("type").ok().flatten().as_deref() == Some("m.typing")
                    && e.get_field::<serde_json::Value>("content")
                        .ok()
                        .flatten()
                        .is_some_and(|c| c["user_ids"] == serde_json::json!(["@bob:localhost"]))
            })
        });
        if bob_typing {
            break;
        }
        token = response.next_batch;
    }
    assert!(bob_typing, "bob's typing notice never reached alice's sync");
    bob_room
        .send_single_receipt(
            ReceiptType::Read,
            ReceiptThread::Unthreaded,
            sent.response.event_id.clone(),
        )
        .await
        .expect("receipt");
    sync_until(&[&alice], 20, "alice sees bob's read receipt", || async {
        alice_room
            .load_user_receipt(
                matrix_sdk::ruma::events::receipt::ReceiptType::Read,
                ReceiptThread::Unthreaded,
                bob.user_id().unwrap(),
            )
            .await
            .ok()
            .flatten()
            .is_some_and(|(event_id, _)| event_id == sent.response.event_id)
    })
    .await;

    // A display name change shows in the member event.
    bob.account()
        .set_display_name(Some("Bob B."))
        .await
        .expect("display name");
    sync_until(&[&alice], 20, "alice sees bob's new name", || async {
        alice_room
            .get_member(bob.user_id().unwrap())
            .await
            .ok()
            .flatten()
            .is_some_and(|m| m.display_name() == Some("Bob B."))
    })
    .await;

    // Bob leaves; alice sees it.
    bob_room.leave().await.expect("leave");
    sync_until(&[&alice], 20, "alice sees bob leave", || async {
        let left = alice_room
            .get_member_no_sync(bob.user_id().unwrap())
            .await
            .ok()
            .flatten()
            .is_some_and(|m| *m.membership() == MembershipState::Leave);
        left && alice_room.joined_members_count() == 1
    })
    .await;
}

async fn history_paginates(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let room_id = private_room(&alice, &bob).await;
    let room = alice.get_room(&room_id).unwrap();
    for i in 0..30 {
        room.send(RoomMessageEventContent::text_plain(format!("message {i}")))
            .await
            .expect("send");
    }
    // Bob reads the whole history back, page by page.
    let bob_room = bob.get_room(&room_id).unwrap();
    let mut from = None;
    let mut seen = Vec::new();
    let mut exhausted = false;
    for _ in 0..50 {
        let mut options = MessagesOptions::backward().from(from.as_deref());
        options.limit = 7u32.into();
        let page = bob_room.messages(options).await.expect("messages");
        seen.extend(page.chunk.iter().filter_map(body));
        match page.end {
            Some(end) => from = Some(end),
            None => {
                exhausted = true;
                break;
            }
        }
    }
    assert!(
        exhausted,
        "/messages never omitted `end` at the start of the room"
    );
    seen.reverse();
    let expected: Vec<String> = (0..30).map(|i| format!("message {i}")).collect();
    assert_eq!(seen, expected, "every message, once, in order");
}

async fn outsiders_cannot_read(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let room_id = private_room(&alice, &bob).await;
    alice
        .get_room(&room_id)
        .unwrap()
        .send(RoomMessageEventContent::text_plain("secret"))
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let token = carol.access_token().unwrap();
    for path in ["messages?dir=b", "state", "members", "joined_members"] {
        let res = http
            .get(format!(
                "{}/_matrix/client/v3/rooms/{room_id}/{path}",
                server.base_url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "carol reading {path}");
        let json: serde_json::Value = res.json().await.unwrap();
        assert_eq!(json["errcode"], "M_FORBIDDEN");
    }
    // The room is invite-only: carol cannot join it.
    let err = carol
        .join_room_by_id(&room_id)
        .await
        .expect_err("joining an invite-only room");
    assert_eq!(
        err.as_client_api_error().map(|e| e.status_code.as_u16()),
        Some(403)
    );
    assert!(
        matches!(err.client_api_error_kind(), Some(ErrorKind::Forbidden)),
        "M_FORBIDDEN, got {err:?}"
    );
    // Nothing about the room leaks into carol's sync.
    let response = carol
        .sync_once(SyncSettings::default().timeout(Duration::ZERO))
        .await
        .unwrap();
    assert!(
        !response.rooms.joined.contains_key(&room_id)
            && !response.rooms.invited.contains_key(&room_id)
    );
}

/// Unread counts come from each member's push rules: a message in a
/// one-to-one room notifies, a mention highlights, and membership changes
/// of others (an invite, a join) notify nobody else.
async fn unread_counts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    for c in [&alice, &bob, &carol] {
        sync_once(c).await;
    }
    let room_id = private_room(&alice, &bob).await;
    let alice_room = alice.get_room(&room_id).unwrap();
    let counts = |c: &Client| {
        let counts = c.get_room(&room_id).unwrap().unread_notification_counts();
        (counts.notification_count, counts.highlight_count)
    };

    alice_room
        .send(RoomMessageEventContent::text_plain("Bonjour"))
        .await
        .expect("send");
    sync_until(&[&bob], 20, "bob has one notification", || async {
        counts(&bob) == (1, 0)
    })
    .await;

    // Carol is invited and joins: nothing for bob.
    alice_room
        .invite_user_by_id(carol.user_id().unwrap())
        .await
        .expect("invite");
    sync_until(&[&carol], 20, "carol sees the invite", || async {
        support::invited_to(&carol, &room_id)
    })
    .await;
    carol.join_room_by_id(&room_id).await.expect("carol joins");
    sync_until(&[&bob], 20, "bob sees carol join", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.joined_members_count() == 3)
    })
    .await;
    assert_eq!(counts(&bob), (1, 0), "membership changes notified bob");

    // Every message counts (the default rules notify, without sound in a
    // room of three), a mention of bob also highlights.
    alice_room
        .send(RoomMessageEventContent::text_plain("Tout le monde"))
        .await
        .expect("send");
    alice_room
        .send(
            RoomMessageEventContent::text_plain("Bob, une question")
                .add_mentions(Mentions::with_user_ids([bob.user_id().unwrap().to_owned()])),
        )
        .await
        .expect("send mention");
    sync_until(&[&bob], 20, "bob's mention highlights", || async {
        counts(&bob) == (3, 1)
    })
    .await;
}

both_backends! {
    two_users_talk_type_and_read => conversation,
    history_paginates_backwards_completely => history_paginates,
    non_members_cannot_read_or_join => outsiders_cannot_read,
    unread_counts_follow_push_rules => unread_counts,
}
