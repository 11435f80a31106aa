//! Spaces: `GET /rooms/{roomId}/hierarchy` walks a space and its
//! sub-spaces breadth first, children in the spec's order, leaving out
//! what the requester may not preview, with `max_depth`, `suggested_only`
//! and page tokens; matrix-sdk reads the answer with ruma's types.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

both_backends! {
    hierarchy_walks_what_one_may_preview => hierarchy_walks_what_one_may_preview,
    hierarchy_pages_and_refuses => hierarchy_pages_and_refuses,
}

/// A space of alice's: public, with children in this order: `first`
/// (public, suggested, order "a"), `sub` (a public sub-space, order "b",
/// holding `deep`), `secret` (invite-only, order "c"); `gone` has an
/// empty `via`, so it is no child.
struct Space {
    space: String,
    first: String,
    sub: String,
    deep: String,
    secret: String,
}

async fn make_space(server: &TestServer, alice: &str) -> Space {
    let public = |name: &str| json!({ "preset": "public_chat", "name": name });
    let space_body = |name: &str| json!({ "preset": "public_chat", "name": name, "creation_content": { "type": "m.space" } });
    let space = server.create_room(alice, space_body("Ministry")).await;
    let sub = server.create_room(alice, space_body("Cabinet")).await;
    let first = server.create_room(alice, public("General")).await;
    let deep = server.create_room(alice, public("Deep")).await;
    let secret = server
        .create_room(alice, json!({ "preset": "private_chat", "name": "Secret" }))
        .await;
    let gone = server.create_room(alice, public("Gone")).await;
    let child = |parent: &str, child: &str, content: Value| {
        let (parent, child) = (parent.to_owned(), child.to_owned());
        async move {
            let (status, v) = server
                .send_state(alice, &parent, "m.space.child", &child, content)
                .await;
            assert_eq!(status, 200, "{v}");
        }
    };
    // Sent out of order: the answer follows `order`, not sending order.
    child(
        &space,
        &secret,
        json!({ "via": ["localhost"], "order": "c" }),
    )
    .await;
    child(&space, &sub, json!({ "via": ["localhost"], "order": "b" })).await;
    child(
        &space,
        &first,
        json!({ "via": ["localhost"], "order": "a", "suggested": true }),
    )
    .await;
    child(&space, &gone, json!({ "via": [] })).await;
    child(&sub, &deep, json!({ "via": ["localhost"] })).await;
    Space {
        space,
        first,
        sub,
        deep,
        secret,
    }
}

async fn hierarchy(server: &TestServer, token: &str, room: &str, query: &str) -> (u16, Value) {
    let path = format!("/_matrix/client/v1/rooms/{room}/hierarchy{query}");
    server.call(Some(token), "GET", &path, Value::Null).await
}

fn room_ids(answer: &Value) -> Vec<String> {
    answer["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn hierarchy_walks_what_one_may_preview(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let s = make_space(&server, &alice).await;

    // Alice is in every room; bob may preview only the public ones.
    let (status, all) = hierarchy(&server, &alice, &s.space, "").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        room_ids(&all),
        [
            s.space.as_str(),
            s.first.as_str(),
            s.sub.as_str(),
            s.secret.as_str(),
            s.deep.as_str()
        ],
        "{all}"
    );
    let (_, bobs) = hierarchy(&server, &bob, &s.space, "").await;
    assert_eq!(
        room_ids(&bobs),
        [
            s.space.as_str(),
            s.first.as_str(),
            s.sub.as_str(),
            s.deep.as_str()
        ]
    );

    // The space's entry: summary and its children's stripped events.
    let root = &all["rooms"][0];
    assert_eq!(root["room_type"], "m.space");
    assert_eq!(root["name"], "Ministry");
    // The spec reads a missing join rule as public (ruma leaves it out).
    assert!(
        root.get("join_rule").is_none_or(|r| r == "public"),
        "{root}"
    );
    assert_eq!(all["rooms"][3]["join_rule"], "invite", "{all}");
    assert_eq!(root["num_joined_members"], 1);
    let children: Vec<&str> = root["children_state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state_key"].as_str().unwrap())
        .collect();
    assert_eq!(children, [&s.first, &s.sub, &s.secret], "{root}");
    assert_eq!(root["children_state"][0]["type"], "m.space.child");
    assert!(root["children_state"][0]["origin_server_ts"].is_u64());
    // A room that is no space lists no children.
    assert_eq!(all["rooms"][1]["children_state"], json!([]));
    assert_eq!(all["rooms"][1]["name"], "General");

    let (_, shallow) = hierarchy(&server, &alice, &s.space, "?max_depth=1").await;
    assert_eq!(
        room_ids(&shallow),
        [
            s.space.as_str(),
            s.first.as_str(),
            s.sub.as_str(),
            s.secret.as_str()
        ]
    );
    let (_, suggested) = hierarchy(&server, &alice, &s.space, "?suggested_only=true").await;
    assert_eq!(room_ids(&suggested), [s.space.as_str(), s.first.as_str()]);

    // An invite-only room one is not in cannot be the root.
    let (status, v) = hierarchy(&server, &bob, &s.secret, "").await;
    assert_eq!((status, v["errcode"].as_str()), (403, Some("M_FORBIDDEN")));
    // Once invited, it can.
    let bob_id = "@bob:localhost";
    let (status, v) = server
        .call(
            Some(&alice),
            "POST",
            &format!("/_matrix/client/v3/rooms/{}/invite", s.secret),
            json!({ "user_id": bob_id }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = hierarchy(&server, &bob, &s.secret, "").await;
    assert_eq!(status, 200);
}

async fn hierarchy_pages_and_refuses(backend: Backend) {
    use matrix_sdk::ruma::{OwnedRoomId, api::client::space::get_hierarchy, uint};

    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let s = make_space(&server, &alice).await;

    // Two rooms a page, until no `next_batch`.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let (status, page) = hierarchy(&server, &alice, &s.space, &query).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(room_ids(&page));
        match page["next_batch"].as_str() {
            Some(next) => query = format!("?limit=2&from={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            s.space.as_str(),
            s.first.as_str(),
            s.sub.as_str(),
            s.secret.as_str(),
            s.deep.as_str()
        ]
    );

    // A token used with other walk parameters, a bad token, a zero limit.
    let (_, page) = hierarchy(&server, &alice, &s.space, "?limit=1").await;
    let next = page["next_batch"].as_str().unwrap().to_owned();
    for query in [
        format!("?from={next}&max_depth=1"),
        format!("?from={next}&suggested_only=true"),
        "?from=nonsense".to_owned(),
        "?limit=0".to_owned(),
    ] {
        let (status, v) = hierarchy(&server, &alice, &s.space, &query).await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (400, Some("M_INVALID_PARAM")),
            "{query}: {v}"
        );
    }
    let (status, v) = hierarchy(&server, &alice, "!unknown:localhost", "").await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );

    // matrix-sdk reads the answer with ruma's types.
    let client = server.login("alice").await;
    let space_id: OwnedRoomId = s.space.parse().unwrap();
    let mut request = get_hierarchy::v1::Request::new(space_id);
    request.max_depth = Some(uint!(1));
    let answer = client.send(request).await.unwrap();
    let ids: Vec<String> = answer
        .rooms
        .iter()
        .map(|r| r.summary.room_id.to_string())
        .collect();
    assert_eq!(
        ids,
        [
            s.space.as_str(),
            s.first.as_str(),
            s.sub.as_str(),
            s.secret.as_str()
        ]
    );
    let child = answer.rooms[0].children_state[0].deserialize().unwrap();
    assert_eq!(child.state_key.as_str(), s.first);
    assert!(child.content.suggested);
}
