//! What `/sync` must get right whatever the filter: timeline filters select
//! before the limit, `limit: 0`, state that no filter or limit drops, a
//! display-name change that does not resend the room, exact lazy-loaded
//! members, account-data filters, the federation event format and
//! `unsigned.membership`.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

/// One sync as `token`, with an inline filter and an optional token.
async fn sync(server: &TestServer, token: &str, since: Option<&str>, filter: Value) -> Value {
    let mut path = format!(
        "/_matrix/client/v3/sync?timeout=0&filter={}",
        urlencode(&filter.to_string())
    );
    if let Some(since) = since {
        path.push_str(&format!("&since={since}"));
    }
    let (status, body) = server.call(Some(token), "GET", &path, Value::Null).await;
    assert_eq!(status, 200, "sync: {body}");
    body
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn room<'a>(sync: &'a Value, room: &str) -> &'a Value {
    &sync["rooms"]["join"][room]
}

fn timeline_types(sync: &Value, room_id: &str) -> Vec<String> {
    room(sync, room_id)["timeline"]["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["type"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn state_of<'a>(sync: &'a Value, room_id: &str, ty: &str, key: &str) -> Vec<&'a Value> {
    room(sync, room_id)["state"]["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["type"] == ty && e["state_key"] == key)
                .collect()
        })
        .unwrap_or_default()
}

async fn send_noise(server: &TestServer, token: &str, room: &str, prefix: &str, n: usize) {
    for i in 0..n {
        let (status, v) = server
            .send_event(
                token,
                room,
                "org.example.noise",
                &format!("{prefix}{i}"),
                json!({ "i": i }),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }
}

/// A type filter picks the newest matching events, however many others
/// came after them; `limit: 0` sends no timeline but the whole state.
async fn timeline_filter_selects_before_limit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let message = server.say(&alice, &room_id, "m1", "the one message").await;
    send_noise(&server, &alice, &room_id, "n", 25).await;

    let filter = json!({ "room": { "timeline": { "types": ["m.room.message"], "limit": 5 } } });
    let first = sync(&server, &alice, None, filter.clone()).await;
    let events = &room(&first, &room_id)["timeline"]["events"];
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events[0]["event_id"], message.as_str());

    // Incremental, with the match far behind newer non-matching events.
    let since = first["next_batch"].as_str().unwrap().to_owned();
    let second = server.say(&alice, &room_id, "m2", "another").await;
    send_noise(&server, &alice, &room_id, "o", 15).await;
    let next = sync(&server, &alice, Some(&since), filter).await;
    let events = &room(&next, &room_id)["timeline"]["events"];
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events[0]["event_id"], second.as_str());

    let none = sync(
        &server,
        &alice,
        None,
        json!({ "room": { "timeline": { "limit": 0 } } }),
    )
    .await;
    let section = room(&none, &room_id);
    assert_eq!(section["timeline"]["events"], json!([]), "{section}");
    assert_eq!(section["timeline"]["limited"], true);
    assert_eq!(state_of(&none, &room_id, "m.room.create", "").len(), 1);
    assert_eq!(
        state_of(&none, &room_id, "m.room.member", "@alice:localhost").len(),
        1
    );
}

/// State changed after the timeline's first event but filtered out of the
/// timeline still reaches the client, initially and incrementally.
async fn filters_never_drop_state(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let filter = json!({ "room": { "timeline": { "types": ["m.room.message"], "limit": 10 } } });
    let first = sync(&server, &alice, None, filter.clone()).await;
    let since = first["next_batch"].as_str().unwrap().to_owned();

    server.say(&alice, &room_id, "m1", "before the topic").await;
    server
        .send_state(
            &alice,
            &room_id,
            "m.room.topic",
            "",
            json!({ "topic": "budget" }),
        )
        .await;
    server.say(&alice, &room_id, "m2", "after the topic").await;

    let initial = sync(&server, &alice, None, filter.clone()).await;
    assert_eq!(
        timeline_types(&initial, &room_id),
        vec!["m.room.message"; 2]
    );
    let topic = state_of(&initial, &room_id, "m.room.topic", "");
    assert_eq!(topic.len(), 1, "initial sync lost the topic");
    assert_eq!(topic[0]["content"]["topic"], "budget");

    let incremental = sync(&server, &alice, Some(&since), filter).await;
    let topic = state_of(&incremental, &room_id, "m.room.topic", "");
    assert_eq!(topic.len(), 1, "incremental sync lost the topic");
}

/// Changing one's display name is a new member event, not a new join: the
/// next sync sends it in the timeline, not the whole room again.
async fn display_name_change_does_not_resend_the_room(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    for i in 0..12 {
        server
            .say(&alice, &room_id, &format!("t{i}"), "hello")
            .await;
    }
    let first = sync(&server, &alice, None, json!({})).await;
    let since = first["next_batch"].as_str().unwrap().to_owned();
    let (status, v) = server
        .call(
            Some(&alice),
            "PUT",
            "/_matrix/client/v3/profile/@alice:localhost/displayname",
            json!({ "displayname": "Alice A." }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let next = sync(&server, &alice, Some(&since), json!({})).await;
    let section = room(&next, &room_id);
    assert_eq!(
        timeline_types(&next, &room_id),
        vec!["m.room.member"],
        "{section}"
    );
    assert_ne!(section["timeline"]["limited"], true, "{section}");
    assert!(
        section["state"]["events"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{section}"
    );
}

/// Incremental lazy loading sends a sender's member event once per
/// device, and again only with `include_redundant_members`.
async fn lazy_members_are_sent_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room_id).await;
    let lazy = json!({ "room": { "state": { "lazy_load_members": true } } });
    let first = sync(&server, &alice, None, lazy.clone()).await;
    let mut since = first["next_batch"].as_str().unwrap().to_owned();
    let bob_member = |s: &Value| state_of(s, &room_id, "m.room.member", "@bob:localhost").len();
    // Bob's join is in alice's first timeline: nothing more is needed.
    let sent_first = bob_member(&first)
        + room(&first, &room_id)["timeline"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "m.room.member" && e["state_key"] == "@bob:localhost")
            .count();
    assert_eq!(sent_first, 1, "bob's member event once in the first sync");

    server.say(&bob, &room_id, "b1", "hi").await;
    let next = sync(&server, &alice, Some(&since), lazy.clone()).await;
    assert_eq!(bob_member(&next), 0, "already sent: {next}");
    since = next["next_batch"].as_str().unwrap().to_owned();

    // A new device of alice has not seen it: it gets bob's member event
    // with bob's first message in a non-limited incremental sync.
    let (_, login) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/login",
            json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" }, "password": support::PASSWORD }),
        )
        .await;
    let other_device = login["access_token"].as_str().unwrap().to_owned();
    let narrow =
        json!({ "room": { "state": { "lazy_load_members": true }, "timeline": { "limit": 1 } } });
    server.say(&alice, &room_id, "a1", "mine last").await;
    let fresh = sync(&server, &other_device, None, narrow.clone()).await;
    let fresh_since = fresh["next_batch"].as_str().unwrap().to_owned();
    server.say(&bob, &room_id, "b2", "again").await;
    let seen = sync(&server, &other_device, Some(&fresh_since), narrow).await;
    assert_eq!(
        bob_member(&seen),
        1,
        "a new device gets the sender's member event: {seen}"
    );

    let redundant = json!({ "room": { "state": { "lazy_load_members": true, "include_redundant_members": true } } });
    server.say(&bob, &room_id, "b3", "and again").await;
    let again = sync(&server, &alice, Some(&since), redundant).await;
    assert_eq!(
        bob_member(&again),
        1,
        "redundant members asked for: {again}"
    );
}

/// `account_data.types` applies to `m.push_rules` too, and
/// `event_format: federation` serves events as the server stores them.
async fn account_data_filter_and_federation_format(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let (status, v) = server
        .call(
            Some(&alice),
            "PUT",
            "/_matrix/client/v3/user/@alice:localhost/account_data/org.example.pref",
            json!({ "x": 1 }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let only_pref = json!({ "account_data": { "types": ["org.example.pref"] } });
    let s = sync(&server, &alice, None, only_pref).await;
    let types: Vec<&str> = s["account_data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["org.example.pref"]);
    let no_rules = json!({ "account_data": { "not_types": ["m.push_rules"] } });
    let s = sync(&server, &alice, None, no_rules).await;
    assert!(
        !s["account_data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.push_rules"),
        "{s}"
    );

    let federation = json!({ "event_format": "federation" });
    let s = sync(&server, &alice, None, federation).await;
    let section = room(&s, &room_id);
    let mut events = section["state"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    events.extend(
        section["timeline"]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    let create = events
        .iter()
        .find(|e| e["type"] == "m.room.create")
        .unwrap_or_else(|| panic!("no create event: {section}"));
    assert!(
        create.get("hashes").is_some(),
        "federation format: {create}"
    );
    assert!(create.get("signatures").is_some(), "{create}");
    assert!(create.get("auth_events").is_some(), "{create}");
}

/// Every served event says what the reader's membership was at it.
async fn events_carry_the_readers_membership(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room_id = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "initial_state": [{
                "type": "m.room.history_visibility", "state_key": "",
                "content": { "history_visibility": "shared" } }] }),
        )
        .await;
    let before = server.say(&alice, &room_id, "a1", "before bob").await;
    server.join(&bob, &room_id).await;
    let after = server.say(&alice, &room_id, "a2", "after bob").await;

    let s = sync(&server, &bob, None, json!({})).await;
    let events = room(&s, &room_id)["timeline"]["events"]
        .as_array()
        .unwrap()
        .clone();
    let membership_at = |id: &str| {
        events
            .iter()
            .find(|e| e["event_id"] == id)
            .map(|e| e["unsigned"]["membership"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(membership_at(&before), "leave", "{events:?}");
    assert_eq!(membership_at(&after), "join");
    let own_join = events
        .iter()
        .find(|e| e["type"] == "m.room.member" && e["state_key"] == "@bob:localhost")
        .unwrap();
    assert_eq!(own_join["unsigned"]["membership"], "join");

    let (status, page) = server
        .call(
            Some(&bob),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    for e in page["chunk"].as_array().unwrap() {
        assert!(e["unsigned"]["membership"].is_string(), "{e}");
    }
    let (status, one) = server
        .call(
            Some(&bob),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room_id}/event/{before}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["unsigned"]["membership"], "leave");
}

/// Someone joining a room brings their presence into the next sync even
/// if they set it long before.
async fn presence_of_new_members_arrives(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let (status, v) = server
        .call(
            Some(&bob),
            "PUT",
            "/_matrix/client/v3/presence/@bob:localhost/status",
            json!({ "presence": "online", "status_msg": "at my desk" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let first = sync(&server, &alice, None, json!({})).await;
    let since = first["next_batch"].as_str().unwrap().to_owned();
    server.join(&bob, &room_id).await;
    let next = sync(&server, &alice, Some(&since), json!({})).await;
    let bob_presence = next["presence"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["sender"] == "@bob:localhost")
        .cloned();
    let bob_presence = bob_presence.unwrap_or_else(|| panic!("no presence for bob: {next}"));
    assert_eq!(bob_presence["content"]["status_msg"], "at my desk");
}

/// `/messages` gives an `end` token when more may come: forward at the
/// live edge, and backward from a non-limited sync's `prev_batch`.
async fn messages_end_when_more_may_come(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room_id = server.create_room(&alice, json!({})).await;
    let s = sync(
        &server,
        &alice,
        None,
        json!({ "room": { "timeline": { "limit": 50 } } }),
    )
    .await;
    assert_ne!(room(&s, &room_id)["timeline"]["limited"], true);
    let prev = room(&s, &room_id)["timeline"]["prev_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let next_batch = s["next_batch"].as_str().unwrap().to_owned();
    let (_, back) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&from={prev}&limit=5"),
            Value::Null,
        )
        .await;
    assert!(
        back["end"].is_null() || back["chunk"] != json!([]),
        "{back}"
    );
    let (_, forward) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=f&from={next_batch}&limit=5"),
            Value::Null,
        )
        .await;
    assert_eq!(forward["chunk"], json!([]), "{forward}");
    let end = forward["end"]
        .as_str()
        .unwrap_or_else(|| panic!("no end at the live edge: {forward}"));
    let later = server.say(&alice, &room_id, "l1", "later").await;
    let (_, more) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=f&from={end}&limit=5"),
            Value::Null,
        )
        .await;
    assert_eq!(more["chunk"][0]["event_id"], later.as_str(), "{more}");

    // A type filter on /messages also selects before the limit.
    send_noise(&server, &alice, &room_id, "n", 12).await;
    let filter = urlencode(&json!({ "types": ["m.room.message"] }).to_string());
    let (_, filtered) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=1&filter={filter}"),
            Value::Null,
        )
        .await;
    assert_eq!(
        filtered["chunk"][0]["event_id"],
        later.as_str(),
        "{filtered}"
    );
}

/// Joins and leaves while the user was away reach them in the next,
/// gappy, sync's state.
async fn gappy_sync_carries_joins_and_leaves(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let carol = server.register_token("carol").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room_id).await;
    let first = sync(&server, &alice, None, json!({})).await;
    let since = first["next_batch"].as_str().unwrap().to_owned();
    let (status, v) = server
        .call(
            Some(&bob),
            "POST",
            &format!("/_matrix/client/v3/rooms/{room_id}/leave"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    server.join(&carol, &room_id).await;
    for i in 0..15 {
        server
            .say(&alice, &room_id, &format!("g{i}"), "while away")
            .await;
    }
    let filter = json!({ "room": { "timeline": { "limit": 5 } } });
    let next = sync(&server, &alice, Some(&since), filter).await;
    let section = room(&next, &room_id);
    assert_eq!(section["timeline"]["limited"], true, "{section}");
    let bob_state = state_of(&next, &room_id, "m.room.member", "@bob:localhost");
    assert_eq!(bob_state.len(), 1, "{section}");
    assert_eq!(bob_state[0]["content"]["membership"], "leave");
    let carol_state = state_of(&next, &room_id, "m.room.member", "@carol:localhost");
    assert_eq!(carol_state.len(), 1, "{section}");
    assert_eq!(carol_state[0]["content"]["membership"], "join");
    assert_eq!(
        state_of(&next, &room_id, "m.room.create", "").len(),
        0,
        "only what changed: {section}"
    );
}

/// `/context` with lazy loading sends only the members of the senders of
/// the events it returns.
async fn context_lazy_loads_members(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let carol = server.register_token("carol").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room_id).await;
    server.join(&carol, &room_id).await;
    let target = server.say(&bob, &room_id, "b1", "context").await;
    let filter = urlencode(&json!({ "lazy_load_members": true }).to_string());
    let (status, ctx) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room_id}/context/{target}?limit=0&filter={filter}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{ctx}");
    let members: Vec<&str> = ctx["state"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.member")
        .map(|e| e["state_key"].as_str().unwrap())
        .collect();
    assert_eq!(members, vec!["@bob:localhost"], "{ctx}");
    assert!(
        ctx["state"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.room.create")
    );
}

/// Messages and invites of users one ignores are not delivered; their
/// state events are.
async fn ignored_users_are_not_delivered(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let spam = server.register_token("spam").await;
    let room_id = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&spam, &room_id).await;
    let (status, v) = server
        .call(
            Some(&alice),
            "PUT",
            "/_matrix/client/v3/user/@alice:localhost/account_data/m.ignored_user_list",
            json!({ "ignored_users": { "@spam:localhost": {} } }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let first = sync(&server, &alice, None, json!({})).await;
    let since = first["next_batch"].as_str().unwrap().to_owned();
    server.say(&spam, &room_id, "s1", "buy now").await;
    let kept = server.say(&alice, &room_id, "a1", "hello").await;
    let other = server.create_room(&spam, json!({})).await;
    let (status, v) = server
        .call(
            Some(&spam),
            "POST",
            &format!("/_matrix/client/v3/rooms/{other}/invite"),
            json!({ "user_id": "@alice:localhost" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    let next = sync(&server, &alice, Some(&since), json!({})).await;
    let senders: Vec<&str> = room(&next, &room_id)["timeline"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, vec!["@alice:localhost"], "{next}");
    assert!(next["rooms"]["invite"][&other].is_null(), "{next}");
    let (_, page) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=2"),
            Value::Null,
        )
        .await;
    assert_eq!(page["chunk"][0]["event_id"], kept.as_str(), "{page}");
    assert!(
        !page["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["sender"] == "@spam:localhost" && e["type"] == "m.room.message"),
        "{page}"
    );
}

both_backends! {
    timeline_filter_selects_before_limit_test => timeline_filter_selects_before_limit,
    filters_never_drop_state_test => filters_never_drop_state,
    display_name_change_does_not_resend_the_room_test => display_name_change_does_not_resend_the_room,
    lazy_members_are_sent_once_test => lazy_members_are_sent_once,
    account_data_filter_and_federation_format_test => account_data_filter_and_federation_format,
    events_carry_the_readers_membership_test => events_carry_the_readers_membership,
    presence_of_new_members_arrives_test => presence_of_new_members_arrives,
    messages_end_when_more_may_come_test => messages_end_when_more_may_come,
    gappy_sync_carries_joins_and_leaves_test => gappy_sync_carries_joins_and_leaves,
    context_lazy_loads_members_test => context_lazy_loads_members,
    ignored_users_are_not_delivered_test => ignored_users_are_not_delivered,
}

/// The same through matrix-sdk: a type filter's timeline, and what the
/// SDK reads to tell "sent before you joined" from a missing key.
mod through_matrix_sdk {
    use matrix_sdk::{
        config::SyncSettings,
        ruma::api::client::{
            filter::{FilterDefinition, RoomEventFilter},
            sync::sync_events::v3::Filter,
        },
    };
    use serde_json::json;

    use super::support::{Backend, TestServer};

    async fn filtered_sync_and_membership(backend: Backend) {
        let server = TestServer::start(backend).await;
        let alice = server.register_token("alice").await;
        let bob = server.register("bob").await;
        let room_id = server
            .create_room(&alice, json!({ "preset": "public_chat" }))
            .await;
        let early = server.say(&alice, &room_id, "e1", "before bob").await;
        super::send_noise(&server, &alice, &room_id, "n", 15).await;
        server
            .join(bob.access_token().as_deref().unwrap(), &room_id)
            .await;

        let mut timeline = RoomEventFilter::default();
        timeline.types = Some(vec!["m.room.message".to_owned()]);
        timeline.limit = Some(5u32.into());
        let mut definition = FilterDefinition::default();
        definition.room.timeline = timeline;
        let response = bob
            .sync_once(SyncSettings::default().filter(Filter::FilterDefinition(definition)))
            .await
            .unwrap();
        let room = response
            .rooms
            .joined
            .iter()
            .find(|(id, _)| id.as_str() == room_id)
            .map(|(_, r)| r)
            .expect("the room in bob's sync");
        let events: Vec<serde_json::Value> = room
            .timeline
            .events
            .iter()
            .map(|e| serde_json::from_str(e.raw().json().get()).unwrap())
            .collect();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["event_id"], early.as_str());
        assert_eq!(events[0]["unsigned"]["membership"], "leave");
    }

    crate::both_backends! {
        filtered_sync_and_membership_test => filtered_sync_and_membership,
    }
}
