//! Server-side search (`POST /search`) over raw HTTP: French and English
//! stemming, accents, rank and recent order, pagination, filters, event
//! context, and that a user finds only what they may see (not a room they
//! are not in, not after they left, not redacted or encrypted events).

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

/// Searches as `token` with the `room_events` criteria `criteria`, from
/// `next_batch` if given; asserts success and returns `room_events`.
async fn search(server: &TestServer, token: &str, criteria: Value, next: Option<&str>) -> Value {
    let (status, v) = search_raw(server, token, criteria, next).await;
    assert_eq!(status, 200, "search: {v}");
    v["search_categories"]["room_events"].clone()
}

async fn search_raw(
    server: &TestServer,
    token: &str,
    criteria: Value,
    next: Option<&str>,
) -> (u16, Value) {
    let path = match next {
        Some(n) => format!(
            "/_matrix/client/v3/search?next_batch={}",
            form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => "/_matrix/client/v3/search".to_owned(),
    };
    server
        .call(
            Some(token),
            "POST",
            &path,
            json!({ "search_categories": { "room_events": criteria } }),
        )
        .await
}

/// The bodies (or names) of the results, in order.
fn texts(room_events: &Value) -> Vec<String> {
    room_events["results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    let c = &r["result"]["content"];
                    c.get("body")
                        .or_else(|| c.get("name"))
                        .or_else(|| c.get("topic"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn stemming_accents_and_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room = server
        .create_room(
            &alice,
            json!({ "name": "Salle du conseil", "topic": "Ordre du jour" }),
        )
        .await;
    server
        .say(&alice, &room, "1", "rapport rapport rapport annuel")
        .await;
    server
        .say(&alice, &room, "2", "Nous mangeons des pommes")
        .await;
    server.say(&alice, &room, "3", "I was running late").await;
    server.say(&alice, &room, "4", "I run every morning").await;
    server
        .say(&alice, &room, "5", "L'École est fermée aujourd'hui")
        .await;
    server
        .say(&alice, &room, "6", "Réunion du lundi : le rapport")
        .await;

    // French: the infinitive finds the `nous` form, and the highlights
    // carry the form found.
    let found = search(&server, &alice, json!({ "search_term": "manger" }), None).await;
    assert_eq!(texts(&found), ["Nous mangeons des pommes"], "{found}");
    let highlights: Vec<&str> = found["highlights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(highlights.contains(&"mangeons"), "{highlights:?}");
    assert!(highlights.contains(&"manger"), "{highlights:?}");

    // English: either form finds the other.
    let found = search(
        &server,
        &alice,
        json!({ "search_term": "running", "order_by": "recent" }),
        None,
    )
    .await;
    assert_eq!(texts(&found), ["I run every morning", "I was running late"]);
    let found = search(
        &server,
        &alice,
        json!({ "search_term": "run", "order_by": "recent" }),
        None,
    )
    .await;
    assert_eq!(texts(&found), ["I run every morning", "I was running late"]);

    // Accents and case do not matter, either way.
    let found = search(
        &server,
        &alice,
        json!({ "search_term": "ecole FERMEE" }),
        None,
    )
    .await;
    assert_eq!(texts(&found), ["L'École est fermée aujourd'hui"]);
    let found = search(&server, &alice, json!({ "search_term": "réunion" }), None).await;
    assert_eq!(texts(&found), ["Réunion du lundi : le rapport"]);

    // Rank puts the message saying it three times first; recent the newest.
    let rank = search(&server, &alice, json!({ "search_term": "rapport" }), None).await;
    assert_eq!(
        texts(&rank),
        [
            "rapport rapport rapport annuel",
            "Réunion du lundi : le rapport"
        ]
    );
    let ranks: Vec<f64> = rank["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rank"].as_f64().unwrap())
        .collect();
    assert!(ranks[0] > ranks[1], "{ranks:?}");
    assert_eq!(rank["count"], 2);
    let recent = search(
        &server,
        &alice,
        json!({ "search_term": "rapport", "order_by": "recent" }),
        None,
    )
    .await;
    assert_eq!(
        texts(&recent),
        [
            "Réunion du lundi : le rapport",
            "rapport rapport rapport annuel"
        ]
    );

    // Room names and topics are searched too, and `keys` narrows that.
    let found = search(&server, &alice, json!({ "search_term": "conseil" }), None).await;
    assert_eq!(texts(&found), ["Salle du conseil"]);
    assert_eq!(found["results"][0]["result"]["type"], "m.room.name");
    let found = search(
        &server,
        &alice,
        json!({ "search_term": "jour", "keys": ["content.topic"] }),
        None,
    )
    .await;
    assert_eq!(texts(&found), ["Ordre du jour"]);
    let found = search(
        &server,
        &alice,
        json!({ "search_term": "jour", "keys": ["content.body"] }),
        None,
    )
    .await;
    assert!(texts(&found).is_empty(), "{found}");
}

async fn pagination_filters_and_context(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let other = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let (status, _) = server
        .call(
            Some(&bob),
            "PUT",
            "/_matrix/client/v3/profile/@bob:localhost/displayname",
            json!({ "displayname": "Bob Martin" }),
        )
        .await;
    assert_eq!(status, 200);
    for i in 0..5 {
        server
            .say(
                &alice,
                &room,
                &format!("a{i}"),
                &format!("note {i} d'alice"),
            )
            .await;
    }
    server.say(&bob, &room, "b0", "note 5 de bob").await;
    server.say(&bob, &room, "b1", "sans rapport").await;
    server.say(&alice, &other, "o0", "note 6 ailleurs").await;

    // Recent order, two at a time, until no next_batch: every note once,
    // newest first.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..10 {
        let page = search(
            &server,
            &alice,
            json!({ "search_term": "note", "order_by": "recent", "filter": { "limit": 2 } }),
            next.as_deref(),
        )
        .await;
        assert_eq!(page["count"], 7, "{page}");
        seen.extend(texts(&page));
        next = page["next_batch"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            "note 6 ailleurs",
            "note 5 de bob",
            "note 4 d'alice",
            "note 3 d'alice",
            "note 2 d'alice",
            "note 1 d'alice",
            "note 0 d'alice"
        ]
    );
    // Rank order pages too.
    let mut ranked = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..10 {
        let page = search(
            &server,
            &alice,
            json!({ "search_term": "note", "filter": { "limit": 3 } }),
            next.as_deref(),
        )
        .await;
        ranked.extend(texts(&page));
        next = page["next_batch"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    ranked.sort();
    let mut expected = seen.clone();
    expected.sort();
    assert_eq!(ranked, expected);
    // A token of one order is refused for the other.
    let first = search(
        &server,
        &alice,
        json!({ "search_term": "note", "order_by": "recent", "filter": { "limit": 1 } }),
        None,
    )
    .await;
    let (status, v) = search_raw(
        &server,
        &alice,
        json!({ "search_term": "note" }),
        first["next_batch"].as_str(),
    )
    .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM"))
    );

    // Filters.
    let with =
        |filter: Value| json!({ "search_term": "note", "order_by": "recent", "filter": filter });
    let found = search(
        &server,
        &alice,
        with(json!({ "senders": ["@bob:localhost"] })),
        None,
    )
    .await;
    assert_eq!(texts(&found), ["note 5 de bob"]);
    let found = search(
        &server,
        &alice,
        with(json!({ "not_senders": ["@alice:localhost"] })),
        None,
    )
    .await;
    assert_eq!(texts(&found), ["note 5 de bob"]);
    let found = search(&server, &alice, with(json!({ "rooms": [other] })), None).await;
    assert_eq!(texts(&found), ["note 6 ailleurs"]);
    let found = search(&server, &alice, with(json!({ "not_rooms": [room] })), None).await;
    assert_eq!(texts(&found), ["note 6 ailleurs"]);
    let found = search(
        &server,
        &alice,
        with(json!({ "types": ["m.room.name"] })),
        None,
    )
    .await;
    assert!(texts(&found).is_empty());
    let found = search(
        &server,
        &alice,
        with(json!({ "not_types": ["m.room.*"] })),
        None,
    )
    .await;
    assert!(texts(&found).is_empty());

    // Context around a result, with the senders' profiles, and groups.
    let found = search(
        &server,
        &alice,
        json!({
            "search_term": "bob",
            "event_context": { "before_limit": 1, "after_limit": 1, "include_profile": true },
            "groupings": { "group_by": [{ "key": "room_id" }, { "key": "sender" }] },
        }),
        None,
    )
    .await;
    assert_eq!(texts(&found), ["note 5 de bob"]);
    let context = &found["results"][0]["context"];
    assert_eq!(
        context["events_before"][0]["content"]["body"],
        "note 4 d'alice"
    );
    assert_eq!(
        context["events_after"][0]["content"]["body"],
        "sans rapport"
    );
    assert!(
        context["start"].is_string() && context["end"].is_string(),
        "{context}"
    );
    assert_eq!(
        context["profile_info"]["@bob:localhost"]["displayname"], "Bob Martin",
        "{context}"
    );
    let event_id = &found["results"][0]["result"]["event_id"];
    assert_eq!(found["groups"]["room_id"][&room]["results"][0], *event_id);
    assert_eq!(
        found["groups"]["sender"]["@bob:localhost"]["results"][0],
        *event_id
    );
    // Without event_context, no context.
    let found = search(&server, &alice, json!({ "search_term": "bob" }), None).await;
    assert!(found["results"][0].get("context").is_none(), "{found}");
    // include_state gives the room's state.
    let found = search(
        &server,
        &alice,
        json!({ "search_term": "bob", "include_state": true }),
        None,
    )
    .await;
    assert!(
        found["state"][&room]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.room.create"),
        "{found}"
    );
}

async fn only_what_the_user_may_see(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let carol = server.register_token("carol").await;
    let room = server
        .create_room(
            &alice,
            json!({
                "preset": "public_chat",
                "initial_state": [{
                    "type": "m.room.history_visibility", "state_key": "",
                    "content": { "history_visibility": "joined" }
                }]
            }),
        )
        .await;
    server.say(&alice, &room, "1", "secret avant").await;
    server.join(&bob, &room).await;
    server.say(&alice, &room, "2", "secret pendant").await;
    let redacted = server.say(&alice, &room, "3", "secret effacé").await;
    let (status, v) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("/_matrix/client/v3/rooms/{room}/redact/{redacted}/r1"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = server
        .call(
            Some(&bob),
            "POST",
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    server.say(&alice, &room, "4", "secret après").await;

    // An encrypted room's messages have no text to index, even when a
    // client puts a body beside the ciphertext.
    let encrypted = server
        .create_room(
            &alice,
            json!({
                "initial_state": [{
                    "type": "m.room.encryption", "state_key": "",
                    "content": { "algorithm": "m.megolm.v1.aes-sha2" }
                }]
            }),
        )
        .await;
    let (status, _) = server
        .send_event(
            &alice,
            &encrypted,
            "m.room.encrypted",
            "e1",
            json!({
                "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "secret",
                "body": "secret", "sender_key": "k", "session_id": "s", "device_id": "D"
            }),
        )
        .await;
    assert_eq!(status, 200);

    let criteria = json!({ "search_term": "secret", "order_by": "recent" });
    let found = search(&server, &alice, criteria.clone(), None).await;
    assert_eq!(
        texts(&found),
        ["secret après", "secret pendant", "secret avant"],
        "not the redacted one, nor the encrypted one"
    );
    assert_eq!(found["count"], 3);
    let found = search(&server, &bob, criteria.clone(), None).await;
    assert_eq!(
        texts(&found),
        ["secret pendant"],
        "bob joined after the first and left before the last"
    );
    let found = search(&server, &carol, criteria.clone(), None).await;
    assert!(
        texts(&found).is_empty(),
        "carol was never in the room: {found}"
    );
    assert_eq!(found["count"], 0);
    let found = search(
        &server,
        &carol,
        json!({ "search_term": "secret", "filter": { "rooms": [room] } }),
        None,
    )
    .await;
    assert!(texts(&found).is_empty(), "naming the room changes nothing");
}

async fn bad_requests_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    for (criteria, next) in [
        (json!({ "search_term": "x", "order_by": "relevance" }), None),
        (
            json!({ "search_term": "x", "keys": ["content.format"] }),
            None,
        ),
        (
            json!({ "search_term": "x", "groupings": { "group_by": [{ "key": "type" }] } }),
            None,
        ),
        (json!({ "search_term": "x" }), Some("garbage")),
    ] {
        let (status, v) = search_raw(&server, &alice, criteria.clone(), next).await;
        assert_eq!(status, 400, "{criteria} {next:?}: {v}");
        assert_eq!(v["errcode"], "M_INVALID_PARAM", "{v}");
    }
    let (status, v) = search_raw(&server, &alice, json!({}), None).await;
    assert_eq!(status, 400, "no search_term: {v}");
    let (status, _) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/search",
            json!({ "search_categories": { "room_events": { "search_term": "x" } } }),
        )
        .await;
    assert_eq!(status, 401);
    // A query with no word finds nothing, and says so.
    let found = search(&server, &alice, json!({ "search_term": "!!" }), None).await;
    assert_eq!(found["count"], 0);
}

both_backends!(
    stemming_accents_and_order => stemming_accents_and_order,
    pagination_filters_and_context => pagination_filters_and_context,
    only_what_the_user_may_see => only_what_the_user_may_see,
    bad_requests_are_refused => bad_requests_are_refused,
);
