//! The answers of account data, tag, push rule and directory endpoints,
//! whose handlers reply through ruma's response types: each field a
//! client reads is there, with its value (SQLite, raw HTTP).

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

const V3: &str = "/_matrix/client/v3";

#[tokio::test]
async fn account_data_and_tags_come_back_as_stored() {
    let server = TestServer::start(Backend::Sqlite).await;
    let alice = server.register_raw("alice").await;
    let token = alice["access_token"].as_str().unwrap();
    let me = alice["user_id"].as_str().unwrap();
    let t = Some(token);

    let path = format!("{V3}/user/{me}/account_data/org.example.settings");
    let content = json!({ "theme": "dark", "nested": { "n": [1, 2] } });
    assert_eq!(server.call(t, "PUT", &path, content.clone()).await.0, 200);
    assert_eq!(
        server.call(t, "GET", &path, Value::Null).await,
        (200, content)
    );
    let (status, v) = server
        .call(
            t,
            "GET",
            &format!("{V3}/user/{me}/account_data/org.example.none"),
            Value::Null,
        )
        .await;
    assert_eq!((status, v["errcode"].as_str()), (404, Some("M_NOT_FOUND")));
    let (status, v) = server
        .call(
            t,
            "PUT",
            &format!("{V3}/user/{me}/account_data/m.push_rules"),
            json!({}),
        )
        .await;
    assert_eq!((status, v["errcode"].as_str()), (400, Some("M_BAD_JSON")));

    let room = server.create_room(token, json!({})).await;
    let room_path = format!("{V3}/user/{me}/rooms/{room}/account_data/org.example.r");
    assert_eq!(
        server.call(t, "PUT", &room_path, json!({ "k": 1 })).await.0,
        200
    );
    assert_eq!(
        server.call(t, "GET", &room_path, Value::Null).await,
        (200, json!({ "k": 1 }))
    );

    let tags = format!("{V3}/user/{me}/rooms/{room}/tags");
    let (status, v) = server.call(t, "GET", &tags, Value::Null).await;
    assert_eq!((status, v), (200, json!({ "tags": {} })));
    // A tag's info keeps fields beyond `order`, as the client sent them.
    let info = json!({ "order": 0.5, "org.example.colour": "red" });
    assert_eq!(
        server
            .call(t, "PUT", &format!("{tags}/u.work"), info.clone())
            .await
            .0,
        200
    );
    let (status, v) = server.call(t, "GET", &tags, Value::Null).await;
    assert_eq!((status, v), (200, json!({ "tags": { "u.work": info } })));
    assert_eq!(
        server
            .call(t, "DELETE", &format!("{tags}/u.work"), Value::Null)
            .await
            .0,
        200
    );
    let (status, v) = server.call(t, "GET", &tags, Value::Null).await;
    assert_eq!((status, v), (200, json!({ "tags": {} })));
}

#[tokio::test]
async fn push_rules_are_read_and_changed_one_by_one() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = server.register_token("alice").await;
    let t = Some(token.as_str());

    let (status, all) = server
        .call(t, "GET", &format!("{V3}/pushrules/"), Value::Null)
        .await;
    assert_eq!(status, 200, "{all}");
    assert!(
        all["global"]["override"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{all}"
    );
    let (_, global) = server
        .call(t, "GET", &format!("{V3}/pushrules/global/"), Value::Null)
        .await;
    assert_eq!(global, all["global"]);

    let rule = format!("{V3}/pushrules/global/content/org.example.word");
    let body = json!({ "pattern": "cheese", "actions": ["notify"] });
    assert_eq!(server.call(t, "PUT", &rule, body).await.0, 200);
    let (status, v) = server.call(t, "GET", &rule, Value::Null).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({ "rule_id": "org.example.word", "pattern": "cheese", "actions": ["notify"], "default": false, "enabled": true })
    );
    let (_, v) = server
        .call(t, "GET", &format!("{rule}/enabled"), Value::Null)
        .await;
    assert_eq!(v, json!({ "enabled": true }));
    assert_eq!(
        server
            .call(
                t,
                "PUT",
                &format!("{rule}/enabled"),
                json!({ "enabled": false })
            )
            .await
            .0,
        200
    );
    let (_, v) = server
        .call(t, "GET", &format!("{rule}/enabled"), Value::Null)
        .await;
    assert_eq!(v, json!({ "enabled": false }));
    assert_eq!(
        server
            .call(
                t,
                "PUT",
                &format!("{rule}/actions"),
                json!({ "actions": [] })
            )
            .await
            .0,
        200
    );
    let (_, v) = server
        .call(t, "GET", &format!("{rule}/actions"), Value::Null)
        .await;
    assert_eq!(v, json!({ "actions": [] }));

    // A default rule keeps its conditions in the single-rule answer.
    let (status, v) = server
        .call(
            t,
            "GET",
            &format!("{V3}/pushrules/global/override/.m.rule.master"),
            Value::Null,
        )
        .await;
    assert_eq!((status, &v["conditions"]), (200, &json!([])), "{v}");

    assert_eq!(server.call(t, "DELETE", &rule, Value::Null).await.0, 200);
    let (status, v) = server.call(t, "GET", &rule, Value::Null).await;
    assert_eq!((status, v["errcode"].as_str()), (404, Some("M_NOT_FOUND")));
    let (status, v) = server
        .call(t, "GET", &format!("{V3}/pushers"), Value::Null)
        .await;
    assert_eq!((status, v), (200, json!({ "pushers": [] })));
}

#[tokio::test]
async fn directory_lists_resolves_and_finds() {
    let server = TestServer::start(Backend::Sqlite).await;
    let alice = server.register_raw("alice").await;
    let token = alice["access_token"].as_str().unwrap();
    let t = Some(token);
    let room = server
        .create_room(
            token,
            json!({ "preset": "public_chat", "visibility": "public", "name": "Cheese lovers", "topic": "Brie" }),
        )
        .await;

    let alias = format!("{V3}/directory/room/%23cheese:localhost");
    assert_eq!(
        server
            .call(t, "PUT", &alias, json!({ "room_id": room }))
            .await
            .0,
        200
    );
    let (status, v) = server
        .call(t, "PUT", &alias, json!({ "room_id": room }))
        .await;
    assert_eq!(status, 409, "{v}");
    let (status, v) = server.call(None, "GET", &alias, Value::Null).await;
    assert_eq!(
        (status, v),
        (200, json!({ "room_id": room, "servers": ["localhost"] }))
    );
    let (_, v) = server
        .call(t, "GET", &format!("{V3}/rooms/{room}/aliases"), Value::Null)
        .await;
    assert_eq!(v, json!({ "aliases": ["#cheese:localhost"] }));
    let visibility = format!("{V3}/directory/list/room/{room}");
    let (_, v) = server.call(None, "GET", &visibility, Value::Null).await;
    assert_eq!(v, json!({ "visibility": "public" }));

    let (status, v) = server
        .call(None, "GET", &format!("{V3}/publicRooms"), Value::Null)
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["total_room_count_estimate"], 1);
    let entry = &v["chunk"][0];
    assert_eq!(entry["room_id"], json!(room));
    assert_eq!(entry["name"], "Cheese lovers");
    assert_eq!(entry["topic"], "Brie");
    assert_eq!(entry["num_joined_members"], 1);
    assert_eq!(entry["world_readable"], false);
    assert!(entry["guest_can_join"].is_boolean(), "{entry}");
    // "public" is the spec's default for a directory entry's join rule.
    assert!(
        entry["join_rule"].is_null() || entry["join_rule"] == "public",
        "{entry}"
    );
    let search = |term: &str| json!({ "filter": { "generic_search_term": term } });
    let (_, v) = server
        .call(t, "POST", &format!("{V3}/publicRooms"), search("brie"))
        .await;
    assert_eq!(v["chunk"].as_array().map(Vec::len), Some(1), "{v}");
    let (_, v) = server
        .call(t, "POST", &format!("{V3}/publicRooms"), search("gouda"))
        .await;
    assert_eq!(v["chunk"], json!([]), "{v}");

    assert_eq!(
        server
            .call(t, "PUT", &visibility, json!({ "visibility": "private" }))
            .await
            .0,
        200
    );
    let (_, v) = server.call(None, "GET", &visibility, Value::Null).await;
    assert_eq!(v, json!({ "visibility": "private" }));

    let bob = server.register_token("bob").await;
    server.join(&bob, &room).await;
    let (status, v) = server
        .call(
            Some(&bob),
            "POST",
            &format!("{V3}/user_directory/search"),
            json!({ "search_term": "ali" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["limited"], false);
    assert_eq!(v["results"][0]["user_id"], alice["user_id"]);
    assert_eq!(v["results"][0]["display_name"], "alice");

    assert_eq!(server.call(t, "DELETE", &alias, Value::Null).await.0, 200);
    let (status, _) = server.call(None, "GET", &alias, Value::Null).await;
    assert_eq!(status, 404);
}
